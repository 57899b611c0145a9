"""Supports under real concurrency: many threads support one proposal; the counter equals the rows."""


import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.proposals import merging, service
from app.proposals.errors import AlreadySupported, NotSupported, SupportClosed
from app.proposals.models import Proposal, Support
from tests.concurrency import run_together, threads_app_fixture
from tests.factories import make_user
from tests.proposals.helpers import World, propose

pytestmark = pytest.mark.both_databases("app.proposals.service", "app.proposals.merging")

N = 60


app = threads_app_fixture(N)


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
    assert all(isinstance(e, AlreadySupported) for _i, e in errors), errors[:3]
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
    assert all(isinstance(e, NotSupported) for _i, e in errors) and len(errors) == len(user_ids)
    db.session.rollback()  # end the test's own read transaction: read what the threads committed
    rows = db.session.scalar(select(func.count()).select_from(Support).where(Support.proposal_id == proposal_id))
    counter = db.session.scalar(select(Proposal.support_count).where(Proposal.id == proposal_id))
    assert rows == counter == 0


def test_unsupports_racing_a_merge_leave_no_withdrawn_support_on_the_target(app):
    """Supporters of B take their support back while B is merged into A: whoever was told "support
    withdrawn" supports neither; whoever was refused (supports closed by the merge) supports A; A's
    counter equals its rows."""
    world = World()
    source = propose(world.citizen, world, title="Un formulaire unique")
    target = propose(world.other, world, title="Déclarer une seule fois son adresse")
    users = [make_user() for _ in range(N // 2)]
    db.session.commit()
    for user in users:
        service.support(source, user)
    source_id, target_id, editor_id = source.id, target.id, world.editor.id
    user_ids = [u.id for u in users]

    def unsupport_job(user_id):
        def job(barrier):
            from app.accounts.models import User

            user, proposal = db.session.get(User, user_id), db.session.get(Proposal, source_id)
            db.session.rollback()
            barrier.wait()
            return service.unsupport(proposal, user)
        return job

    def merge_job(barrier):
        from app.accounts.models import User

        editor = db.session.get(User, editor_id)
        source, target = db.session.get(Proposal, source_id), db.session.get(Proposal, target_id)
        db.session.rollback()
        barrier.wait()
        return merging.merge_proposals(source, target, editor)

    jobs = [unsupport_job(uid) for uid in user_ids]
    jobs.insert(len(jobs) // 2, merge_job)
    results, errors = run_together(app, jobs)
    refused = {user_ids[i if i < len(jobs) // 2 else i - 1] for i, e in errors}
    assert all(isinstance(e, SupportClosed) for _i, e in errors), errors[:3]
    assert results[len(jobs) // 2] is not None  # the merge went through
    db.session.rollback()
    on_target = set(db.session.scalars(select(Support.user_id).where(Support.proposal_id == target_id)))
    assert on_target == refused
    counter = db.session.scalar(select(Proposal.support_count).where(Proposal.id == target_id))
    assert counter == len(on_target)
