"""Decisions: the organisation's public answer to each proposal, its answer deadline, and the measures it adopts.

One current answer per proposal is a unique constraint; the reason a proposal is not adopted and the reason a
measure is abandoned are check constraints, as is a measure's progress (0 to 100); every earlier wording of an
answer is kept in ``answer_versions``.
"""

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Role
from ..catalog.permissions import has_org_role
from ..clock import utcnow
from ..extensions import db
from ..permissions import is_admin

DEFAULT_DEADLINE_DAYS = 60
MAX_DEADLINE_DAYS = 365


def _enum(cls, name, length=20):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


def can_answer(user, organisation) -> bool:
    """Editors of ``organisation``, and platform admins, answer its proposals and set its deadline."""
    return is_admin(user) or has_org_role(user, organisation, Role.editor)


class AnswerKind(enum.Enum):
    adopted = "adopted"
    partly_adopted = "partly_adopted"
    not_adopted = "not_adopted"
    already_exists = "already_exists"  # already exists or already planned


ANSWER_KIND_NAMES = {
    AnswerKind.adopted: _l("Adoptée"),
    AnswerKind.partly_adopted: _l("Adoptée en partie"),
    AnswerKind.not_adopted: _l("Non adoptée"),
    AnswerKind.already_exists: _l("Existe déjà ou déjà prévue"),
}


class Answer(db.Model):
    """The current public answer to a proposal, signed by the organisation."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("proposal_id", name="uq_answers_proposal_id"),
        CheckConstraint("kind <> 'not_adopted' OR length(reason) > 0", name="reason_when_not_adopted"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[AnswerKind] = mapped_column(_enum(AnswerKind, "answer_kind"))
    body_md: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The editor's name is shown under the organisation's only when they choose so.
    show_editor_name: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=1)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation = relationship("Organisation", lazy="joined")
    editor = relationship("User", lazy="joined")
    versions = relationship("AnswerVersion", order_by="AnswerVersion.revision.desc()", cascade="all, delete-orphan",
                            lazy="selectin")

    @property
    def kind_name(self) -> str:
        return str(ANSWER_KIND_NAMES[self.kind])

    @property
    def was_edited(self) -> bool:
        return self.revision > 1


class AnswerVersion(db.Model):
    """An answer as it stood before an edit (public: an answer never changes silently)."""

    __tablename__ = "answer_versions"
    __table_args__ = (UniqueConstraint("answer_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    revision: Mapped[int]
    kind: Mapped[AnswerKind] = mapped_column(_enum(AnswerKind, "answer_version_kind"))
    body_md: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    written_at: Mapped[datetime]  # when this wording was published
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def kind_name(self) -> str:
        return str(ANSWER_KIND_NAMES[self.kind])


class AnswerSettings(db.Model):
    """Per-organisation answer deadline: days after selection, or after publication where it opts in."""

    __tablename__ = "answer_settings"
    __table_args__ = (
        CheckConstraint(f"deadline_days >= 1 AND deadline_days <= {MAX_DEADLINE_DAYS}", name="deadline_days_range"),
    )

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    deadline_days: Mapped[int] = mapped_column(default=DEFAULT_DEADLINE_DAYS)
    from_publication: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Not a column: used by the deadline list to say where a due date comes from.
class DueFrom(enum.Enum):
    selection = "selection"
    publication = "publication"



# --- measures ------------------------------------------------------------------------------------

class MeasureStatus(enum.Enum):
    planned = "planned"
    in_progress = "in_progress"
    implemented = "implemented"
    abandoned = "abandoned"


MEASURE_STATUS_NAMES = {
    MeasureStatus.planned: _l("Prévue"),
    MeasureStatus.in_progress: _l("En cours"),
    MeasureStatus.implemented: _l("Réalisée"),
    MeasureStatus.abandoned: _l("Abandonnée"),
}


class Measure(db.Model):
    """An adopted measure, owned by one organisation, fed by one or more proposals."""

    __tablename__ = "measures"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("status <> 'abandoned' OR length(abandon_reason) > 0", name="reason_when_abandoned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MeasureStatus] = mapped_column(_enum(MeasureStatus, "measure_status"),
                                                  default=MeasureStatus.planned)
    abandon_reason: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The day the measure took effect for users: the barometer compares the six months on each side of it.
    implemented_on: Mapped[date | None]

    organisation = relationship("Organisation", lazy="joined")
    # The services the measure changes (its effect is read on their feedback).
    services = relationship("Service", secondary="measure_services", order_by="Service.name")
    proposals = relationship("Proposal", secondary="measure_proposals", order_by="Proposal.id", lazy="selectin")
    milestones = relationship("Milestone", order_by="(Milestone.planned_on, Milestone.id)",
                              cascade="all, delete-orphan", lazy="selectin")
    updates = relationship("MeasureUpdate", order_by="MeasureUpdate.id.desc()", cascade="all, delete-orphan",
                           lazy="selectin")

    @property
    def status_name(self) -> str:
        return str(MEASURE_STATUS_NAMES[self.status])

    def can_manage(self, user) -> bool:
        """Editors of the owning organisation, and platform admins."""
        return can_answer(user, self.organisation)


class MeasureProposal(db.Model):
    """A proposal a measure comes from (several proposals may feed one measure, one proposal several)."""

    __tablename__ = "measure_proposals"

    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id", ondelete="CASCADE"), primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)


class MeasureService(db.Model):
    """A service a measure changes."""

    __tablename__ = "measure_services"

    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)


class MeasureFeedback(db.Model):
    """A user's « Je donne mon avis » response a measure answers, linked by an editor of its organisation.

    The response is named by its id in ``feedback_responses`` (a foreign key by table name): the feedback area writes
    these rows through ``measures.add_feedback_links`` and the trail counts them; decisions never imports feedback."""

    __tablename__ = "measure_feedback"

    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id", ondelete="CASCADE"), primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Milestone(db.Model):
    """A dated step of a measure: planned on a date, done on another (or not yet)."""

    __tablename__ = "measure_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    planned_on: Mapped[date]
    done_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_done(self) -> bool:
        return self.done_on is not None


class MeasureUpdate(db.Model):
    """A public entry of a measure's timeline: what happened, with the status and progress it left."""

    __tablename__ = "measure_updates"
    __table_args__ = (CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body_md: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MeasureStatus] = mapped_column(_enum(MeasureStatus, "measure_update_status"))
    progress: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def status_name(self) -> str:
        return str(MEASURE_STATUS_NAMES[self.status])
