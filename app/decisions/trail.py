"""The trail: users' feedback and workshops -> board idea or cluster -> proposal (and merges) -> answer -> measure,
read both ways.

Every link is already stored (boards belong to workshops, ``ProposalOrigin`` ties proposals to ideas and clusters,
``Proposal.merged_into_id``, ``Answer.proposal_id``, ``MeasureProposal``); these functions read them with a fixed
number of queries whatever the number of items (recursive CTEs for merge chains, one ``IN`` query per kind of
row), so the pages showing the trail never issue one query per proposal or idea.

Users' « Je donne mon avis » responses enter the trail through the links the feedback area stores in the areas below
it: proposal origins of kind « feedback », ``MeasureFeedback`` rows, and the responses of the workshop topics a
workshop took up (``WorkshopTopic``). A measure or proposal counts its feedback from those links alone (each response
once), never by importing the feedback area.

``notify_trail`` adds the notifications of a trail change (an answer, a measure's status or milestone) to the
caller's transaction, for the people whose contribution is upstream: authors, supporters and followers of the
proposals (and of the proposals merged into them) and the authors of the board ideas they came from.
"""

from dataclasses import dataclass, field

from sqlalchemy import func, literal, select, union
from sqlalchemy.orm import aliased, lazyload

from ..accounts.models import User
from ..boards.models import Board, Cluster, Idea, IdeaStatus, Participant
from ..consultations.models import Consultation, ConsultationProposal, ConsultationState
from ..extensions import db
from ..notifications.service import notify
from ..proposals.models import PUBLIC_STATES, Follow, Proposal, ProposalOrigin, Support
from ..proposals.service import proposals_from_idea
from ..workshops.models import Visibility, Workshop, WorkshopStatus, WorkshopTopic, WorkshopTopicResponse
from ..workshops.queries import attendance_many
from .models import Answer, Measure, MeasureFeedback, MeasureProposal, MeasureStatus

MEASURE_STATUS_KINDS = {
    MeasureStatus.planned: "measure_planned",
    MeasureStatus.in_progress: "measure_in_progress",
    MeasureStatus.implemented: "measure_implemented",
    MeasureStatus.abandoned: "measure_abandoned",
}
"""Notification kind sent to a measure's upstream people when it reaches each status."""


# --- what the pages show -------------------------------------------------------------------------

@dataclass
class WorkshopFigures:
    """A workshop upstream of a trail, with its participant counts (confirmed, attended)."""

    workshop: Workshop
    confirmed: int
    attended: int

    @property
    def is_public(self) -> bool:
        """Linked only where everyone may open it (published, not invitation-only)."""
        return self.workshop.status is not WorkshopStatus.draft and self.workshop.visibility is Visibility.public

    @property
    def is_draft(self) -> bool:
        """Not published: its title is not shown (invitation-only workshops are named, as on their proposals)."""
        return self.workshop.status is WorkshopStatus.draft


@dataclass
class Origin:
    """A board idea or cluster a proposal came from, with its board and workshop when there is one."""

    idea: Idea | None
    cluster: Cluster | None
    board: Board | None
    workshop: WorkshopFigures | None
    cluster_size: int = 0  # visible ideas in the cluster

    @property
    def is_idea(self) -> bool:
        return self.idea is not None

    @property
    def shown_text(self) -> str | None:
        """The idea's text, only while the idea is visible on its board (hidden ones are not republished)."""
        if self.idea is not None:
            return self.idea.text if self.idea.status is IdeaStatus.visible else None
        return self.cluster.name if self.cluster is not None else None


@dataclass
class Vote:
    """A proposal's result in one closed consultation."""

    consultation: Consultation
    item: ConsultationProposal


@dataclass
class ProposalStep:
    """A proposal feeding a measure, the proposals merged into it, its answer, votes and origins."""

    proposal: Proposal
    merged: list[Proposal] = field(default_factory=list)
    answer: Answer | None = None
    votes: list[Vote] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)


@dataclass
class Ancestry:
    """Everything upstream of a measure."""

    proposals: list[ProposalStep]
    workshops: list[WorkshopFigures]
    feedback_count: int = 0  # users' « Je donne mon avis » responses, each once, however they came

    @property
    def supports(self) -> int:
        return sum(step.proposal.support_count for step in self.proposals)

    @property
    def idea_count(self) -> int:
        return sum(1 for step in self.proposals for o in step.origins if o.is_idea) + \
            sum(o.cluster_size for step in self.proposals for o in step.origins if not o.is_idea)

    @property
    def confirmed(self) -> int:
        return sum(w.confirmed for w in self.workshops)

    @property
    def attended(self) -> int:
        return sum(w.attended for w in self.workshops)

    @property
    def is_empty(self) -> bool:
        return not self.proposals

    @property
    def is_born_of_feedback(self) -> bool:
        return self.feedback_count > 0


