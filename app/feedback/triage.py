"""Triage of a service's answers by the editors of its organisation: the filtered, paged list of responses (and the
same filters as a CSV file), spam marking, and the irritant tags each service keeps.

Every function takes the acting user and checks ``can_triage`` again (the pages check it too, on every request).
Spam is left out of every list, count and export here, except where the editors ask for the spam itself
(``ResponseFilters.spam``). Lists cost a constant number of queries whatever the number of responses: one count,
one page of responses, their answers and tags (``selectinload``), their experiences and contact flags.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import to_user_timezone
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload, selectinload

from ..catalog.models import Organisation, Role, Service
from ..clock import utcnow
from ..database import begin_write
from ..errors import InvalidInput, NotAllowed
from ..extensions import db
from ..permissions import is_admin, is_authenticated
from . import tally
from .errors import ResponseNotFound, TagExists, TagLabelRequired, TagNotFound
from .linking import forget_links
from .models import (
    Experience,
    ExperienceStatus,
    FeedbackAnswer,
    FeedbackContact,
    FeedbackResponse,
    IrritantTag,
    Source,
    can_triage,
    feedback_response_tags,
)
from .questionnaire import get_questionnaire, translated
from .service import stored_answers

PER_PAGE = 20
TAG_LABEL_MAX = 80
SATISFACTION_FIELD = "satisfaction"
TEXT_FIELD = "verbatim"  # « with text only »: a response whose free comment is not empty

# The questionnaire's fields (JDMA v2_2024_static), in its order, with the short names the editors' list and the CSV
# export show (the questions themselves are long: they are in app/feedback/questionnaire.py).
FIELD_NAMES = {
    "satisfaction": _l("Satisfaction"),
    "comprehension": _l("Clarté"),
    "contact_tried": _l("Aide cherchée"),
    "contact_tried_verbatim": _l("Autre aide"),
    "contact_reached": _l("Administration jointe"),
    "contact_satisfaction": _l("Qualité de l'aide"),
    "verbatim": _l("Commentaire"),
}
SATISFACTION_NAMES = {1: _l("Pas bien"), 2: _l("Moyen"), 3: _l("Très bien")}  # the smiley's stored codes
SOURCE_NAMES = {
    Source.button: _l("Bouton"),
    Source.link: _l("Lien"),
    Source.embed: _l("Formulaire intégré"),
    Source.qr: _l("QR code"),
    Source.atelier: _l("Site Atelier"),  # not « Atelier » alone: that msgid is the workshops' "Workshop"
}
EXPERIENCE_STATUS_NAMES = {
    ExperienceStatus.pending: _l("À modérer"),
    ExperienceStatus.published: _l("Publiée"),
    ExperienceStatus.refused: _l("Refusée"),
}


def option_label(field_code: str, item_id: int, stored_text: str) -> str:
    """An answer as the editors read it: the questionnaire's label for a stored option code, in the reader's
    language; free text (and a code the questionnaire does not know) as it was stored."""
    field_ = get_questionnaire().field(field_code) if item_id else None
    option = field_.option(item_id) if field_ is not None else None
    return translated(option.label) if option is not None else stored_text


# --- who triages what -----------------------------------------------------------------------------------------

def edited_organisation_ids(user) -> list[int] | None:
    """Organisations whose services' feedback this person triages: None for admins (all of them), else those they
    edit (none for everyone else)."""
    if is_admin(user):
        return None
    if not is_authenticated(user):
        return []
    return sorted({m.organisation_id for m in user.memberships if m.role is Role.editor})


def triages_any(user) -> bool:
    """Whether this person triages the feedback of at least one service's organisation (the menu's link)."""
    ids = edited_organisation_ids(user)
    return ids is None or bool(ids)


def _require(user, service) -> None:
    if not can_triage(user, service):
        raise NotAllowed()


# --- the overview ---------------------------------------------------------------------------------------------

@dataclass
class ServiceCounts:
    service: Service
    responses: int = 0  # spam left out
    with_text: int = 0
    pending: int = 0  # experiences waiting for moderation
    awaiting_reply: int = 0  # published experiences without the organisation's reply yet


def triageable_services(user) -> list[ServiceCounts]:
    """The services this person triages (by organisation, then name), with their counts: three queries."""
    org_ids = edited_organisation_ids(user)
    services = select(Service).join(Organisation, Organisation.id == Service.organisation_id)
    if org_ids is not None:
        services = services.where(Service.organisation_id.in_(org_ids or [-1]))
    rows = [ServiceCounts(s) for s in db.session.scalars(services.order_by(Organisation.name, Service.name))]
    if not rows:
        return rows
    by_id = {row.service.id: row for row in rows}
    wanted = list(by_id) if org_ids is not None else None

    def scoped(query):
        return query.where(FeedbackResponse.service_id.in_(wanted)) if wanted is not None else query

    has_text = (select(FeedbackAnswer.id).where(FeedbackAnswer.response_id == FeedbackResponse.id,
                                                FeedbackAnswer.field_code == TEXT_FIELD,
                                                FeedbackAnswer.answer_text != "").exists())
    for service_id, total, text in db.session.execute(scoped(
            select(FeedbackResponse.service_id, func.count(FeedbackResponse.id),
                   func.coalesce(func.sum(case((has_text, 1), else_=0)), 0))
            .where(FeedbackResponse.is_spam.is_(False))).group_by(FeedbackResponse.service_id)):
        if service_id in by_id:
            by_id[service_id].responses, by_id[service_id].with_text = total, text
    pending = Experience.status == ExperienceStatus.pending
    awaiting = (Experience.status == ExperienceStatus.published) & Experience.replied_at.is_(None)
    for service_id, waiting, unanswered in db.session.execute(scoped(
            select(FeedbackResponse.service_id, func.coalesce(func.sum(case((pending, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((awaiting, 1), else_=0)), 0))
            .select_from(Experience).join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .where(FeedbackResponse.is_spam.is_(False))).group_by(FeedbackResponse.service_id)):
        if service_id in by_id:
            by_id[service_id].pending, by_id[service_id].awaiting_reply = waiting, unanswered
    return rows


# --- the list of responses -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponseFilters:
    """What the editors' list shows: a period (naive UTC bounds, ``end`` excluded), a source, a satisfaction code,
    only responses with a comment, one irritant tag; ``spam`` shows the responses marked as spam, and only them."""

    start: datetime | None = None
    end: datetime | None = None
    source: Source | None = None
    satisfaction: int | None = None
    with_text: bool = False
    tag_id: int | None = None
    spam: bool = False

    def conditions(self, service_id: int) -> list:
        conditions = [FeedbackResponse.service_id == service_id, FeedbackResponse.is_spam.is_(self.spam)]
        if self.start is not None:
            conditions.append(FeedbackResponse.created_at >= self.start)
        if self.end is not None:
            conditions.append(FeedbackResponse.created_at < self.end)
        if self.source is not None:
            conditions.append(FeedbackResponse.source == self.source)
        if self.satisfaction is not None:
            conditions.append(select(FeedbackAnswer.id).where(
                FeedbackAnswer.response_id == FeedbackResponse.id, FeedbackAnswer.field_code == SATISFACTION_FIELD,
                FeedbackAnswer.answer_item_id == self.satisfaction).exists())
        if self.with_text:
            conditions.append(select(FeedbackAnswer.id).where(
                FeedbackAnswer.response_id == FeedbackResponse.id, FeedbackAnswer.field_code == TEXT_FIELD,
                FeedbackAnswer.answer_text != "").exists())
        if self.tag_id is not None:
            conditions.append(select(feedback_response_tags.c.tag_id).where(
                feedback_response_tags.c.response_id == FeedbackResponse.id,
                feedback_response_tags.c.tag_id == self.tag_id).exists())
        return conditions


@dataclass
class ResponseRow:
    """One response as the editors' list shows it."""

    response: FeedbackResponse
    experience: Experience | None
    left_contact: bool
    answers: list = field(default_factory=list)  # (field name, [labels]) in the questionnaire's order

    @property
    def verbatim(self) -> str:
        return next((a.answer_text for a in self.response.answers if a.field_code == TEXT_FIELD), "")

    @property
    def satisfaction(self) -> int | None:
        return next((a.answer_item_id for a in self.response.answers if a.field_code == SATISFACTION_FIELD), None)


