"""Answers under real concurrency (SQLite and PostgreSQL): editors answering at once leave one answer whose
history holds every other wording; an answer racing the author's withdrawal leaves one consistent outcome."""


import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.decisions import measures, service
from app.decisions.models import Answer, AnswerVersion
from app.extensions import db
from app.proposals import service as proposals
from app.proposals.errors import WrongState
from app.proposals.models import Proposal, ProposalState
from tests.concurrency import run_together, threads_app_fixture
from tests.decisions.helpers import World, make_proposal

pytestmark = pytest.mark.both_databases("app.decisions.service", "app.decisions.measures", "app.proposals.service")

N = 12


app = threads_app_fixture(N)


def test_editors_answering_at_once_leave_one_answer_and_the_rest_in_its_history(app):
    world = World()
    proposal_id, editor_ids = make_proposal(world).id, [world.editor.id, world.admin.id]

    def job_for(i):
        def job(barrier):
            user = db.session.get(User, editor_ids[i % 2])
            proposal = db.session.get(Proposal, proposal_id)
            db.session.rollback()
            barrier.wait()
            return service.answer_proposal(proposal, user, kind="adopted", body=f"Réponse {i}").id
        return job

    results, errors = run_together(app, [job_for(i) for i in range(N)])
    assert errors == []
    db.session.rollback()
    (answer,) = db.session.scalars(select(Answer).where(Answer.proposal_id == proposal_id))
    assert set(results) == {answer.id} and answer.revision == N
    revisions = sorted(db.session.scalars(select(AnswerVersion.revision).where(AnswerVersion.answer_id == answer.id)))
    assert revisions == list(range(1, N))
    bodies = set(db.session.scalars(select(AnswerVersion.body_md))) | {answer.body_md}
    assert bodies == {f"Réponse {i}" for i in range(N)}


def test_answer_racing_withdrawal_has_one_outcome(app):
    world = World()
    proposal_id, editor_id, author_id = make_proposal(world).id, world.editor.id, world.author.id

    def answer(barrier):
        user, proposal = db.session.get(User, editor_id), db.session.get(Proposal, proposal_id)
        db.session.rollback()
        barrier.wait()
        return service.answer_proposal(proposal, user, kind="adopted", body="Oui.")

    def withdraw(barrier):
        user, proposal = db.session.get(User, author_id), db.session.get(Proposal, proposal_id)
        db.session.rollback()
        barrier.wait()
        return proposals.withdraw_proposal(proposal, user)

    _results, errors = run_together(app, [answer, withdraw])
    assert len(errors) == 1
    db.session.rollback()
    state = db.session.scalar(select(Proposal.state).where(Proposal.id == proposal_id))
    answers = db.session.scalar(select(func.count()).select_from(Answer))
    (_i, error), = errors
    if state is ProposalState.answered:
        assert isinstance(error, WrongState) and answers == 1
    else:
        assert state is ProposalState.withdrawn and isinstance(error, service.NotAnswerable) and answers == 0


def test_concurrent_progress_updates_leave_the_measure_as_its_latest_update(app):
    from app.decisions.models import Measure, MeasureUpdate

    world = World()
    measure_id = measures.create_measure(world.organisation, world.editor, title="Mesure").id
    editor_id = world.editor.id

    def job_for(i):
        def job(barrier):
            user, measure = db.session.get(User, editor_id), db.session.get(Measure, measure_id)
            db.session.rollback()
            barrier.wait()
            return measures.post_update(measure, user, body=f"Étape {i}", status="in_progress", progress=i * 5).id
        return job

    _results, errors = run_together(app, [job_for(i) for i in range(N)])
    assert errors == []
    db.session.rollback()
    latest = db.session.scalar(select(MeasureUpdate).order_by(MeasureUpdate.id.desc()).limit(1))
    measure = db.session.get(Measure, measure_id, populate_existing=True)
    assert db.session.scalar(select(func.count()).select_from(MeasureUpdate)) == N
    assert measure.progress == latest.progress and measure.updated_at == latest.created_at