@dataclass
class Outcome:
    """What a proposal led to: where it was merged (if it was), its answer, and the measures it fed."""

    proposal: Proposal
    merged_into: Proposal | None
    answer: Answer | None
    measures: list[Measure]

    @property
    def is_empty(self) -> bool:
        return self.merged_into is None and self.answer is None and not self.measures


# --- building blocks (each one query) ------------------------------------------------------------

def _with_merged(root_ids) -> list[tuple[Proposal, int]]:
    """Each root and every proposal merged into it (at any depth), as (proposal, root id); one query."""
    root_ids = sorted(set(root_ids))
    if not root_ids:
        return []
    tree = select(Proposal.id.label("id"), Proposal.id.label("root_id")).where(Proposal.id.in_(root_ids)) \
        .cte("merged_tree", recursive=True)
    child = aliased(Proposal)
    tree = tree.union_all(select(child.id, tree.c.root_id).where(child.merged_into_id == tree.c.id))
    # Ordered by the tree's column (the same ids): SQLite then walks the few tree rows and reads each proposal by
    # its key, where ``ORDER BY proposals.id`` made it scan every proposal to avoid a sort.
    rows = db.session.execute(select(Proposal, tree.c.root_id).join(tree, tree.c.id == Proposal.id)
                              .options(lazyload(Proposal.author)).order_by(tree.c.id))
    return [(p, root) for p, root in rows]


def _chains(start_ids) -> dict[int, list[Proposal]]:
    """For each start proposal, the merge chain from it to where it ended (itself when never merged); one
    query."""
    start_ids = sorted(set(start_ids))
    if not start_ids:
        return {}
    chain = select(Proposal.id.label("id"), Proposal.id.label("start_id"), literal(0).label("depth")) \
        .where(Proposal.id.in_(start_ids)).cte("merge_chain", recursive=True)
    step = aliased(Proposal)
    # A step past the chain's end yields a NULL id, which joins no proposal below (and stops the recursion): no
    # "merged_into_id IS NOT NULL" here, which made SQLite walk the index of every merged proposal instead of
    # reading each step by its key.
    chain = chain.union_all(select(step.merged_into_id, chain.c.start_id, chain.c.depth + 1)
                            .select_from(chain).join(step, step.id == chain.c.id)
                            .where(chain.c.depth < 20))
    out: dict[int, list[Proposal]] = {}
    for proposal, start in db.session.execute(select(Proposal, chain.c.start_id).join(chain, chain.c.id == Proposal.id)
                                              .options(lazyload(Proposal.author))
                                              .order_by(chain.c.start_id, chain.c.depth)):
        out.setdefault(start, []).append(proposal)
    return out


def _answers(proposal_ids) -> dict[int, Answer]:
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    return {a.proposal_id: a for a in db.session.scalars(select(Answer).where(Answer.proposal_id.in_(ids))
                                                         .options(lazyload(Answer.versions),
                                                                  lazyload(Answer.editor)))}


def _measures(proposal_ids) -> dict[int, list[Measure]]:
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    out: dict[int, list[Measure]] = {}
    rows = db.session.execute(select(MeasureProposal.proposal_id, Measure)
                              .join(Measure, Measure.id == MeasureProposal.measure_id)
                              .where(MeasureProposal.proposal_id.in_(ids))
                              .options(lazyload(Measure.proposals), lazyload(Measure.milestones),
                                       lazyload(Measure.updates))
                              .order_by(Measure.id))
    for pid, measure in rows:
        out.setdefault(pid, []).append(measure)
    return out


def _workshop_figures(workshops) -> dict[int, WorkshopFigures]:
    workshops = list({w.id: w for w in workshops}.values())
    figures = attendance_many(workshops)
    return {w.id: WorkshopFigures(w, figures[w.id]["confirmed"], figures[w.id]["present"]) for w in workshops}


def _origin_rows(proposal_ids) -> list[ProposalOrigin]:
    """Every origin row of these proposals (board ideas and clusters, users' feedback); one query."""
    ids = sorted(set(proposal_ids))
    if not ids:
        return []
    return list(db.session.scalars(select(ProposalOrigin).where(ProposalOrigin.proposal_id.in_(ids))
                                   .order_by(ProposalOrigin.id)))


