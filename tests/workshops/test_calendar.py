"""Calendar files and feeds, read back with the icalendar library, on SQLite and PostgreSQL."""

import re
from datetime import UTC, timedelta

import icalendar
import pytest
from sqlalchemy import update

from app.catalog.models import Role
from app.clock import utcnow
from app.extensions import db
from app.workshops import service, signup
from app.workshops.models import Registration, Visibility, Workshop
from tests.conftest import login, post_form
from tests.factories import make_member, make_organisation, make_user, make_workshop


def calendar(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    return icalendar.Calendar.from_ical(response.get_data())


def summaries(cal) -> list[str]:
    return [str(event["summary"]) for event in cal.walk("VEVENT")]


def test_workshop_file_holds_one_event_in_utc(client):
    org = make_organisation(name="CAF de Rennes")
    workshop = make_workshop(org, title="Simplifier la demande d'APL", expected_change="Un formulaire plus court",
                             starts_in=timedelta(days=5))
    start = workshop.starts_at.replace(microsecond=0)
    db.session.execute(update(Workshop).where(Workshop.id == workshop.id)
                       .values(starts_at=start, ends_at=start + timedelta(hours=2)))
    response = client.get(f"/ateliers/{workshop.id}.ics")
    assert f'filename="atelier-{workshop.id}.ics"' in response.headers["Content-Disposition"]
    [event] = calendar(response).walk("VEVENT")
    assert str(event["summary"]) == "Simplifier la demande d'APL"
    assert str(event["description"]) == "Un formulaire plus court"
    assert str(event["location"]) == "1 rue de Test"
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["uid"]).startswith(f"workshop-{workshop.id}@")
    assert str(event["url"]).endswith(f"/ateliers/{workshop.id}")
    assert event["organizer"].params["CN"] == "CAF de Rennes"
    assert event.decoded("dtstart") == start.replace(tzinfo=UTC)
    assert event.decoded("dtend") == (start + timedelta(hours=2)).replace(tzinfo=UTC)
    # Times are written in UTC ("Z"), never as floating local times.
    raw = response.get_data(as_text=True)
    assert re.search(r"^DTSTART:\d{8}T\d{6}Z\r?$", raw, re.M)
    assert re.search(r"^DTEND:\d{8}T\d{6}Z\r?$", raw, re.M)


def test_workshop_file_is_hidden_like_its_page(client):
    draft = make_workshop(published=False)
    private = make_workshop(visibility=Visibility.invitation)
    assert client.get(f"/ateliers/{draft.id}.ics").status_code == 404
    assert client.get(f"/ateliers/{private.id}.ics").status_code == 404
    assert client.get(f"/ateliers/{private.id}.ics?invitation=wrong").status_code == 404
    assert len(calendar(client.get(f"/ateliers/{private.id}.ics?invitation={private.invite_token}"))
               .walk("VEVENT")) == 1
    assert client.get("/ateliers/999999.ics").status_code == 404


def test_cancelled_workshop_is_marked_cancelled(client):
    workshop = make_workshop(title="Annulé pour grève")
    admin = make_user(admin=True)
    db.session.commit()
    service.cancel_workshop(admin, workshop, "Grève")
    [event] = calendar(client.get(f"/ateliers/{workshop.id}.ics")).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"
    [event] = [e for e in calendar(client.get("/ateliers/calendrier.ics")).walk("VEVENT")
               if str(e["summary"]) == "Annulé pour grève"]
    assert str(event["status"]) == "CANCELLED"


def test_online_workshop_location_does_not_leak_the_meeting_link(client):
    from app.workshops.models import WorkshopFormat

    workshop = make_workshop(format=WorkshopFormat.online, address="", meeting_link="https://visio.example/secret")
    raw = client.get(f"/ateliers/{workshop.id}.ics").get_data(as_text=True)
    assert "visio.example/secret" not in raw
    [event] = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    assert str(event["location"]) == "En ligne"


def test_all_published_feed_leaves_out_drafts_and_invitation_only_workshops(client):
    make_workshop(title="Public A")
    make_workshop(title="Public B", starts_in=timedelta(days=2))
    make_workshop(title="Brouillon", published=False)
    make_workshop(title="Sur invitation", visibility=Visibility.invitation)
    cal = calendar(client.get("/ateliers/calendrier.ics"))
    assert str(cal["x-wr-calname"]) == "Atelier"
    assert summaries(cal) == ["Public B", "Public A"]  # by start time


def test_organisation_feed_holds_only_its_workshops(client):
    caf = make_organisation(slug="caf", name="CAF")
    other = make_organisation(slug="ants", name="ANTS")
    make_workshop(caf, title="Atelier CAF")
    make_workshop(caf, title="Brouillon CAF", published=False)
    make_workshop(caf, title="Invitation CAF", visibility=Visibility.invitation)
    make_workshop(other, title="Atelier ANTS")
    cal = calendar(client.get("/ateliers/organisations/caf.ics"))
    assert summaries(cal) == ["Atelier CAF"]
    assert str(cal["x-wr-calname"]) == "CAF"
    assert client.get("/ateliers/organisations/inconnue.ics").status_code == 404


