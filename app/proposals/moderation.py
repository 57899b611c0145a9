"""Moderation of proposals and their comments: who moderates which organisation, publishing what awaits
moderation, reports (filed, then hidden from or dismissed), hiding with a public reason, and the moderation log
those actions (and merges) write. An action on published content runs under the proposal's row lock, like the
other use cases, so two moderators cannot both act on one report."""

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..catalog.models import Membership, Role
from ..clock import utcnow
from ..database import begin_write
from ..errors import NotAllowed, NotFound
from ..extensions import db
from ..notifications.service import notify
from ..permissions import is_admin, is_authenticated
from .errors import (
    AlreadyReported,
    CommentHidden,
    ProposalHidden,
    ReasonRequired,
    ReportNotFound,
    ReportResolved,
    WrongState,
)
from .models import Comment, Proposal, ProposalModerationEntry, ProposalState, Report
from .service import audience_of, clean_text, lock_proposal, proposal_path

# --- who moderates -------------------------------------------------------------------------------

def moderated_organisation_ids(user) -> list[int] | None:
    """Organisations whose proposals this person moderates (``Proposal.can_moderate``): None for admins, who
    moderate them all; else those they edit (none for everyone else)."""
    if is_admin(user):
        return None
    if not is_authenticated(user):
        return []
    return sorted({m.organisation_id for m in user.memberships if m.role is Role.editor})


def is_moderator(user) -> bool:
    """Moderates some organisation's proposals: an editor, or an admin."""
    org_ids = moderated_organisation_ids(user)
    return org_ids is None or bool(org_ids)


def _moderators(organisation_id: int) -> list[int]:
    """Who is told of a report: the organisation's editors, else (no editor yet) the platform's admins."""
    editors = list(db.session.scalars(select(Membership.user_id).where(Membership.organisation_id == organisation_id,
                                                                       Membership.role == Role.editor)))
    if editors:
        return editors
    return list(db.session.scalars(select(User.id).where(User.is_admin.is_(True), User.deleted_at.is_(None))))


def _moderated_by(stmt, organisation_column, user):
    """``stmt`` narrowed to the organisations ``user`` moderates (nothing for people who moderate none)."""
    org_ids = moderated_organisation_ids(user)
    if org_ids is None:
        return stmt
    return stmt.where(organisation_column.in_(org_ids or [-1]))


# --- the log -------------------------------------------------------------------------------------

def log_moderation(proposal: Proposal, actor, action: str, reason: str = "", comment: Comment | None = None) -> None:
    """A line in the moderation log, in the caller's transaction."""
    db.session.add(ProposalModerationEntry(organisation_id=proposal.organisation_id, proposal_id=proposal.id,
                                           comment_id=comment.id if comment else None,
                                           actor_id=actor.id if actor else None, action=action, reason=reason))


def moderation_log(user: User, limit: int = 200) -> list[ProposalModerationEntry]:
    """Editors read the moderation trail of the organisations they edit; admins read all of it."""
    stmt = _moderated_by(select(ProposalModerationEntry), ProposalModerationEntry.organisation_id, user)
    return list(db.session.scalars(stmt.order_by(ProposalModerationEntry.created_at.desc(),
                                                 ProposalModerationEntry.id.desc()).limit(limit)))


# --- publication ---------------------------------------------------------------------------------