def _origins(proposal_ids, rows: list[ProposalOrigin] | None = None) -> dict[int, list[Origin]]:
    """Board origins of these proposals with their boards, workshops and participant counts (users' feedback is
    counted apart: ``_feedback_ids``); four queries, three when their origin ``rows`` were already read."""
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    if rows is None:
        rows = _origin_rows(ids)
    rows = [o for o in rows if not o.is_feedback]
    board_ids = {(o.idea or o.cluster).board_id for o in rows if o.idea or o.cluster}
    boards = {b.id: b for b in db.session.scalars(select(Board).where(Board.id.in_(board_ids)))} if board_ids else {}
    workshops = _workshop_figures(b.workshop for b in boards.values() if b.workshop is not None)
    cluster_ids = {o.cluster_id for o in rows if o.cluster_id}
    sizes = dict(db.session.execute(select(Idea.cluster_id, func.count(Idea.id))
                                    .where(Idea.cluster_id.in_(cluster_ids), Idea.status == IdeaStatus.visible)
                                    .group_by(Idea.cluster_id)).all()) if cluster_ids else {}
    out: dict[int, list[Origin]] = {}
    for o in rows:
        source = o.idea or o.cluster
        board = boards.get(source.board_id) if source else None
        out.setdefault(o.proposal_id, []).append(Origin(
            idea=o.idea, cluster=o.cluster, board=board,
            workshop=workshops.get(board.workshop_id) if board and board.workshop_id else None,
            cluster_size=sizes.get(o.cluster_id, 0)))
    return out


def _feedback_ids(rows: list[ProposalOrigin], workshop_ids=(), measure_id: int | None = None) -> set[int]:
    """Users' responses upstream: the proposals' feedback origins (from their ``rows``), the responses of the workshop
    topics these workshops took up, and those linked to the measure; one query (none without workshop or
    measure)."""
    found = {o.response_id for o in rows if o.is_feedback}
    workshop_ids = sorted(set(workshop_ids))
    parts = []
    if workshop_ids:
        parts.append(select(WorkshopTopicResponse.response_id.label("rid"))
                     .join(WorkshopTopic, WorkshopTopic.id == WorkshopTopicResponse.topic_id)
                     .where(WorkshopTopic.workshop_id.in_(workshop_ids)))
    if measure_id is not None:
        parts.append(select(MeasureFeedback.response_id.label("rid")).where(MeasureFeedback.measure_id == measure_id))
    if parts:
        found.update(db.session.scalars(union(*parts) if len(parts) > 1 else parts[0]))
    return found


def _unique(origins: list[Origin]) -> list[Origin]:
    """Each idea or cluster once, in order (a merge copies the merged proposal's origins to its target)."""
    seen: set[tuple] = set()
    out = []
    for origin in origins:
        key = (origin.idea.id if origin.idea else None, origin.cluster.id if origin.cluster else None)
        if key not in seen:
            seen.add(key)
            out.append(origin)
    return out


def _votes(proposal_ids) -> dict[int, list[Vote]]:
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    out: dict[int, list[Vote]] = {}
    rows = db.session.execute(select(ConsultationProposal, Consultation)
                              .join(Consultation, Consultation.id == ConsultationProposal.consultation_id)
                              .where(ConsultationProposal.proposal_id.in_(ids),
                                     Consultation.state == ConsultationState.closed)
                              .options(lazyload(ConsultationProposal.proposal))
                              .order_by(Consultation.closed_at))
    for item, consultation in rows:
        out.setdefault(item.proposal_id, []).append(Vote(consultation, item))
    return out


# --- a measure's ancestry ------------------------------------------------------------------------

def measure_ancestry(measure: Measure) -> Ancestry:
    """The proposals feeding ``measure`` (with those merged into them), their answers and votes, the board ideas
    and clusters they came from, and those boards' workshops with participant counts; about ten queries
    whatever the number of proposals and ideas."""
    root_ids = [pid for (pid,) in db.session.execute(select(MeasureProposal.proposal_id)
                                                     .where(MeasureProposal.measure_id == measure.id))]
    pairs = _with_merged(root_ids)
    all_ids = [p.id for p, _ in pairs]
    rows = _origin_rows(all_ids)
    answers, votes, origins = _answers(all_ids), _votes(all_ids), _origins(all_ids, rows)
    steps = {p.id: ProposalStep(p) for p, root in pairs if p.id == root}
    for proposal, root in pairs:
        step = steps[root]
        if proposal.id != root:
            step.merged.append(proposal)
        step.votes.extend(votes.get(proposal.id, []))
        step.origins = _unique([*step.origins, *origins.get(proposal.id, [])])  # merges copy origins
    for root, step in steps.items():
        step.answer = answers.get(root)
    workshops = {o.workshop.workshop.id: o.workshop for step in steps.values() for o in step.origins
                 if o.workshop is not None}
    return Ancestry(proposals=[steps[pid] for pid in sorted(steps)],
                    workshops=sorted(workshops.values(), key=lambda w: (w.workshop.starts_at, w.workshop.id)),
                    feedback_count=len(_feedback_ids(rows, workshops, measure.id)))


