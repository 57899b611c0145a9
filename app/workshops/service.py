"""Workshop use cases for facilitators: create, edit (seats, quotas, questions), publish, cancel and duplicate
a workshop, its private link, messages to participants, check-in; and for participants their evaluation and
private calendar feed. Seats themselves are decided in ``signup``, reads are in ``queries``."""

import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from .. import signals
from ..accounts.models import User
from ..catalog.models import LifeEvent, Organisation, Service
from ..clock import utcnow
from ..database import begin_write
from ..errors import DomainError, InvalidInput, NotAllowed
from ..extensions import db
from .checkin import mark_present
from .errors import (
    AlreadyEvaluated,
    CapacityBelowTaken,
    EvaluationNotOpen,
    InvalidQuotas,
    WorkshopCancelled,
)
from .models import (
    CalendarFeed,
    CategoryCheck,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Workshop,
    WorkshopCategory,
    WorkshopEvaluation,
    WorkshopQuestion,
    WorkshopStatus,
)
from .queries import require_facilitator
from .signup import lapse_expired, lock_category, mail_registration, needs_review, offer_next

ACTIVE = (RegistrationStatus.confirmed, RegistrationStatus.offered, RegistrationStatus.waitlisted,
          RegistrationStatus.in_review)


def _token() -> str:
    return secrets.token_urlsafe(24)


def _apply_fields(workshop: Workshop, fields: dict) -> None:
    for key in ("title", "description_md", "expected_change", "format", "address", "access_info", "meeting_link",
                "accessibility_info", "starts_at", "ends_at", "signup_opens_at", "signup_closes_at", "visibility",
                "category_check"):
        if key in fields:
            setattr(workshop, key, fields[key])
    if "service_ids" in fields:
        workshop.services = list(db.session.scalars(select(Service).where(Service.id.in_(fields["service_ids"]))))
    if "life_event_ids" in fields:
        workshop.life_events = list(db.session.scalars(
            select(LifeEvent).where(LifeEvent.id.in_(fields["life_event_ids"]))))


def _validate_times(fields: dict) -> None:
    if fields["ends_at"] <= fields["starts_at"]:
        raise InvalidInput(_l("La fin doit être après le début."), code="ends_before_start")
    opens, closes = fields.get("signup_opens_at"), fields.get("signup_closes_at")
    if opens and closes and closes <= opens:
        raise InvalidInput(_l("La clôture des inscriptions doit suivre leur ouverture."), code="signup_window")


def _quota_rows(quotas) -> list[tuple[str, int, bool]]:
    """Quotas as (name, seats, requires_check); a (name, seats) pair is a category that is not checked."""
    return [(q[0], q[1], bool(q[2]) if len(q) > 2 else False) for q in quotas]


def _validate_quotas(capacity: int, quotas: list[tuple[str, int, bool]]) -> None:
    if capacity <= 0:
        raise InvalidInput(_l("La capacité doit être d'au moins une place."), code="capacity")
    if quotas:
        names = [name.strip().lower() for name, _seats, _check in quotas]
        if any(not n for n in names) or len(set(names)) != len(names) or any(q[1] <= 0 for q in quotas):
            raise InvalidQuotas(_l("Chaque catégorie doit avoir un nom distinct et au moins une place."))
        if sum(q[1] for q in quotas) != capacity:
            raise InvalidQuotas()


def _validate_category_check(workshop: Workshop, reviewing: set[int] = frozenset()) -> None:
    """Checking declared categories needs categories to check; people in review (``reviewing``: their
    categories) keep being reviewed until the team decides on them."""
    if workshop.checks_categories and not any(c.requires_check for c in workshop.categories):
        raise InvalidInput(_l("Pour vérifier les catégories déclarées, cochez au moins une catégorie à vérifier."),
                           code="category_check")
    if any(c.id in reviewing and not needs_review(c.requires_check, workshop.category_check, None)
           for c in workshop.categories):
        raise InvalidInput(_l("Des personnes attendent la vérification de leur catégorie : confirmez-la ou "
                              "changez-les de catégorie avant d'arrêter cette vérification."), code="reviews_pending")


