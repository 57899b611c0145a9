"""Public « Je donne mon avis » pages: a service's form at ``/avis/<service_slug>`` (its first step), then the
response's own pages under ``/avis/reponse/<token>/``: the next steps, a step's follow-up questions, the page that
finishes or corrects it within the hour, and the thank-you page. After the hour its link answers 410.

No account, and no cookie but the session's, for the CSRF token (and the language, once chosen): nothing of the
person is stored, and flash messages (kept in the session) are not used here. The form's POSTs are rate-limited per
client address, counted under a keyed hash of it (``address_key``), never the address itself.

The pages are handled by ``handle_step``, ``render_thanks`` and ``render_closed``, given a ``FormPlace``: the embed
(embed.py) shows the same pages in its own layout, with its own CSRF protection and URLs.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from ..catalog.models import Service
from ..catalog.service import get_by_slug
from ..extensions import limiter
from ..i18n import current_language
from . import bp, service
from .errors import InvalidAnswers, InvalidSubmissionKey, ResponseClosed
from .forms import HONEYPOT, step_form
from .models import FeedbackResponse, Source
from .questionnaire import get_questionnaire, translated

# Sources a link may name (``?source=``); the embed sets its own. Anything else counts as a plain link.
LINK_SOURCES = {s.value: s for s in (Source.button, Source.link, Source.qr, Source.atelier)}


def source_from(value: str | None) -> Source:
    return LINK_SOURCES.get((value or "").strip().lower(), Source.link)


def _form_limit() -> str:
    return current_app.config["FEEDBACK_RATE_LIMIT"]


def address_key() -> str:
    """The rate limit's key: an HMAC of the client's address under ``SECRET_KEY``, so that the limiter's storage
    never holds the address itself."""
    key = current_app.config["SECRET_KEY"].encode()
    return "feedback:" + hmac.new(key, (get_remote_address() or "").encode(), hashlib.sha256).hexdigest()


# One budget per address for every POST of the form, whatever its page (and the embed's: it uses this decorator too).
form_rate_limit = limiter.shared_limit(_form_limit, scope="feedback-form", key_func=address_key, methods=["POST"])


@dataclass(frozen=True)
class FormPlace:
    """Where the form's pages are shown: Atelier's own pages (``PUBLIC``), or a service's website (the embed)."""

    layout: str = "base.html"  # the template the pages extend (blocks ``title`` and ``content``)
    step_endpoint: str = "feedback.answer_step"  # url_for(endpoint, token=, step=, **url_values)
    follow_up_endpoint: str = "feedback.answer_follow_up"  # url_for(endpoint, token=, step=, **url_values)
    thanks_endpoint: str = "feedback.thanks"  # url_for(endpoint, token=, **url_values)
    response_endpoint: str = "feedback.show_response"  # url_for(endpoint, token=, **url_values)
    csrf: bool = True  # the session's CSRF token (Flask-WTF); False where the caller checks its own
    hidden: Mapping[str, str] = field(default_factory=dict)  # extra hidden fields of every form (the embed's token)
    source: Source | None = None  # every response made here has this source; None: the first page's ?source=
    url_values: Mapping[str, str] = field(default_factory=dict)  # extra values of every url_for above
    links_out: bool = True  # links to the rest of Atelier (the service's page); none inside an iframe
    submission_key: str | None = None  # a new response's key, chosen by the caller (the embed signs it); None: new

    def url(self, endpoint: str, **values) -> str:
        return url_for(endpoint, **self.url_values, **values)

    def step_url(self, token: str, step: int) -> str:
        return self.url(self.step_endpoint, token=token, step=step)


PUBLIC = FormPlace()


# --- the pages, wherever they are shown ----------------------------------------------------------------------------

