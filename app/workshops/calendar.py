"""iCalendar (RFC 5545) output for workshops: attachments, per-workshop files and feeds."""

from datetime import UTC
from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import current_app
from icalendar import Calendar, Event, vText

from ..urls import absolute_url
from .models import WorkshopFormat, WorkshopStatus


def _location(workshop) -> str:
    if workshop.format is WorkshopFormat.online:
        return "En ligne"
    return workshop.address or ""


def workshop_ics(workshops, name: str | None = None) -> bytes:
    """One calendar holding ``workshops``; cancelled ones are marked CANCELLED so calendars remove them."""

    cal = Calendar()
    cal.add("prodid", "-//Atelier//co-creation des services publics//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    # UIDs name the site's host (without its port); the organiser is the address our mail comes from.
    host = urlsplit(current_app.config["BASE_URL"]).hostname
    organizer = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    for workshop in workshops:
        event = Event()
        event.add("uid", f"workshop-{workshop.id}@{host}")
        event.add("summary", workshop.title)
        event.add("dtstart", workshop.starts_at.replace(tzinfo=UTC))
        event.add("dtend", workshop.ends_at.replace(tzinfo=UTC))
        event.add("dtstamp", workshop.updated_at.replace(tzinfo=UTC))
        event.add("last-modified", workshop.updated_at.replace(tzinfo=UTC))
        # Calendars order updates of one event by SEQUENCE: the update time in minutes always grows.
        event.add("sequence", int(workshop.updated_at.timestamp() // 60) % 2_000_000_000)
        event.add("url", absolute_url("workshops.show_workshop", workshop_id=workshop.id))
        event.add("location", vText(_location(workshop)))
        event.add("organizer", f"mailto:{organizer}", parameters={"cn": workshop.organisation.name})
        event.add("description", workshop.expected_change or workshop.title)
        event.add("status", "CANCELLED" if workshop.status is WorkshopStatus.cancelled else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
