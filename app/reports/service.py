"""Report figures: what each organisation did with the proposals it received, and the platform's funnel.

Every figure is an aggregate computed by the database, so a page costs the same few queries whatever the number
of proposals: counts by ``GROUP BY`` with conditional sums, the median answer time with window functions
(``row_number`` / ``count`` over the sorted durations, on SQLite and PostgreSQL alike), durations in days by
``database.days_between`` (``julianday`` on SQLite, ``EXTRACT(EPOCH ...)`` on PostgreSQL). Overdue proposals come from
the decisions area's deadline rule (``decisions.service.overdue_proposals``), never recomputed here.

What is counted: a proposal is *received* once public (published, in a vote, selected or answered) and not hidden
by the moderators; a merged proposal counts once, in the proposal it joined. *Selected*: chosen by a closed vote
(or marked selected). *Adopted*: answered « adoptée » or « adoptée en partie ». *Implemented*: fed at least one
measure whose status is « réalisée ». The period filters on the date each item appeared: an idea's creation, a
proposal's publication (the later stages follow the proposals published in the period), a measure's creation.
"""

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal, or_, select

from ..boards.models import Board, Idea, IdeaStatus
from ..catalog.models import LifeEvent, Organisation
from ..consultations.models import Consultation, ConsultationProposal
from ..database import days_between
from ..decisions import service as decisions
from ..decisions.models import (
    MEASURE_STATUS_NAMES,
    Answer,
    AnswerKind,
    Measure,
    MeasureProposal,
    MeasureStatus,
    Milestone,
)
from ..errors import InvalidInput
from ..extensions import db
from ..proposals.models import Proposal, ProposalState
from ..workshops.models import workshop_life_events
from . import cache

COUNTED_STATES = (ProposalState.published, ProposalState.in_vote, ProposalState.selected, ProposalState.answered)
ADOPTED_KINDS = (AnswerKind.adopted, AnswerKind.partly_adopted)
MEASURES_PER_PAGE = 25
OVERDUE_SHOWN = 25  # overdue proposals listed on the report (the count covers them all)


class PeriodInverted(InvalidInput):
    code = "period_inverted"
    message = _l("La fin de la période doit venir après son début.")


def _selected_at():
    """When each proposal was selected: the close of the last vote that selected it (one row per proposal)."""
    return (select(ConsultationProposal.proposal_id, func.max(Consultation.closed_at).label("at"))
            .join(Consultation, Consultation.id == ConsultationProposal.consultation_id)
            .where(ConsultationProposal.selected.is_(True))
            .group_by(ConsultationProposal.proposal_id).subquery("selected_at"))


def _counted(query):
    return query.where(Proposal.state.in_(COUNTED_STATES), Proposal.hidden_at.is_(None))


# --- one organisation: « Vous avez dit, nous avons fait » -----------------------------------------------------

@dataclass
class MeasureRow:
    id: int
    title: str
    status: MeasureStatus
    progress: int
    updated_at: datetime
    milestones: int
    milestones_done: int

    @property
    def status_name(self) -> str:
        return str(MEASURE_STATUS_NAMES[self.status])


@dataclass
class OrganisationFigures:
    """Proposals received, answered (by kind), adopted, awaiting, overdue; the median answer time in days."""

    received: int = 0
    by_kind: dict = field(default_factory=dict)  # AnswerKind -> count
    median_answer_days: float | None = None
    overdue: list = field(default_factory=list)  # the OVERDUE_SHOWN most overdue (decisions.service.Awaiting)
    overdue_count: int = 0  # all of them
    deadline_days: int = 0
    from_publication: bool = False
    valid_until: datetime | None = None  # when the next waiting proposal becomes overdue: the figures hold till then

    @property
    def answered(self) -> int:
        return sum(self.by_kind.values())

    @property
    def adopted(self) -> int:
        return sum(self.by_kind.get(kind, 0) for kind in ADOPTED_KINDS)

    @property
    def awaiting(self) -> int:
        return self.received - self.answered


