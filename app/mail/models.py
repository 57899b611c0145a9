"""Transactional outbox: a mail is a row written in the same transaction as its cause."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


class OutboxStatus(enum.Enum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # A row is either rendered when queued, or carries what rendering it at delivery needs.
        CheckConstraint("(subject IS NOT NULL AND body_text IS NOT NULL AND body_html IS NOT NULL) "
                        "OR context IS NOT NULL", name="rendered_or_renderable"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(5))
    # Always rendered when queued. The columns stay nullable for rows an earlier version queued unrendered (with a
    # ``context``): ``deliver_pending`` marks such a row failed, with its reason, rather than send it empty.
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # JSON object of ids (no personal data) that the template's registered builder turns into its context.
    context: Mapped[str | None] = mapped_column(Text)
    # JSON list of {"filename", "content_type", "content_b64"}; ``None`` when there are none.
    attachments: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, name="outbox_status", native_enum=False, create_constraint=True, length=16),
        default=OutboxStatus.pending,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
