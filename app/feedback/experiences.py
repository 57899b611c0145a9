"""Experiences: the free text of a response whose author agreed to publish it, moderated by the editors of the
service's organisation against the published charter (``/avis/charte``), then shown with the organisation's public,
signed and dated reply; and the organisation's reply delay, which is public too.

Rules: an experience is moderated once its author can no longer change it (the response's hour is over); it is
published, or refused with a reason that is never shown; a published experience may still be withdrawn (refused,
with a reason). Only a published experience gets a reply; the reply can be corrected (the last version is shown,
« modifiée le … »). The first reply tells the author, when they left an e-mail, through the outbox, in the same
transaction that erases that e-mail (« effacée une fois utilisée »). Every use case takes the acting user, checks
``can_triage`` again, and locks the experience's row (``BEGIN IMMEDIATE`` on SQLite), so two editors acting at
once are decided one after the other. A response marked as spam leaves every list, count and public page.

The reply delay: for the published experiences of an organisation, the median time from publication to the first
reply (over the answered ones), and the share answered within seven days, over the experiences whose outcome is
known (answered, or published at least seven days ago): two queries for any number of organisations.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import contains_eager, lazyload

from ..accounts.models import User
from ..catalog.models import Organisation, Service
from ..clock import iso, utcnow
from ..database import begin_write, days_between
from ..errors import DomainError, InvalidInput, NotAllowed
from ..extensions import db
from ..mail.service import queue_mail
from ..urls import absolute_url
from .errors import (
    ExperienceNotFound,
    ExperienceNotPending,
    ExperienceNotPublished,
    ExperienceStillEditable,
    RefusalReasonRequired,
    ReplyRequired,
    ResponseIsSpam,
    SignatureRequired,
)
from .models import Experience, ExperienceStatus, FeedbackAnswer, FeedbackContact, FeedbackResponse, can_triage

REPLY_MAX = 5000
SIGNATURE_MAX = 200
REASON_MAX = 1000
ANSWERED_WITHIN_DAYS = 7
PER_PAGE = 20
QUEUE_SHOWN = 100  # experiences listed per group on the editors' moderation page (the counts cover them all)


def _clean(value: str | None, limit: int, code: str, required: DomainError) -> str:
    value = (value or "").strip()
    if not value:
        raise required
    if len(value) > limit:
        raise InvalidInput(_l("Ce texte est trop long (%(limit)s caractères au plus).", limit=limit),
                           code=f"{code}_too_long")
    return value


def _visible():
    """Experiences of responses not marked as spam (joined to their response)."""
    return FeedbackResponse.is_spam.is_(False)


def satisfaction_of(response_id_column):
    """The satisfaction code (1 bad, 2 medium, 3 good) of the response, as a correlated scalar subquery."""
    return (select(FeedbackAnswer.answer_item_id)
            .where(FeedbackAnswer.response_id == response_id_column, FeedbackAnswer.field_code == "satisfaction")
            .limit(1).scalar_subquery())


# --- the editors' side -----------------------------------------------------------------------------------------

def get_experience(experience_id: int, user) -> Experience:
    """An experience, for the editors of its service's organisation."""
    experience = db.session.get(Experience, experience_id)
    if experience is None:
        raise ExperienceNotFound()
    if not can_triage(user, experience.response.service):
        raise NotAllowed()
    return experience


def default_signature(user, organisation: Organisation) -> str:
    """What the reply form proposes to sign with: the editor's name and their organisation (they may change it)."""
    return f"{user.display_name}, {organisation.name}"[:SIGNATURE_MAX]


def left_contact(experience: Experience) -> bool:
    """Whether the author left an e-mail that the first reply will use (then erase)."""
    return db.session.scalar(select(FeedbackContact.id).where(
        FeedbackContact.response_id == experience.response_id)) is not None


@dataclass
class ModerationQueue:
    pending: list  # waiting for moderation, oldest first
    awaiting_reply: list  # published, not answered yet, oldest publication first
    replied: list  # published and answered, last answered first
    refused: list  # last refused first
    counts: dict  # ExperienceStatus or "awaiting_reply" -> how many