# --- what proposals and ideas led to -------------------------------------------------------------

def outcomes(proposal_ids) -> dict[int, Outcome]:
    """For each proposal: where its merge chain ended, the answer (of the chain's end, else its own) and the
    measures fed by any proposal of the chain; three queries whatever the number of proposals."""
    chains = _chains(proposal_ids)
    chain_ids = {p.id for chain in chains.values() for p in chain}
    answers, measures = _answers(chain_ids), _measures(chain_ids)
    out = {}
    for start, chain in chains.items():
        end = chain[-1]
        answer = next((answers[p.id] for p in reversed(chain) if p.id in answers), None)
        found = {m.id: m for p in chain for m in measures.get(p.id, [])}
        out[start] = Outcome(proposal=chain[0], merged_into=end if end.id != start else None, answer=answer,
                             measures=[found[k] for k in sorted(found)])
    return out


def proposal_outcome(proposal: Proposal, known: tuple | None = None) -> Outcome | None:
    """What became of one proposal. A proposal never merged is its own chain: no walk; and when the caller already
    read its answer and measures (``known``: the proposal page's answer block did), no query at all."""
    if proposal.merged_into_id is not None:
        return outcomes([proposal.id]).get(proposal.id)
    if known is None:
        answer, measures = _answers([proposal.id]).get(proposal.id), _measures([proposal.id]).get(proposal.id, [])
    else:
        answer, measures = known
    return Outcome(proposal=proposal, merged_into=None, answer=answer,
                   measures=sorted({m.id: m for m in measures}.values(), key=lambda m: m.id))


def _shown_to(proposal: Proposal, user) -> bool:
    """Named on a trail to ``user``: a proposal they may open, and not hidden by the moderators unless they
    moderate it."""
    if user is None:
        return proposal.is_public and not proposal.is_hidden
    return proposal.can_view(user) and (not proposal.is_hidden or proposal.can_manage(user))


def idea_outcomes(idea: Idea, user=None) -> dict:
    """What an idea led to, for its page: its board and workshop, and each proposal's outcome (proposals the
    reader may not see, and those hidden by the moderators, are left out)."""
    board = db.session.get(Board, idea.board_id)
    proposals = [p for p in proposals_from_idea(idea) if _shown_to(p, user)]
    found = outcomes(p.id for p in proposals)
    workshop = None
    if board is not None and board.workshop is not None:
        workshop = _workshop_figures([board.workshop])[board.workshop.id]
    return {"board": board, "workshop": workshop, "outcomes": [found[p.id] for p in proposals if p.id in found]}


def proposal_trail(proposal: Proposal, known: tuple | None = None, origins: list[ProposalOrigin] | None = None,
                   merged_from: list[Proposal] | None = None) -> dict:
    """For a proposal page: its origins (ideas, boards, workshops, how many users' responses) and votes upstream,
    its outcome downstream.

    What the page already read is not read again: ``known`` (its answer and measures), and its own ``origins`` rows
    and the proposals ``merged_from`` it; when none was merged into it, its origins are all there is upstream."""
    if merged_from is not None and not merged_from and origins is not None:
        ids, rows = [proposal.id], origins
    else:
        ids = [p.id for p, _ in _with_merged([proposal.id])] if merged_from is None or merged_from else [proposal.id]
        rows = _origin_rows(ids)
    origins, votes = _origins(ids, rows), _votes(ids)
    unique = _unique([origin for pid in ids for origin in origins.get(pid, [])])
    workshops = {o.workshop.workshop.id: o.workshop for o in unique if o.workshop is not None}
    return {"origins": unique, "workshops": list(workshops.values()),
            "votes": [v for pid in ids for v in votes.get(pid, [])], "outcome": proposal_outcome(proposal, known),
            "feedback": len(_feedback_ids(rows, workshops))}


# --- per workshop and per consultation -----------------------------------------------------------

