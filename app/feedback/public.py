"""Public « Je donne mon avis » pages: the moderation charter, the published experiences with the organisations'
replies (all of them, filtered by organisation or service, and per service), and each organisation's reply delay.

The catalogue's organisation page shows the delay through the ``feedback_reply_delay`` template global below (the
catalogue may not import this area). Nothing here identifies a respondent: an experience shows its service, the day
it was given, its satisfaction, its text and the reply.
"""

from math import ceil

from flask import render_template
from flask_babel import format_decimal, format_percent
from markupsafe import Markup
from sqlalchemy import select

from ..catalog.models import Organisation, Service
from ..catalog.service import get_by_slug
from ..extensions import db
from ..inputs import PAGE_MAX, int_arg
from . import bp, experiences
from .models import Experience, ExperienceStatus, FeedbackResponse
from .triage import SATISFACTION_NAMES


class Page:
    """Just enough of a pagination object for ``consultations/_pagination.html``."""

    def __init__(self, items, total, page, per_page):
        self.items, self.total, self.page = items, total, page
        self.pages = max(1, ceil(total / per_page))
        self.has_prev, self.has_next = page > 1, page < self.pages
        self.prev_num, self.next_num = page - 1, page + 1


@bp.app_template_filter("feedback_percent")
def feedback_percent(value) -> str:
    """A share in the reader's language: « 14 % » (no-break space) in French, "14%" in English."""
    return "–" if value is None else format_percent(value)


@bp.app_template_filter("feedback_days")
def feedback_days(value) -> str:
    """A number of days with at most one decimal, in the reader's language."""
    return "–" if value is None else format_decimal(round(value, 1), "#,##0.#")


@bp.app_template_filter("feedback_days_plural")
def feedback_days_plural(value) -> int:
    """The number that picks the plural of "%(days)s jours" for days shown with one decimal: 1 is singular in both
    languages, and a fraction below 2 passes 0 (singular in French, plural in English)."""
    shown = round(value, 1)
    return int(shown) if shown == int(shown) or shown >= 2 else 0


@bp.app_template_global("feedback_reply_delay")
def feedback_reply_delay(organisation: Organisation) -> Markup:
    """The organisation's reply delay to the experiences published about its services, for its catalogue page."""
    html = render_template("feedback/_experiences_delay.html", organisation=organisation,
                           delay=experiences.reply_delay(organisation.id), heading=True)
    return Markup(html)  # noqa: S704 - Jinja's output, escaped by autoescape


@bp.get("/charte")
def moderation_policy():
    """The charter the editors moderate experiences against."""
    return render_template("feedback/experiences_policy.html", within=experiences.ANSWERED_WITHIN_DAYS)


def _organisations_with_experiences() -> list[Organisation]:
    return list(db.session.scalars(
        select(Organisation).where(Organisation.id.in_(
            select(Service.organisation_id).join(FeedbackResponse, FeedbackResponse.service_id == Service.id)
            .join(Experience, Experience.response_id == FeedbackResponse.id)
            .where(Experience.status == ExperienceStatus.published, FeedbackResponse.is_spam.is_(False))))
        .order_by(Organisation.name)))


def _services_with_experiences(organisation_id: int | None) -> list[Service]:
    query = select(Service).where(Service.id.in_(
        select(FeedbackResponse.service_id).join(Experience, Experience.response_id == FeedbackResponse.id)
        .where(Experience.status == ExperienceStatus.published, FeedbackResponse.is_spam.is_(False))))
    if organisation_id is not None:
        query = query.where(Service.organisation_id == organisation_id)
    return list(db.session.scalars(query.order_by(Service.name)))


@bp.get("/experiences")
def list_experiences():
    """Every published experience, newest first, by organisation or service when filtered, with the reply delays."""
    page = int_arg("page", 1, maximum=PAGE_MAX)
    organisations = _organisations_with_experiences()
    organisation_id = int_arg("organisation")
    organisation = next((o for o in organisations if o.id == organisation_id), None)
    services = _services_with_experiences(organisation.id if organisation else None)
    service_id = int_arg("demarche")
    service = next((s for s in services if s.id == service_id), None)
    items, total = experiences.list_published(organisation_id=organisation.id if organisation else None,
                                              service_id=service.id if service else None, page=page)
    delays = experiences.reply_delays([organisation.id] if organisation else None)
    return render_template("feedback/experiences.html", pagination=Page(items, total, page, experiences.PER_PAGE),
                           organisations=organisations, services=services, organisation=organisation,
                           service=service, delays=[(o, delays[o.id]) for o in organisations if o.id in delays],
                           satisfaction_names=SATISFACTION_NAMES, per_service=False)


@bp.get("/experiences/<service_slug>")
def service_experiences(service_slug: str):
    """One service's published experiences, newest first, with its organisation's reply delay."""
    service = get_by_slug(Service, service_slug)
    page = int_arg("page", 1, maximum=PAGE_MAX)
    items, total = experiences.list_published(service_id=service.id, page=page)
    return render_template("feedback/experiences.html", pagination=Page(items, total, page, experiences.PER_PAGE),
                           service=service, organisation=service.organisation,
                           delay=experiences.reply_delay(service.organisation_id),
                           satisfaction_names=SATISFACTION_NAMES, per_service=True)
