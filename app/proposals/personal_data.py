"""A person's « Mes données » export, for the proposals area (answering the ``personal_data_requested`` signal
through ``receivers``). Reads only."""

from sqlalchemy import select

from ..accounts.models import User
from ..clock import iso
from ..extensions import db
from .models import Comment, Follow, Proposal, ProposalModerationEntry, ProposalVersion, Report, Support
from .queries import list_mine


def personal_data(user: User) -> dict:
    """What the proposals area holds about a person (for « Mes données »): their proposals with their earlier
    texts, what they support and follow, their comments, the reports they filed and their moderation actions."""
    own = list_mine(user)
    versions: dict[int, list[ProposalVersion]] = {}
    for version in db.session.scalars(select(ProposalVersion)
                                      .where(ProposalVersion.proposal_id.in_([p.id for p in own]))
                                      .order_by(ProposalVersion.proposal_id, ProposalVersion.number)):
        versions.setdefault(version.proposal_id, []).append(version)

    def titled(model, column):
        return db.session.execute(select(model, Proposal.title).join(Proposal, Proposal.id == model.proposal_id)
                                  .where(column == user.id).order_by(model.created_at, model.id)).all()

    comment_bodies = dict(db.session.execute(select(Comment.id, Comment.body).join(
        Report, Report.comment_id == Comment.id).where(Report.reporter_id == user.id)).all())
    actions = db.session.execute(select(ProposalModerationEntry, Proposal.title)
                                 .outerjoin(Proposal, Proposal.id == ProposalModerationEntry.proposal_id)
                                 .where(ProposalModerationEntry.actor_id == user.id)
                                 .order_by(ProposalModerationEntry.created_at, ProposalModerationEntry.id)).all()
    return {
        "proposals": [{
            "title": p.title, "organisation": p.organisation.name, "state": p.state.value, "problem": p.problem,
            "change": p.change, "benefit": p.benefit, "created_at": iso(p.created_at),
            "published_at": iso(p.published_at), "hidden_reason": p.hidden_reason if p.is_hidden else None,
            "earlier_texts": [{"number": v.number, "title": v.title, "problem": v.problem, "change": v.change,
                               "benefit": v.benefit, "replaced_at": iso(v.created_at)} for v in versions.get(p.id, [])],
        } for p in reversed(own)],
        "supported": [{"proposal": title, "at": iso(s.created_at)} for s, title in titled(Support, Support.user_id)],
        "followed": [{"proposal": title, "at": iso(f.created_at)} for f, title in titled(Follow, Follow.user_id)],
        "comments": [{"proposal": title, "body": c.body, "reply": c.parent_id is not None, "official": c.is_official,
                      "hidden_reason": c.hidden_reason if c.is_hidden else None, "created_at": iso(c.created_at)}
                     for c, title in titled(Comment, Comment.author_id)],
        "reports": [{"proposal": title, "comment": comment_bodies.get(r.comment_id), "reason": r.reason,
                     "created_at": iso(r.created_at), "resolved_at": iso(r.resolved_at)}
                    for r, title in titled(Report, Report.reporter_id)],
        "moderation_actions": [{"proposal": title, "action": e.action, "reason": e.reason, "at": iso(e.created_at)}
                               for e, title in actions],
    }
