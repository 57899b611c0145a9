"""A service's « Je donne mon avis » on its own website: the editors' « Diffuser le formulaire » page (the button in
four styles, a plain link, a QR code for a counter, the iframe and the websites allowed to show it), the button
images and the QR code, and the form itself in a minimal layout for an iframe (the embed)."""

import hashlib
from contextlib import nullcontext
from functools import wraps

from flask import abort, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from wtforms import StringField, SubmitField

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..catalog import service as catalog
from ..catalog.models import Service
from ..errors import ERROR_TEXTS, ERROR_TITLES, DomainError, show_on_form
from ..extensions import csrf, db
from ..i18n import current_language
from ..urls import absolute_url
from . import bp, embedding
from .models import Source, can_triage
from .questionnaire import get_questionnaire
from .routes import FormPlace, form_rate_limit, handle_step, load_open, render_closed, render_response, render_thanks
from .service import new_submission_key

BUTTON_CACHE_SECONDS = 30 * 24 * 3600  # a month: long enough for every page showing it, short enough for a redesign
PUBLIC_FORM_ENDPOINT = "feedback.start_feedback"
BUTTON_TITLES = {  # embedding.BUTTON_VARIANTS' names on the editors' page
    "plein-clair": _l("Bouton plein, pour un fond clair"),
    "plein-sombre": _l("Bouton plein, pour un fond sombre"),
    "contour-clair": _l("Bouton contour, pour un fond clair"),
    "contour-sombre": _l("Bouton contour, pour un fond sombre"),
}


class OriginForm(FlaskForm):
    origin = StringField(_l("Adresse du site"),
                         description=_l("Le protocole, le nom du site et, s'il y en a un, le port, par exemple "
                                        "https://www.exemple.gouv.fr."))
    submit = SubmitField(_l("Autoriser ce site"))


def _manageable_service(service_slug: str) -> Service:
    service = catalog.get_by_slug(Service, service_slug)
    if not can_triage(current_user, service):
        abort(403)
    return service


def form_url(service: Service, source: Source, **values) -> str:
    """The public form's absolute address for ``service``, marked with where the person comes from."""
    return absolute_url(PUBLIC_FORM_ENDPOINT, service_slug=service.slug, source=source.value, **values)


def embed_url(service: Service) -> str:
    """The embed's absolute address, in the page's language: inside another site's iframe no session tells it."""
    lang = current_language()
    values = {"lang": lang} if lang != current_app.config["BABEL_DEFAULT_LOCALE"] else {}
    return absolute_url("feedback.embed_form", service_slug=service.slug, **values)


def _share_page(service: Service, form: OriginForm, status: int = 200):
    lang = current_language()
    buttons = [{"variant": variant, "title": BUTTON_TITLES[variant.slug],
                "image": absolute_url("feedback.button_image", lang=lang, variant=variant.slug)}
               for variant in embedding.BUTTON_VARIANTS.values()]
    page = render_template("feedback/share.html", service=service, form=form, buttons=buttons,
                           button_link=form_url(service, Source.button), plain_link=form_url(service, Source.link),
                           qr_link=form_url(service, Source.qr), embed_link=embed_url(service),
                           origins=embedding.list_origins(service),
                           max_origins=embedding.MAX_ORIGINS_PER_SERVICE)
    return page, status


@bp.get("/gestion/<service_slug>/diffuser")
@login_required
def share(service_slug: str):
    service = _manageable_service(service_slug)
    return _share_page(service, OriginForm(formdata=None))


@bp.post("/gestion/<service_slug>/diffuser/sites")
@login_required
def add_origin(service_slug: str):
    service = _manageable_service(service_slug)
    form = OriginForm()
    if form.validate_on_submit():
        try:
            row = embedding.add_origin(service, acting_user(), form.origin.data)
        except DomainError as err:
            if err.status == 403:
                raise
            show_on_form(form, err, {err.code: "origin"})
        else:
            flash(_("Le site %(origin)s peut maintenant intégrer le formulaire.", origin=row.origin), "success")
            return redirect(url_for("feedback.share", service_slug=service.slug) + "#sites")
    return _share_page(service, form, 422)


