"""The outbox delivers through a real SMTP server, retries when it is down, and never sends twice."""

import threading

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.clock import utcnow
from app.extensions import db
from app.mail.models import OutboxMessage, OutboxStatus
from app.mail.service import deliver_pending, queue_mail
from tests.conftest import make_app, prepared_db
from tests.servers import SmtpSink, free_port, text_body


def test_queued_mail_is_not_sent_when_its_transaction_rolls_back(app, smtp):
    queue_mail("x@example.org", "verify_email", "fr", user=type("U", (), {"display_name": "X"})(), link="http://l")
    db.session.rollback()
    assert deliver_pending() == {"sent": 0, "retry": 0, "failed": 0}
    assert smtp.to("x@example.org") == []


def test_registration_mail_arrives_over_smtp_with_text_and_html(app, smtp):
    accounts.register("rita@example.org", "Rita", "a long enough password")
    assert deliver_pending()["sent"] == 1
    [message] = smtp.wait_for("rita@example.org")
    assert "Vérifiez votre adresse" in message["Subject"]
    assert message["Content-Language"] == "fr"
    assert "/compte/verifier/" in text_body(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<a href=" in html
    # Delivered mail is marked sent and not sent again.
    assert deliver_pending()["sent"] == 0
    assert len(smtp.to("rita@example.org")) == 1


def test_attachments_are_delivered(app, smtp):
    user = type("U", (), {"display_name": "Sam"})()
    ics = [("atelier.ics", "text/calendar", b"BEGIN:VCALENDAR")]
    queue_mail("sam@example.org", "verify_email", "fr", attachments=ics, user=user, link="http://l")
    db.session.commit()
    deliver_pending()
    [message] = smtp.wait_for("sam@example.org")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "atelier.ics"
    assert attachment.get_content() == "BEGIN:VCALENDAR"


def test_mail_waits_while_smtp_is_down_and_arrives_exactly_once_after(request, backend):
    sink = SmtpSink(port=free_port())  # not started yet: the server is down
    app = make_app(backend, request, MAIL_PORT=sink.port, MAIL_RETRY_BASE_SECONDS=0)
    with prepared_db(app, backend):
        try:
            accounts.register("tom@example.org", "Tom", "a long enough password")
            assert deliver_pending() == {"sent": 0, "retry": 1, "failed": 0}
            message = db.session.scalar(select(OutboxMessage))
            assert message.status is OutboxStatus.pending
            assert "Connection" in message.last_error or "refused" in message.last_error.lower()
            sink.start()
            assert deliver_pending()["sent"] == 1
            assert deliver_pending()["sent"] == 0
            assert len(sink.wait_for("tom@example.org")) == 1
        finally:
            sink.stop()


def test_mail_is_marked_failed_after_max_attempts(request, backend):
    app = make_app(backend, request, MAIL_PORT=free_port(), MAIL_RETRY_BASE_SECONDS=0, MAIL_MAX_ATTEMPTS=2)
    with prepared_db(app, backend):
        accounts.register("ugo@example.org", "Ugo", "a long enough password")
        deliver_pending()
        assert deliver_pending() == {"sent": 0, "retry": 0, "failed": 1}
        assert db.session.scalar(select(OutboxMessage)).status is OutboxStatus.failed
        assert deliver_pending() == {"sent": 0, "retry": 0, "failed": 0}


@pytest.mark.both_databases()
def test_two_senders_at_once_deliver_each_mail_once(app, smtp, backend):
    for n in range(20):
        accounts.register(f"v{n}@example.org", f"V{n}", "a long enough password")
    barrier = threading.Barrier(2)
    results = []

    def sender():
        with app.app_context():
            barrier.wait()
            results.append(deliver_pending())
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r["sent"] for r in results) == 20
    for n in range(20):
        assert len(smtp.wait_for(f"v{n}@example.org")) == 1
    assert all(m.status is OutboxStatus.sent for m in db.session.scalars(select(OutboxMessage)))


def test_delivered_mail_is_purged_after_the_retention_period(app, smtp):
    from datetime import timedelta

    from app.clock import utcnow
    from app.jobs import run_once
    from app.mail.service import purge_delivered

    accounts.register("old@example.org", "Old", "a long enough password")
    accounts.register("new@example.org", "New", "a long enough password")
    deliver_pending()
    accounts.register("waiting@example.org", "Waiting", "a long enough password")  # still pending
    old = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "old@example.org"))
    waiting = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "waiting@example.org"))
    old.created_at = waiting.created_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert purge_delivered() == 1
    assert purge_delivered() == 0
    remaining = {m.recipient for m in db.session.scalars(select(OutboxMessage))}
    assert remaining == {"new@example.org", "waiting@example.org"}
    results = run_once(app)
    assert {"deliver_mail", "purge_mail"} <= set(results)
    assert "error" not in results.values()


def test_a_row_queued_unrendered_fails_alone_and_the_others_go(app, smtp):
    """A row queued unrendered by an earlier release (the schema still allows one) is marked failed with the
    reason, once, instead of stopping the delivery of every mail after it at each round."""
    db.session.add(OutboxMessage(template="registration_confirmed", recipient="broken@example.org", locale="fr",
                                 context="not json", status=OutboxStatus.pending, attempts=0,
                                 next_attempt_at=utcnow()))
    db.session.commit()
    accounts.register("after@example.org", "Après", "a long enough password")
    assert deliver_pending() == {"sent": 1, "retry": 0, "failed": 1}
    broken = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "broken@example.org"))
    assert broken.status is OutboxStatus.failed and broken.last_error.startswith("queued unrendered")
    assert smtp.wait_for("after@example.org") and smtp.to("broken@example.org") == []
    assert deliver_pending() == {"sent": 0, "retry": 0, "failed": 0}
