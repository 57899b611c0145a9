"""Workshop use cases. Seats are decided by the database: every seat change runs under the category's
row lock (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), a check constraint
forbids ``seats_taken > seats``, and waiting-list promotion happens in the transaction that frees the seat.
"""

import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import signals
from ..accounts.models import User, utcnow
from ..catalog.models import LifeEvent, Organisation, Service
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..mail.models import OutboxStatus
from ..mail.service import queue_mail, renders_at_delivery
from ..permissions import can_facilitate, is_verified
from ..queues import KeyedQueue
from ..urls import absolute_url
from . import calendar
from .models import (
    CalendarFeed,
    QuestionKind,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopCategory,
    WorkshopEvaluation,
    WorkshopQuestion,
    WorkshopStatus,
)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ACTIVE = (RegistrationStatus.confirmed, RegistrationStatus.offered, RegistrationStatus.waitlisted)


# --- errors --------------------------------------------------------------------------------------

class SignupClosed(DomainError):
    code = "signup_closed"
    message = _l("Les inscriptions à cet atelier ne sont pas ouvertes.")


class WorkshopCancelled(DomainError):
    code = "workshop_cancelled"
    message = _l("Cet atelier est annulé.")


class NotVerified(NotAllowed):
    code = "not_verified"
    message = _l("Vérifiez d'abord votre adresse électronique : ouvrez le lien que nous vous avons envoyé.")


class AlreadyRegistered(Conflict):
    code = "already_registered"
    message = _l("Vous êtes déjà inscrit·e à cet atelier.")


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    message = _l("Choisissez une catégorie de participant·e proposée.")


class AnswerRequired(InvalidInput):
    code = "answer_required"
    message = _l("Répondez aux questions obligatoires.")


class OfferExpired(DomainError):
    code = "offer_expired"
    message = _l("Le délai pour confirmer cette place est dépassé. La place a été proposée à la personne suivante.")


class NotOffered(DomainError):
    code = "not_offered"
    message = _l("Aucune place ne vous est proposée pour cet atelier.")


class TooLateToCancel(DomainError):
    code = "too_late"
    message = _l("L'atelier a commencé : l'inscription ne peut plus être annulée.")


class NoSeatFree(Conflict):
    code = "no_seat_free"
    message = _l("Aucune place n'est libre dans cette catégorie.")


class InvalidQuotas(InvalidInput):
    code = "invalid_quotas"
    message = _l("La somme des places par catégorie doit être égale à la capacité.")


class CapacityBelowTaken(InvalidInput):
    code = "capacity_below_taken"
    message = _l("La capacité ne peut pas descendre sous le nombre de places déjà attribuées.")


class AlreadyEvaluated(Conflict):
    code = "already_evaluated"
    message = _l("Vous avez déjà donné votre avis sur cet atelier. Merci !")


class EvaluationNotOpen(DomainError):
    code = "evaluation_not_open"
    message = _l("Seules les personnes présentes peuvent évaluer l'atelier, une fois celui-ci terminé.")


# --- helpers -------------------------------------------------------------------------------------

def _require_facilitator(actor, organisation) -> None:
    if not can_facilitate(actor, organisation):
        raise NotAllowed()


def _token() -> str:
    return secrets.token_urlsafe(24)


def _random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def _new_code(workshop_id: int) -> str:
    """A short check-in code, unique within the workshop."""
    while True:
        code = _random_code()
        exists = db.session.scalar(select(Registration.id).where(Registration.workshop_id == workshop_id,
                                                                 Registration.code == code))
        if exists is None:
            return code


