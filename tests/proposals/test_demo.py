"""The demo proposals load on both backends, once, through the service rules."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.proposals.models import Comment, Proposal, ProposalState, Support


@pytest.mark.both_databases("app.demo")
def test_demo_proposals_load_once_with_states_supports_and_comments(app):
    from app.demo import seed

    assert seed(app.config["DEMO_DATA_DIR"]) is True
    n = db.session.scalar(select(func.count()).select_from(Proposal))
    states = set(db.session.scalars(select(Proposal.state)))
    assert {ProposalState.published, ProposalState.merged, ProposalState.withdrawn, ProposalState.selected,
            ProposalState.awaiting_moderation} <= states
    assert db.session.scalar(select(func.count()).select_from(Comment)) >= 3
    # Every counter equals its rows.
    for proposal_id, counter in db.session.execute(select(Proposal.id, Proposal.support_count)):
        assert counter == db.session.scalar(select(func.count()).select_from(Support)
                                            .where(Support.proposal_id == proposal_id))
    seed(app.config["DEMO_DATA_DIR"])
    assert db.session.scalar(select(func.count()).select_from(Proposal)) == n
