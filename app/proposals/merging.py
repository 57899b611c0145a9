"""Merging duplicate proposals: B merged into A carries its supporters, followers and origins over (no one
counted twice) under both row locks taken in id order, and leaves B ``merged``; and where a merged proposal's
readers land, and what was merged into a proposal."""

from sqlalchemy import func, insert, select

from ..accounts.models import User
from ..clock import utcnow
from ..database import begin_write
from ..errors import NotAllowed
from ..extensions import db
from ..notifications.service import notify
from ..permissions import is_admin
from .errors import InVote, MergeAcrossOrganisations, MergeIntoItself, MergeIntoMerged, WrongState
from .models import PUBLIC_STATES, Follow, OriginKind, Proposal, ProposalOrigin, ProposalState, Support
from .moderation import log_moderation
from .service import add_feedback_origins, audience_of, proposal_path


def merge_proposals(source: Proposal, target: Proposal, user: User) -> Proposal:
    """Merge ``source`` (B) into ``target`` (A): supporters, followers and origins carry over, no one twice."""
    if source.id == target.id:
        raise MergeIntoItself()
    begin_write()
    first, second = sorted([source.id, target.id])  # lock in id order: two opposite merges cannot deadlock
    locked = {p.id: p for p in db.session.scalars(
        select(Proposal).where(Proposal.id.in_([first, second])).order_by(Proposal.id)
        .with_for_update(of=Proposal).execution_options(populate_existing=True))}
    source, target = locked[source.id], locked[target.id]
    if not (source.can_manage(user) and target.can_manage(user)):
        raise NotAllowed()
    if source.organisation_id != target.organisation_id and not is_admin(user):
        raise MergeAcrossOrganisations()
    if target.is_merged or source.is_merged:
        raise MergeIntoMerged()
    if ProposalState.in_vote in (source.state, target.state):
        raise InVote()
    if target.state not in PUBLIC_STATES or source.state not in PUBLIC_STATES | {ProposalState.awaiting_moderation}:
        raise WrongState()
    already = select(Support.user_id).where(Support.proposal_id == target.id)
    db.session.execute(insert(Support).from_select(
        ["proposal_id", "user_id", "created_at"],
        select(target.id, Support.user_id, Support.created_at).where(Support.proposal_id == source.id,
                                                                    Support.user_id.not_in(already))))
    already_following = select(Follow.user_id).where(Follow.proposal_id == target.id)
    db.session.execute(insert(Follow).from_select(
        ["proposal_id", "user_id", "created_at"],
        select(target.id, Follow.user_id, Follow.created_at).where(Follow.proposal_id == source.id,
                                                                  Follow.user_id.not_in(already_following))))
    for origin in db.session.scalars(select(ProposalOrigin).where(ProposalOrigin.proposal_id == source.id,
                                                                ProposalOrigin.kind != OriginKind.feedback)):
        duplicate = db.session.scalar(select(ProposalOrigin.id).where(
            ProposalOrigin.proposal_id == target.id, ProposalOrigin.idea_id == origin.idea_id
            if origin.idea_id else ProposalOrigin.cluster_id == origin.cluster_id))
        if not duplicate:
            db.session.add(ProposalOrigin(proposal_id=target.id, kind=origin.kind, idea_id=origin.idea_id,
                                          cluster_id=origin.cluster_id))
    # Users' feedback B came from (possibly hundreds of responses): copied in bulk, each response once.
    add_feedback_origins(target.id, db.session.scalars(select(ProposalOrigin.response_id).where(
        ProposalOrigin.proposal_id == source.id, ProposalOrigin.kind == OriginKind.feedback)).all())
    # Recounted under the target's row lock: supports of A wait on that lock, so the count is exact.
    target.support_count = db.session.scalar(select(func.count()).select_from(Support)
                                             .where(Support.proposal_id == target.id))
    target.follower_count = db.session.scalar(select(func.count()).select_from(Follow)
                                              .where(Follow.proposal_id == target.id))
    source.state = ProposalState.merged
    source.merged_into_id = target.id
    source.merged_at = utcnow()
    log_moderation(source, user, "merge", reason=f"#{source.id} -> #{target.id}")
    notify(audience_of(source), "proposal_merged", subject_title=source.title, url=proposal_path(target),
           actor_id=user.id)
    db.session.commit()
    return target


def merged_into_chain_end(proposal: Proposal) -> Proposal:
    """Where a merged proposal's readers land (merges are never into merged ones, but follow defensively)."""
    seen = set()
    while proposal.merged_into_id and proposal.id not in seen:
        seen.add(proposal.id)
        proposal = db.session.get(Proposal, proposal.merged_into_id)
    return proposal


def merged_from(proposal: Proposal) -> list[Proposal]:
    return list(db.session.scalars(select(Proposal).where(Proposal.merged_into_id == proposal.id)
                                   .order_by(Proposal.merged_at)))