def _lock_category(category_id: int) -> WorkshopCategory:
    """Take the category's row lock; every seat decision for this category waits here, one at a time."""
    category = db.session.scalars(
        select(WorkshopCategory).where(WorkshopCategory.id == category_id).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if category is None:
        raise NotFound()
    return category


def offer_window(workshop: Workshop, now: datetime) -> datetime:
    """When an offer made now lapses: after the configured window, never past the workshop's start."""
    hours = current_app.config["WORKSHOP_OFFER_HOURS"]
    return min(now + timedelta(hours=hours), workshop.starts_at)


def _registration_mail(registration: Registration, template: str, **context) -> dict | None:
    """The context of a mail about ``registration`` (attachments included), or None for people without a
    mailbox: registered by phone (they are called) or whose account is deleted."""
    user = registration.user
    if user is None or user.is_deleted:
        return None
    workshop = registration.workshop
    attachments = None
    if template in ("registration_confirmed", "workshop_changed"):
        attachments = [("atelier.ics", "text/calendar", calendar.workshop_ics([workshop]))]
    return {"attachments": attachments, "user": user, "workshop": workshop, "registration": registration,
            "link": absolute_url("workshops.show_workshop", workshop_id=workshop.id),
            "my_link": absolute_url("workshops.my_workshops"), **context}


def _mail_registration(registration: Registration, template: str, **context) -> None:
    mail = _registration_mail(registration, template, **context)
    if mail is not None:
        user = registration.user
        queue_mail(user.email, template, user.locale, **mail)


def _sign_up_mail(template: str):
    """Rows the one-statement sign-up queues unrendered (``sign_up_in_one_statement``) are rendered at
    delivery from the registration they name, as ``sign_up`` renders them when it queues them."""
    @renders_at_delivery(template)
    def build(context: dict) -> dict | None:
        registration = db.session.get(Registration, context.get("registration_id"))
        return _registration_mail(registration, template, position=None) if registration is not None else None
    return build


_sign_up_mail("registration_confirmed")
_sign_up_mail("registration_waitlisted")


def _offer_next(category: WorkshopCategory, workshop: Workshop, now: datetime) -> Registration | None:
    """Offer a freed seat to the first waitlisted person of the category (call under the category lock).

    The seat stays counted in ``seats_taken``: it passes from the leaver to the offer.
    """
    if workshop.has_started(now) or not workshop.is_published:
        return None
    nxt = db.session.scalars(
        select(Registration).where(Registration.category_id == category.id,
                                   Registration.status == RegistrationStatus.waitlisted)
        .order_by(Registration.waitlist_number).limit(1)
        # OF registrations: PostgreSQL refuses to lock the outer-joined rows the eager loads bring in.
        .with_for_update(of=Registration)
    ).first()
    if nxt is None:
        return None
    nxt.status = RegistrationStatus.offered
    nxt.offer_expires_at = offer_window(workshop, now)
    nxt.waitlist_number = None
    _mail_registration(nxt, "seat_offered", deadline=nxt.offer_expires_at)
    return nxt


def _free_seat(category: WorkshopCategory, workshop: Workshop, now: datetime) -> None:
    """A confirmed or offered seat became free: offer it on, or give it back to the pool."""
    if _offer_next(category, workshop, now) is None:
        category.seats_taken -= 1


def _lapse_expired(category: WorkshopCategory, workshop: Workshop, now: datetime) -> int:
    """Expired offers lapse and their seats pass to the next people (call under the category lock)."""
    expired = db.session.scalars(
        select(Registration).where(Registration.category_id == category.id,
                                   Registration.status == RegistrationStatus.offered,
                                   Registration.offer_expires_at <= now)
        .order_by(Registration.offer_expires_at, Registration.id)
    ).all()
    for registration in expired:
        registration.status = RegistrationStatus.cancelled
        registration.offer_lapsed = True
        registration.cancelled_at = now
        _mail_registration(registration, "offer_lapsed")
        _free_seat(category, workshop, now)
    return len(expired)


# --- reading -------------------------------------------------------------------------------------

def seat_figures(workshop_ids: list[int], now: datetime | None = None) -> dict[int, dict]:
    """Seats left and waiting-list length per workshop, in one query whatever the number of workshops.

    An expired offer counts as a free seat at once, before the job or the next write passes it on.
    """
    now = now or utcnow()
    if not workshop_ids:
        return {}
    expired = (select(Registration.category_id, func.count().label("n"))
               .where(Registration.status == RegistrationStatus.offered, Registration.offer_expires_at <= now)
               .group_by(Registration.category_id).subquery())
    waiting = (select(Registration.category_id, func.count().label("n"))
               .where(Registration.status == RegistrationStatus.waitlisted)
               .group_by(Registration.category_id).subquery())
    rows = db.session.execute(
        select(WorkshopCategory.workshop_id, WorkshopCategory.id, WorkshopCategory.seats, WorkshopCategory.seats_taken,
               func.coalesce(expired.c.n, 0), func.coalesce(waiting.c.n, 0))
        .outerjoin(expired, expired.c.category_id == WorkshopCategory.id)
        .outerjoin(waiting, waiting.c.category_id == WorkshopCategory.id)
        .where(WorkshopCategory.workshop_id.in_(workshop_ids))
    ).all()
    figures = {wid: {"seats_left": 0, "waiting": 0, "by_category": {}} for wid in workshop_ids}
    for workshop_id, category_id, seats, taken, expired_n, waiting_n in rows:
        # Expired offers free seats only when nobody waits for them: otherwise they go to the next person.
        free = seats - taken + max(0, expired_n - waiting_n)
        left = max(0, free)
        figures[workshop_id]["seats_left"] += left
        figures[workshop_id]["waiting"] += max(0, waiting_n - expired_n)
        figures[workshop_id]["by_category"][category_id] = {"seats_left": left,
                                                            "waiting": max(0, waiting_n - expired_n)}
    return figures


def waitlist_position(registration: Registration) -> int | None:
    """Rank among the people still waiting in the same category (1 = next)."""
    if registration.status is not RegistrationStatus.waitlisted:
        return None
    ahead = db.session.scalar(select(func.count(Registration.id)).where(
        Registration.category_id == registration.category_id,
        Registration.status == RegistrationStatus.waitlisted,
        Registration.waitlist_number < registration.waitlist_number))
    return ahead + 1


def get_workshop(workshop_id: int) -> Workshop:
    workshop = db.session.get(Workshop, workshop_id)
    if workshop is None:
        raise NotFound()
    return workshop


def can_view(workshop: Workshop, user, token: str | None = None) -> bool:
    """Public published workshops for everyone; drafts to their facilitators; invitation-only with the
    private link, or to people already registered."""
    if workshop.status is not WorkshopStatus.draft and workshop.visibility is Visibility.public:
        return True  # before the facilitator check: no membership query for the common case
    if can_facilitate(user, workshop.organisation):
        return True
    if workshop.status is WorkshopStatus.draft:
        return False
    if token and secrets.compare_digest(token, workshop.invite_token):
        return True
    return bool(user and user.is_authenticated and registration_for(workshop, user))


def registration_for(workshop: Workshop, user) -> Registration | None:
    if not (user and user.is_authenticated):
        return None
    return db.session.scalar(select(Registration).where(Registration.workshop_id == workshop.id,
                                                        Registration.user_id == user.id))


def list_workshops(*, upcoming: bool = True, organisation_id=None, life_event_id=None, service_id=None,
                   workshop_format=None, date_from=None, date_to=None, with_seats: bool = False,
                   page: int = 1, per_page: int = 20):
    """Published public workshops, filtered and paginated; a constant number of queries per page."""
    now = utcnow()
    stmt = (select(Workshop)
            .where(Workshop.status.in_([WorkshopStatus.published, WorkshopStatus.cancelled]),
                   Workshop.visibility == Visibility.public)
            .options(selectinload(Workshop.life_events), selectinload(Workshop.services)))
    if upcoming:
        stmt = stmt.where(Workshop.ends_at > now).order_by(Workshop.starts_at, Workshop.id)
    else:
        stmt = stmt.where(Workshop.ends_at <= now, Workshop.status == WorkshopStatus.published) \
            .order_by(Workshop.starts_at.desc(), Workshop.id.desc())
    if organisation_id:
        stmt = stmt.where(Workshop.organisation_id == organisation_id)
    if life_event_id:
        stmt = stmt.where(Workshop.life_events.any(LifeEvent.id == life_event_id))
    if service_id:
        stmt = stmt.where(Workshop.services.any(Service.id == service_id))
    if workshop_format:
        stmt = stmt.where(Workshop.format == workshop_format)
    if date_from:
        stmt = stmt.where(Workshop.ends_at >= date_from)
    if date_to:
        stmt = stmt.where(Workshop.starts_at < date_to)
    if with_seats:
        expired = (select(func.count(Registration.id))
                   .where(Registration.category_id == WorkshopCategory.id,
                          Registration.status == RegistrationStatus.offered, Registration.offer_expires_at <= now)
                   .correlate(WorkshopCategory).scalar_subquery())
        waiting = (select(func.count(Registration.id))
                   .where(Registration.category_id == WorkshopCategory.id,
                          Registration.status == RegistrationStatus.waitlisted)
                   .correlate(WorkshopCategory).scalar_subquery())
        # As in seat_figures: an expired offer frees a seat only if nobody waits for it.
        stmt = stmt.where(Workshop.status == WorkshopStatus.published, Workshop.categories.any(
            or_(WorkshopCategory.seats_taken < WorkshopCategory.seats, expired > waiting)))
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False)
    figures = seat_figures([w.id for w in pagination.items], now)
    return pagination, figures


