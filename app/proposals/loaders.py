"""What the public pages (``routes``) and the staff pages (``manage``) both need before calling a use case: the
proposal a URL names, for the people who may see it."""

from flask import abort
from flask_login import current_user

from ..extensions import db
from .models import Proposal


def load_proposal(proposal_id: int) -> Proposal:
    """The proposal, or 404 when it does not exist or the current person may not see it."""
    proposal = db.session.get(Proposal, proposal_id)  # ids from a URL: bounded by the app's <int:> converter
    if proposal is None or not proposal.can_view(current_user):
        abort(404)
    return proposal
