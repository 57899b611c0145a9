"""Consultations: time-boxed votes on a set of published proposals, by support, dot budget or majority judgment.

One ballot per person per consultation is a unique constraint; a ballot's choices can only name proposals of
its consultation (composite foreign key); every value range is a check constraint.
"""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Organisation, Role
from ..catalog.permissions import can_facilitate, has_org_role
from ..clock import utcnow
from ..extensions import db
from ..permissions import is_admin, is_authenticated
from . import results


def _enum(cls, name, length=20):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


def can_manage_consultations(user, organisation) -> bool:
    """Editors and facilitators of ``organisation``, and platform admins, run its consultations."""

    return can_facilitate(user, organisation) or has_org_role(user, organisation, Role.editor)


def managed_organisations(user) -> list:
    """Organisations whose consultations this person may create (all of them for admins)."""

    if is_admin(user):
        return list(db.session.scalars(db.select(Organisation).order_by(Organisation.name)))
    if not is_authenticated(user):
        return []
    return sorted({m.organisation for m in user.memberships if m.role in (Role.facilitator, Role.editor)},
                  key=lambda o: o.name)


class ConsultationMethod(enum.Enum):
    support = results.SUPPORT
    dots = results.DOTS
    majority = results.MAJORITY


class SelectionRule(enum.Enum):
    threshold = results.THRESHOLD
    top_k = results.TOP_K


class ConsultationState(enum.Enum):
    draft = "draft"
    open = "open"      # published: upcoming before opens_at, voting until closes_at
    closed = "closed"  # results computed and published


class Consultation(db.Model):
    __tablename__ = "consultations"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint("method <> 'dots' OR (dots_budget > 0 AND dots_max_per_proposal > 0 "
                        "AND dots_max_per_proposal <= dots_budget)", name="dots_settings"),
        CheckConstraint("selection_value IS NULL OR selection_value >= 0", name="selection_value_non_negative"),
        CheckConstraint("method <> 'majority' OR selection_rule <> 'threshold' OR selection_value IS NULL "
                        "OR selection_value <= 6", name="majority_threshold_is_a_grade"),
        Index("ix_consultations_state_closes_at", "state", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text, default="")
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    method: Mapped[ConsultationMethod] = mapped_column(_enum(ConsultationMethod, "consultation_method"))
    dots_budget: Mapped[int | None]
    dots_max_per_proposal: Mapped[int | None]
    selection_rule: Mapped[SelectionRule] = mapped_column(_enum(SelectionRule, "consultation_selection_rule"),
                                                          default=SelectionRule.top_k)
    selection_value: Mapped[int | None]
    counts_visible_while_open: Mapped[bool] = mapped_column(default=False)
    state: Mapped[ConsultationState] = mapped_column(_enum(ConsultationState, "consultation_state"),
                                                     default=ConsultationState.draft)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Participation figure frozen at closing.
    ballots_cast: Mapped[int | None]

    organisation = relationship("Organisation", lazy="joined")
    items = relationship("ConsultationProposal", back_populates="consultation",
                         order_by="ConsultationProposal.position", cascade="all, delete-orphan")

    @property
    def is_draft(self) -> bool:
        return self.state is ConsultationState.draft

    @property
    def is_closed(self) -> bool:
        return self.state is ConsultationState.closed

    def is_upcoming(self, now: datetime | None = None) -> bool:
        return self.state is ConsultationState.open and (now or utcnow()) < self.opens_at

    def voting_open(self, now: datetime | None = None) -> bool:
        """Published and within [opens_at, closes_at)."""
        now = now or utcnow()
        return self.state is ConsultationState.open and self.opens_at <= now < self.closes_at

    def counts_visible(self) -> bool:
        return self.is_closed or (self.state is ConsultationState.open and self.counts_visible_while_open)

    def can_manage(self, user) -> bool:
        """Editors and facilitators of the organisation, and platform admins."""
        return can_manage_consultations(user, self.organisation)

    def can_view(self, user) -> bool:
        return not self.is_draft or self.can_manage(user)

    @property
    def votable_items(self) -> list["ConsultationProposal"]:
        """The ballot without the proposals the moderators withdrew from the vote."""
        return [item for item in self.items if not item.withdrawn]


class ConsultationProposal(db.Model):
    """A proposal on a consultation's ballot, with its result once the consultation is closed."""

    __tablename__ = "consultation_proposals"
    __table_args__ = (
        CheckConstraint("rank IS NULL OR rank >= 1", name="rank_positive"),
    )

    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    position: Mapped[int] = mapped_column(default=0)
    # Results, set at closing.
    rank: Mapped[int | None]
    score: Mapped[int | None]      # approvals, points, or the median grade
    backers: Mapped[int | None]    # ballots that gave it anything (majority: graded it explicitly)
    profile: Mapped[list | None] = mapped_column(JSON)  # majority: count per grade, index 0 = « À rejeter »
    selected: Mapped[bool] = mapped_column(default=False)

    consultation = relationship("Consultation", back_populates="items")
    proposal = relationship("Proposal", lazy="joined")

    @property
    def withdrawn(self) -> bool:
        """Hidden by the moderators before the vote closed: off the ballot, out of the count, never selected.
        (Hidden after closing, it keeps its published result.)"""
        hidden_at = self.proposal.hidden_at
        closed_at = self.consultation.closed_at
        return hidden_at is not None and (closed_at is None or hidden_at <= closed_at)


class Ballot(db.Model):
    __tablename__ = "ballots"
    __table_args__ = (
        # One ballot per person per consultation, whatever the services do.
        UniqueConstraint("consultation_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Random, published with the anonymised ballots so anyone can recompute the results.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(default=1)

    choices = relationship("BallotChoice", cascade="all, delete-orphan", order_by="BallotChoice.proposal_id")


class BallotChoice(db.Model):
    """One proposal on one ballot: 1 (support), points (dots) or a grade 0..6 (majority, 0 = « À rejeter »).

    Support and dots store only non-zero choices; majority judgment stores the grades given explicitly (an
    ungraded proposal counts as « À rejeter » in the results).
    """

    __tablename__ = "ballot_choices"
    __table_args__ = (
        ForeignKeyConstraint(["consultation_id", "proposal_id"],
                             ["consultation_proposals.consultation_id", "consultation_proposals.proposal_id"],
                             ondelete="CASCADE", name="fk_ballot_choices_consultation_proposal"),
        CheckConstraint("value >= 0", name="value_non_negative"),
        Index("ix_ballot_choices_consultation_proposal", "consultation_id", "proposal_id"),
    )

    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"), primary_key=True)
    proposal_id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int]
    value: Mapped[int]