def organisation_figures(organisation_id: int, now: datetime | None = None) -> OrganisationFigures:
    """The figures of one organisation: five queries whatever the number of its proposals."""
    settings = decisions.get_settings(organisation_id)
    figures = OrganisationFigures(deadline_days=settings.deadline_days, from_publication=settings.from_publication)
    rows = db.session.execute(_counted(
        select(Answer.kind, func.count(Proposal.id)).select_from(Proposal)
        .outerjoin(Answer, Answer.proposal_id == Proposal.id)
        .where(Proposal.organisation_id == organisation_id)).group_by(Answer.kind))
    for kind, number in rows:
        figures.received += number
        if kind is not None:
            figures.by_kind[kind] = number
    figures.median_answer_days = median_answer_days(organisation_id, settings.from_publication)
    figures.overdue_count, figures.overdue, figures.valid_until = decisions.organisation_overdue(
        organisation_id, now, shown=OVERDUE_SHOWN)
    return figures


def median_answer_days(organisation_id: int, from_publication: bool) -> float | None:
    """Median days from a proposal's selection (or publication, where the organisation counts from it, or when no
    vote selected the proposal) to its first answer; one query, the median taken by the database."""
    selected_at = _selected_at()
    start = Proposal.published_at if from_publication else func.coalesce(selected_at.c.at, Proposal.published_at)
    days = days_between(Answer.answered_at, start)
    durations = _counted(
        select(days.label("days"), func.row_number().over(order_by=days).label("rank"),
               func.count().over().label("total"))
        .select_from(Answer).join(Proposal, Proposal.id == Answer.proposal_id)
        .outerjoin(selected_at, selected_at.c.proposal_id == Proposal.id)
        .where(Proposal.organisation_id == organisation_id, Proposal.published_at.is_not(None))).subquery()
    # Odd count: the middle row twice; even count: the two middle rows; their mean is the median.
    value = db.session.scalar(select(func.avg(durations.c.days))
                              .where(durations.c.rank.in_([(durations.c.total + 1) // 2,
                                                           (durations.c.total + 2) // 2])))
    return None if value is None else float(value)


def measure_status_counts(organisation_id: int) -> dict:
    rows = db.session.execute(select(Measure.status, func.count(Measure.id))
                              .where(Measure.organisation_id == organisation_id).group_by(Measure.status))
    counts = dict.fromkeys(MeasureStatus, 0)
    counts.update(dict(rows.all()))
    return counts


def list_measures(organisation_id: int, page: int = 1, per_page: int = MEASURES_PER_PAGE) -> list[MeasureRow]:
    """One page of the organisation's measures, last updated first, with their milestone counts (one query)."""
    total = (select(func.count(Milestone.id)).where(Milestone.measure_id == Measure.id)
             .correlate(Measure).scalar_subquery())
    done = (select(func.count(Milestone.id)).where(Milestone.measure_id == Measure.id, Milestone.done_on.is_not(None))
            .correlate(Measure).scalar_subquery())
    rows = db.session.execute(
        select(Measure.id, Measure.title, Measure.status, Measure.progress, Measure.updated_at, total, done)
        .where(Measure.organisation_id == organisation_id)
        .order_by(Measure.updated_at.desc(), Measure.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page))
    return [MeasureRow(*row) for row in rows]


# --- the platform: the funnel ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    organisation_id: int | None = None
    life_event_id: int | None = None
    since: date | None = None
    until: date | None = None  # inclusive

    def __post_init__(self):
        if self.since and self.until and self.until < self.since:
            raise PeriodInverted()

    def window(self, column):
        """Conditions on ``column`` (a naive UTC timestamp) for the period, whole days included."""
        conditions = []
        if self.since:
            conditions.append(column >= datetime.combine(self.since, time.min))
        if self.until:
            conditions.append(column < datetime.combine(self.until + timedelta(days=1), time.min))
        return conditions


STAGES = ("ideas", "proposals", "selected", "adopted", "implemented")
STAGE_NAMES = {
    "ideas": _l("Idées déposées en atelier"),
    "proposals": _l("Propositions publiées"),
    "selected": _l("Propositions retenues"),
    "adopted": _l("Propositions adoptées"),
    "implemented": _l("Propositions mises en œuvre"),
}


@dataclass
class Funnel:
    ideas: int = 0
    proposals: int = 0
    selected: int = 0
    adopted: int = 0
    implemented: int = 0

    def add(self, other: "Funnel") -> None:
        for stage in STAGES:
            setattr(self, stage, getattr(self, stage) + getattr(other, stage))

    def stages(self) -> list[tuple[str, int]]:
        return [(stage, getattr(self, stage)) for stage in STAGES]

    def share(self, stage: str) -> float | None:
        """A stage as a share of the proposals published (None when there are none)."""
        return getattr(self, stage) / self.proposals if self.proposals else None


@dataclass
class Dashboard:
    total: Funnel
    by_organisation: list  # (Organisation, Funnel), organisations with something to show, by name
    measures: dict  # MeasureStatus -> count


def _proposal_funnel(filters: Filters) -> dict[int, Funnel]:
    """Published, selected, adopted and implemented proposals per organisation: one query, conditional sums."""
    # Uncorrelated ``IN (subquery)``: each set is built once (SQLite: an ephemeral index; PostgreSQL: a hashed
    # subplan), where correlated EXISTS would probe three indexes for every proposal.
    selected = or_(Proposal.state == ProposalState.selected,
                   Proposal.id.in_(select(ConsultationProposal.proposal_id)
                                   .where(ConsultationProposal.selected.is_(True))))
    adopted = Proposal.id.in_(select(Answer.proposal_id).where(Answer.kind.in_(ADOPTED_KINDS)))
    implemented = Proposal.id.in_(select(MeasureProposal.proposal_id)
                                  .join(Measure, Measure.id == MeasureProposal.measure_id)
                                  .where(Measure.status == MeasureStatus.implemented))

    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = _counted(select(Proposal.organisation_id, func.count(Proposal.id), total(selected), total(adopted),
                            total(implemented))
                     .where(*filters.window(Proposal.published_at)))
    if filters.organisation_id:
        query = query.where(Proposal.organisation_id == filters.organisation_id)
    if filters.life_event_id:
        query = query.where(Proposal.life_event_id == filters.life_event_id)
    return {org: Funnel(proposals=n, selected=s, adopted=a, implemented=i)
            for org, n, s, a, i in db.session.execute(query.group_by(Proposal.organisation_id))}


def _ideas(filters: Filters) -> dict[int, int]:
    """Visible ideas on the boards of each organisation (of workshops about the life event, when filtered)."""
    query = (select(Board.organisation_id, func.count(Idea.id)).join(Board, Board.id == Idea.board_id)
             .where(Idea.status == IdeaStatus.visible, *filters.window(Idea.created_at)))
    if filters.organisation_id:
        query = query.where(Board.organisation_id == filters.organisation_id)
    if filters.life_event_id:
        query = query.where(Board.workshop_id.in_(
            select(workshop_life_events.c.workshop_id)
            .where(workshop_life_events.c.life_event_id == filters.life_event_id)))
    return dict(db.session.execute(query.group_by(Board.organisation_id)).all())


def _measures(filters: Filters) -> dict:
    query = select(Measure.status, func.count(Measure.id)).where(*filters.window(Measure.created_at))
    if filters.organisation_id:
        query = query.where(Measure.organisation_id == filters.organisation_id)
    if filters.life_event_id:
        query = query.where(select(literal(1)).select_from(MeasureProposal)
                            .join(Proposal, Proposal.id == MeasureProposal.proposal_id)
                            .where(MeasureProposal.measure_id == Measure.id,
                                   Proposal.life_event_id == filters.life_event_id).exists())
    counts = dict.fromkeys(MeasureStatus, 0)
    counts.update(dict(db.session.execute(query.group_by(Measure.status)).all()))
    return counts


def dashboard(filters: Filters, organisations: list[Organisation] | None = None) -> Dashboard:
    """The funnel from ideas to implemented proposals, in total and per organisation, with the measures by status:
    three aggregate queries (plus the organisations, unless the caller already has them). The proposal funnel and
    the measures are kept until the report data changes (``cache``); ideas, which change by the hundred during a
    live workshop, are counted on every call."""
    if organisations is None:
        organisations = list_organisations()
    funnels, measures = cache.remember(("dashboard", filters),
                                       lambda: ((_proposal_funnel(filters), _measures(filters)), None))
    per_org = {org: replace(funnel) for org, funnel in funnels.items()}  # copies: the kept ones stay as they are
    for org_id, ideas in _ideas(filters).items():
        per_org.setdefault(org_id, Funnel()).ideas = ideas
    total = Funnel()
    rows = []
    for organisation in organisations:
        funnel = per_org.get(organisation.id)
        if funnel is not None:
            total.add(funnel)
            rows.append((organisation, funnel))
    return Dashboard(total=total, by_organisation=rows, measures=dict(measures))


def list_organisations() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


def list_life_events() -> list[LifeEvent]:
    return list(db.session.scalars(select(LifeEvent).order_by(LifeEvent.position, LifeEvent.id)))