def list_for_related(*, organisation_id=None, life_event_id=None, service_id=None, limit: int = 5):
    """Upcoming public workshops shown on catalogue pages."""
    pagination, figures = list_workshops(organisation_id=organisation_id, life_event_id=life_event_id,
                                         service_id=service_id, per_page=limit)
    return pagination.items, figures


def list_my_registrations(user: User) -> dict[str, list[Registration]]:
    """The person's workshops, sorted into upcoming, offered, waitlisted and past."""
    now = utcnow()
    rows = db.session.scalars(
        select(Registration).where(Registration.user_id == user.id)
        .join(Workshop, Workshop.id == Registration.workshop_id).order_by(Workshop.starts_at)).all()
    groups = {"offered": [], "upcoming": [], "waitlisted": [], "past": [], "cancelled": []}
    for reg in rows:
        status = reg.effective_status(now)
        if reg.workshop.is_over(now):
            if status is RegistrationStatus.confirmed:
                groups["past"].append(reg)
        elif status is RegistrationStatus.offered:
            groups["offered"].append(reg)
        elif status is RegistrationStatus.confirmed:
            groups["upcoming"].append(reg)
        elif status is RegistrationStatus.waitlisted:
            groups["waitlisted"].append(reg)
        else:
            groups["cancelled"].append(reg)
    groups["past"].reverse()
    return groups


def roster(workshop: Workshop) -> dict[str, list[Registration]]:
    """Registrations by effective status; the waiting list in order, with positions per category."""
    now = utcnow()
    regs = db.session.scalars(
        select(Registration).where(Registration.workshop_id == workshop.id)
        .options(selectinload(Registration.answers))
        .order_by(Registration.waitlist_number, Registration.created_at, Registration.id)).all()
    groups = {s: [] for s in RegistrationStatus}
    for reg in regs:
        groups[reg.effective_status(now)].append(reg)
    return groups


def find_for_check_in(workshop: Workshop, query: str) -> list[Registration]:
    """Confirmed registrations whose code or name matches."""
    query = query.strip()
    if not query:
        return []
    like = f"%{query.lower()}%"
    return list(db.session.scalars(
        select(Registration).outerjoin(User, User.id == Registration.user_id)
        .where(Registration.workshop_id == workshop.id, Registration.status == RegistrationStatus.confirmed,
               or_(Registration.code == query.upper(), func.lower(Registration.guest_name).like(like),
                   func.lower(User.display_name).like(like)))
        .order_by(Registration.id).limit(20)))


def attendance(workshop: Workshop) -> dict:
    """Confirmed, present and absent people; frozen into the workshop once it is over."""
    return attendance_many([workshop])[workshop.id]


def attendance_many(workshops: list[Workshop]) -> dict[int, dict]:
    """``attendance`` for many workshops in one query (list pages stay at a constant query count)."""
    ids = [w.id for w in workshops]
    live = {}
    if ids:
        live = {wid: (confirmed, present) for wid, confirmed, present in db.session.execute(
            select(Registration.workshop_id, func.count(Registration.id), func.count(Registration.checked_in_at))
            .where(Registration.workshop_id.in_(ids), Registration.status == RegistrationStatus.confirmed)
            .group_by(Registration.workshop_id))}
    result = {}
    for w in workshops:
        confirmed, present = live.get(w.id, (0, 0))
        if w.attended_count is not None:
            present, confirmed = w.attended_count, w.attended_count + (w.no_show_count or 0)
        result[w.id] = {"confirmed": confirmed, "present": present, "no_shows": confirmed - present,
                        "rate": round(100 * present / confirmed) if confirmed else None}
    return result


def evaluation_summary(workshop: Workshop, minimum: int | None = None) -> dict | None:
    """Aggregate answers, shown only from ``WORKSHOP_EVALUATION_MIN`` answers (no one can be singled out)."""
    minimum = current_app.config["WORKSHOP_EVALUATION_MIN"] if minimum is None else minimum
    row = db.session.execute(
        select(func.count(WorkshopEvaluation.id), func.avg(WorkshopEvaluation.overall),
               func.sum(case((WorkshopEvaluation.felt_heard == "yes", 1), else_=0)),
               func.sum(case((WorkshopEvaluation.would_return == "yes", 1), else_=0)))
        .where(WorkshopEvaluation.workshop_id == workshop.id)).one()
    count = row[0]
    if count < minimum:
        return None
    return {"count": count, "overall": round(float(row[1]), 1), "felt_heard_pct": round(100 * row[2] / count),
            "would_return_pct": round(100 * row[3] / count)}


# --- facilitators: workshops ---------------------------------------------------------------------

def _apply_fields(workshop: Workshop, fields: dict) -> None:
    for key in ("title", "description_md", "expected_change", "format", "address", "access_info", "meeting_link",
                "accessibility_info", "starts_at", "ends_at", "signup_opens_at", "signup_closes_at", "visibility"):
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


def _validate_quotas(capacity: int, quotas: list[tuple[str, int]]) -> None:
    if capacity <= 0:
        raise InvalidInput(_l("La capacité doit être d'au moins une place."), code="capacity")
    if quotas:
        names = [name.strip().lower() for name, _ in quotas]
        if any(not n for n in names) or len(set(names)) != len(names) or any(seats <= 0 for _, seats in quotas):
            raise InvalidQuotas(_l("Chaque catégorie doit avoir un nom distinct et au moins une place."))
        if sum(seats for _, seats in quotas) != capacity:
            raise InvalidQuotas()


