"""Seats: sign-up, phone sign-up, cancellation, offers and the waiting list, manual promotion, and the team's
confirmation or change of a declared category. Every seat decision runs under the category's row lock
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), a check constraint forbids
``seats_taken > seats``, the unique constraints have the last word, and waiting-list promotion happens in the
transaction that frees the seat. The helpers that pass a freed seat on are also used by ``service`` (capacity
changes) and ``jobs`` (lapsed offers)."""

import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..catalog.permissions import can_facilitate
from ..clock import utcnow
from ..database import begin_write
from ..errors import DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..mail.service import queue_mail
from ..permissions import is_verified
from ..urls import absolute_url
from . import calendar
from .checkin import mark_present
from .errors import (
    AlreadyRegistered,
    AnswerRequired,
    CategoryNotChecked,
    NoSeatFree,
    NotOffered,
    NotVerified,
    OfferExpired,
    RegistrationChanged,
    SignupClosed,
    TooLateToCancel,
    UnknownCategory,
    WorkshopCancelled,
)
from .models import (
    CategoryCheck,
    QuestionKind,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Workshop,
    WorkshopCategory,
)
from .queries import can_view, require_facilitator

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# Registrations counted in their category's ``seats_taken``.
HOLDING_A_SEAT = (RegistrationStatus.confirmed, RegistrationStatus.offered, RegistrationStatus.in_review)


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


def lock_category(category_id: int) -> WorkshopCategory:
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


def mail_registration(registration: Registration, template: str, **context) -> None:
    """Queue a mail about ``registration`` (with the calendar attachment where it helps); nothing for people
    without a mailbox: registered by phone (they are called) or whose account is deleted."""
    user = registration.user
    if user is None or user.is_deleted:
        return
    workshop = registration.workshop
    attachments = None
    if template in ("registration_confirmed", "workshop_changed"):
        attachments = [("atelier.ics", "text/calendar", calendar.workshop_ics([workshop]))]
    queue_mail(user.email, template, user.locale, attachments=attachments, user=user, workshop=workshop,
               registration=registration, link=absolute_url("workshops.show_workshop", workshop_id=workshop.id),
               my_link=absolute_url("workshops.my_workshops"), **context)


def offer_next(category: WorkshopCategory, workshop: Workshop, now: datetime) -> Registration | None:
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
    mail_registration(nxt, "seat_offered", deadline=nxt.offer_expires_at)
    return nxt


def _free_seat(category: WorkshopCategory, workshop: Workshop, now: datetime) -> None:
    """A confirmed or offered seat became free: offer it on, or give it back to the pool."""
    if offer_next(category, workshop, now) is None:
        category.seats_taken -= 1


def lapse_expired(category: WorkshopCategory, workshop: Workshop, now: datetime) -> int:
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
        mail_registration(registration, "offer_lapsed")
        _free_seat(category, workshop, now)
    return len(expired)


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


def needs_review(requires_check: bool, category_check: CategoryCheck, category_confirmed_at) -> bool:
    """A seat given in a category to check waits for the team to confirm the declared category, when the
    workshop checks categories at review."""
    return requires_check and category_check is CategoryCheck.at_review and category_confirmed_at is None


def _give_seat(registration: Registration, category: WorkshopCategory, now: datetime) -> None:
    """The seat (already counted in ``seats_taken``) goes to the person: confirmed, or in review until the team
    confirms the category they declared (call under the category lock)."""
    if needs_review(category.requires_check, category.workshop.category_check, registration.category_confirmed_at):
        registration.status = RegistrationStatus.in_review
    else:
        registration.status = RegistrationStatus.confirmed
        registration.confirmed_at = now
    registration.waitlist_number = None
    registration.offer_expires_at = None


def _seat_mail(registration: Registration) -> None:
    """Tell the person their seat is confirmed; a seat in review is told when the team confirms it."""
    if registration.status is RegistrationStatus.confirmed:
        mail_registration(registration, "registration_confirmed")


def _place(registration: Registration, category: WorkshopCategory, now: datetime) -> None:
    """Give a seat when one is free in the category, else add to its waiting list (under the lock)."""
    if category.seats_taken < category.seats:
        category.seats_taken += 1
        _give_seat(registration, category, now)
    else:
        registration.status = RegistrationStatus.waitlisted
        registration.waitlist_number = category.next_waitlist_number
        category.next_waitlist_number += 1


