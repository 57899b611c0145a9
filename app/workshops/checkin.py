"""Check-in rules: when check-in opens (``CHECK_IN_OPENS_BEFORE_HOURS`` before the start) and what marking a
person present requires (a confirmed seat, check-in open, a declared category confirmed when the workshop
checks it at check-in). Used by the check-in desk (``service.check_in``) and by ``signup.confirm_category``."""

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import LazyString, format_date, format_time
from flask_babel import lazy_gettext as _l

from ..errors import InvalidInput
from .errors import (
    CategoryNotConfirmed,
    CheckInNotOpen,
)
from .models import (
    Registration,
    RegistrationStatus,
    Workshop,
)


def check_in_opens_at(workshop: Workshop) -> datetime:
    """When check-in opens: ``CHECK_IN_OPENS_BEFORE_HOURS`` before the start."""
    return workshop.check_in_opens_at(_check_in_lead())


def check_in_open(workshop: Workshop, now: datetime | None = None) -> bool:
    return workshop.check_in_open(_check_in_lead(), now)


def _check_in_lead() -> timedelta:
    return timedelta(hours=current_app.config["CHECK_IN_OPENS_BEFORE_HOURS"])


def _check_in_not_open(workshop: Workshop) -> CheckInNotOpen:
    opens_at = check_in_opens_at(workshop)
    # Lazy: the date is written in the language and time zone of whoever reads the message.
    return CheckInNotOpen(_l("Le pointage ouvre le %(date)s à %(time)s.",
                             date=LazyString(format_date, opens_at, "full"),
                             time=LazyString(format_time, opens_at, "short")))


def mark_present(registration: Registration, now: datetime) -> None:
    """Check a person in: confirmed, check-in open, and their declared category confirmed when the workshop
    checks it at check-in."""
    if registration.status is not RegistrationStatus.confirmed:
        raise InvalidInput(_l("Seules les personnes inscrites peuvent être pointées."), code="not_confirmed")
    if not check_in_open(registration.workshop, now):
        raise _check_in_not_open(registration.workshop)
    if registration.check_in_waits_for_category:
        raise CategoryNotConfirmed()
    registration.checked_in_at = now