def create_workshop(actor: User, organisation: Organisation, *, capacity: int, quotas=(), questions=(),
                    **fields) -> Workshop:
    """A facilitator of the organisation creates a draft workshop with its seat pools and questions."""
    _require_facilitator(actor, organisation)
    _validate_times(fields)
    _validate_quotas(capacity, list(quotas))
    workshop = Workshop(organisation=organisation, capacity=capacity, invite_token=_token(),
                        status=WorkshopStatus.draft, created_by_id=actor.id)
    _apply_fields(workshop, fields)
    pools = list(quotas) or [("", capacity)]
    workshop.categories = [WorkshopCategory(name=name.strip(), seats=seats, position=i)
                           for i, (name, seats) in enumerate(pools)]
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

    ``quotas`` renames and resizes the existing categories, in order (categories are fixed at creation);
    no category goes below the seats it has given, and the quotas still add up to ``capacity``.
    """
    _require_facilitator(actor, workshop.organisation)
    _validate_times({"starts_at": fields.get("starts_at", workshop.starts_at),
                     "ends_at": fields.get("ends_at", workshop.ends_at), **fields})
    workshop_id = workshop.id
    begin_write()
    workshop = db.session.get(Workshop, workshop_id)
    now = utcnow()
    before = (workshop.starts_at, workshop.ends_at, workshop.format, workshop.address, workshop.meeting_link)
    try:
        _apply_fields(workshop, fields)
        if questions is not None:
            _replace_questions(workshop, questions)
        if quotas is not None and workshop.has_categories:
            _resize_quotas(workshop, capacity if capacity is not None else workshop.capacity, list(quotas), now)
        elif capacity is not None and capacity != workshop.capacity:
            _resize_single_pool(workshop, capacity, now)
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
            _mail_registration(reg, "workshop_changed")
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


def _resize_quotas(workshop: Workshop, capacity: int, quotas: list[tuple[str, int]], now: datetime) -> None:
    if len(quotas) != len(workshop.categories):
        raise InvalidQuotas(_l("Le nombre de catégories est fixé à la création : "
                               "renommez-les ou changez leurs places."))
    _validate_quotas(capacity, quotas)
    for category, (name, seats) in zip(list(workshop.categories), quotas, strict=True):
        category.name = name.strip()
        if seats != category.seats:
            _resize_category(workshop, category.id, seats, now)
    workshop.capacity = capacity


def _resize_category(workshop: Workshop, category_id: int, seats: int, now: datetime) -> None:
    """Change a pool's seats under its lock: never below the seats given; new seats go to its waiting list."""
    category = _lock_category(category_id)
    _lapse_expired(category, workshop, now)
    if seats < category.seats_taken:
        raise CapacityBelowTaken()
    added = seats - category.seats
    category.seats = seats
    for _ in range(max(0, added)):
        category.seats_taken += 1
        if _offer_next(category, workshop, now) is None:
            category.seats_taken -= 1
            break


def _active_registrations(workshop: Workshop) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.workshop_id == workshop.id,
                                                              Registration.status.in_(ACTIVE))))


def publish_workshop(actor: User, workshop: Workshop) -> Workshop:
    """Make a draft visible (and open to sign-ups within its window)."""
    _require_facilitator(actor, workshop.organisation)
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    workshop.status = WorkshopStatus.published
    db.session.commit()
    signals.workshop_published.send(workshop)
    return workshop


def cancel_workshop(actor: User, workshop: Workshop, reason: str) -> Workshop:
    """Cancel the workshop and tell every registrant, with the reason."""
    _require_facilitator(actor, workshop.organisation)
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
            _mail_registration(reg, "workshop_cancelled", reason=workshop.cancel_reason)
    db.session.commit()
    return workshop


def duplicate_workshop(actor: User, workshop: Workshop) -> Workshop:
    """A new draft with the same content, pools and questions, one week later, without registrations."""
    _require_facilitator(actor, workshop.organisation)
    week = timedelta(days=7)
    copy = Workshop(
        organisation=workshop.organisation, title=workshop.title, description_md=workshop.description_md,
        expected_change=workshop.expected_change, format=workshop.format, address=workshop.address,
        access_info=workshop.access_info, meeting_link=workshop.meeting_link,
        accessibility_info=workshop.accessibility_info, starts_at=workshop.starts_at + week,
        ends_at=workshop.ends_at + week, capacity=workshop.capacity, visibility=workshop.visibility,
        signup_opens_at=None, signup_closes_at=None, invite_token=_token(), status=WorkshopStatus.draft,
        created_by_id=actor.id, services=list(workshop.services), life_events=list(workshop.life_events),
        categories=[WorkshopCategory(name=c.name, seats=c.seats, position=c.position) for c in workshop.categories],
        questions=[WorkshopQuestion(kind=q.kind, label=q.label, choices_text=q.choices_text, required=q.required,
                                    is_accessibility=q.is_accessibility, position=q.position)
                   for q in workshop.questions])
    db.session.add(copy)
    db.session.commit()
    return copy


def regenerate_invite_token(actor: User, workshop: Workshop) -> str:
    """A new private link; the old one stops working."""
    _require_facilitator(actor, workshop.organisation)
    workshop.invite_token = _token()
    db.session.commit()
    return workshop.invite_token


# --- sign-ups ------------------------------------------------------------------------------------

def _clean_answers(workshop: Workshop, answers: dict) -> list[RegistrationAnswer]:
    """Validate answers against the workshop's questions; required ones must be answered."""
    result = []
    for question in workshop.questions:
        raw = answers.get(question.id)
        if question.kind is QuestionKind.multiple_choice:
            values = [v for v in (raw or []) if v in question.choices]
            value = "\n".join(values)
        elif question.kind is QuestionKind.single_choice:
            value = raw if raw in question.choices else ""
        elif question.kind is QuestionKind.consent:
            value = "yes" if raw else ""
        else:
            value = (raw or "").strip()[:1000]
        if question.required and not value:
            raise AnswerRequired(_l("Répondez à la question « %(label)s ».", label=question.label))
        if value:
            result.append(RegistrationAnswer(question_id=question.id, value=value))
    return result


def _category_for(workshop: Workshop, category_id: int | None) -> WorkshopCategory:
    if not workshop.has_categories:
        return workshop.categories[0]
    for category in workshop.categories:
        if category.id == category_id:
            return category
    raise UnknownCategory()


def _place(registration: Registration, category: WorkshopCategory, now: datetime) -> None:
    """Confirm when a seat is free in the category, else add to its waiting list (under the lock)."""
    if category.seats_taken < category.seats:
        category.seats_taken += 1
        registration.status = RegistrationStatus.confirmed
        registration.confirmed_at = now
        registration.waitlist_number = None
    else:
        registration.status = RegistrationStatus.waitlisted
        registration.waitlist_number = category.next_waitlist_number
        category.next_waitlist_number += 1