@bp.post("/gestion/<service_slug>/diffuser/sites/<int:origin_id>/retirer")
@login_required
def remove_origin(service_slug: str, origin_id: int):
    service = _manageable_service(service_slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    embedding.remove_origin(service, acting_user(), origin_id)
    flash(_("Ce site ne peut plus intégrer le formulaire."), "success")
    return redirect(url_for("feedback.share", service_slug=service.slug) + "#sites")


@bp.get("/gestion/<service_slug>/code-qr.svg")
@login_required
def qr_code(service_slug: str):
    service = _manageable_service(service_slug)
    response = make_response(embedding.qr_svg(form_url(service, Source.qr)))
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/boutons/<lang>/<variant>.svg")
def button_image(lang: str, variant: str):
    """A « Je donne mon avis » button, shown by other websites: the same for everyone, cached long, no cookie."""
    style = embedding.BUTTON_VARIANTS.get(variant)
    if style is None or lang not in current_app.config["LANGUAGES"]:
        abort(404)
    with force_locale(lang):
        label = _("Je donne mon avis")
        first, second = embedding.two_lines(label)
        # Rendered without the context processors: an image needs none of them (the account, the session).
        svg = current_app.jinja_env.get_template("feedback/embed_button.svg").render(
            variant=style, lang=lang, label=label, first=first, second=second)
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = f"public, max-age={BUTTON_CACHE_SECONDS}"
    # Meant to be shown by other websites, including those that only load resources that say so.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.set_etag(hashlib.sha256(svg.encode()).hexdigest()[:32])
    return response.make_conditional(request)


# --- the form in an iframe on the service's website ----------------------------------------------------------------

EMBED_TOKEN_FIELD = "embed_token"  # noqa: S105 (a form field's name)


def _embed_language() -> str | None:
    """The language the embed's address asks for (``?lang=en``): no session is sent into a cross-site iframe."""
    lang = request.args.get("lang")
    return lang if lang in current_app.config["LANGUAGES"] else None


def _embed_place(service: Service, key: str | None) -> FormPlace:
    """The form's pages as the embed shows them: its layout, its URLs, its token (for the response's submission
    key ``key``) instead of the session's CSRF token, and every response it makes counted as « embed »."""
    lang = _embed_language()
    return FormPlace(layout="feedback/embed_base.html", step_endpoint="feedback.embed_step",
                     follow_up_endpoint="feedback.embed_follow_up", thanks_endpoint="feedback.embed_thanks",
                     response_endpoint="feedback.embed_response", csrf=False,
                     hidden={EMBED_TOKEN_FIELD: embedding.make_embed_token(service, key)} if key else {},
                     submission_key=key, source=Source.embed,
                     url_values={"service_slug": service.slug, **({"lang": lang} if lang else {})}, links_out=False)


def _embed_error(status: int, message, service: Service | None):
    """An embed page's refusal, in the embed's layout, with a link to open the page again (a GET of it, which gives a
    fresh form) when its service exists."""
    restart = request.full_path.rstrip("?") if service is not None and status != 404 else None
    title = ERROR_TITLES.get(status, ERROR_TITLES[500])
    return render_template("feedback/embed_error.html", status=status, title=title, restart=restart,
                           message=message or ERROR_TEXTS.get(status, ERROR_TEXTS[500])), status


def embed_view(view):
    """An embed page: in the language its address asks for, framed only by the service's allowed origins, its
    POSTs checked for their provenance before anything is read, and its refusals shown in its own layout (the site's
    error pages carry the session's CSRF token, hence a cookie, and may not be framed)."""

    @wraps(view)
    def wrapped(service_slug: str, **kwargs):
        lang = _embed_language()
        with force_locale(lang) if lang else nullcontext():
            service = None
            try:
                if request.method == "POST":
                    embedding.check_same_origin(request.headers)
                service = catalog.get_by_slug(Service, service_slug)
                g.frame_ancestors = embedding.frame_ancestors(service)
                return view(service, **kwargs)
            except DomainError as err:
                if service is None:  # refused before the service was loaded: framed by it all the same
                    service = db.session.scalar(select(Service).where(Service.slug == service_slug))
                    if service is not None:
                        g.frame_ancestors = embedding.frame_ancestors(service)
                return _embed_error(err.status, err.message, service)
            except HTTPException as err:
                page, status = _embed_error(err.code or 500, None, service)
                response = make_response(page, status)
                for name, value in err.get_headers():
                    if name.lower() != "content-type":
                        response.headers[name] = value
                return response

    return wrapped


def _check_token(service: Service, key: str) -> None:
    if request.method == "POST":
        embedding.check_embed_token(request.form.get(EMBED_TOKEN_FIELD), service, key)


def _embedded_response(service: Service, token: str):
    """The response of ``token`` (None once its hour is over), which must be one of ``service``'s."""
    response = load_open(token)
    if response is not None and response.service_id != service.id:
        abort(404)
    return response


@bp.route("/<service_slug>/integre", methods=["GET", "POST"])
@embed_view
@form_rate_limit
def embed_form(service: Service):
    if request.method == "POST":
        key = request.form.get("submission_key", "")
        _check_token(service, key)
    else:
        key = new_submission_key()
    place = _embed_place(service, key)
    return handle_step(place, service, None, None, get_questionnaire().steps[0].number)


@bp.route("/<service_slug>/integre/<token>/etape/<int:step>", methods=["GET", "POST"])
@embed_view
@form_rate_limit
def embed_step(service: Service, token: str, step: int):
    response = _embedded_response(service, token)
    if response is None:
        return render_closed(_embed_place(service, None), service)
    _check_token(service, response.submission_key)
    return handle_step(_embed_place(service, response.submission_key), service, response, token, step)


@bp.route("/<service_slug>/integre/<token>/etape/<int:step>/suite", methods=["GET", "POST"])
@embed_view
@form_rate_limit
def embed_follow_up(service: Service, token: str, step: int):
    response = _embedded_response(service, token)
    if response is None:
        return render_closed(_embed_place(service, None), service)
    _check_token(service, response.submission_key)
    return handle_step(_embed_place(service, response.submission_key), service, response, token, step,
                       follow_up=True)


@bp.get("/<service_slug>/integre/<token>")
@embed_view
def embed_response(service: Service, token: str):
    response = _embedded_response(service, token)
    if response is None:
        return render_closed(_embed_place(service, None), service)
    return render_response(_embed_place(service, None), response, token)


@bp.get("/<service_slug>/integre/<token>/merci")
@embed_view
def embed_thanks(service: Service, token: str):
    response = _embedded_response(service, token)
    if response is None:
        return render_closed(_embed_place(service, None), service)
    return render_thanks(_embed_place(service, None), service, response, token)


# Flask-WTF's CSRF check rests on the session cookie, which a browser does not send into a cross-site iframe
# (SameSite=Lax), and the embed may set no cookie of its own. So these views, and only these, are exempt from it:
# each POST is checked instead for its provenance (Sec-Fetch-Site or Origin: a page of Atelier's own origin, which the
# iframe's document is) and for the embed token its form carries (signed with SECRET_KEY, bound to the service and to
# the response's submission key, time-limited), before anything is read or written (``embed_view``, ``_check_token``).
for _view in (embed_form, embed_step, embed_follow_up):
    csrf.exempt(_view)
