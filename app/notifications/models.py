"""In-app notifications and each person's e-mail digest preference."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


class DigestFrequency(enum.Enum):
    daily = "daily"
    none = "none"


class Notification(db.Model):
    """One thing that happened, for one person. ``emailed_at`` is set when a digest carried it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),
                      Index("ix_notifications_digest", "emailed_at", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    # The text is rendered when shown (so it follows the reader's language) from kind + subject title.
    subject_title: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]


class NotificationPreference(db.Model):
    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[DigestFrequency] = mapped_column(
        Enum(DigestFrequency, name="digest_frequency", native_enum=False, create_constraint=True, length=10),
        default=DigestFrequency.daily)
    last_digest_at: Mapped[datetime | None]
    # Told when something downstream of one's contributions changes (answers, measures); on unless switched off.
    trail: Mapped[bool] = mapped_column(default=True, server_default=true())