_SIGNUP_STATE = None


def _signup_state_statement():
    """The locked read of ``_signup_state``, built once: the same statement object every time (bound
    parameters), so each sign-up skips building it and SQLAlchemy's compiled cache finds it at once."""
    global _SIGNUP_STATE
    if _SIGNUP_STATE is None:
        reg, category_id = Registration, bindparam("category_id")
        workshop_id, user_id = bindparam("workshop_id"), bindparam("user_id")
        _SIGNUP_STATE = (
            select(WorkshopCategory.seats, WorkshopCategory.seats_taken, WorkshopCategory.next_waitlist_number,
                   select(reg.id).where(reg.category_id == category_id, reg.status == RegistrationStatus.offered,
                                        reg.offer_expires_at <= bindparam("now")).exists().label("expired_offer"),
                   select(reg.id).where(reg.workshop_id == workshop_id, reg.user_id == user_id)
                   .exists().label("registered"),
                   select(reg.id).where(reg.workshop_id == workshop_id, reg.code == bindparam("code"))
                   .exists().label("code_taken"))
            .where(WorkshopCategory.id == category_id)
            .with_for_update(of=WorkshopCategory))
    return _SIGNUP_STATE


def _signup_state(category_id: int, workshop_id: int, user_id: int, code: str, now: datetime):
    """Lock the category's row and read, in the same statement, all a sign-up decides on: its seats, its
    next waiting-list number, whether an offer has expired there, whether this person
    already has a registration, and whether ``code`` is taken. One round trip instead of five."""
    return db.session.execute(_signup_state_statement(), {
        "category_id": category_id, "workshop_id": workshop_id, "user_id": user_id, "code": code, "now": now,
    }).one_or_none()


def sign_up(workshop: Workshop, user: User, *, category_id: int | None = None, answers: dict | None = None,
            token: str | None = None) -> Registration:
    """A verified person signs up: confirmed if a seat is free in their category, else waitlisted (the
    workshop's page shows their position)."""
    if not is_verified(user):
        raise NotVerified()
    if not can_view(workshop, user, token):
        raise NotFound()
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    now = utcnow()
    if not workshop.signup_open(now):
        raise SignupClosed()
    category = _category_for(workshop, category_id)
    clean = _clean_answers(workshop, answers or {})
    workshop_id, category_id, user_id = workshop.id, category.id, user.id
    code = _random_code()

    # The decision reads only the locked statement below; the objects loaded before serve the mail.
    begin_write(keep_loaded=True)
    state = _signup_state(category_id, workshop_id, user_id, code, now)
    if state is None:
        db.session.rollback()
        raise NotFound()
    try:
        if state.expired_offer or state.registered or state.code_taken:
            # Rare paths, still under the lock: seats to pass on first, a comeback after cancelling, a code clash.
            registration = _sign_up_slow(workshop_id, category_id, user_id, clean, now)
        else:
            registration = _place_new(state, workshop_id, category_id, user_id, code, clean, now)
        db.session.flush()
    except IntegrityError as exc:  # the unique (workshop, user) constraint is the last word
        db.session.rollback()
        raise AlreadyRegistered() from exc
    _mail_registration(registration, "registration_confirmed" if registration.status is RegistrationStatus.confirmed
                       else "registration_waitlisted", position=None)
    db.session.commit()
    return registration


class QuickSignup(NamedTuple):
    registration_id: int
    confirmed: bool
    locale: str  # the person's language, for the page's message: their account is not loaded


_SIGN_UPS = None


def _sign_ups_statement():
    """The sign-ups of ``sign_up_in_one_statement``, for one or more people at once, built once. Each part is a
    rule of ``sign_up``; a person for whom one does not hold is left out and nothing is written for them."""
    global _SIGN_UPS
    if _SIGN_UPS is None:
        _SIGN_UPS = text("""
WITH input AS (
  SELECT * FROM unnest(CAST(:user_ids AS integer[]), CAST(:session_versions AS integer[]),
                       CAST(:codes AS varchar[]), CAST(:tokens AS varchar[]))
         WITH ORDINALITY AS i(user_id, session_version, code, token, ord)
), workshop AS (
  SELECT id, visibility, invite_token FROM workshops
  WHERE id = :workshop_id AND status = :published AND starts_at > :now
    AND (signup_opens_at IS NULL OR signup_opens_at <= :now)
    AND (signup_closes_at IS NULL OR signup_closes_at > :now)
    AND NOT EXISTS (SELECT 1 FROM workshop_questions WHERE workshop_id = :workshop_id)
), people AS (
  SELECT i.ord, i.code, u.id AS user_id, u.email, u.locale
  FROM input i JOIN users u ON u.id = i.user_id CROSS JOIN workshop w
  WHERE u.session_version = i.session_version AND u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL
    AND (w.visibility = :public OR w.invite_token = i.token)
    AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.workshop_id = w.id AND (r.user_id = u.id OR r.code = i.code))
), pool AS (
  SELECT c.id, c.seats - c.seats_taken AS free, c.next_waitlist_number
  FROM workshop_categories c JOIN workshop w ON c.workshop_id = w.id
  WHERE c.name = '' AND EXISTS (SELECT 1 FROM people)
    AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.category_id = c.id AND r.status = :offered
                    AND r.offer_expires_at <= :now)
  FOR UPDATE OF c
), placed AS (
  SELECT people.*, pool.id AS category_id, pool.free, pool.next_waitlist_number,
         row_number() OVER (ORDER BY people.ord) AS k
  FROM people CROSS JOIN pool
), registration AS (
  INSERT INTO registrations (workshop_id, category_id, user_id, guest_name, guest_phone, status, waitlist_number,
                             code, created_at, confirmed_at, cancel_message, offer_lapsed, has_evaluated)
  SELECT :workshop_id, category_id, user_id, '', '', CASE WHEN k <= free THEN :confirmed ELSE :waitlisted END,
         CASE WHEN k <= free THEN NULL ELSE next_waitlist_number + k - free - 1 END, code, :now,
         CASE WHEN k <= free THEN CAST(:now AS TIMESTAMP) END, '', false, false
  FROM placed ORDER BY k
  ON CONFLICT DO NOTHING
  RETURNING id, user_id, status = :confirmed AS confirmed
), counter AS (
  UPDATE workshop_categories c
  SET seats_taken = c.seats_taken + LEAST(pool.free, inserted.n),
      next_waitlist_number = c.next_waitlist_number + GREATEST(inserted.n - pool.free, 0)
  FROM pool, (SELECT count(*) AS n FROM registration) AS inserted
  WHERE c.id = pool.id AND inserted.n > 0
), mail AS (
  INSERT INTO outbox_messages (template, recipient, locale, context, status, attempts, next_attempt_at, created_at)
  SELECT CASE WHEN r.confirmed THEN 'registration_confirmed' ELSE 'registration_waitlisted' END,
         p.email, p.locale, json_build_object('registration_id', r.id)::text, :pending, 0, :now, :now
  FROM registration r JOIN placed p ON p.user_id = r.user_id
)
SELECT placed.user_id, registration.id, registration.confirmed, placed.locale
FROM placed LEFT JOIN registration ON registration.user_id = placed.user_id
""").bindparams(
            published=WorkshopStatus.published.name, public=Visibility.public.name,
            offered=RegistrationStatus.offered.name, confirmed=RegistrationStatus.confirmed.name,
            waitlisted=RegistrationStatus.waitlisted.name, pending=OutboxStatus.pending.name)
    return _SIGN_UPS


