"""A built data set with known figures for the report tests, and bulk seeding for the query-count tests.

Answers and measures are stored as the decisions area leaves them (rows with chosen dates), so every duration is
known to the day. ``NOW`` is the reference time passed to the services; rows are dated relative to it.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert, update

from app.boards import service as boards
from app.boards.models import Idea, IdeaStatus
from app.clock import utcnow
from app.decisions.models import Answer, AnswerKind, Measure, MeasureProposal, MeasureStatus, Milestone
from app.extensions import db
from app.proposals.models import Proposal, ProposalState
from tests.decisions.helpers import World, make_proposal, select_by_vote
from tests.factories import make_life_event, make_workshop


def answer(proposal, kind: AnswerKind, at, reason: str = "") -> Answer:
    row = Answer(proposal_id=proposal.id, organisation_id=proposal.organisation_id, kind=kind, body_md="Réponse.",
                 reason=reason or ("Raison." if kind is AnswerKind.not_adopted else ""), answered_at=at,
                 updated_at=at)
    db.session.add(row)
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.answered))
    db.session.commit()
    return row


def measure(organisation, title: str, status: MeasureStatus, progress: int, *, proposals=(), milestones=(),
            created_at=None) -> Measure:
    row = Measure(organisation_id=organisation.id, title=title, status=status, progress=progress,
                  abandon_reason="Plus utile." if status is MeasureStatus.abandoned else "",
                  created_at=created_at or utcnow(), updated_at=created_at or utcnow())
    db.session.add(row)
    db.session.flush()
    for proposal in proposals:
        db.session.add(MeasureProposal(measure_id=row.id, proposal_id=proposal.id))
    for k, done in enumerate(milestones):
        db.session.add(Milestone(measure_id=row.id, title=f"Jalon {k}", planned_on=date(2026, 1, 1 + k),
                                 done_on=date(2026, 2, 1) if done else None))
    db.session.commit()
    return row


@dataclass
class Dataset:
    world: World
    now: object
    life_event: object
    proposals: dict


def build(world: World) -> Dataset:
    """Organisation A (``world.organisation``), 60-day deadline from selection:

    received (public, not hidden, not merged): p1..p6 and p11 = 7
      p1  published -100 d, selected by a vote closed -90 d, adopted at -80 d        -> 10 days (from selection)
      p2  published -50 d, no vote, not adopted at -30 d                              -> 20 days (from publication)
      p3  published -80 d, selected -70 d, partly adopted at -40 d                    -> 30 days
      p11 published -120 d, no vote, « already exists » at -80 d                      -> 40 days
      p4  published -75 d, selected -70 d, no answer: due -10 d                       -> overdue
      p5  published -5 d, selected -1 d, no answer: due +59 d                         -> awaiting, not overdue
      p6  published -61 d, no vote, no answer                                          -> no deadline (selection rule)
    not counted: p7 hidden, p8 draft, p9 merged into p1; p10 belongs to organisation B (adopted at once).
    median answer time: (20 + 30) / 2 = 25 days. Life event E on p1, p2, p4.
    Measures of A: planned 0 %, in progress 40 % (1 of 2 milestones done), implemented 100 % fed by p1,
    abandoned; of B: implemented fed by p10. Ideas: 3 visible on A's board of a workshop about E (+1 hidden),
    2 on B's board (no workshop).
    """
    now = utcnow()
    days = timedelta(days=1)
    event = make_life_event(name_fr="Je déménage")
    org, other = world.organisation, world.other_organisation
    p = {}
    p["p1"] = make_proposal(world, title="P1", published_at=now - 100 * days)
    select_by_vote(p["p1"], now - 90 * days, world.editor)
    answer(p["p1"], AnswerKind.adopted, now - 80 * days)
    p["p2"] = make_proposal(world, title="P2", published_at=now - 50 * days)
    answer(p["p2"], AnswerKind.not_adopted, now - 30 * days)
    p["p3"] = make_proposal(world, title="P3", published_at=now - 80 * days)
    select_by_vote(p["p3"], now - 70 * days, world.editor)
    answer(p["p3"], AnswerKind.partly_adopted, now - 40 * days)
    p["p11"] = make_proposal(world, title="P11", published_at=now - 120 * days)
    answer(p["p11"], AnswerKind.already_exists, now - 80 * days)
    p["p4"] = make_proposal(world, title="P4 en retard", published_at=now - 75 * days)
    select_by_vote(p["p4"], now - 70 * days, world.editor)
    p["p5"] = make_proposal(world, title="P5", published_at=now - 5 * days)
    select_by_vote(p["p5"], now - 1 * days, world.editor)
    p["p6"] = make_proposal(world, title="P6", published_at=now - 61 * days)
    p["p7"] = make_proposal(world, title="P7 masquée", published_at=now - 70 * days)
    p["p8"] = make_proposal(world, ProposalState.draft, title="P8 brouillon")
    p["p9"] = make_proposal(world, ProposalState.merged, title="P9 fusionnée", published_at=now - 70 * days)
    p["p10"] = make_proposal(world, organisation=other, title="P10 autre", published_at=now - 10 * days)
    answer(p["p10"], AnswerKind.adopted, now - 9 * days)
    db.session.execute(update(Proposal).where(Proposal.id == p["p7"].id).values(hidden_at=now, hidden_reason="x"))
    db.session.execute(update(Proposal).where(Proposal.id == p["p9"].id).values(merged_into_id=p["p1"].id))
    db.session.execute(update(Proposal).where(Proposal.id.in_([p["p1"].id, p["p2"].id, p["p4"].id]))
                       .values(life_event_id=event.id))
    db.session.commit()

    measure(org, "Mesure prévue", MeasureStatus.planned, 0, created_at=now - 30 * days)
    measure(org, "Mesure en cours", MeasureStatus.in_progress, 40, milestones=(True, False),
            created_at=now - 20 * days)
    measure(org, "Mesure réalisée", MeasureStatus.implemented, 100, proposals=[p["p1"]], created_at=now - 10 * days)
    measure(org, "Mesure abandonnée", MeasureStatus.abandoned, 10, created_at=now - 5 * days)
    measure(other, "Mesure de B", MeasureStatus.implemented, 100, proposals=[p["p10"]], created_at=now - 5 * days)

    workshop = make_workshop(org, creator=world.admin)
    workshop.life_events = [event]
    db.session.commit()
    board_a = boards.create_board(world.admin, org, "Tableau A", "irritants", workshop=workshop)
    board_b = boards.create_board(world.admin, other, "Tableau B", "irritants")
    for board, count, hidden in ((board_a, 3, 1), (board_b, 2, 0)):
        participant = boards.participant_for(boards.get_board(board.id), world.admin)
        for k in range(count + hidden):
            db.session.add(Idea(board_id=board.id, column_id=board.columns[0].id, participant_id=participant.id,
                                text=f"Idée {k}", sort_key=f"m{k}",
                                status=IdeaStatus.hidden if k >= count else IdeaStatus.visible))
    db.session.commit()
    return Dataset(world, now, event, p)


def seed_bulk(organisation, author, n: int, start: int = 0) -> None:
    """``n`` more public proposals of ``organisation`` in every stage: a quarter answered (one kind in turn), some
    selected by one closed vote, some overdue, each tenth fed into a measure with a milestone."""
    from app.consultations.models import Consultation, ConsultationMethod, ConsultationProposal, ConsultationState

    now = utcnow()
    old = now - timedelta(days=200)
    states = [ProposalState.published, ProposalState.selected, ProposalState.answered, ProposalState.in_vote]
    first = db.session.execute(insert(Proposal).returning(Proposal.id, sort_by_parameter_order=True), [
        {"organisation_id": organisation.id, "title": f"Proposition {i}", "problem": "p", "change": "c",
         "benefit": "", "author_id": author.id, "state": states[(i - start) % 4], "support_count": 0, "version": 1,
         "created_at": old, "updated_at": old, "published_at": old + timedelta(hours=i % 48), "follower_count": 0,
         "comment_count": 0, "hidden_reason": ""} for i in range(start, start + n)]).scalars().all()
    consultation = db.session.execute(insert(Consultation).returning(Consultation.id), {
        "organisation_id": organisation.id, "title": f"Vote {start}", "description_md": "",
        "method": ConsultationMethod.support, "opens_at": old, "closes_at": old + timedelta(days=7),
        "state": ConsultationState.closed, "closed_at": old + timedelta(days=7), "created_at": old,
        "updated_at": old}).scalar_one()
    db.session.execute(insert(ConsultationProposal), [
        {"consultation_id": consultation, "proposal_id": pid, "position": k, "selected": True}
        for k, pid in enumerate(first) if k % 4 in (1, 2)])
    kinds = list(AnswerKind)
    db.session.execute(insert(Answer), [
        {"proposal_id": pid, "organisation_id": organisation.id, "kind": kinds[k % len(kinds)],
         "body_md": "Réponse.", "reason": "Raison.", "revision": 1, "show_editor_name": False,
         "answered_at": old + timedelta(days=10 + k % 30), "updated_at": old + timedelta(days=10 + k % 30)}
        for k, pid in enumerate(first) if k % 4 == 2])
    for k, pid in enumerate(first):
        if k % 10 == 0:
            status = list(MeasureStatus)[(k // 10) % 4]
            mid = db.session.execute(insert(Measure).returning(Measure.id), {
                "organisation_id": organisation.id, "title": f"Mesure {start + k}", "description_md": "",
                "status": status, "abandon_reason": "x" if status is MeasureStatus.abandoned else "",
                "progress": (k * 7) % 101, "created_at": old, "updated_at": old + timedelta(minutes=k)}).scalar_one()
            db.session.execute(insert(MeasureProposal), {"measure_id": mid, "proposal_id": pid})
            db.session.execute(insert(Milestone), {"measure_id": mid, "title": "Jalon", "planned_on": date(2026, 3, 1),
                                                   "done_on": date(2026, 3, 2) if k % 20 == 0 else None,
                                                   "created_at": old})
    db.session.commit()
