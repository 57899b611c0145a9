"""Supports under real concurrency: many threads support one proposal; the counter equals the rows."""


import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.proposals import service
from app.proposals.models import Proposal, Support
from tests.concurrency import app_for_threads, run_together
from tests.factories import make_user
from tests.proposals.helpers import World, propose

N = 60


@pytest.fixture
def app(backend, request):
    with app_for_threads(backend, request, N) as app:
        yield app


def test_concurrent_supports_twice_each_count_equals_rows(app):
    world = World()
    proposal_id = propose(world.citizen, world).id
    user_ids = [make_user().id for _ in range(N // 2)]
    db.session.commit()

    def job_for(user_id):
        def job(barrier):
            from app.accounts.models import User

            user = db.session.get(User, user_id)
            proposal = db.session.get(Proposal, proposal_id)
            db.session.rollback()
            barrier.wait()
            return service.support(proposal, user)
        return job

    # Each person twice at once: exactly one support each, the other attempt refused.
    results, errors = run_together(app, [job_for(uid) for uid in user_ids for _ in range(2)])
    assert len(errors) == len(user_ids), errors[:3]
    assert all(isinstance(e, service.AlreadySupported) for _i, e in errors), errors[:3]
    db.session.rollback()  # end the test's own read transaction: read what the threads committed
    rows = db.session.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == proposal_id))
    counter = db.session.scalar(select(Proposal.support_count).where(Proposal.id == proposal_id))
    assert rows == counter == len(user_ids)


def test_concurrent_unsupports_never_go_below_the_rows(app):
    world = World()
    proposal = propose(world.citizen, world)
    users = [make_user() for _ in range(N // 2)]
    db.session.commit()
    for user in users:
        service.support(proposal, user)
    proposal_id, user_ids = proposal.id, [u.id for u in users]

    def job_for(user_id):
        def job(barrier):
            from app.accounts.models import User

            user = db.session.get(User, user_id)
            proposal = db.session.get(Proposal, proposal_id)
            db.session.rollback()
            barrier.wait()
            return service.unsupport(proposal, user)
        return job

    _results, errors = run_together(app, [job_for(uid) for uid in user_ids for _ in range(2)])
    assert all(isinstance(e, service.NotSupported) for _i, e in errors) and len(errors) == len(user_ids)
    db.session.rollback()  # end the test's own read transaction: read what the threads committed
    rows = db.session.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == proposal_id))
    counter = db.session.scalar(select(Proposal.support_count).where(Proposal.id == proposal_id))
    assert rows == counter == 0