class _SignUpCall:
    """One person's sign-up waiting for this process's next statement for its workshop."""

    __slots__ = ("account", "token", "code", "done", "result")

    def __init__(self, account: tuple[int, int], token: str, code: str):
        self.account, self.token, self.code = account, token, code
        self.done, self.result = False, None


_workshops = KeyedQueue(batch_max=100)


def sign_up_in_one_statement(workshop_id: int, account: tuple[int, int], token: str | None = None,
                             code: str | None = None) -> QuickSignup | None:
    """``sign_up`` in one SQL statement, on PostgreSQL, for the common case; ``None`` (nothing written for this
    person) whenever ``sign_up`` must decide instead. The statement runs on its own connection: it leaves the
    caller's session and transaction untouched.

    ``account`` is the (user id, session version) of the session; the statement itself checks that it names a
    verified, not deleted account whose sessions were not revoked, so the request need not load it. Every
    rule of ``sign_up`` is in the statement, or sends the case back to it:

    - the person: verified, not deleted, this session not revoked;
    - the workshop: published, not started, within its sign-up window, public or reached with its invitation
      token; a workshop with registration questions or with quotas (categories) needs the form: ``None``;
    - the seat: the pool's row is locked (``FOR UPDATE``, read again once the lock is granted, so its values
      are current), free seats confirm in arrival order, then the next waiting-list numbers are taken, and the
      counters move in the same statement. An expired offer in the pool must be passed on first: ``None``;
    - one registration per person and per check-in code: someone already registered (or coming back after
      cancelling) goes back to ``sign_up``, and the unique constraints have the last word (``ON CONFLICT``);
    - the mail: an outbox row naming the registration, rendered at delivery (``renders_at_delivery``).

    People signing up for the same workshop at the same moment in this process wait in an in-process queue
    holding no connection, and whoever gets the workshop's turn signs up everyone waiting in one statement:
    one lock of the pool's row and one commit for the whole group, in arrival order. Reads other than the
    locked row see the statement's start, which is why this does not report a waiting-list position: the
    workshop's page counts it. SQLite has no data-modifying ``WITH``: ``None``.
    """
    if db.engine.dialect.name != "postgresql":
        return None
    call = _SignUpCall(account, token or "", code or _random_code())
    _workshops.combine(workshop_id, call, lambda calls: _sign_up_calls(workshop_id, calls))
    return call.result


def _sign_up_calls(workshop_id: int, calls: list[_SignUpCall]) -> None:
    """Sign up ``calls`` together when there are several; alone, or one by one after a conflict, otherwise."""
    try:
        people, codes, together, after = set(), set(), [], []
        for call in calls:
            if call.account[0] in people:  # the same person twice at once (a double click): after the first
                after.append(call)
                continue
            while call.code in codes:
                call.code = _random_code()
            people.add(call.account[0])
            codes.add(call.code)
            together.append(call)
        if len(together) == 1 or not _run_sign_ups(workshop_id, together, autocommit=False):
            for call in together:
                _run_sign_ups(workshop_id, [call], autocommit=True)
        for call in after:
            _run_sign_ups(workshop_id, [call], autocommit=True)
    finally:
        for call in calls:
            call.done = True  # a call left without a result goes on to the form path


def _run_sign_ups(workshop_id: int, calls: list[_SignUpCall], *, autocommit: bool) -> bool:
    """Run the statement for ``calls``; False (nothing kept) when a person the statement placed met a unique
    constraint (a concurrent sign-up of the same person, a clashing code): the places after theirs would have a
    gap, so a group is rolled back and run one by one. One person runs in autocommit: one statement is one
    transaction, PostgreSQL commits it (or nothing of it) as it ends, with no COMMIT round trip."""
    with db.engine.connect() as connection:
        if autocommit:
            connection.execution_options(isolation_level="AUTOCOMMIT")
        rows = connection.execute(_sign_ups_statement(), {
            "user_ids": [c.account[0] for c in calls], "session_versions": [c.account[1] for c in calls],
            "codes": [c.code for c in calls], "tokens": [c.token for c in calls], "workshop_id": workshop_id,
            "now": utcnow(),
        }).all()
        if not autocommit:
            if any(row.id is None for row in rows):
                connection.rollback()
                return False
            connection.commit()
    placed = {row.user_id: row for row in rows if row.id is not None}
    for call in calls:
        row = placed.get(call.account[0])
        call.result = QuickSignup(row.id, row.confirmed, row.locale) if row is not None else None
    return True


def _place_new(state, workshop_id: int, category_id: int, user_id: int, code: str, clean: list,
               now: datetime) -> Registration:
    """``_place`` for a first sign-up, from the values read under the lock (``_signup_state``)."""
    registration = Registration(workshop_id=workshop_id, category_id=category_id, user_id=user_id, code=code,
                                answers=clean)
    seats = update(WorkshopCategory).where(WorkshopCategory.id == category_id)
    if state.seats_taken < state.seats:
        registration.status, registration.confirmed_at = RegistrationStatus.confirmed, now
        seats = seats.values(seats_taken=state.seats_taken + 1)
    else:
        registration.status = RegistrationStatus.waitlisted
        registration.waitlist_number = state.next_waitlist_number
        seats = seats.values(next_waitlist_number=state.next_waitlist_number + 1)
    db.session.add(registration)
    db.session.execute(seats.execution_options(synchronize_session=False))
    return registration