def workshop_report(workshop: Workshop) -> dict:
    """A workshop's public report: boards, ideas, and the public proposals that came out of it (from its boards'
    ideas and clusters, or written on its behalf) with what became of them."""
    board_ids = list(db.session.scalars(select(Board.id).where(Board.workshop_id == workshop.id)))
    idea_count = db.session.scalar(select(func.count(Idea.id)).where(Idea.board_id.in_(board_ids),
                                                                      Idea.status == IdeaStatus.visible)) \
        if board_ids else 0
    from_boards = union(
        select(ProposalOrigin.proposal_id.label("pid")).join(Idea, Idea.id == ProposalOrigin.idea_id)
        .where(Idea.board_id.in_(board_ids)),
        select(ProposalOrigin.proposal_id).join(Cluster, Cluster.id == ProposalOrigin.cluster_id)
        .where(Cluster.board_id.in_(board_ids)),
        select(Proposal.id).where(Proposal.on_behalf_of_workshop_id == workshop.id)).subquery()
    proposals = list(db.session.scalars(
        select(Proposal).where(Proposal.id.in_(select(from_boards.c.pid)), Proposal.state.in_(PUBLIC_STATES),
                               Proposal.hidden_at.is_(None))
        .options(lazyload(Proposal.author)).order_by(Proposal.id)))
    # Merged proposals are reported through the proposal they joined.
    found = outcomes(p.id for p in proposals)
    return {"idea_count": idea_count or 0, "board_count": len(board_ids),
            "outcomes": [found[p.id] for p in proposals if p.id in found]}


def consultation_outcomes(consultation: Consultation) -> dict[int, Outcome]:
    """proposal id -> outcome, for the proposals on a consultation's ballot."""
    ids = list(db.session.scalars(select(ConsultationProposal.proposal_id)
                                  .where(ConsultationProposal.consultation_id == consultation.id)))
    return outcomes(ids)


# --- notifications -------------------------------------------------------------------------------

def trail_audience(proposal_ids) -> set[int]:
    """Accounts whose contribution is upstream of these proposals: authors, supporters and followers of them
    and of the proposals merged into them, and authors of the board ideas they came from (directly or through a
    cluster; ideas still on their board, not withdrawn by their author nor hidden); two queries."""
    ids = [p.id for p, _ in _with_merged(proposal_ids)]
    if not ids:
        return set()
    by_origin_idea = (select(Participant.user_id).join(Idea, Idea.participant_id == Participant.id)
                      .join(ProposalOrigin, ProposalOrigin.idea_id == Idea.id)
                      .where(ProposalOrigin.proposal_id.in_(ids), Idea.status == IdeaStatus.visible))
    by_origin_cluster = (select(Participant.user_id).join(Idea, Idea.participant_id == Participant.id)
                         .join(ProposalOrigin, ProposalOrigin.cluster_id == Idea.cluster_id)
                         .where(ProposalOrigin.proposal_id.in_(ids), Idea.status == IdeaStatus.visible))
    people = union(select(Proposal.author_id.label("uid")).where(Proposal.id.in_(ids)),
                   select(Support.user_id).where(Support.proposal_id.in_(ids)),
                   select(Follow.user_id).where(Follow.proposal_id.in_(ids)),
                   by_origin_idea, by_origin_cluster).subquery()
    # Deleted accounts keep their supports and ideas (as « participant·e supprimé·e ») but are told nothing.
    query = select(User.id).where(User.id.in_(select(people.c.uid)), User.deleted_at.is_(None))
    return set(db.session.scalars(query))


def notify_trail(proposal_ids, kind: str, *, subject_title: str, url: str, actor_id=None) -> int:
    """Tell everyone upstream of these proposals (``trail_audience``) in the caller's transaction; the
    notifications service leaves out those who switched trail notifications off."""
    return notify(trail_audience(proposal_ids), kind, subject_title=subject_title, url=url, actor_id=actor_id)


def notify_measure(measure: Measure, kind: str, *, actor_id=None) -> int:
    """Tell everyone upstream of ``measure`` that it changed (in the caller's transaction)."""
    ids = list(db.session.scalars(select(MeasureProposal.proposal_id)
                                  .where(MeasureProposal.measure_id == measure.id)))
    return notify_trail(ids, kind, subject_title=measure.title, url=f"/decisions/mesures/{measure.id}",
                        actor_id=actor_id)


def notify_linked(measure: Measure, added_ids, kept_ids, *, actor_id=None) -> int:
    """Tell the people upstream of proposals newly linked to ``measure`` that their participation led to it
    (``measure_created``), except those already upstream of its other proposals, who were told at its creation."""
    if not added_ids:
        return 0
    audience = trail_audience(added_ids) - trail_audience(kept_ids)
    return notify(audience, "measure_created", subject_title=measure.title, url=f"/decisions/mesures/{measure.id}",
                  actor_id=actor_id)