def test_personal_feed_holds_only_confirmed_registrations(client):
    me, other, third = make_user(), make_user(), make_user()
    confirmed = make_workshop(title="Confirmé", capacity=2)
    full = make_workshop(title="Complet", capacity=1)
    offered = make_workshop(title="Proposé", capacity=1)
    left = make_workshop(title="Quitté", capacity=2)
    private = make_workshop(title="Privé confirmé", capacity=2, visibility=Visibility.invitation)
    signup.sign_up(confirmed, me)
    signup.sign_up(full, other)
    signup.sign_up(full, me)
    signup.sign_up(offered, third)
    signup.sign_up(offered, me)
    r_third = db.session.scalar(db.select(Registration).where(Registration.workshop_id == offered.id,
                                                              Registration.user_id == third.id))
    signup.cancel_registration(r_third, third)  # me: offered, not yet confirmed
    signup.cancel_registration(signup.sign_up(left, me), me)
    signup.sign_up(private, me, token=private.invite_token)
    token = service.feed_token_for(me)
    assert service.feed_token_for(me) == token  # stable until regenerated
    cal = calendar(client.get(f"/ateliers/mon-calendrier/{token}.ics"))
    assert sorted(summaries(cal)) == ["Confirmé", "Privé confirmé"]
    assert client.get("/ateliers/mon-calendrier/not-a-token.ics").status_code == 404


@pytest.mark.both_databases("app.workshops.service")
def test_regenerated_personal_token_makes_the_old_url_404(client):
    me = make_user(email="moi@example.org")
    signup.sign_up(make_workshop(title="Le mien"), me)
    login(client, "moi@example.org")
    old = service.feed_token_for(me)
    assert old in client.get("/ateliers/mes-ateliers").get_data(as_text=True)
    response = post_form(client, "/ateliers/mon-calendrier/regenerer", {}, csrf_url="/ateliers/mes-ateliers")
    assert response.status_code == 302
    new = service.feed_token_for(me)
    assert new != old
    assert client.get(f"/ateliers/mon-calendrier/{old}.ics").status_code == 404
    assert summaries(calendar(client.get(f"/ateliers/mon-calendrier/{new}.ics"))) == ["Le mien"]
    assert new in client.get("/ateliers/mes-ateliers").get_data(as_text=True)


def test_regenerating_the_token_needs_a_form_post(client):
    me = make_user(email="moi@example.org")
    db.session.commit()
    login(client, "moi@example.org")
    old = service.feed_token_for(me)
    assert client.get("/ateliers/mon-calendrier/regenerer").status_code == 405
    client.post("/ateliers/mon-calendrier/regenerer", data={})  # no CSRF token: nothing happens
    assert service.feed_token_for(me) == old


def test_personal_feed_shows_a_cancelled_workshop_as_cancelled(client):
    me = make_user()
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    workshop = make_workshop(org, title="Annulé ensuite")
    signup.sign_up(workshop, me)
    service.cancel_workshop(staff, workshop, "Salle indisponible")
    [event] = calendar(client.get(f"/ateliers/mon-calendrier/{service.feed_token_for(me)}.ics")).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"


def test_feed_event_changes_sequence_when_the_workshop_is_edited(client):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    workshop = make_workshop(org)
    db.session.execute(update(Workshop).where(Workshop.id == workshop.id)
                       .values(updated_at=utcnow() - timedelta(hours=1)))
    [before] = calendar(client.get(f"/ateliers/{workshop.id}.ics")).walk("VEVENT")
    service.update_workshop(staff, db.session.get(Workshop, workshop.id),
                            starts_at=workshop.starts_at + timedelta(days=1),
                            ends_at=workshop.ends_at + timedelta(days=1))
    [after] = calendar(client.get(f"/ateliers/{workshop.id}.ics")).walk("VEVENT")
    assert int(after["sequence"]) > int(before["sequence"])
    assert after.decoded("dtstart") == before.decoded("dtstart") + timedelta(days=1)


def test_organizer_and_uid_stay_valid_when_the_public_address_has_a_port(app, client):
    """ORGANIZER is a mailto: URI (RFC 5545), so it must be an e-mail address: never ``host:port``."""
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    workshop = make_workshop(starts_in=timedelta(days=5))
    [event] = calendar(client.get(f"/ateliers/{workshop.id}.ics")).walk("VEVENT")
    organizer = str(event["organizer"])
    assert organizer == "mailto:ne-pas-repondre@atelier.example"  # MAIL_DEFAULT_SENDER's address
    assert re.fullmatch(r"mailto:[^@\s:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", organizer)
    assert str(event["uid"]) == f"workshop-{workshop.id}@127.0.0.1"


def test_organisation_feeds_are_linked_where_people_look_for_them(client):
    org = make_organisation(slug="caf-rennes", name="CAF de Rennes")
    make_workshop(org, title="Simplifier la demande d'APL", starts_in=timedelta(days=5))
    make_workshop(title="Ailleurs", starts_in=timedelta(days=6))
    feed = "/ateliers/organisations/caf-rennes.ics"
    link = re.compile(rf'<a href="{re.escape(feed)}">[^<]*CAF de Rennes[^<]*</a>')
    assert link.search(client.get("/organisations/caf-rennes").get_data(as_text=True))
    assert link.search(client.get(f"/ateliers/?organisation={org.id}").get_data(as_text=True))
    assert feed not in client.get("/ateliers/").get_data(as_text=True)  # no organisation chosen: the whole agenda
    assert summaries(calendar(client.get(feed))) == ["Simplifier la demande d'APL"]