def moderation_queue(service: Service, user) -> ModerationQueue:
    """A service's experiences by what they wait for: the service's editors; five queries."""
    if not can_triage(user, service):
        raise NotAllowed()

    def listed(*conditions, order):
        return list(db.session.scalars(
            select(Experience).join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .options(contains_eager(Experience.response))
            .where(FeedbackResponse.service_id == service.id, _visible(), *conditions)
            .order_by(*order, Experience.id).limit(QUEUE_SHOWN)))

    published = Experience.status == ExperienceStatus.published
    counts = dict.fromkeys(ExperienceStatus, 0)
    counts["awaiting_reply"] = 0
    for status, replied, number in db.session.execute(
            select(Experience.status, Experience.replied_at.is_not(None), func.count(Experience.id))
            .join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .where(FeedbackResponse.service_id == service.id, _visible())
            .group_by(Experience.status, Experience.replied_at.is_not(None))):
        counts[status] += number
        if status is ExperienceStatus.published and not replied:
            counts["awaiting_reply"] += number
    return ModerationQueue(
        pending=listed(Experience.status == ExperienceStatus.pending, order=[Experience.created_at]),
        awaiting_reply=listed(published, Experience.replied_at.is_(None), order=[Experience.published_at]),
        replied=listed(published, Experience.replied_at.is_not(None), order=[Experience.replied_at.desc()]),
        refused=listed(Experience.status == ExperienceStatus.refused, order=[Experience.moderated_at.desc()]),
        counts=counts)


def _locked(experience: Experience, user) -> Experience:
    """The experience read again under its row lock, after checking that ``user`` triages its service."""
    if not can_triage(user, experience.response.service):
        raise NotAllowed()
    experience_id = experience.id
    begin_write()
    locked = db.session.scalar(select(Experience).options(lazyload(Experience.response))
                               .where(Experience.id == experience_id)
                               .with_for_update(of=Experience).execution_options(populate_existing=True))
    if locked is None:
        db.session.rollback()
        raise ExperienceNotFound()
    return locked


def _refuse_unless(condition: bool, error: DomainError) -> None:
    if not condition:
        db.session.rollback()
        raise error


def publish_experience(experience: Experience, user) -> Experience:
    """The service's editors publish a pending experience, once its author can no longer change it."""
    experience = _locked(experience, user)
    response = db.session.get(FeedbackResponse, experience.response_id, populate_existing=True)
    now = utcnow()
    _refuse_unless(not response.is_spam, ResponseIsSpam())
    _refuse_unless(experience.status is ExperienceStatus.pending, ExperienceNotPending())
    _refuse_unless(response.editable_until <= now, ExperienceStillEditable())
    experience.status, experience.published_at = ExperienceStatus.published, now
    experience.moderated_by_id, experience.moderated_at = user.id, now
    db.session.commit()
    return experience


def refuse_experience(experience: Experience, user, reason: str) -> Experience:
    """The service's editors refuse a pending experience, or withdraw a published one, with a reason that is kept
    for them and never shown."""
    reason = _clean(reason, REASON_MAX, "refusal_reason", RefusalReasonRequired())
    experience = _locked(experience, user)
    response = db.session.get(FeedbackResponse, experience.response_id, populate_existing=True)
    now = utcnow()
    _refuse_unless(experience.status is not ExperienceStatus.refused, ExperienceNotPending())
    _refuse_unless(experience.status is ExperienceStatus.published or response.editable_until <= now,
                   ExperienceStillEditable())
    experience.status, experience.refusal_reason, experience.published_at = ExperienceStatus.refused, reason, None
    experience.moderated_by_id, experience.moderated_at = user.id, now
    db.session.commit()
    return experience


def reply_to_experience(experience: Experience, user, text: str, signature: str) -> Experience:
    """The service's editors reply publicly to a published experience, signed as they type it and dated; a later
    correction replaces the text (« modifiée le … »). The first reply tells the author who left an e-mail, and
    erases that e-mail in the same transaction."""
    text = _clean(text, REPLY_MAX, "reply", ReplyRequired())
    signature = _clean(signature, SIGNATURE_MAX, "signature", SignatureRequired())
    experience = _locked(experience, user)
    response = db.session.get(FeedbackResponse, experience.response_id, populate_existing=True)
    _refuse_unless(not response.is_spam, ResponseIsSpam())
    _refuse_unless(experience.status is ExperienceStatus.published, ExperienceNotPublished())
    if (experience.reply_text, experience.reply_signature) == (text, signature):
        db.session.rollback()  # sent again unchanged: not a correction
        return experience
    now = utcnow()
    first = experience.replied_at is None
    experience.reply_text, experience.reply_signature, experience.reply_author_id = text, signature, user.id
    if first:
        experience.replied_at = now
        _tell_author(experience, response)
    else:
        experience.reply_edited_at = now
    db.session.commit()
    return experience


def _tell_author(experience: Experience, response: FeedbackResponse) -> None:
    """Queue the mail that tells the author of the reply, and erase their e-mail: it was left for this."""
    contact = db.session.scalar(select(FeedbackContact).where(FeedbackContact.response_id == response.id))
    if contact is None:
        return
    service = response.service
    link = absolute_url("feedback.service_experiences", service_slug=service.slug) + f"#experience-{experience.id}"
    queue_mail(contact.email, "feedback_reply", contact.locale, service_name=service.name,
               organisation_name=service.organisation.name, experience_text=experience.text,
               reply_text=experience.reply_text, signature=experience.reply_signature, link=link)
    db.session.delete(contact)