def approve_proposal(proposal: Proposal, user: User) -> Proposal:
    """Editors publish a proposal awaiting moderation."""
    proposal = lock_proposal(proposal.id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    if proposal.state is not ProposalState.awaiting_moderation or proposal.is_hidden:
        raise WrongState()  # a hidden proposal stays hidden: approving it would publish "published and hidden"
    proposal.state = ProposalState.published
    proposal.published_at = proposal.published_at or utcnow()  # a re-read edit keeps its first date
    log_moderation(proposal, user, "approve")
    notify(audience_of(proposal), "proposal_published", subject_title=proposal.title, url=proposal_path(proposal),
           actor_id=user.id)
    db.session.commit()
    return proposal


def list_awaiting(user: User) -> list[Proposal]:
    """Proposals awaiting moderation in organisations this person edits (all for admins); one hidden by the
    moderators has been refused, and no longer waits."""
    stmt = select(Proposal).where(Proposal.state == ProposalState.awaiting_moderation, Proposal.hidden_at.is_(None))
    stmt = _moderated_by(stmt, Proposal.organisation_id, user)
    return list(db.session.scalars(stmt.order_by(Proposal.created_at)))


# --- reports and hiding --------------------------------------------------------------------------

def report_path(report_or_id) -> str:
    rid = getattr(report_or_id, "id", report_or_id)
    return f"/propositions/signalements/{rid}"


def report(proposal: Proposal, user: User, reason: str = "", *, comment_id: int | None = None) -> Report:
    """Anyone logged in reports a proposal or one of its comments; the people who can act on it are told once."""
    if not is_authenticated(user):
        raise NotAllowed()
    if not proposal.can_view(user):
        raise NotFound()
    if comment_id is not None:
        comment = db.session.get(Comment, comment_id)
        if comment is None or comment.proposal_id != proposal.id:
            raise NotFound()
    reason = clean_text(reason, 1000, "reason", required=False)
    begin_write()
    row = Report(proposal_id=proposal.id, comment_id=comment_id, reporter_id=user.id, reason=reason)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyReported() from None
    notify(_moderators(proposal.organisation_id), "comment_reported" if comment_id else "proposal_reported",
           subject_title=proposal.title, url=report_path(row), actor_id=user.id)
    db.session.commit()
    return row


def _hide_reason(reason: str | None) -> str:
    if not (reason or "").strip():
        raise ReasonRequired()
    return clean_text(reason, 500, "reason")


def _open_report(report_id: int, proposal: Proposal) -> Report:
    """The report read again under its proposal's row lock (every moderation action takes that lock first)."""
    row = db.session.get(Report, report_id, populate_existing=True)
    if row is None or row.proposal_id != proposal.id:
        raise ReportNotFound()
    if row.is_resolved:
        raise ReportResolved()
    return row


def _hide_locked_proposal(proposal: Proposal, user: User, reason: str) -> None:
    """Hide ``proposal`` (under its row lock), resolving every open report on it, with a line in the log."""
    if proposal.is_hidden:
        raise ProposalHidden()
    proposal.hidden_at, proposal.hidden_reason = utcnow(), reason
    log_moderation(proposal, user, "hide_proposal", reason)
    db.session.execute(update(Report).where(Report.proposal_id == proposal.id, Report.comment_id.is_(None),
                                            Report.resolved_at.is_(None)).values(resolved_at=utcnow()))
    notify(audience_of(proposal), "proposal_hidden", subject_title=proposal.title, url=proposal_path(proposal),
           actor_id=user.id)


def _hide_locked_comment(proposal: Proposal, comment_id: int, user: User, reason: str) -> Comment:
    """Hide a comment of ``proposal`` (under the proposal's row lock), resolving every open report on it, with a
    line in the log."""
    comment = db.session.get(Comment, comment_id, populate_existing=True)
    if comment is None or comment.proposal_id != proposal.id:
        raise NotFound()
    if comment.is_hidden:
        raise CommentHidden()
    comment.hidden_at, comment.hidden_reason = utcnow(), reason
    log_moderation(proposal, user, "hide_comment", reason, comment=comment)
    db.session.execute(update(Report).where(Report.comment_id == comment.id, Report.resolved_at.is_(None))
                       .values(resolved_at=utcnow()))
    return comment


def hide_proposal(proposal: Proposal, user: User, reason: str) -> Proposal:
    """Editors of the owning organisation and admins hide a proposal with a public reason."""
    reason = _hide_reason(reason)
    proposal = lock_proposal(proposal.id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    _hide_locked_proposal(proposal, user, reason)
    db.session.commit()
    return proposal


def hide_comment(comment: Comment, user: User, reason: str) -> Comment:
    """Editors of the owning organisation and admins hide a comment with a public reason."""
    reason = _hide_reason(reason)
    proposal = lock_proposal(comment.proposal_id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    comment = _hide_locked_comment(proposal, comment.id, user, reason)
    db.session.commit()
    return comment


def hide_reported(report: Report, user: User, reason: str) -> Report:
    """From an open report, its proposal's moderators hide what it points at (the proposal or the comment) with a
    public reason: every open report on that content is resolved, and the log says who did it and why."""
    reason = _hide_reason(reason)
    proposal = lock_proposal(report.proposal_id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    report = _open_report(report.id, proposal)
    if report.comment_id is None:
        _hide_locked_proposal(proposal, user, reason)
    else:
        _hide_locked_comment(proposal, report.comment_id, user, reason)
    db.session.commit()
    return report


def dismiss_report(report: Report, user: User, note: str = "") -> Report:
    """Its proposal's moderators close an open report that calls for nothing: the content stays as it is; this report
    and the earlier open ones on the same content are resolved (later ones were not seen yet), with a line in the
    log (the note is optional and never shown to the public)."""
    note = clean_text(note, 500, "note", required=False)
    proposal = lock_proposal(report.proposal_id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    report = _open_report(report.id, proposal)
    same_content = Report.comment_id == report.comment_id if report.comment_id else Report.comment_id.is_(None)
    db.session.execute(update(Report).where(Report.proposal_id == proposal.id, same_content, Report.id <= report.id,
                                            Report.resolved_at.is_(None))
                       .values(resolved_at=utcnow()).execution_options(synchronize_session=False))
    log_moderation(proposal, user, "dismiss_report", note, comment=report.comment)
    db.session.commit()
    return report


# --- what waits for the moderators ---------------------------------------------------------------

def open_reports(user: User, limit: int = 200) -> list[Report]:
    """Open reports on proposals (and their comments) of the organisations this person edits; all for admins."""
    stmt = _moderated_by(select(Report).join(Proposal, Proposal.id == Report.proposal_id)
                         .where(Report.resolved_at.is_(None)), Proposal.organisation_id, user)
    return list(db.session.scalars(stmt.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)))


def count_open_reports(user: User, organisation_id: int | None = None) -> int:
    """How many reports wait for this person (in one organisation when ``organisation_id``)."""
    stmt = _moderated_by(select(func.count()).select_from(Report).join(Proposal, Proposal.id == Report.proposal_id)
                         .where(Report.resolved_at.is_(None)), Proposal.organisation_id, user)
    if organisation_id is not None:
        stmt = stmt.where(Proposal.organisation_id == organisation_id)
    return db.session.scalar(stmt) or 0


@dataclass
class ReportedContent:
    """A proposal, or one of its comments, with its open reports, newest first."""

    proposal: Proposal
    comment: Comment | None
    reports: list[Report]

    @property
    def latest(self) -> Report:
        return self.reports[0]


def list_reported(user: User, limit: int = 200) -> list[ReportedContent]:
    """What waits for this person's moderation: each reported content once, the most recently reported first."""
    grouped: dict[tuple[int, int | None], ReportedContent] = {}
    for row in open_reports(user, limit):
        key = (row.proposal_id, row.comment_id)
        if key not in grouped:
            grouped[key] = ReportedContent(row.proposal, row.comment, [])
        grouped[key].reports.append(row)
    return list(grouped.values())


def open_reports_on(report: Report) -> list[Report]:
    """The open reports on the same content as ``report``, oldest first (what its page shows together)."""
    same_content = Report.comment_id == report.comment_id if report.comment_id else Report.comment_id.is_(None)
    return list(db.session.scalars(select(Report).where(Report.proposal_id == report.proposal_id, same_content,
                                                        Report.resolved_at.is_(None))
                                   .order_by(Report.created_at, Report.id)))
