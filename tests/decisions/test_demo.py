"""The demo decisions load on both backends, once, through the service rules."""

import pytest
from sqlalchemy import func, select

from app.decisions.models import Answer, AnswerKind, Measure, MeasureStatus, MeasureUpdate, Milestone
from app.extensions import db
from app.proposals.models import Proposal, ProposalState


def counts():
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Answer, Measure, Milestone, MeasureUpdate))


@pytest.mark.both_databases("app.demo")
def test_demo_decisions_load_once(app):
    from app.demo import seed
    from app.demo.decisions import MEASURE_TITLE

    assert seed(app.config["DEMO_DATA_DIR"]) is True
    kinds = set(db.session.scalars(select(Answer.kind)))
    assert {AnswerKind.adopted, AnswerKind.not_adopted} <= kinds
    answered = set(db.session.scalars(select(Proposal.state).join(Answer, Answer.proposal_id == Proposal.id)))
    assert answered == {ProposalState.answered}
    # The demo still has selected proposals (awaiting an answer), one of them late, and its page says so.
    assert db.session.scalar(select(func.count()).select_from(Proposal)
                             .where(Proposal.state == ProposalState.selected)) >= 1
    from app.decisions import service

    overdue = [item for counts_and_items in service.overdue_proposals().values() for item in counts_and_items[1]]
    assert overdue, "the demo has no proposal whose answer is overdue"
    page = app.test_client().get(f"/propositions/{overdue[0].proposal.id}").get_data(as_text=True)
    assert "Réponse en retard" in page
    measure = db.session.scalar(select(Measure).where(Measure.title == MEASURE_TITLE))
    assert measure.status is MeasureStatus.in_progress and measure.progress == 40 and measure.proposals
    # The trail: the past workshop's board idea -> proposal -> adopted answer -> implemented measure.
    from app.decisions.trail import measure_ancestry
    from app.demo.decisions import TRAIL_IDEA, TRAIL_MEASURE_TITLE

    implemented = db.session.scalar(select(Measure).where(Measure.title == TRAIL_MEASURE_TITLE))
    assert implemented.status is MeasureStatus.implemented and implemented.progress == 100
    [step] = measure_ancestry(implemented).proposals
    assert step.answer.kind is AnswerKind.adopted and step.proposal.support_count >= 2
    assert [o.idea.text for o in step.origins] == [TRAIL_IDEA]
    assert step.origins[0].workshop.workshop.title.startswith("Carte grise") and step.origins[0].workshop.attended
    # The measure whose before/after the barometer shows: implemented five months ago, on one service.
    from app.demo.decisions import EFFECT_MEASURE_TITLE, EFFECT_SERVICE_SLUG

    effect = db.session.scalar(select(Measure).where(Measure.title == EFFECT_MEASURE_TITLE))
    assert effect.status is MeasureStatus.implemented and effect.implemented_on is not None
    assert [s.slug for s in effect.services] == [EFFECT_SERVICE_SLUG]
    before = counts()
    assert before[2:] == (3, 3)
    seed(app.config["DEMO_DATA_DIR"])
    assert counts() == before
