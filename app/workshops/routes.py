"""Public workshop pages: find, sign up, cancel, confirm an offer, calendars, evaluation."""

from datetime import datetime, timedelta

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..catalog import service as catalog
from ..catalog.models import Organisation
from ..clock import utcnow
from ..errors import DomainError
from ..extensions import limiter
from ..inputs import PAGE_MAX, enum_member, int_arg
from ..markdown import render_markdown
from . import bp, calendar, queries, service, signup
from .errors import AlreadyEvaluated, AlreadyRegistered, EvaluationNotOpen
from .forms import EvaluationForm, answers_from, build_signup_form, to_utc
from .models import Registration, RegistrationStatus, WorkshopFormat


def _date_arg(name: str, next_day: bool = False):
    raw = request.args.get(name, "")
    try:
        day = datetime.strptime(raw, "%Y-%m-%d") if raw else None
    except ValueError:
        return None
    # « Jusqu'au 10 » includes the 10th: that range ends at the next midnight, Paris time.
    return to_utc(day + timedelta(days=1) if next_day else day) if day else None


@bp.get("/")
def list_workshops():
    fmt = request.args.get("format", "")
    filters = {
        "organisation_id": int_arg("organisation"), "life_event_id": int_arg("moment"),
        "service_id": int_arg("demarche"),
        "workshop_format": enum_member(WorkshopFormat, fmt),
        "date_from": _date_arg("du"), "date_to": _date_arg("au", next_day=True),
        "with_seats": request.args.get("places") == "1",
    }
    page = int_arg("page", 1, maximum=PAGE_MAX)
    pagination, figures = queries.list_workshops(page=page, per_page=current_app.config["WORKSHOPS_PER_PAGE"],
                                                 **filters)
    organisations = catalog.list_organisations()
    feed_organisation = next((o for o in organisations if o.id == filters["organisation_id"]), None)
    return render_template("workshops/list.html", pagination=pagination, figures=figures, args=request.args,
                           organisations=organisations, feed_organisation=feed_organisation,
                           life_events=catalog.list_life_events(with_services=False), services=catalog.service_names())


@bp.get("/passes")
def past_workshops():
    page = int_arg("page", 1, maximum=PAGE_MAX)
    pagination, _figures = queries.list_workshops(upcoming=False, page=page,
                                                  per_page=current_app.config["WORKSHOPS_PER_PAGE"])
    attendance = queries.attendance_many(pagination.items)
    return render_template("workshops/past.html", pagination=pagination, attendance=attendance)


def _load_visible(workshop_id: int):
    workshop = queries.get_workshop(workshop_id)
    token = request.args.get("invitation") or request.form.get("invitation")
    if not queries.can_view(workshop, current_user, token):
        abort(404)
    return workshop, token


@bp.get("/<int:workshop_id>")
def show_workshop(workshop_id: int):
    workshop, token = _load_visible(workshop_id)
    registration = queries.registration_for(workshop, current_user)
    figures = queries.seat_figures([workshop.id])[workshop.id]
    over = workshop.is_over()
    return render_template(
        "workshops/show.html", workshop=workshop, token=token, registration=registration, figures=figures,
        page_messages=_sign_up_outcome(registration) if request.args.get(SIGNED_UP_ARG) else [],
        position=queries.waitlist_position(registration) if registration else None,
        description=render_markdown(workshop.description_md), attendance=queries.attendance(workshop) if over
        else None, evaluation=queries.evaluation_summary(workshop) if over else None,
        can_manage=workshop.can_manage(current_user), now_status=registration.effective_status()
        if registration else None)


@bp.route("/<int:workshop_id>/inscription", methods=["GET", "POST"])
# No rate limit to look up: one registration per person and workshop is a database rule, and the site has no
# default limit (Flask-Limiter's lookup for a route without limits was 9 % of a sign-up's CPU).
@limiter.exempt
@login_required
def sign_up(workshop_id: int):
    workshop, token = _load_visible(workshop_id)
    back = url_for("workshops.show_workshop", workshop_id=workshop.id, invitation=token)
    # The POST skips this read: the service decides it again under the seat lock (AlreadyRegistered).
    if request.method == "GET":
        existing = queries.registration_for(workshop, current_user)
        if existing and existing.effective_status() is not RegistrationStatus.cancelled:
            flash(_("Vous êtes déjà inscrit·e à cet atelier."), "info")
            return redirect(back)
    form = build_signup_form(workshop)
    if form.validate_on_submit():
        get_locale()  # a message's language, chosen now: after a rollback the user would be read again
        try:
            category_id = getattr(form, "category_id", None) and form.category_id.data
            signup.sign_up(workshop, acting_user(), category_id=category_id, answers=answers_from(form, workshop),
                           token=token)
        except AlreadyRegistered:
            flash(_("Vous êtes déjà inscrit·e à cet atelier."), "info")
            return redirect(back)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            return _to_outcome(workshop.id, token)
    return render_template("workshops/sign_up.html", workshop=workshop, form=form, token=token,
                           figures=queries.seat_figures([workshop.id])[workshop.id])


# The sign-up answers with the workshop's page and this argument: the page says what came of it, from the
# registration itself (a message in the session would cost a new signed cookie on every sign-up).
SIGNED_UP_ARG = "inscription"