def _open_pool(workshop: Workshop, category_id: int | None, answers: dict | None,
               now: datetime) -> tuple[Workshop, WorkshopCategory, list[RegistrationAnswer]]:
    """Check the category and answers of a new registration, then start its write transaction under the pool's
    lock, with the pool's expired offers passed on first: (workshop and pool read again, clean answers)."""
    category = _category_for(workshop, category_id)
    clean = _clean_answers(workshop, answers or {})
    workshop_id, category_id = workshop.id, category.id
    begin_write()
    category = lock_category(category_id)
    workshop = db.session.get(Workshop, workshop_id)
    lapse_expired(category, workshop, now)
    return workshop, category, clean


def sign_up(workshop: Workshop, user: User, *, category_id: int | None = None, answers: dict | None = None,
            token: str | None = None) -> Registration:
    """A verified person signs up: confirmed if a seat is free in their category (in review, holding the seat,
    when the team confirms that category first), else waitlisted (the workshop's page shows their position)."""
    if not is_verified(user):
        raise NotVerified()
    if not can_view(workshop, user, token):
        raise NotFound()
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    now = utcnow()
    if not workshop.signup_open(now):
        raise SignupClosed()
    user_id = user.id
    workshop, category, clean = _open_pool(workshop, category_id, answers, now)
    try:
        registration = _registration_to_place(workshop.id, category, user_id, clean)
        _place(registration, category, now)
        db.session.flush()
    except IntegrityError as exc:  # the unique (workshop, user) constraint is the last word
        db.session.rollback()
        raise AlreadyRegistered() from exc
    if registration.status is not RegistrationStatus.in_review:  # told when the team confirms the category
        mail_registration(registration, "registration_confirmed" if registration.status is
                           RegistrationStatus.confirmed else "registration_waitlisted", position=None)
    db.session.commit()
    return registration


def _registration_to_place(workshop_id: int, category: WorkshopCategory, user_id: int,
                           clean: list[RegistrationAnswer]) -> Registration:
    """The person's registration, new or revived after a cancellation, ready for ``_place`` (under the lock)."""
    registration = db.session.scalar(select(Registration).where(Registration.workshop_id == workshop_id,
                                                                Registration.user_id == user_id))
    if registration is None:
        registration = Registration(workshop_id=workshop_id, category_id=category.id, user_id=user_id,
                                    code=_new_code(workshop_id), answers=clean,
                                    status=RegistrationStatus.waitlisted)
        db.session.add(registration)
        return registration
    if registration.status is not RegistrationStatus.cancelled:
        db.session.rollback()
        raise AlreadyRegistered()
    # Coming back after cancelling: same row (one per person), a fresh place in the queue.
    registration.category_id = category.id
    registration.category_confirmed_at = registration.category_confirmed_by_id = None  # a new declaration
    registration.cancelled_at = None
    registration.cancel_message = ""
    registration.offer_lapsed = False
    registration.offer_expires_at = None
    # Old answers go first: the flush would insert the new ones before deleting them, and
    # (registration, question) is unique.
    registration.answers = []
    db.session.flush()
    registration.answers = clean
    return registration