def create_workshop(actor: User, organisation: Organisation, *, capacity: int, quotas=(), questions=(),
                    **fields) -> Workshop:
    """A facilitator of the organisation creates a draft workshop with its seat pools and questions."""
    require_facilitator(actor, organisation)
    _validate_times(fields)
    quotas = _quota_rows(quotas)
    _validate_quotas(capacity, quotas)
    workshop = Workshop(organisation=organisation, capacity=capacity, invite_token=_token(),
                        status=WorkshopStatus.draft, created_by_id=actor.id,
                        category_check=fields.get("category_check", CategoryCheck.none))
    _apply_fields(workshop, fields)
    pools = quotas or [("", capacity, False)]
    workshop.categories = [WorkshopCategory(name=name.strip(), seats=seats, position=i, requires_check=check)
                           for i, (name, seats, check) in enumerate(pools)]
    _validate_category_check(workshop)
    workshop.questions = [WorkshopQuestion(kind=q["kind"], label=q["label"], choices_text=q.get("choices_text", ""),
                                           required=q.get("required", False),
                                           is_accessibility=q.get("is_accessibility", False), position=i)
                          for i, q in enumerate(questions)]
    db.session.add(workshop)
    db.session.commit()
    return workshop


def update_workshop(actor: User, workshop: Workshop, *, capacity: int | None = None, questions=None,
                    quotas=None, **fields) -> Workshop:
    """Edit a workshop. Changing the date or place tells every registrant; more seats go to the waiting list.

    ``quotas`` renames and resizes the existing categories, in order (categories are fixed at creation), and
    says which ones are checked; no category goes below the seats it has given, and the quotas still add up to
    ``capacity``. People waiting for the review of their category keep it until the team decides on them.
    """
    require_facilitator(actor, workshop.organisation)
    _validate_times({"starts_at": fields.get("starts_at", workshop.starts_at),
                     "ends_at": fields.get("ends_at", workshop.ends_at), **fields})
    workshop_id = workshop.id
    begin_write()
    workshop = db.session.get(Workshop, workshop_id)
    now = utcnow()
    before = (workshop.starts_at, workshop.ends_at, workshop.format, workshop.address, workshop.meeting_link)
    try:
        reviewing = set(db.session.scalars(select(Registration.category_id).where(
            Registration.workshop_id == workshop.id, Registration.status == RegistrationStatus.in_review)))
        _apply_fields(workshop, fields)
        if questions is not None:
            _replace_questions(workshop, questions)
        if quotas is not None and workshop.has_categories:
            _resize_quotas(workshop, capacity if capacity is not None else workshop.capacity, _quota_rows(quotas),
                           now)
        elif capacity is not None and capacity != workshop.capacity:
            _resize_single_pool(workshop, capacity, now)
        _validate_category_check(workshop, reviewing)
    except DomainError:
        db.session.rollback()  # a refused edit leaves nothing half-applied for the next commit
        raise
    workshop.updated_at = now
    if workshop.starts_at < before[0]:
        # An offer never runs past the start, even when the workshop is moved earlier.
        db.session.execute(update(Registration).where(Registration.workshop_id == workshop.id,
                                                      Registration.status == RegistrationStatus.offered,
                                                      Registration.offer_expires_at > workshop.starts_at)
                           .values(offer_expires_at=workshop.starts_at))
    changed = before != (workshop.starts_at, workshop.ends_at, workshop.format, workshop.address,
                         workshop.meeting_link)
    if changed and workshop.is_published:
        for reg in _active_registrations(workshop):
            mail_registration(reg, "workshop_changed")
    db.session.commit()
    return workshop


