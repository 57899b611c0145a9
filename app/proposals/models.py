"""Proposals: simplification proposals from citizens and board ideas, supported, discussed and moderated.

Consultations (``app/consultations``) set ``Proposal.state`` to ``in_vote`` when a consultation opens and to
``selected`` or back to ``published`` when it closes; everything else about a proposal is decided here.
"""

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Role
from ..catalog.permissions import can_facilitate, has_org_role
from ..clock import utcnow
from ..extensions import db
from ..permissions import is_admin


def _enum(cls, name, length=30):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


class ProposalState(enum.Enum):
    draft = "draft"
    awaiting_moderation = "awaiting_moderation"
    published = "published"
    in_vote = "in_vote"
    selected = "selected"
    answered = "answered"
    merged = "merged"
    withdrawn = "withdrawn"


PUBLIC_STATES = frozenset({ProposalState.published, ProposalState.in_vote, ProposalState.selected,
                           ProposalState.answered, ProposalState.merged})
# States in which people may still support a proposal.
SUPPORTABLE_STATES = frozenset({ProposalState.published, ProposalState.in_vote})


class ModerationMode(enum.Enum):
    before = "before"  # a proposal waits for an editor before it is published
    after = "after"    # published at once; editors hide afterwards if needed


class OriginKind(enum.Enum):
    idea = "idea"
    cluster = "cluster"
    feedback = "feedback"  # a « Je donne mon avis » response an editor turned into, or linked to, the proposal