def register_on_behalf(actor: User, workshop: Workshop, *, name: str, phone: str, category_id: int | None = None,
                       answers: dict | None = None) -> Registration:
    """A facilitator registers someone without an account or e-mail (phone sign-up)."""
    require_facilitator(actor, workshop.organisation)
    if workshop.is_cancelled:
        raise WorkshopCancelled()
    now = utcnow()
    if workshop.has_started(now):
        raise SignupClosed()
    actor_id = actor.id
    workshop, category, clean = _open_pool(workshop, category_id, answers, now)
    registration = Registration(workshop_id=workshop.id, category_id=category.id, guest_name=name.strip(),
                                guest_phone=phone.strip(), registered_by_id=actor_id, code=_new_code(workshop.id),
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
    category = lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    lapse_expired(category, workshop, now)
    if registration.status is RegistrationStatus.cancelled:
        db.session.rollback()
        return registration
    held_seat = registration.status in HOLDING_A_SEAT
    registration.status = RegistrationStatus.cancelled
    registration.cancelled_at = now
    registration.waitlist_number = None
    registration.offer_expires_at = None
    if staff and registration.user_id != actor.id:
        registration.cancel_message = message.strip()
        mail_registration(registration, "registration_cancelled_by_staff", message=registration.cancel_message)
    if held_seat:
        _free_seat(category, workshop, now)
    db.session.commit()
    return registration


def confirm_offer(registration: Registration, user: User) -> Registration:
    """Take an offered seat before the offer lapses (in review, if the team confirms the category first)."""
    if registration.user_id != user.id:
        raise NotAllowed()
    now = utcnow()
    registration_id, category_id = registration.id, registration.category_id
    begin_write()
    category = lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    if registration.status in (RegistrationStatus.confirmed, RegistrationStatus.in_review):
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
        lapse_expired(category, workshop, now)
        db.session.commit()
        raise OfferExpired()
    _give_seat(registration, category, now)
    _seat_mail(registration)
    db.session.commit()
    return registration


def promote_by_hand(actor: User, registration: Registration) -> Registration:
    """A facilitator gives a waitlisted person a free seat of their category directly (in review, if the team
    confirms that category first)."""
    require_facilitator(actor, registration.workshop.organisation)
    now = utcnow()
    registration_id, category_id = registration.id, registration.category_id
    begin_write()
    category = lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    lapse_expired(category, registration.workshop, now)
    if registration.status is not RegistrationStatus.waitlisted:
        db.session.rollback()
        raise InvalidInput(_l("Cette personne n'est pas sur la liste d'attente."), code="not_waitlisted")
    if category.seats_taken >= category.seats:
        db.session.rollback()
        raise NoSeatFree()
    category.seats_taken += 1
    _give_seat(registration, category, now)
    _seat_mail(registration)
    db.session.commit()
    return registration


def confirm_category(actor: User, registration: Registration, *, check_in: bool = False) -> Registration:
    """The team confirms the category a person declared (a category to check): a seat in review is confirmed.
    With ``check_in``, the person is also checked in, in the same transaction (at the check-in desk)."""
    require_facilitator(actor, registration.workshop.organisation)
    now = utcnow()
    registration_id, category_id, actor_id = registration.id, registration.category_id, actor.id
    begin_write()
    category = lock_category(category_id)
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    lapse_expired(category, workshop, now)
    try:
        if registration.category_id != category_id:
            raise RegistrationChanged()
        if not category.is_checked:
            raise CategoryNotChecked()
        if registration.status is RegistrationStatus.cancelled:
            raise InvalidInput(_l("Cette inscription est annulée."), code="registration_cancelled")
        if registration.category_confirmed_at is None:
            registration.category_confirmed_at, registration.category_confirmed_by_id = now, actor_id
        if registration.status is RegistrationStatus.in_review:
            _give_seat(registration, category, now)
            _seat_mail(registration)
        if check_in:
            mark_present(registration, now)
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return registration


def move_to_category(actor: User, registration: Registration, category_id: int) -> Registration:
    """The team does not confirm a declared category and moves the person to a category that is not checked:
    their place there is decided as a sign-up's (a free seat, or its waiting list), and the seat they held in the
    declared category is offered on. Both categories are locked, in id order."""
    require_facilitator(actor, registration.workshop.organisation)
    now = utcnow()
    registration_id, from_id = registration.id, registration.category_id
    if category_id == from_id:
        raise InvalidInput(_l("La personne est déjà dans cette catégorie."), code="same_category")
    begin_write()
    locked = {cid: lock_category(cid) for cid in sorted((from_id, category_id))}
    source, target = locked[from_id], locked[category_id]
    registration = db.session.get(Registration, registration_id)
    workshop = registration.workshop
    lapse_expired(source, workshop, now)
    lapse_expired(target, workshop, now)
    try:
        if registration.category_id != from_id:
            raise RegistrationChanged()
        if target.workshop_id != workshop.id or target.is_checked:
            raise InvalidInput(_l("Choisissez une catégorie qui n'est pas à vérifier."), code="checked_category")
        if not registration.category_unconfirmed:
            raise CategoryNotChecked()
        if registration.status is RegistrationStatus.cancelled:
            raise InvalidInput(_l("Cette inscription est annulée."), code="registration_cancelled")
    except DomainError:
        db.session.rollback()
        raise
    held_seat = registration.status in HOLDING_A_SEAT
    registration.category = target
    registration.offer_expires_at = None
    _place(registration, target, now)  # sets the status first: the flushes below see a consistent row
    if registration.status is not RegistrationStatus.confirmed:
        registration.checked_in_at = None
    if held_seat:
        _free_seat(source, workshop, now)
    if registration.status is RegistrationStatus.confirmed:
        mail_registration(registration, "registration_confirmed")
    else:
        mail_registration(registration, "registration_waitlisted", position=None)
    db.session.commit()
    return registration