def _replace_questions(workshop: Workshop, questions) -> None:
    answered = db.session.scalar(select(func.count(RegistrationAnswer.id)).join(WorkshopQuestion)
                                 .where(WorkshopQuestion.workshop_id == workshop.id))
    if answered:
        raise InvalidInput(_l("Des personnes ont déjà répondu : les questions ne peuvent plus être modifiées."),
                           code="questions_answered")
    workshop.questions = [WorkshopQuestion(kind=q["kind"], label=q["label"], choices_text=q.get("choices_text", ""),
                                           required=q.get("required", False),
                                           is_accessibility=q.get("is_accessibility", False), position=i)
                          for i, q in enumerate(questions)]


def _resize_single_pool(workshop: Workshop, capacity: int, now: datetime) -> None:
    if workshop.has_categories:
        raise InvalidQuotas(_l("Modifiez les places catégorie par catégorie pour un atelier avec quotas."))
    _resize_category(workshop, workshop.categories[0].id, capacity, now)
    workshop.capacity = capacity


def _resize_quotas(workshop: Workshop, capacity: int, quotas: list[tuple[str, int, bool]], now: datetime) -> None:
    if len(quotas) != len(workshop.categories):
        raise InvalidQuotas(_l("Le nombre de catégories est fixé à la création : "
                               "renommez-les ou changez leurs places."))
    _validate_quotas(capacity, quotas)
    for category, (name, seats, check) in zip(list(workshop.categories), quotas, strict=True):
        category.name = name.strip()
        category.requires_check = check
        if seats != category.seats:
            _resize_category(workshop, category.id, seats, now)
    workshop.capacity = capacity


def _resize_category(workshop: Workshop, category_id: int, seats: int, now: datetime) -> None:
    """Change a pool's seats under its lock: never below the seats given; new seats go to its waiting list."""
    category = lock_category(category_id)
    lapse_expired(category, workshop, now)
    if seats < category.seats_taken:
        raise CapacityBelowTaken()
    added = seats - category.seats
    category.seats = seats
    for _ in range(max(0, added)):
        category.seats_taken += 1
        if offer_next(category, workshop, now) is None:
            category.seats_taken -= 1
            break


def _active_registrations(workshop: Workshop) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.workshop_id == workshop.id,
                                                              Registration.status.in_(ACTIVE))))


def publish_workshop(actor: User, workshop: Workshop) -> Workshop:
    """Make a draft visible (and open to sign-ups within its window)."""
    require_facilitator(actor, workshop.organisation)
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    workshop.status = WorkshopStatus.published
    db.session.commit()
    signals.workshop_published.send(workshop)
    return workshop


def cancel_workshop(actor: User, workshop: Workshop, reason: str) -> Workshop:
    """Cancel the workshop and tell every registrant, with the reason."""
    require_facilitator(actor, workshop.organisation)
    workshop_id = workshop.id
    begin_write()
    workshop = db.session.get(Workshop, workshop_id)
    if workshop.is_cancelled:
        return workshop
    was_published = workshop.is_published
    workshop.status = WorkshopStatus.cancelled
    workshop.cancel_reason = reason.strip()
    if was_published:
        for reg in _active_registrations(workshop):
            mail_registration(reg, "workshop_cancelled", reason=workshop.cancel_reason)
    db.session.commit()
    return workshop


