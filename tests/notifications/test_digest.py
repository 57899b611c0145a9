"""Notifications: in the app at once, by e-mail at most once a day per person, over a real SMTP sink."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.clock import utcnow
from app.extensions import db
from app.mail.models import OutboxMessage
from app.notifications import service as notifications
from app.notifications.models import DigestFrequency, Notification, NotificationPreference
from app.proposals import service
from tests.proposals.helpers import World, propose
from tests.servers import text_body


@pytest.fixture
def world(app):
    return World()


def digests(to=None) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.template == "notifications_digest")
    if to:
        stmt = stmt.where(OutboxMessage.recipient == to)
    return db.session.scalar(stmt)


@pytest.mark.both_databases("app.jobs", "app.notifications.service")
def test_two_events_make_one_mail_over_smtp(app, smtp, world):
    from app.jobs import run_once

    proposal = propose(world.citizen, world, title="Une seule adresse pour tout")
    service.add_comment(proposal, world.other, "Oui !")
    service.add_comment(proposal, world.editor, "Nous regardons cela.")
    assert notifications.unread_count(world.citizen) == 2
    results = run_once(app)
    assert results["notification_digests"] == 1 and results["deliver_mail"]["failed"] == 0
    [mail] = smtp.wait_for(world.citizen.email)
    body = text_body(mail)
    assert "2 nouveautés" in mail["Subject"]
    assert "Nouveau commentaire sur « Une seule adresse pour tout »" in body
    assert "Réponse officielle sur « Une seule adresse pour tout »" in body
    assert f"/propositions/{proposal.id}" in body
    # Nothing new: no second mail.
    assert run_once(app)["notification_digests"] == 0
    assert len(smtp.to(world.citizen.email)) == 1


def test_a_second_digest_waits_for_the_next_day(world):
    proposal = propose(world.citizen, world)
    service.add_comment(proposal, world.other, "Un")
    assert notifications.send_digests() == 1
    service.add_comment(proposal, world.other, "Deux")
    assert notifications.send_digests() == 0 and digests(world.citizen.email) == 1
    # The next day the waiting notification goes out.
    assert notifications.send_digests(now=utcnow() + timedelta(days=1)) == 1
    assert digests(world.citizen.email) == 2


def test_no_digest_for_people_who_chose_none(world):
    notifications.set_digest_frequency(world.citizen, "none")
    proposal = propose(world.citizen, world)
    service.add_comment(proposal, world.other, "Un")
    assert notifications.send_digests() == 0 and digests() == 0
    # Still shown in the app.
    assert notifications.unread_count(world.citizen) == 1
    assert db.session.scalar(select(Notification.emailed_at)) is not None


def test_unknown_frequency_is_refused(world):
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput):
        notifications.set_digest_frequency(world.citizen, "hourly")
    assert notifications.get_digest_frequency(world.citizen) is DigestFrequency.daily


@pytest.mark.both_databases("app.notifications.service")
def test_claim_is_decided_by_the_database(world):
    proposal = propose(world.citizen, world)
    service.add_comment(proposal, world.other, "Un")
    # Another process already sent today's digest for this person.
    db.session.add(NotificationPreference(user_id=world.citizen.id, digest=DigestFrequency.daily,
                                          last_digest_at=utcnow()))
    db.session.commit()
    assert notifications.send_digests() == 0 and digests() == 0


def test_mark_all_read(world):
    proposal = propose(world.citizen, world)
    service.add_comment(proposal, world.other, "Un")
    assert notifications.mark_all_read(world.citizen) == 1
    assert notifications.unread_count(world.citizen) == 0
    db.session.execute(update(Notification).values(read_at=None))
    db.session.commit()
    assert notifications.unread_count(world.other) == 0


def test_the_digest_is_written_in_the_readers_language(app, smtp, world):
    from app.jobs import run_once

    world.citizen.locale = "en"
    db.session.commit()
    proposal = propose(world.citizen, world, title="Une seule adresse pour tout")
    service.add_comment(proposal, world.other, "Oui !")
    run_once(app)
    [mail] = smtp.wait_for(world.citizen.email)
    body = text_body(mail)
    assert "New comment on “Une seule adresse pour tout”" in body
    assert "Nouveau commentaire" not in body
