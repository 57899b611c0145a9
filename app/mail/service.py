"""The one mail module: render in the recipient's language, queue in the outbox, deliver with retries."""

import base64
import json
import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import delete, or_, select, update

from ..clock import utcnow
from ..extensions import db
from .models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300


def render(template: str, locale: str, **context) -> tuple[str, str, str]:
    """Subject, text and HTML of ``templates/emails/<template>.*`` in ``locale``."""
    with force_locale(locale):
        subject = render_template(f"emails/{template}.subject.txt", **context).strip()
        body_text = render_template(f"emails/{template}.txt", **context)
        # The rendered subject wins over a ``subject`` the caller passed for the subject template itself.
        body_html = render_template(f"emails/{template}.html", **{**context, "subject": subject})
    return subject, body_text, body_html


def _encode_attachments(attachments) -> str | None:
    if not attachments:
        return None
    return json.dumps([
        {"filename": name, "content_type": ctype, "content_b64": base64.b64encode(data).decode()}
        for name, ctype, data in attachments
    ])


def queue_mail(recipient: str, template: str, locale: str, attachments=None, **context) -> OutboxMessage:
    """Render ``templates/emails/<template>.{txt,html}`` in ``locale`` and add it to the outbox.

    Adds to the current session without committing: the caller's transaction decides, so a mail
    exists exactly when the change that causes it does.
    """
    subject, body_text, body_html = render(template, locale, **context)
    message = OutboxMessage(
        template=template, recipient=recipient, locale=locale, subject=subject,
        body_text=body_text, body_html=body_html, attachments=_encode_attachments(attachments),
        status=OutboxStatus.pending, attempts=0, next_attempt_at=utcnow(),
    )
    db.session.add(message)
    return message


def _claim(message_id: int) -> bool:
    """Take one due message for this process: a conditional update, so two senders never both win."""
    now = utcnow()
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            or_(
                (OutboxMessage.status == OutboxStatus.pending) & (OutboxMessage.next_attempt_at <= now),
                (OutboxMessage.status == OutboxStatus.sending) & (OutboxMessage.locked_until < now),
            ),
        )
        .values(status=OutboxStatus.sending, locked_until=now + timedelta(seconds=CLAIM_SECONDS),
                attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _build(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    email["To"] = message.recipient
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="atelier.example")
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    for item in json.loads(message.attachments or "[]"):
        maintype, subtype = item["content_type"].split("/", 1)
        email.add_attachment(base64.b64decode(item["content_b64"]), maintype=maintype, subtype=subtype,
                             filename=item["filename"])
    email["Content-Language"] = message.locale  # after set_content, which resets Content-* headers
    return email


def _send(email: EmailMessage) -> None:
    config = current_app.config
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(email)


def deliver_pending(limit: int = 100) -> dict:
    """Send due outbox messages; failures are retried with exponential back-off, then marked failed.

    Safe in several processes at once: each message is claimed by a conditional update first.
    """
    now = utcnow()
    due_ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(or_(
            (OutboxMessage.status == OutboxStatus.pending) & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.status == OutboxStatus.sending) & (OutboxMessage.locked_until < now),
        ))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    stats = {"sent": 0, "retry": 0, "failed": 0}
    for message_id in due_ids:
        if not _claim(message_id):
            continue
        message = db.session.get(OutboxMessage, message_id)
        if message.subject is None:
            # Queued unrendered by an earlier release (the schema still allows it): nothing renders it now.
            reason = "queued unrendered: no longer rendered at delivery"
            log.error("mail %s not sent: %s", message_id, reason)
            _finish(message_id, status=OutboxStatus.failed, locked_until=None, last_error=reason)
            stats["failed"] += 1
            continue
        email, attempts, template, body = _build(message), message.attempts, message.template, message.body_text
        db.session.rollback()  # no transaction stays open across the network call
        try:
            _send(email)
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            stats[_record_failure(message_id, attempts, exc)] += 1
            continue
        _finish(message_id, status=OutboxStatus.sent, sent_at=utcnow(), locked_until=None, last_error=None)
        stats["sent"] += 1
        if current_app.config.get("MAIL_LOG_BODIES"):
            log.info("mail %s sent (%s):\n%s", message_id, template, body)
    return stats


def _finish(message_id: int, **values) -> None:
    """Write a message's outcome with one UPDATE: no read-then-write window between two senders."""
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _record_failure(message_id: int, attempts: int, exc: Exception) -> str:
    config = current_app.config
    error = f"{type(exc).__name__}: {exc}"[:500]
    if attempts >= config["MAIL_MAX_ATTEMPTS"]:
        log.error("mail %s failed for good after %s attempts: %s", message_id, attempts, error)
        _finish(message_id, status=OutboxStatus.failed, locked_until=None, last_error=error)
        return "failed"
    delay = config["MAIL_RETRY_BASE_SECONDS"] * (2 ** (attempts - 1))
    _finish(message_id, status=OutboxStatus.pending, locked_until=None, last_error=error,
            next_attempt_at=utcnow() + timedelta(seconds=delay))
    return "retry"


def list_recent(limit: int = 50) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)))


def purge_delivered(older_than_days: int | None = None) -> int:
    """Delete sent and failed mail older than the retention period (the privacy page promises it).

    A single DELETE: idempotent, and harmless when two processes run it at once.
    """
    days = current_app.config["MAIL_RETENTION_DAYS"] if older_than_days is None else older_than_days
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.status.in_([OutboxStatus.sent, OutboxStatus.failed]),
               OutboxMessage.created_at < cutoff)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount
