"""Accounts: every person is a citizen; staff roles come from organisation memberships."""

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db

DELETED_NAME = _l("participant·e supprimé·e")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("session_version >= 1", name="session_version_positive"),
        CheckConstraint("locale IN ('fr', 'en')", name="locale_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    locale: Mapped[str] = mapped_column(String(5), default="fr", server_default="fr")
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    is_admin: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.current_timestamp())
    last_login_at: Mapped[datetime | None]
    terms_accepted_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    # Read on first use (one query), by the permission checks of the person acting: a page listing authors
    # (proposals, comments, answers) does not read every author's memberships.
    memberships = relationship("Membership", back_populates="user", lazy="select", cascade="all, delete-orphan")

    def get_id(self) -> str:
        # The session version is part of the id Flask-Login stores in the session and in the
        # remember cookie: bumping it revokes every session and cookie at once.
        return f"{self.id}.{self.session_version}"  # read back by session_account

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None and self.deleted_at is None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def public_name(self) -> str:
        """The name shown beside this person's contributions."""
        return str(DELETED_NAME) if self.is_deleted else self.display_name

    def __repr__(self) -> str:
        return f"<User {self.id}>"


def session_account(session_id) -> tuple[int, int] | None:
    """(user id, session version) from the id Flask-Login keeps in a session (``User.get_id``), or None."""
    user_id, _sep, version = str(session_id or "").partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    return int(user_id), int(version)
