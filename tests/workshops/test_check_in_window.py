"""Check-in opens ``CHECK_IN_OPENS_BEFORE_HOURS`` (2 hours) before a workshop starts (issue 19, point 3), in the
service (so every path shares it) and on the check-in page; after the workshop it stays open, as before."""

from datetime import timedelta

import pytest

from app.catalog.models import Role
from app.extensions import db
from app.workshops import checkin, service, signup
from app.workshops.errors import CheckInNotOpen
from app.workshops.models import Registration, Workshop
from tests.conftest import login, post_form
from tests.factories import make_member, make_user, make_workshop
from tests.workshops.helpers import move
from tests.workshops.test_manage_routes import _text


def signed_up(workshop) -> tuple[Registration, object]:
    """A confirmed participant and a facilitator of the workshop's organisation."""
    person = make_user(name="Alice Dupont")
    staff = make_member(workshop.organisation, Role.facilitator)
    db.session.commit()
    return signup.sign_up(workshop, person), staff


def test_check_in_is_refused_before_it_opens_and_allowed_once_open(app):
    workshop = make_workshop(capacity=2, starts_in=timedelta(hours=3))
    registration, staff = signed_up(workshop)
    with pytest.raises(CheckInNotOpen) as refused:
        service.check_in(staff, registration)
    opens = checkin.check_in_opens_at(db.session.get(Workshop, workshop.id))
    assert opens == db.session.get(Workshop, workshop.id).starts_at - timedelta(hours=2)
    assert str(refused.value.message).startswith("Le pointage ouvre le ")
    assert db.session.get(Registration, registration.id).checked_in_at is None
    move(workshop, timedelta(hours=1, minutes=59))
    assert service.check_in(staff, db.session.get(Registration, registration.id)).checked_in_at is not None


def test_the_window_follows_the_setting(app):
    workshop = make_workshop(capacity=2, starts_in=timedelta(hours=3))
    registration, staff = signed_up(workshop)
    app.config["CHECK_IN_OPENS_BEFORE_HOURS"] = 4
    assert service.check_in(staff, registration).checked_in_at is not None
    app.config["CHECK_IN_OPENS_BEFORE_HOURS"] = 0.5
    with pytest.raises(CheckInNotOpen):
        service.check_in(staff, db.session.get(Registration, registration.id))


def test_check_in_stays_open_during_and_after_the_workshop(app):
    workshop = make_workshop(capacity=2)
    registration, staff = signed_up(workshop)
    move(workshop, -timedelta(days=3))
    assert service.check_in(staff, db.session.get(Registration, registration.id)).checked_in_at is not None


def test_the_check_in_page_says_when_check_in_opens_instead_of_its_controls(client):
    workshop = make_workshop(capacity=2, starts_in=timedelta(days=3))
    registration, staff = signed_up(workshop)
    login(client, staff.email)
    url = f"/ateliers/gestion/{workshop.id}/pointage"
    page = _text(client.get(url, query_string={"q": "alice"}))
    assert "Le pointage ouvre le " in page and 'type="search"' not in page and "Alice Dupont" not in page
    # Posting anyway is refused by the service, with the same words.
    response = post_form(client, f"/ateliers/gestion/inscriptions/{registration.id}/pointer",
                         {"present": "1", "q": ""}, csrf_url=url, follow_redirects=True)
    assert "Le pointage ouvre le " in _text(response)
    assert db.session.get(Registration, registration.id).checked_in_at is None
    move(workshop, timedelta(hours=1))
    page = _text(client.get(url, query_string={"q": "alice"}))
    assert "Le pointage ouvre le " not in page and 'type="search"' in page and "Alice Dupont" in page


def test_the_check_in_page_of_a_past_workshop_still_works(client):
    workshop = make_workshop(capacity=2)
    registration, staff = signed_up(workshop)
    move(workshop, -timedelta(days=20))
    login(client, staff.email)
    page = _text(client.get(f"/ateliers/gestion/{workshop.id}/pointage", query_string={"q": "a"}))
    assert 'type="search"' in page and "Alice Dupont" in page and "Le pointage ouvre" not in page
