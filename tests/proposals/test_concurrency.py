"""Supports under real concurrency: many threads support one proposal; the counter equals the rows."""

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.proposals import service
from app.proposals.models import Proposal, Support
from tests.conftest import make_app, prepared_db
from tests.factories import make_user
from tests.proposals.helpers import World, propose

N = 60
JOIN_TIMEOUT = 120


@pytest.fixture
def app(backend, request):
    overrides = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": N + 10, "max_overflow": 0, "pool_timeout": 60}}
    if backend == "sqlite":
        overrides["SQLITE_BUSY_TIMEOUT_MS"] = 60_000
    with prepared_db(make_app(backend, request, **overrides), backend) as app:
        yield app


def run_together(app, jobs):
    barrier = threading.Barrier(len(jobs), timeout=JOIN_TIMEOUT)
    errors, results = [], [None] * len(jobs)

    def run(i, job):
        with app.app_context():
            try:
                results[i] = job(barrier)
            except Exception as exc:  # kept for the test to assert on
                errors.append((i, exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results, errors


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