def grouped_answers(response: FeedbackResponse, *, with_text: bool = True) -> list[tuple[str, list[str]]]:
    """The response's answers grouped by question, in the questionnaire's order, as labels."""
    grouped: dict[str, list[str]] = {}
    for answer in response.answers:
        if not with_text and answer.field_code == TEXT_FIELD:
            continue
        grouped.setdefault(answer.field_code, []).append(
            option_label(answer.field_code, answer.answer_item_id, answer.answer_text))
    order = list(FIELD_NAMES)
    codes = sorted(grouped, key=lambda code: (order.index(code) if code in order else len(order), code))
    return [(str(FIELD_NAMES.get(code, code)), grouped[code]) for code in codes]


def _rows(responses: list[FeedbackResponse]) -> list[ResponseRow]:
    """The responses with their experiences and contact flags: two queries for the whole page."""
    ids = [r.id for r in responses]
    experiences, contacts = {}, set()
    if ids:
        experiences = {e.response_id: e for e in db.session.scalars(
            select(Experience).options(lazyload(Experience.response)).where(Experience.response_id.in_(ids)))}
        contacts = set(db.session.scalars(select(FeedbackContact.response_id)
                                          .where(FeedbackContact.response_id.in_(ids))))
    return [ResponseRow(r, experiences.get(r.id), r.id in contacts, grouped_answers(r, with_text=False))
            for r in responses]


