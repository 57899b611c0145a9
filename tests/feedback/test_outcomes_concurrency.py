"""Editors linking users' feedback at the same moment (SQLite and PostgreSQL, real threads): overlapping selections
linked to one proposal and to one measure leave one link per response, and each response is counted as added by
exactly one of them (the target's row lock decides; the unique constraints have the last word)."""

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.decisions.models import Measure, MeasureFeedback
from app.extensions import db
from app.feedback import linking
from app.proposals.models import OriginKind, Proposal, ProposalOrigin, ProposalState
from tests.concurrency import run_together, threads_app_fixture
from tests.feedback.test_outcomes import World

pytestmark = pytest.mark.both_databases("app.feedback.linking")

N = 8

app = threads_app_fixture(N)


def test_editors_linking_the_same_feedback_at_once_leave_one_link_per_response(app):
    world = World()
    proposal = Proposal(organisation_id=world.org.id, title="Un formulaire", problem="p", change="c",
                        author_id=world.citizen.id, state=ProposalState.published)
    measure = Measure(organisation_id=world.org.id, title="Une mesure")
    db.session.add_all([proposal, measure])
    db.session.commit()
    ids, editors, proposal_id, measure_id = world.ids, [world.editor.id, world.admin.id], proposal.id, measure.id

    def job_for(i):
        def job(barrier):
            user = db.session.get(User, editors[i % 2])
            chosen = ids[i % 3:] if i % 2 else ids[: i % 3 + 1]  # overlapping selections
            db.session.rollback()
            barrier.wait()
            if i < N // 2:
                return ("proposal", linking.link_to_proposal(user, proposal_id, response_ids=chosen).added)
            return ("measure", linking.link_to_measure(user, measure_id, response_ids=chosen).added)
        return job

    results, errors = run_together(app, [job_for(i) for i in range(N)])
    assert errors == []
    db.session.rollback()
    origins = sorted(db.session.scalars(select(ProposalOrigin.response_id).where(
        ProposalOrigin.proposal_id == proposal_id, ProposalOrigin.kind == OriginKind.feedback)))
    links = sorted(db.session.scalars(select(MeasureFeedback.response_id).where(
        MeasureFeedback.measure_id == measure_id)))
    for target, rows in (("proposal", origins), ("measure", links)):
        assert len(rows) == len(set(rows))
        assert sum(added for kind, added in results if kind == target) == len(rows)
    assert set(origins) <= set(ids) and set(links) <= set(ids)