def _to_outcome(workshop_id: int, token: str | None):
    return redirect(url_for("workshops.show_workshop", workshop_id=workshop_id, invitation=token,
                            **{SIGNED_UP_ARG: "1"}))


def _sign_up_outcome(registration) -> list[tuple[str, str]]:
    """The message after a sign-up, as (category, text) like a flashed message, for the viewer's registration."""
    status = registration.effective_status() if registration else None
    if status is RegistrationStatus.confirmed:
        return [("success", _("C'est noté : votre place est confirmée. Un courriel de confirmation vous a été "
                              "envoyé."))]
    if status is RegistrationStatus.in_review:
        return [("success", _("C'est noté : une place vous est réservée. L'équipe vérifie la catégorie que vous "
                              "avez déclarée avant de la confirmer ; vous recevrez alors un courriel."))]
    if status is RegistrationStatus.waitlisted:
        # The page shows the position in the queue.
        return [("success", _("L'atelier est complet : vous êtes sur la liste d'attente ; votre position est "
                              "indiquée ci-dessous. Si une place se libère, elle vous sera proposée par courriel."))]
    return []


def _my_registration(workshop_id: int) -> Registration:
    workshop = queries.get_workshop(workshop_id)
    registration = queries.registration_for(workshop, current_user)
    if registration is None:
        abort(404)
    return registration


@bp.post("/<int:workshop_id>/desinscription")
@login_required
def cancel_registration(workshop_id: int):
    registration = _my_registration(workshop_id)
    if ConfirmForm().validate_on_submit():
        try:
            signup.cancel_registration(registration, acting_user())
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Votre inscription est annulée. Merci d'avoir libéré votre place."), "success")
    return redirect(url_for("workshops.my_workshops"))


@bp.post("/<int:workshop_id>/confirmer")
@login_required
def confirm_offer(workshop_id: int):
    registration = _my_registration(workshop_id)
    if ConfirmForm().validate_on_submit():
        try:
            registration = signup.confirm_offer(registration, acting_user())
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            if registration.status is RegistrationStatus.in_review:
                flash(_("La place vous est réservée : l'équipe vérifie la catégorie que vous avez déclarée avant "
                        "de la confirmer."), "success")
            else:
                flash(_("Votre place est confirmée. À bientôt !"), "success")
    return redirect(url_for("workshops.my_workshops"))


@bp.get("/mes-ateliers")
@login_required
def my_workshops():
    return render_template("workshops/mine.html", groups=queries.list_my_registrations(acting_user()),
                           feed_token=service.feed_token_for(acting_user()), now=utcnow())


@bp.post("/mon-calendrier/regenerer")
@login_required
def regenerate_feed():
    if ConfirmForm().validate_on_submit():
        service.feed_token_for(acting_user(), regenerate=True)
        flash(_("Votre lien d'agenda a été renouvelé : l'ancien ne fonctionne plus."), "success")
    return redirect(url_for("workshops.my_workshops"))


@bp.get("/<int:workshop_id>/convocation")
@login_required
def my_ticket(workshop_id: int):
    registration = _my_registration(workshop_id)
    if registration.status is not RegistrationStatus.confirmed or registration.workshop.is_cancelled:
        abort(404)
    return render_template("workshops/ticket.html", registration=registration, workshop=registration.workshop,
                           qr_svg=_qr_svg(registration.code))


def _qr_svg(text: str) -> str:
    import segno

    return segno.make(text, error="m").svg_inline(scale=6, dark="#1b1b1b", light="#ffffff", omitsize=True)


@bp.route("/<int:workshop_id>/evaluation", methods=["GET", "POST"])
@login_required
def evaluate(workshop_id: int):
    registration = _my_registration(workshop_id)
    if registration.checked_in_at is None or not registration.workshop.is_over() or registration.has_evaluated:
        flash(str(AlreadyEvaluated.message if registration.has_evaluated
                  else EvaluationNotOpen.message), "info")
        return redirect(url_for("workshops.show_workshop", workshop_id=workshop_id))
    form = EvaluationForm()
    if form.validate_on_submit():
        try:
            service.submit_evaluation(registration, acting_user(), overall=form.overall.data,
                                      felt_heard=form.felt_heard.data, would_return=form.would_return.data,
                                      comment=form.comment.data or "")
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Merci pour votre avis !"), "success")
        return redirect(url_for("workshops.show_workshop", workshop_id=workshop_id))
    return render_template("workshops/evaluate.html", form=form, registration=registration,
                           workshop=registration.workshop)


def _ics(workshops, filename: str, name: str | None = None) -> Response:
    return Response(calendar.workshop_ics(workshops, name), mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/<int:workshop_id>.ics")
def workshop_calendar(workshop_id: int):
    workshop, _token = _load_visible(workshop_id)
    return _ics([workshop], f"atelier-{workshop.id}.ics")


@bp.get("/calendrier.ics")
def all_calendar():
    return _ics(queries.published_for_feed(), "ateliers.ics", "Atelier")


@bp.get("/organisations/<slug>.ics")
def organisation_calendar(slug: str):
    organisation = catalog.get_by_slug(Organisation, slug)
    return _ics(queries.published_for_feed(organisation.id), f"ateliers-{slug}.ics", organisation.name)


@bp.get("/mon-calendrier/<token>.ics")
def personal_calendar(token: str):
    return _ics(queries.workshops_for_feed(token), "mes-ateliers.ics", "Mes ateliers")