def _responses(service: Service, filters: ResponseFilters):
    return (select(FeedbackResponse).where(*filters.conditions(service.id))
            .options(selectinload(FeedbackResponse.answers), selectinload(FeedbackResponse.tags))
            .order_by(FeedbackResponse.created_at.desc(), FeedbackResponse.id.desc()))


def list_responses(service: Service, user, filters: ResponseFilters = ResponseFilters(), page: int = 1,
                   per_page: int = PER_PAGE) -> tuple[list[ResponseRow], int]:
    """One page of a service's responses, newest first, and how many match the filters: the service's editors."""
    _require(user, service)
    total = db.session.scalar(select(func.count(FeedbackResponse.id)).where(*filters.conditions(service.id)))
    page = max(1, page)
    responses = list(db.session.scalars(_responses(service, filters).limit(per_page).offset((page - 1) * per_page)))
    return _rows(responses), total


def export_table(service: Service, user, filters: ResponseFilters = ResponseFilters()) -> tuple[list, list[list]]:
    """Every response the filters keep, as a table (header, rows) for the CSV export: the service's editors."""
    _require(user, service)
    rows = _rows(list(db.session.scalars(_responses(service, filters))))
    header = [_("Identifiant"), _("Date"), _("Source"), *[str(name) for name in FIELD_NAMES.values()],
              _("Irritants"), _("Expérience"), _("Adresse laissée")]
    table = []
    for row in rows:
        answers = dict(grouped_answers(row.response))
        table.append([row.response.id, to_user_timezone(row.response.created_at).strftime("%Y-%m-%d %H:%M"),
                      str(SOURCE_NAMES[row.response.source]),
                      *[" | ".join(answers.get(str(name), [])) for name in FIELD_NAMES.values()],
                      " | ".join(tag.label for tag in row.response.tags),
                      str(EXPERIENCE_STATUS_NAMES[row.experience.status]) if row.experience else "",
                      _("Oui") if row.left_contact else _("Non")])
    return header, table


def get_response(response_id: int, user) -> FeedbackResponse:
    """A response, for the editors of its service's organisation."""
    response = db.session.get(FeedbackResponse, response_id)
    if response is None:
        raise ResponseNotFound()
    _require(user, response.service)
    return response


# --- spam ------------------------------------------------------------------------------------------------------

def _set_spam(response: FeedbackResponse, user, spam: bool) -> FeedbackResponse:
    _require(user, response.service)
    begin_write()
    changed = db.session.execute(update(FeedbackResponse)
                                 .where(FeedbackResponse.id == response.id, FeedbackResponse.is_spam.is_(not spam))
                                 .values(is_spam=spam, spam_marked_at=utcnow() if spam else None)
                                 .execution_options(synchronize_session=False)).rowcount
    if changed:  # only the request that changed the flag moves the barometer's counts (the row lock decides)
        held = tally.cells(stored_answers(response))
        month = tally.month_of(response.created_at)
        tally.apply(response.service_id, month, held if spam else Counter(), Counter() if spam else held)
    if spam and changed:  # spam is no one's feedback: no proposal, measure or workshop topic may count it any more
        forget_links([response.id])
    db.session.commit()
    db.session.refresh(response)
    return response


def mark_spam(response: FeedbackResponse, user) -> FeedbackResponse:
    """The service's editors mark a response as spam: it leaves every list, count, export and public page, and the
    trail links made from it (taking it back does not restore them: link it again)."""
    return _set_spam(response, user, True)


def unmark_spam(response: FeedbackResponse, user) -> FeedbackResponse:
    """The service's editors take a response marked as spam back: it counts again everywhere."""
    return _set_spam(response, user, False)