def handle_step(place: FormPlace, service_: Service, response: FeedbackResponse | None, token: str | None,
                step: int, *, follow_up: bool = False):
    """GET shows, POST stores a page of the questionnaire: step ``step`` (its follow-up questions if ``follow_up``)
    of ``response`` (whose link carries ``token``), or with no response the first step of a new one. A stored page
    redirects to the next one; refused answers come back on their fields (422), nothing written."""
    questionnaire = get_questionnaire()
    current = questionnaire.step(step)
    if current is None or (response is None and step != questionnaire.steps[0].number):
        abort(404)
    last = current.number == questionnaire.last_step
    stored = service.stored_answers(response) if response is not None else {}
    if follow_up:
        fields = service.shown_follow_ups(current, stored)
        if not fields:  # nothing to ask on this page with the answers as they are
            return redirect(_after(place, token, current, stored, follow_up=True))
    else:
        fields = current.main_fields
    data = dict(stored)
    form = step_form(fields, first=response is None, last=last, csrf=place.csrf, data=data)
    if last and request.method == "GET" and response is not None:
        form.consent.data = response.publish_consent
    if response is None and request.method == "GET":
        form.submission_key.data = place.submission_key or service.new_submission_key()
        form.source.data = (place.source or source_from(request.args.get("source"))).value
    status = 200
    if request.method == "POST":
        if form.validate():
            if form[HONEYPOT].data:  # a bot: nothing is stored, and it is told nothing either
                return render_thanks(place, service_, None, None)
            answers = form.answers(fields)
            try:
                if response is None:
                    source = place.source or source_from(form.source.data)
                    response, token = service.start_response(service_, form.submission_key.data or "", source,
                                                             answers)
                else:
                    page = "follow_up" if follow_up else ("main" if current.follow_up_fields else "all")
                    response = service.store_step(token, current.number, answers, page=page,
                                                  consent=form.consent.data if last else None,
                                                  locale=current_language())
            except InvalidAnswers as err:
                for problem in err.problems:
                    target = form._fields.get(problem.field)
                    if target is not None:
                        target.errors = [*target.errors, str(problem.message)]
            except InvalidSubmissionKey as err:
                form.submission_key.data = service.new_submission_key()
                form.form_errors.append(str(err.message))
            except ResponseClosed:
                return render_closed(place, service_)
            else:
                return redirect(_after(place, token, current, service.stored_answers(response), follow_up))
        status = 422
    return render_template("feedback/form.html", place=place, service=service_, response=response, token=token,
                           step=current, step_title=translated(current.title), steps=questionnaire.steps,
                           fields=fields, form=form, follow_up=follow_up, last=last), status


def _after(place: FormPlace, token: str, step, answers: dict, follow_up: bool) -> str:
    """Where a stored page leads: its step's follow-up questions when they apply, else the next step, else thanks."""
    if not follow_up and service.shown_follow_ups(step, answers):
        return place.url(place.follow_up_endpoint, token=token, step=step.number)
    questionnaire = get_questionnaire()
    if step.number < questionnaire.last_step:
        return place.step_url(token, step.number + 1)
    return place.url(place.thanks_endpoint, token=token)


def render_thanks(place: FormPlace, service_: Service, response: FeedbackResponse | None, token: str | None):
    """The thank-you page; with a response, the link that finishes or corrects it within the hour."""
    link = place.url(place.response_endpoint, token=token, _external=True) if response is not None else None
    return render_template("feedback/form_thanks.html", place=place, service=service_, response=response,
                           token=token, link=link)


def render_closed(place: FormPlace, service_: Service | None):
    """The page of a response's link after its hour: 410, the answers are kept as they are."""
    return render_template("feedback/form_closed.html", place=place, service=service_,
                           message=ResponseClosed.message), 410


def render_response(place: FormPlace, response: FeedbackResponse, token: str):
    """The response's own page: each step's answers, and the links that finish or correct it within the hour."""
    questionnaire = get_questionnaire()
    stored = service.stored_answers(response)
    summary = []
    for step in questionnaire.steps:
        rows = []
        for f in step.fields:
            value = stored.get(f.code)
            if f.is_text:
                shown = value or ""
            else:
                shown = ", ".join(translated(f.option(code).label) for code in value or ())
            if shown or not f.is_follow_up:
                rows.append((translated(f.question), shown))
        if step.number == questionnaire.last_step:
            consent = _("Oui") if response.publish_consent else _("Non")
            rows.append((_("Accord pour publier votre commentaire"), consent))
        summary.append((step, rows))
    return render_template("feedback/form_response.html", place=place, service=response.service,
                           response=response, token=token, summary=summary,
                           step_titles={s.number: translated(s.title) for s in questionnaire.steps})


def load_open(token: str) -> FeedbackResponse | None:
    """The response of ``token`` while its link is open; None once closed. Unknown: 404."""
    try:
        return service.open_response(token)
    except ResponseClosed:
        return None


# --- Atelier's own pages ---------------------------------------------------------------------------------------------

@bp.route("/<service_slug>", methods=["GET", "POST"])
@form_rate_limit
def start_feedback(service_slug: str):
    service_ = get_by_slug(Service, service_slug)
    return handle_step(PUBLIC, service_, None, None, get_questionnaire().steps[0].number)


@bp.route("/reponse/<token>/etape/<int:step>", methods=["GET", "POST"])
@form_rate_limit
def answer_step(token: str, step: int):
    response = load_open(token)
    if response is None:
        return render_closed(PUBLIC, None)
    return handle_step(PUBLIC, response.service, response, token, step)


@bp.route("/reponse/<token>/etape/<int:step>/suite", methods=["GET", "POST"])
@form_rate_limit
def answer_follow_up(token: str, step: int):
    response = load_open(token)
    if response is None:
        return render_closed(PUBLIC, None)
    return handle_step(PUBLIC, response.service, response, token, step, follow_up=True)


@bp.get("/reponse/<token>")
def show_response(token: str):
    response = load_open(token)
    if response is None:
        return render_closed(PUBLIC, None)
    return render_response(PUBLIC, response, token)


@bp.get("/reponse/<token>/merci")
def thanks(token: str):
    response = load_open(token)
    if response is None:
        return render_closed(PUBLIC, None)
    return render_thanks(PUBLIC, response.service, response, token)