def _sign_up_slow(workshop_id: int, category_id: int, user_id: int, clean: list, now: datetime) -> Registration:
    """``sign_up`` when expired offers must lapse first, the person comes back after cancelling, or the new
    check-in code clashed (call under the category lock)."""
    # Objects loaded before the lock are kept on PostgreSQL (begin_write(keep_loaded=True)): this path
    # reads registrations through the ORM, so everything is read again from here.
    db.session.expire_all()
    category = _lock_category(category_id)
    workshop = db.session.get(Workshop, workshop_id)
    _lapse_expired(category, workshop, now)
    registration = db.session.scalar(select(Registration).where(Registration.workshop_id == workshop_id,
                                                                Registration.user_id == user_id))
    if registration is not None:
        if registration.status is not RegistrationStatus.cancelled:
            db.session.rollback()
            raise AlreadyRegistered()
        # Coming back after cancelling: same row (one per person), a fresh place in the queue.
        registration.category_id = category.id
        registration.cancelled_at = None
        registration.cancel_message = ""
        registration.offer_lapsed = False
        registration.offer_expires_at = None
        # Old answers go first: the flush would insert the new ones before deleting them, and
        # (registration, question) is unique.
        registration.answers = []
        db.session.flush()
        registration.answers = clean
    else:
        registration = Registration(workshop_id=workshop_id, category_id=category.id, user_id=user_id,
                                    code=_new_code(workshop_id), answers=clean,
                                    status=RegistrationStatus.waitlisted)
        db.session.add(registration)
    _place(registration, category, now)
    return registration


def register_on_behalf(actor: User, workshop: Workshop, *, name: str, phone: str, category_id: int | None = None,
                       answers: dict | None = None) -> Registration:
    """A facilitator registers someone without an account or e-mail (phone sign-up)."""
    _require_facilitator(actor, workshop.organisation)
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    now = utcnow()
    if workshop.has_started(now):
        raise SignupClosed()
    category = _category_for(workshop, category_id)
    clean = _clean_answers(workshop, answers or {})
    workshop_id, category_id, actor_id = workshop.id, category.id, actor.id
    begin_write()
    category = _lock_category(category_id)
    workshop = db.session.get(Workshop, workshop_id)
    _lapse_expired(category, workshop, now)
    registration = Registration(workshop_id=workshop_id, category_id=category.id, guest_name=name.strip(),
                                guest_phone=phone.strip(), registered_by_id=actor_id, code=_new_code(workshop_id),
                                answers=clean, status=RegistrationStatus.waitlisted)
    db.session.add(registration)
    _place(registration, category, now)
    db.session.commit()
    return registration


def cancel_registration(registration: Registration, actor: User, message: str = "") -> Registration:
    """The person (before the start) or a facilitator cancels; the freed seat is offered on at once."""
    workshop = registration.workshop
    staff = can_facilitate(actor, workshop.organisation)
    if not staff and registration.user_id != actor.id:
        raise NotAllowed()
    now = utcnow()
    if workshop.has_started(now) and not staff:
        raise TooLateToCancel()
    registration_id, category_id = registration.id, registration.category_id
    begin_write()
    category = _lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    _lapse_expired(category, workshop, now)
    if registration.status is RegistrationStatus.cancelled:
        db.session.rollback()
        return registration
    held_seat = registration.status in (RegistrationStatus.confirmed, RegistrationStatus.offered)
    registration.status = RegistrationStatus.cancelled
    registration.cancelled_at = now
    registration.waitlist_number = None
    registration.offer_expires_at = None
    if staff and registration.user_id != actor.id:
        registration.cancel_message = message.strip()
        _mail_registration(registration, "registration_cancelled_by_staff", message=registration.cancel_message)
    if held_seat:
        _free_seat(category, workshop, now)
    db.session.commit()
    return registration


def confirm_offer(registration: Registration, user: User) -> Registration:
    """Take an offered seat before the offer lapses."""
    if registration.user_id != user.id:
        raise NotAllowed()
    now = utcnow()
    registration_id, category_id = registration.id, registration.category_id
    begin_write()
    category = _lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    if registration.status is RegistrationStatus.confirmed:
        db.session.rollback()
        return registration
    if workshop.is_cancelled:
        db.session.rollback()
        raise WorkshopCancelled()
    if registration.status is not RegistrationStatus.offered:
        lapsed = registration.offer_lapsed
        db.session.rollback()
        raise OfferExpired() if lapsed else NotOffered()
    if not registration.offer_is_live(now):
        _lapse_expired(category, workshop, now)
        db.session.commit()
        raise OfferExpired()
    registration.status = RegistrationStatus.confirmed
    registration.confirmed_at = now
    registration.offer_expires_at = None
    _mail_registration(registration, "registration_confirmed")
    db.session.commit()
    return registration


def promote_by_hand(actor: User, registration: Registration) -> Registration:
    """A facilitator confirms a waitlisted person directly, when a seat is free in their category."""
    _require_facilitator(actor, registration.workshop.organisation)
    now = utcnow()
    registration_id, category_id = registration.id, registration.category_id
    begin_write()
    category = _lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    _lapse_expired(category, registration.workshop, now)
    if registration.status is not RegistrationStatus.waitlisted:
        db.session.rollback()
        raise InvalidInput(_l("Cette personne n'est pas sur la liste d'attente."), code="not_waitlisted")
    if category.seats_taken >= category.seats:
        db.session.rollback()
        raise NoSeatFree()
    category.seats_taken += 1
    registration.status = RegistrationStatus.confirmed
    registration.confirmed_at = now
    registration.waitlist_number = None
    _mail_registration(registration, "registration_confirmed")
    db.session.commit()
    return registration


def process_expired_offers(now: datetime | None = None) -> int:
    """Periodic job: lapse expired offers everywhere and pass their seats on. Idempotent; each category is
    handled under its own lock, so two runners never pass the same seat twice."""
    now = now or utcnow()
    category_ids = db.session.scalars(
        select(Registration.category_id).where(Registration.status == RegistrationStatus.offered,
                                               Registration.offer_expires_at <= now).distinct()).all()
    db.session.rollback()
    lapsed = 0
    for category_id in category_ids:
        begin_write()
        category = _lock_category(category_id)
        lapsed += _lapse_expired(category, category.workshop, now)
        db.session.commit()
    return lapsed