# --- irritant tags ---------------------------------------------------------------------------------------------

def list_tags(service: Service) -> list[IrritantTag]:
    return list(db.session.scalars(select(IrritantTag).where(IrritantTag.service_id == service.id)
                                   .order_by(IrritantTag.label, IrritantTag.id)))


def tag_counts(service: Service) -> dict[int, int]:
    """How many responses (spam left out) carry each of the service's tags."""
    return dict(db.session.execute(
        select(feedback_response_tags.c.tag_id, func.count())
        .join(FeedbackResponse, FeedbackResponse.id == feedback_response_tags.c.response_id)
        .where(FeedbackResponse.service_id == service.id, FeedbackResponse.is_spam.is_(False))
        .group_by(feedback_response_tags.c.tag_id)).all())


def _clean_label(label: str | None) -> str:
    label = re.sub(r"\s+", " ", label or "").strip()
    if not label:
        raise TagLabelRequired()
    if len(label) > TAG_LABEL_MAX:
        raise InvalidInput(_l("Ce nom est trop long (%(limit)s caractères au plus).", limit=TAG_LABEL_MAX),
                           code="tag_label_too_long")
    return label


def _check_unique(service_id: int, label: str, except_id: int | None = None) -> None:
    """Two tags of one service differ by more than case (the database's constraint compares exactly)."""
    for other in db.session.scalars(select(IrritantTag).where(IrritantTag.service_id == service_id)):
        if other.id != except_id and other.label.casefold() == label.casefold():
            raise TagExists()


def _write_tag(write) -> None:
    """Run ``write`` and commit; two editors naming the same tag at once: the database's constraint decides."""
    try:
        write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TagExists() from None


def add_tag(service: Service, user, label: str) -> IrritantTag:
    """The service's editors add an irritant to the list they tag its responses with; names are unique per
    service (whatever the case)."""
    _require(user, service)
    label = _clean_label(label)
    begin_write()
    _check_unique(service.id, label)
    tag = IrritantTag(service_id=service.id, label=label)

    def write():
        db.session.add(tag)
        db.session.flush()

    _write_tag(write)
    return tag


def get_tag(tag_id: int, user) -> IrritantTag:
    tag = db.session.get(IrritantTag, tag_id)
    if tag is None:
        raise TagNotFound()
    _require(user, db.session.get(Service, tag.service_id))
    return tag


def rename_tag(tag: IrritantTag, user, label: str) -> IrritantTag:
    """The service's editors rename an irritant; the responses tagged with it keep it."""
    _require(user, db.session.get(Service, tag.service_id))
    label = _clean_label(label)
    tag_id, service_id = tag.id, tag.service_id
    begin_write()
    _check_unique(service_id, label, except_id=tag_id)

    def write():
        result = db.session.execute(update(IrritantTag).where(IrritantTag.id == tag_id).values(label=label)
                                    .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise TagNotFound()

    _write_tag(write)
    return db.session.get(IrritantTag, tag_id, populate_existing=True)


def remove_tag(tag: IrritantTag, user) -> None:
    """The service's editors remove an irritant from their list; the responses tagged with it lose it."""
    _require(user, db.session.get(Service, tag.service_id))
    tag_id = tag.id
    begin_write()
    db.session.execute(delete(feedback_response_tags).where(feedback_response_tags.c.tag_id == tag_id))
    db.session.execute(delete(IrritantTag).where(IrritantTag.id == tag_id).execution_options(synchronize_session=False))
    db.session.commit()


def set_response_tags(response: FeedbackResponse, user, tag_ids) -> FeedbackResponse:
    """The service's editors tag a response with irritants of its service's list (the ticked ones replace the
    earlier ones); a tag of another service is refused."""
    _require(user, response.service)
    wanted = {int(tag_id) for tag_id in tag_ids}
    response_id, service_id = response.id, response.service_id
    begin_write()
    known = set(db.session.scalars(select(IrritantTag.id).where(IrritantTag.service_id == service_id)))
    if wanted - known:
        db.session.rollback()
        raise TagNotFound()
    db.session.execute(delete(feedback_response_tags).where(feedback_response_tags.c.response_id == response_id))
    if wanted:
        db.session.execute(insert(feedback_response_tags),
                           [{"response_id": response_id, "tag_id": tag_id} for tag_id in sorted(wanted)])
    db.session.commit()
    response = db.session.get(FeedbackResponse, response_id, populate_existing=True)
    db.session.refresh(response, ["tags"])
    return response