class Proposal(db.Model):
    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint("support_count >= 0", name="support_count_non_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_into_itself"),
        Index("ix_proposals_org_state_published", "organisation_id", "state", "published_at"),
        Index("ix_proposals_state_support", "state", "support_count"),
        # The default list order (newest first): page 1 is an index walk instead of sorting every proposal.
        Index("ix_proposals_newest", text("coalesce(published_at, created_at)"), "id"),
        # Covers the list's count of public, not hidden proposals.
        Index("ix_proposals_state_hidden", "state", "hidden_at"),
        # The report funnels count from this index alone (reports.service._proposal_funnel).
        Index("ix_proposals_report_funnel", "organisation_id", "state", "hidden_at", "published_at", "life_event_id"),
        # Few proposals are merged: indexing only those keeps SQLite's statistics from calling the index useless
        # (ANALYZE counts the NULLs: "5,000 rows per value"), so "merged into this one" and the merge chains
        # read a handful of entries instead of scanning every proposal.
        Index("ix_proposals_merged_into", "merged_into_id", sqlite_where=text("merged_into_id IS NOT NULL"),
              postgresql_where=text("merged_into_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)
    life_event_id: Mapped[int | None] = mapped_column(ForeignKey("life_events.id", ondelete="SET NULL"),
                                                      index=True)
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text, default="")  # « irritant »: what users meet today
    change: Mapped[str] = mapped_column(Text, default="")
    benefit: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    on_behalf_of_workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshops.id", ondelete="SET NULL"))
    state: Mapped[ProposalState] = mapped_column(_enum(ProposalState, "proposal_state"),
                                                 default=ProposalState.draft)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    merged_at: Mapped[datetime | None]
    support_count: Mapped[int] = mapped_column(default=0)
    follower_count: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    # Text version number: bumped on every edit; versions are kept once the proposal has supporters.
    version: Mapped[int] = mapped_column(default=1)
    hidden_at: Mapped[datetime | None]
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation = relationship("Organisation", lazy="joined")
    service = relationship("Service", lazy="joined")
    life_event = relationship("LifeEvent", lazy="joined")
    author = relationship("User", foreign_keys=[author_id], lazy="joined")
    workshop = relationship("Workshop", foreign_keys=[on_behalf_of_workshop_id])
    merged_into = relationship("Proposal", remote_side=[id], foreign_keys=[merged_into_id])

    @property
    def is_public(self) -> bool:
        return self.state in PUBLIC_STATES

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def is_merged(self) -> bool:
        return self.state is ProposalState.merged

    @property
    def accepts_supports(self) -> bool:
        return self.state in SUPPORTABLE_STATES and not self.is_hidden

    def is_author(self, user) -> bool:
        return bool(user and user.is_authenticated and self.author_id is not None and user.id == self.author_id)

    def can_moderate(self, user) -> bool:
        """Editors of the owning organisation, and platform admins."""

        return is_admin(user) or has_org_role(user, self.organisation, Role.editor)

    def can_manage(self, user) -> bool:
        """Moderators plus facilitators of the owning organisation (promotion, merge)."""

        return self.can_moderate(user) or can_facilitate(user, self.organisation)

    def can_view(self, user) -> bool:
        return self.is_public or self.is_author(user) or self.can_manage(user)

    def can_edit(self, user) -> bool:
        """The author, while the proposal is neither closed, in a vote nor hidden by the moderators; staff may edit
        drafts they promoted."""
        if self.state not in (ProposalState.draft, ProposalState.awaiting_moderation, ProposalState.published):
            return False
        if self.is_hidden:
            return False
        if self.is_author(user):
            return True
        return self.state is ProposalState.draft and self.on_behalf_of_workshop_id is not None and \
            self.can_manage(user)

    def is_member(self, user) -> bool:
        """Member of the owning organisation (any role): their comments are marked as official."""
        if not (user and user.is_authenticated):
            return False
        return any(m.organisation_id == self.organisation_id for m in user.memberships)


class ProposalVersion(db.Model):
    """A text as it stood: kept once a proposal has supporters, so no one supports a text that silently changed."""

    __tablename__ = "proposal_versions"
    __table_args__ = (UniqueConstraint("proposal_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text, default="")
    change: Mapped[str] = mapped_column(Text, default="")
    benefit: Mapped[str] = mapped_column(Text, default="")
    support_count: Mapped[int] = mapped_column(default=0)  # supporters when this text was replaced
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Support(db.Model):
    __tablename__ = "proposal_supports"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Follow(db.Model):
    __tablename__ = "proposal_follows"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalOrigin(db.Model):
    """Where a proposal came from: a board idea or cluster, or a user's « Je donne mon avis » response.

    A response is named by its id in ``feedback_responses`` (a foreign key by table name): the feedback area writes
    these rows through this area's services and reads them, this area never imports feedback."""

    __tablename__ = "proposal_origins"
    __table_args__ = (
        CheckConstraint("(idea_id IS NOT NULL AND kind = 'idea') OR (cluster_id IS NOT NULL AND kind = 'cluster') "
                        "OR (response_id IS NOT NULL AND kind = 'feedback')", name="origin_matches_kind"),
        UniqueConstraint("proposal_id", "idea_id"),
        UniqueConstraint("proposal_id", "cluster_id"),
        UniqueConstraint("proposal_id", "response_id"),  # a response feeds a proposal once, however often linked
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    kind: Mapped[OriginKind] = mapped_column(_enum(OriginKind, "proposal_origin_kind", length=20))
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("board_clusters.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"),
                                                    index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    idea = relationship("Idea", lazy="joined")
    cluster = relationship("Cluster", lazy="joined")

    @property
    def is_feedback(self) -> bool:
        return self.kind is OriginKind.feedback


class Comment(db.Model):
    """A comment, or a reply to a top-level comment (one level only)."""

    __tablename__ = "proposal_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_comments.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    is_official: Mapped[bool] = mapped_column(default=False)
    hidden_at: Mapped[datetime | None]
    hidden_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author = relationship("User", lazy="joined")

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class Report(db.Model):
    """Someone flagged a proposal or one of its comments for the moderators."""

    __tablename__ = "proposal_reports"
    __table_args__ = (
        # One open report per person per proposal, and per comment: repeating it adds nothing for moderators.
        Index("uq_proposal_reports_open_proposal", "proposal_id", "reporter_id", unique=True,
              sqlite_where=text("comment_id IS NULL AND resolved_at IS NULL"),
              postgresql_where=text("comment_id IS NULL AND resolved_at IS NULL")),
        Index("uq_proposal_reports_open_comment", "comment_id", "reporter_id", unique=True,
              sqlite_where=text("comment_id IS NOT NULL AND resolved_at IS NULL"),
              postgresql_where=text("comment_id IS NOT NULL AND resolved_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_comments.id", ondelete="CASCADE"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    reporter = relationship("User", lazy="joined")
    proposal = relationship("Proposal", lazy="joined")
    comment = relationship("Comment", lazy="joined")

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None

    def can_moderate(self, user) -> bool:
        """Who may act on a report: whoever moderates its proposal (``Proposal.can_moderate``)."""
        return self.proposal.can_moderate(user)


class ProposalModerationEntry(db.Model):
    """The moderation and merge trail (read by the owning organisation's editors and by admins)."""

    __tablename__ = "proposal_moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_comments.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # approve, hide_proposal, hide_comment, dismiss_report, merge
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    actor = relationship("User", lazy="joined")
    organisation = relationship("Organisation", lazy="joined")


class ProposalSettings(db.Model):
    """Per-organisation settings: moderation mode."""

    __tablename__ = "proposal_settings"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    moderation: Mapped[ModerationMode] = mapped_column(_enum(ModerationMode, "proposal_moderation", length=10),
                                                       default=ModerationMode.after)


class StateLabel(db.Model):
    """How an organisation names one state kind (« Retenue » for ``selected``…)."""

    __tablename__ = "proposal_state_labels"
    __table_args__ = (UniqueConstraint("organisation_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    state: Mapped[ProposalState] = mapped_column(_enum(ProposalState, "proposal_label_state"))
    label_fr: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(60), default="")


MODERATION_ACTIONS = {
    "approve": _l("Publiée après relecture"),
    "hide_proposal": _l("Proposition masquée"),
    "hide_comment": _l("Commentaire masqué"),
    "dismiss_report": _l("Signalement classé sans suite"),
    "merge": _l("Fusionnée avec une proposition semblable"),
}
"""How each action of the moderation log reads (unknown codes are shown as they are)."""

STATE_NAMES = {
    ProposalState.draft: _l("Brouillon"),
    ProposalState.awaiting_moderation: _l("En attente de modération"),
    ProposalState.published: _l("Publiée"),
    ProposalState.in_vote: _l("Soumise au vote"),
    ProposalState.selected: _l("Retenue"),
    ProposalState.answered: _l("Répondue"),
    ProposalState.merged: _l("Fusionnée"),
    ProposalState.withdrawn: _l("Retirée"),
}