# --- facilitators: on the day and after ----------------------------------------------------------

def message_participants(actor: User, workshop: Workshop, subject: str, body: str) -> int:
    """Mail every confirmed participant who has an account; returns how many were written to."""
    _require_facilitator(actor, workshop.organisation)
    count = 0
    for reg in db.session.scalars(select(Registration).where(Registration.workshop_id == workshop.id,
                                                             Registration.status == RegistrationStatus.confirmed)):
        if reg.user and not reg.user.is_deleted:
            _mail_registration(reg, "participants_message", subject=subject.strip(), body=body.strip(),
                               organisation=workshop.organisation)
            count += 1
    db.session.commit()
    return count


def check_in(actor: User, registration: Registration, present: bool = True) -> Registration:
    """Mark a confirmed participant present (or undo)."""
    _require_facilitator(actor, registration.workshop.organisation)
    if registration.status is not RegistrationStatus.confirmed:
        raise InvalidInput(_l("Seules les personnes inscrites peuvent être pointées."), code="not_confirmed")
    registration.checked_in_at = utcnow() if present else None
    db.session.commit()
    return registration


def record_attendance(now: datetime | None = None) -> int:
    """Periodic job: freeze attendance and no-shows of workshops that ended. Idempotent."""
    now = now or utcnow()
    done = 0
    for workshop in db.session.scalars(select(Workshop).where(Workshop.status == WorkshopStatus.published,
                                                              Workshop.ends_at <= now,
                                                              Workshop.attended_count.is_(None))).all():
        figures = attendance(workshop)
        result = db.session.execute(
            update(Workshop).where(Workshop.id == workshop.id, Workshop.attended_count.is_(None))
            .values(attended_count=figures["present"], no_show_count=figures["no_shows"])
            .execution_options(synchronize_session=False))
        done += result.rowcount
    db.session.commit()
    return done


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


def send_reminders(now: datetime | None = None) -> int:
    """Periodic job: remind confirmed participants 24 h before; each person once (conditional update)."""
    now = now or utcnow()
    hours = current_app.config["WORKSHOP_REMINDER_HOURS"]
    regs = db.session.scalars(
        select(Registration).join(Workshop, Workshop.id == Registration.workshop_id)
        .where(Workshop.status == WorkshopStatus.published, Workshop.starts_at > now,
               Workshop.starts_at <= now + timedelta(hours=hours),
               Registration.status == RegistrationStatus.confirmed, Registration.reminder_sent_at.is_(None),
               Registration.user_id.is_not(None))).all()
    sent = 0
    for reg in regs:
        claimed = db.session.execute(
            update(Registration).where(Registration.id == reg.id, Registration.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed:
            _mail_registration(reg, "workshop_reminder")
            sent += 1
        db.session.commit()
    return sent


def purge_answers(now: datetime | None = None) -> int:
    """Periodic job: erase registration answers (e.g. accessibility needs) N days after the workshop."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["WORKSHOP_ANSWER_RETENTION_DAYS"])
    workshops = db.session.scalars(select(Workshop.id).where(Workshop.ends_at <= cutoff,
                                                             Workshop.answers_purged_at.is_(None))).all()
    erased = 0
    for workshop_id in workshops:
        reg_ids = select(Registration.id).where(Registration.workshop_id == workshop_id)
        erased += db.session.execute(
            RegistrationAnswer.__table__.delete().where(RegistrationAnswer.registration_id.in_(reg_ids))).rowcount
        db.session.execute(update(Registration).where(Registration.workshop_id == workshop_id,
                                                      Registration.user_id.is_(None))
                           .values(guest_phone="").execution_options(synchronize_session=False))
        db.session.execute(update(Workshop).where(Workshop.id == workshop_id).values(answers_purged_at=now)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return erased


# --- calendar feeds ------------------------------------------------------------------------------

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


def workshops_for_feed(token: str) -> list[Workshop]:
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token == token))
    if feed is None:
        raise NotFound()
    return list(db.session.scalars(
        select(Workshop).join(Registration, Registration.workshop_id == Workshop.id)
        .where(Registration.user_id == feed.user_id, Registration.status == RegistrationStatus.confirmed,
               Workshop.status != WorkshopStatus.draft).order_by(Workshop.starts_at)))


def published_for_feed(organisation_id: int | None = None) -> list[Workshop]:
    stmt = (select(Workshop).where(Workshop.status.in_([WorkshopStatus.published, WorkshopStatus.cancelled]),
                                   Workshop.visibility == Visibility.public,
                                   Workshop.ends_at > utcnow() - timedelta(days=90))
            .order_by(Workshop.starts_at))
    if organisation_id:
        stmt = stmt.where(Workshop.organisation_id == organisation_id)
    return list(db.session.scalars(stmt))


def list_registrations_of(user: User) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.user_id == user.id)))


def personal_data(user: User) -> list[dict]:
    """What the workshops area holds about a person (for « Mes données »)."""
    regs = db.session.scalars(select(Registration).where(Registration.user_id == user.id)
                              .options(selectinload(Registration.answers))).all()
    return [{"workshop": r.workshop.title, "starts_at": r.workshop.starts_at.isoformat() + "Z",
             "status": r.status.value, "code": r.code, "checked_in": r.checked_in_at is not None,
             "answers": {a.question.label: a.value for a in r.answers}} for r in regs]



# --- facilitators: their workshops ---------------------------------------------------------------

def list_managed_workshops(user: User, past_limit: int = 50) -> dict[str, list[Workshop]]:
    """Workshops of the organisations the person facilitates (all for admins), drafts included:
    upcoming soonest first, then the most recent past ones."""
    from ..permissions import facilitated_organisations, is_admin

    now = utcnow()
    stmt = select(Workshop)
    if not is_admin(user):
        stmt = stmt.where(Workshop.organisation_id.in_([o.id for o in facilitated_organisations(user)]))
    upcoming = db.session.scalars(stmt.where(Workshop.ends_at > now)
                                  .order_by(Workshop.starts_at, Workshop.id)).all()
    past = db.session.scalars(stmt.where(Workshop.ends_at <= now)
                              .order_by(Workshop.starts_at.desc(), Workshop.id.desc()).limit(past_limit)).all()
    return {"upcoming": list(upcoming), "past": list(past)}