def duplicate_workshop(actor: User, workshop: Workshop) -> Workshop:
    """A new draft with the same content, pools and questions, one week later, without registrations."""
    require_facilitator(actor, workshop.organisation)
    week = timedelta(days=7)
    copy = Workshop(
        organisation=workshop.organisation, title=workshop.title, description_md=workshop.description_md,
        expected_change=workshop.expected_change, format=workshop.format, address=workshop.address,
        access_info=workshop.access_info, meeting_link=workshop.meeting_link,
        accessibility_info=workshop.accessibility_info, starts_at=workshop.starts_at + week,
        ends_at=workshop.ends_at + week, capacity=workshop.capacity, visibility=workshop.visibility,
        signup_opens_at=None, signup_closes_at=None, invite_token=_token(), status=WorkshopStatus.draft,
        created_by_id=actor.id, services=list(workshop.services), life_events=list(workshop.life_events),
        category_check=workshop.category_check,
        categories=[WorkshopCategory(name=c.name, seats=c.seats, position=c.position, requires_check=c.requires_check)
                    for c in workshop.categories],
        questions=[WorkshopQuestion(kind=q.kind, label=q.label, choices_text=q.choices_text, required=q.required,
                                    is_accessibility=q.is_accessibility, position=q.position)
                   for q in workshop.questions])
    db.session.add(copy)
    db.session.commit()
    return copy


def regenerate_invite_token(actor: User, workshop: Workshop) -> str:
    """A new private link; the old one stops working."""
    require_facilitator(actor, workshop.organisation)
    workshop.invite_token = _token()
    db.session.commit()
    return workshop.invite_token


def message_participants(actor: User, workshop: Workshop, subject: str, body: str) -> int:
    """Mail every confirmed participant who has an account; returns how many were written to."""
    require_facilitator(actor, workshop.organisation)
    count = 0
    for reg in db.session.scalars(select(Registration).where(Registration.workshop_id == workshop.id,
                                                             Registration.status == RegistrationStatus.confirmed)):
        if reg.user and not reg.user.is_deleted:
            mail_registration(reg, "participants_message", subject=subject.strip(), body=body.strip(),
                               organisation=workshop.organisation)
            count += 1
    db.session.commit()
    return count


def check_in(actor: User, registration: Registration, present: bool = True) -> Registration:
    """Mark a confirmed participant present, from ``CHECK_IN_OPENS_BEFORE_HOURS`` before the start, once a
    declared category checked at check-in is confirmed; or undo a check-in."""
    require_facilitator(actor, registration.workshop.organisation)
    if present:
        mark_present(registration, utcnow())
    elif registration.status is not RegistrationStatus.confirmed:
        raise InvalidInput(_l("Seules les personnes inscrites peuvent être pointées."), code="not_confirmed")
    else:
        registration.checked_in_at = None
    db.session.commit()
    return registration


def submit_evaluation(registration: Registration, user: User, *, overall: int, felt_heard: str,
                      would_return: str, comment: str = "") -> None:
    """Someone who attended evaluates the workshop once; the answer is not linked to them."""
    if registration.user_id != user.id:
        raise NotAllowed()
    if registration.checked_in_at is None or not registration.workshop.is_over():
        raise EvaluationNotOpen()
    if not 1 <= overall <= 5 or felt_heard not in ("yes", "partly", "no") or would_return not in ("yes", "maybe", "no"):
        raise InvalidInput()
    # Conditional update: of two concurrent submissions only one flips the flag and stores an answer.
    flipped = db.session.execute(
        update(Registration).where(Registration.id == registration.id, Registration.has_evaluated.is_(False))
        .values(has_evaluated=True).execution_options(synchronize_session=False)).rowcount
    if not flipped:
        db.session.rollback()
        raise AlreadyEvaluated()
    db.session.add(WorkshopEvaluation(workshop_id=registration.workshop_id, overall=overall, felt_heard=felt_heard,
                                      would_return=would_return, comment=comment.strip()[:2000]))
    db.session.commit()


def feed_token_for(user: User, regenerate: bool = False) -> str:
    """The person's private calendar feed token, created on first use."""
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is not None and not regenerate:
        return feed.token
    user_id = user.id
    begin_write()  # this GET page may write: take the write lock, then read again
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user_id))
    if feed is None:
        feed = CalendarFeed(user_id=user_id, token=_token())
        db.session.add(feed)
    elif regenerate:
        feed.token = _token()
    db.session.commit()
    return feed.token
