"""How the workshops area reacts to other areas' signals, and what it adds to shared pages."""

from .. import signals
from ..catalog.permissions import is_facilitator
from ..clock import utcnow
from . import queries, signup
from .models import RegistrationStatus


@signals.personal_data_requested.connect
def _personal_data(user):
    return "workshops", queries.personal_data(user)


@signals.user_deleted.connect
def _release_seats(user):
    """A deleted account's upcoming places are given back (and offered to the waiting list)."""

    for registration in queries.list_registrations_of(user):
        if registration.status is not RegistrationStatus.cancelled and not registration.workshop.has_started():
            signup.cancel_registration(registration, user)


def related_workshops(organisation=None, life_event=None, service=None, limit: int = 5):
    """Upcoming public workshops for a catalogue page (used by templates/catalog/*)."""

    items, figures = queries.list_for_related(
        organisation_id=organisation.id if organisation else None,
        life_event_id=life_event.id if life_event else None,
        service_id=service.id if service else None, limit=limit)
    return items, figures


def format_label(value) -> str:
    """Translated name of a workshop format (enum or its value)."""
    from flask_babel import gettext as _

    value = getattr(value, "value", value)
    return {"in_person": _("En présentiel"), "online": _("En ligne"),
            "hybrid": _("Hybride")}.get(value, value)


def init_app(app) -> None:
    app.jinja_env.globals["is_facilitator"] = is_facilitator
    app.jinja_env.globals["related_workshops"] = related_workshops
    app.jinja_env.globals["format_label"] = format_label
    app.jinja_env.globals["utcnow"] = utcnow

