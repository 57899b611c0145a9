"""Live idea boards: the database is the source of truth; every change is a numbered event."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.permissions import can_facilitate
from ..clock import utcnow
from ..extensions import db


def _enum(cls, name, length=20):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


class Phase(enum.Enum):
    preparation = "preparation"
    brainstorm = "brainstorm"
    grouping = "grouping"
    voting = "voting"
    discussion = "discussion"
    closed = "closed"


PHASE_ORDER = list(Phase)


class Moderation(enum.Enum):
    none = "none"
    approve = "approve"


class IdeaStatus(enum.Enum):
    pending = "pending"      # awaiting approval (moderation "approve")
    visible = "visible"
    hidden = "hidden"        # hidden by a facilitator, with a reason
    withdrawn = "withdrawn"  # withdrawn by its author


class Audience(enum.Enum):
    everyone = "everyone"
    facilitators = "facilitators"
    participants = "participants"  # everyone but the facilitators
    participant = "participant"  # one participant (e.g. the author)


REACTIONS = ("plus_one", "heart", "question", "idea")


class Board(db.Model):
    __tablename__ = "boards"
    __table_args__ = (
        CheckConstraint("dot_budget >= 0", name="dot_budget_non_negative"),
        CheckConstraint("dot_cap IS NULL OR dot_cap > 0", name="dot_cap_positive"),
        CheckConstraint("idea_cap IS NULL OR idea_cap > 0", name="idea_cap_positive"),
        CheckConstraint("seq >= 0", name="seq_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshops.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(40), default="blank")
    phase: Mapped[Phase] = mapped_column(_enum(Phase, "board_phase"), default=Phase.preparation)
    # Timer held by the server: running when ``timer_ends_at`` is set; paused keeps the seconds left.
    timer_ends_at: Mapped[datetime | None]
    timer_paused_seconds: Mapped[int | None]
    hide_ideas: Mapped[bool] = mapped_column(default=False)
    anonymous: Mapped[bool] = mapped_column(default=False)
    idea_cap: Mapped[int | None]
    dot_budget: Mapped[int] = mapped_column(default=5)
    dot_cap: Mapped[int | None]
    hide_votes: Mapped[bool] = mapped_column(default=False)
    moderation: Mapped[Moderation] = mapped_column(_enum(Moderation, "board_moderation"), default=Moderation.none)
    locked: Mapped[bool] = mapped_column(default=False)
    allow_guests: Mapped[bool] = mapped_column(default=False)
    join_code: Mapped[str] = mapped_column(String(12), unique=True)
    # No foreign key: ideas are never deleted (only withdrawn or hidden, which clears the focus), and a
    # boards <-> ideas key cycle would complicate migrations for no gain.
    focused_idea_id: Mapped[int | None]
    # Last change's number; moved by one per change under the board's row lock, so changes are totally ordered.
    seq: Mapped[int] = mapped_column(default=0)
    # The last change that had events for each audience: a change sent to an audience names the one before it
    # (``after``), so a client sees a loss without being sent the changes that had nothing for it.
    facilitators_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    participants_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    guests_purged_at: Mapped[datetime | None]

    organisation = relationship("Organisation", lazy="joined")
    workshop = relationship("Workshop", lazy="joined")
    columns = relationship("BoardColumn", back_populates="board", order_by="BoardColumn.position",
                           cascade="all, delete-orphan")

    def can_manage(self, user) -> bool:
        return can_facilitate(user, self.organisation)


class BoardColumn(db.Model):
    __tablename__ = "board_columns"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    prompt: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)

    board = relationship("Board", back_populates="columns")


class Participant(db.Model):
    """Someone on a board: a person with an account, or a guest who exists on this board only."""

    __tablename__ = "board_participants"
    __table_args__ = (
        UniqueConstraint("board_id", "user_id"),
        UniqueConstraint("guest_token"),
        CheckConstraint("user_id IS NOT NULL OR guest_token IS NOT NULL", name="has_identity"),
        CheckConstraint("dots_used >= 0", name="dots_used_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    guest_name: Mapped[str] = mapped_column(String(60), default="")
    guest_token: Mapped[str | None] = mapped_column(String(64))
    is_facilitator: Mapped[bool] = mapped_column(default=False)
    ready: Mapped[bool] = mapped_column(default=False)
    dots_used: Mapped[int] = mapped_column(default=0)
    removed_at: Mapped[datetime | None]
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", lazy="joined")

    @property
    def is_guest(self) -> bool:
        return self.user_id is None


class Cluster(db.Model):
    __tablename__ = "board_clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    column_id: Mapped[int] = mapped_column(ForeignKey("board_columns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(default=1)


class Idea(db.Model):
    __tablename__ = "ideas"
    __table_args__ = (
        Index("ix_ideas_board_column_sort", "board_id", "column_id", "sort_key"),
        CheckConstraint("votes >= 0", name="votes_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    column_id: Mapped[int] = mapped_column(ForeignKey("board_columns.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("board_participants.id", ondelete="CASCADE"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("board_clusters.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    # Fractional index: a string that sorts between its neighbours, so moving an idea writes one row.
    # Compared bytewise (ASCII) on both backends: SQLite's BINARY, PostgreSQL's "C" collation.
    sort_key: Mapped[str] = mapped_column(String(64).with_variant(String(64, collation="C"), "postgresql"))
    status: Mapped[IdeaStatus] = mapped_column(_enum(IdeaStatus, "idea_status"), default=IdeaStatus.visible)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    votes: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    participant = relationship("Participant", lazy="joined")


class Dot(db.Model):
    """Dots one participant placed on one idea."""

    __tablename__ = "board_dots"
    __table_args__ = (UniqueConstraint("participant_id", "idea_id"),
                      CheckConstraint("count > 0", name="count_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("board_participants.id", ondelete="CASCADE"))
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    count: Mapped[int]


class Reaction(db.Model):
    __tablename__ = "board_reactions"
    __table_args__ = (UniqueConstraint("participant_id", "idea_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("board_participants.id", ondelete="CASCADE"))
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))


class BoardEvent(db.Model):
    """One event of a committed change, for one audience; replayed to clients that missed it.

    A change moves the board's ``seq`` by one: its events (one per audience and kind) share that ``seq`` and are
    ordered by ``position``."""

    __tablename__ = "board_events"
    __table_args__ = (UniqueConstraint("board_id", "seq", "position"),
                      CheckConstraint("position >= 0", name="position_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    seq: Mapped[int]
    position: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    name: Mapped[str] = mapped_column(String(40))
    audience: Mapped[Audience] = mapped_column(_enum(Audience, "event_audience"))
    participant_id: Mapped[int | None]  # for Audience.participant
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientChange(db.Model):
    """The result of a client change by its client-made id: a resend returns it instead of applying twice."""

    __tablename__ = "board_client_changes"
    __table_args__ = (UniqueConstraint("participant_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("board_participants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)  # JSON ack
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModerationEntry(db.Model):
    __tablename__ = "board_moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id", ondelete="SET NULL"))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("board_participants.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