# --- the public side -------------------------------------------------------------------------------------------

def list_published(*, organisation_id: int | None = None, service_id: int | None = None, page: int = 1,
                   per_page: int = PER_PAGE) -> tuple[list[tuple[Experience, int | None]], int]:
    """Published experiences, newest first, with their satisfaction code, and how many there are: two queries."""
    conditions = [Experience.status == ExperienceStatus.published, _visible()]
    if organisation_id is not None:
        conditions.append(Service.organisation_id == organisation_id)
    if service_id is not None:
        conditions.append(FeedbackResponse.service_id == service_id)

    def joined(query):
        return (query.join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
                .join(Service, Service.id == FeedbackResponse.service_id).where(*conditions))

    total = db.session.scalar(joined(select(func.count(Experience.id))))
    rows = db.session.execute(
        joined(select(Experience, satisfaction_of(Experience.response_id)))
        .options(contains_eager(Experience.response).contains_eager(FeedbackResponse.service))
        .order_by(Experience.published_at.desc(), Experience.id.desc())
        .limit(per_page).offset((max(1, page) - 1) * per_page)).all()
    return [(experience, satisfaction) for experience, satisfaction in rows], total


@dataclass
class ReplyDelay:
    """An organisation's reply delay to its published experiences."""

    published: int = 0
    answered: int = 0
    settled: int = 0  # answered, or published at least ANSWERED_WITHIN_DAYS days ago: their outcome is known
    within: int = 0  # answered within ANSWERED_WITHIN_DAYS days of publication
    median_days: float | None = None  # from publication to the first reply, over the answered ones

    @property
    def within_share(self) -> float | None:
        return self.within / self.settled if self.settled else None


def reply_delays(organisation_ids=None, now: datetime | None = None) -> dict[int, ReplyDelay]:
    """The reply delay of each organisation with published experiences (of those in ``organisation_ids``, when
    given): two queries whatever the number of experiences and organisations."""
    now = now or utcnow()
    days = days_between(Experience.replied_at, Experience.published_at)
    answered = Experience.replied_at.is_not(None)
    settled = answered | (Experience.published_at <= now - timedelta(days=ANSWERED_WITHIN_DAYS))
    within = answered & (days <= ANSWERED_WITHIN_DAYS)

    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def scoped(query):
        query = (query.join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
                 .join(Service, Service.id == FeedbackResponse.service_id)
                 .where(Experience.status == ExperienceStatus.published, _visible()))
        if organisation_ids is not None:
            query = query.where(Service.organisation_id.in_(list(organisation_ids) or [-1]))
        return query

    delays = {org: ReplyDelay(published=n, answered=a, settled=s, within=w) for org, n, a, s, w in db.session.execute(
        scoped(select(Service.organisation_id, func.count(Experience.id), total(answered), total(settled),
                      total(within)).select_from(Experience)).group_by(Service.organisation_id))}
    durations = scoped(
        select(Service.organisation_id.label("org"), days.label("days"),
               func.row_number().over(partition_by=Service.organisation_id, order_by=days).label("rank"),
               func.count().over(partition_by=Service.organisation_id).label("total"))
        .select_from(Experience).where(answered)).subquery()
    # Odd count: the middle row twice; even count: the two middle rows; their mean is the median.
    for org, value in db.session.execute(
            select(durations.c.org, func.avg(durations.c.days))
            .where(durations.c.rank.in_([(durations.c.total + 1) // 2, (durations.c.total + 2) // 2]))
            .group_by(durations.c.org)):
        if org in delays and value is not None:
            delays[org].median_days = float(value)
    return delays


def reply_delay(organisation_id: int, now: datetime | None = None) -> ReplyDelay:
    return reply_delays([organisation_id], now).get(organisation_id, ReplyDelay())


# --- « Mes données » -------------------------------------------------------------------------------------------

def personal_data(user: User) -> dict:
    """« Mes données »: the experiences an editor moderated (with the refusal reasons they wrote) and the public
    replies they wrote last."""
    def rows(column):
        return db.session.execute(
            select(Experience, Service.name).join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .join(Service, Service.id == FeedbackResponse.service_id).options(lazyload(Experience.response))
            .where(column == user.id).order_by(Experience.id)).all()

    return {
        "moderations": [{"service": name, "status": e.status.value, "refusal_reason": e.refusal_reason or None,
                         "moderated_at": iso(e.moderated_at)} for e, name in rows(Experience.moderated_by_id)],
        "replies": [{"service": name, "reply": e.reply_text, "signature": e.reply_signature,
                     "replied_at": iso(e.replied_at), "edited_at": iso(e.reply_edited_at)}
                    for e, name in rows(Experience.reply_author_id)],
    }
