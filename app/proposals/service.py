"""Proposal use cases: a proposal's life from its author's side (write, submit, edit with kept versions,
withdraw, promote from a board idea) and the public's part in it (support, follow, comment), with the few helpers
the area's other use-case modules share (the row lock, text checks, who is told). Moderation is in ``moderation``,
merging in ``merging``, lists and search in ``queries``, per-organisation settings in ``settings``.

Supports are decided by the database: a unique (proposal, person) constraint and a counter moved by conditional
UPDATEs; state changes run under the proposal's row lock (``BEGIN IMMEDIATE`` on SQLite). Notifications are rows
added in the same transaction; mail goes out only as a daily digest.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..boards.models import Board, Cluster, Idea, IdeaStatus, Participant
from ..catalog.models import LifeEvent, Organisation, Service
from ..clock import utcnow
from ..database import begin_write
from ..errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..notifications.service import notify
from ..permissions import is_admin, is_authenticated, is_verified
from .errors import (
    AlreadyPromoted,
    AlreadySupported,
    CommentHidden,
    InVote,
    NotSupported,
    NotVerified,
    OrganisationRequired,
    ProposalHidden,
    ReplyToReply,
    SpamSuspected,
    SubjectRequired,
    SupportClosed,
    WrongState,
)
from .models import (
    SUPPORTABLE_STATES,
    Comment,
    Follow,
    ModerationMode,
    OriginKind,
    Proposal,
    ProposalOrigin,
    ProposalState,
    ProposalVersion,
    Support,
)
from .settings import get_settings

TITLE_MAX = 200
TEXT_MAX = 5000
COMMENT_MAX = 3000


# --- helpers -------------------------------------------------------------------------------------

def lock_proposal(proposal_id: int) -> Proposal:
    """Fresh write transaction, then the proposal under its row lock."""
    begin_write()
    proposal = db.session.scalar(select(Proposal).where(Proposal.id == proposal_id)
                                 .with_for_update(of=Proposal).execution_options(populate_existing=True))
    if proposal is None:
        raise NotFound()
    return proposal


def clean_text(value: str | None, limit: int, field: str, required: bool = True) -> str:
    """``value`` stripped, refused when empty (if ``required``) or over ``limit``; the code names the field."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(_l("Ce champ est obligatoire."), code=f"{field}_required")
    if len(value) > limit:
        raise InvalidInput(_l("Ce texte est trop long (%(limit)s caractères au plus).", limit=limit),
                           code=f"{field}_too_long")
    return value


def _check_honeypot(honeypot: str | None) -> None:
    if honeypot:
        raise SpamSuspected()


def _require_verified(user) -> None:
    if not is_authenticated(user):
        raise NotAllowed()
    if not is_verified(user):
        raise NotVerified()


def proposal_path(proposal_or_id) -> str:
    pid = getattr(proposal_or_id, "id", proposal_or_id)
    return f"/propositions/{pid}"


def audience_of(proposal: Proposal) -> list[int]:
    """Author and followers."""
    ids = set(db.session.scalars(select(Follow.user_id).where(Follow.proposal_id == proposal.id)))
    if proposal.author_id:
        ids.add(proposal.author_id)
    return sorted(ids)


def notify_vote_outcome(selected_ids: list[int], other_ids: list[int]) -> None:
    """Tell each proposal's author and followers whether it was selected by a vote (in the caller's
    transaction: the closing of the consultation)."""
    ids = list(selected_ids) + list(other_ids)
    if not ids:
        return
    followers: dict[int, set[int]] = {}
    for proposal_id, user_id in db.session.execute(select(Follow.proposal_id, Follow.user_id)
                                                   .where(Follow.proposal_id.in_(ids))):
        followers.setdefault(proposal_id, set()).add(user_id)
    chosen = set(selected_ids)
    for proposal_id, title, author_id in db.session.execute(select(Proposal.id, Proposal.title, Proposal.author_id)
                                                            .where(Proposal.id.in_(ids))):
        audience = followers.get(proposal_id, set()) | ({author_id} if author_id else set())
        notify(audience, "proposal_selected" if proposal_id in chosen else "proposal_not_selected",
               subject_title=title, url=proposal_path(proposal_id))


def _follow(proposal_id: int, user_id: int) -> bool:
    """Add a follow inside the caller's transaction; False if it existed."""
    exists = db.session.scalar(select(Follow.id).where(Follow.proposal_id == proposal_id,
                                                       Follow.user_id == user_id))
    if exists:
        return False
    db.session.add(Follow(proposal_id=proposal_id, user_id=user_id))
    db.session.flush()
    db.session.execute(update(Proposal).where(Proposal.id == proposal_id)
                       .values(follower_count=Proposal.follower_count + 1))
    return True


# --- create, edit, withdraw ----------------------------------------------------------------------

def _resolve_subject(user, service_id, life_event_id, organisation_id):
    service = db.session.get(Service, service_id) if service_id else None
    life_event = db.session.get(LifeEvent, life_event_id) if life_event_id else None
    if service_id and service is None or life_event_id and life_event is None:
        raise NotFound()
    if service is None and life_event is None:
        raise SubjectRequired()
    if service is not None:
        organisation = service.organisation
    else:
        # Only about a life event: an admin assigns the organisation that will answer.
        if not is_admin(user) or not organisation_id:
            raise OrganisationRequired()
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None:
            raise NotFound()
    return service, life_event, organisation


def _initial_state(organisation_id: int, submit: bool) -> ProposalState:
    if not submit:
        return ProposalState.draft
    if get_settings(organisation_id).moderation is ModerationMode.before:
        return ProposalState.awaiting_moderation
    return ProposalState.published


def create_proposal(user: User, *, title: str, problem: str, change: str, benefit: str = "",
                    service_id: int | None = None, life_event_id: int | None = None,
                    organisation_id: int | None = None, submit: bool = True, honeypot: str = "") -> Proposal:
    """Verified people submit a proposal about a service and/or life event; it is published or awaits moderation."""
    _check_honeypot(honeypot)
    _require_verified(user)
    title = clean_text(title, TITLE_MAX, "title")
    problem = clean_text(problem, TEXT_MAX, "problem")
    change = clean_text(change, TEXT_MAX, "change")
    benefit = clean_text(benefit, TEXT_MAX, "benefit", required=False)
    service, life_event, organisation = _resolve_subject(user, service_id, life_event_id, organisation_id)
    state = _initial_state(organisation.id, submit)
    now = utcnow()
    begin_write()
    proposal = Proposal(organisation_id=organisation.id, service_id=service.id if service else None,
                        life_event_id=life_event.id if life_event else None, title=title, problem=problem,
                        change=change, benefit=benefit, author_id=user.id, state=state, version=1,
                        created_at=now, updated_at=now,
                        published_at=now if state is ProposalState.published else None)
    db.session.add(proposal)
    db.session.flush()
    _follow(proposal.id, user.id)
    db.session.commit()
    return proposal


def submit_proposal(proposal: Proposal, user: User) -> Proposal:
    """The author (or the facilitator who promoted it) sends a draft: published, or awaiting moderation."""
    proposal = lock_proposal(proposal.id)
    if not proposal.can_edit(user):
        raise NotAllowed()
    if proposal.state is not ProposalState.draft:
        raise WrongState()
    # A promoted draft is pre-filled from an idea: what a submitted proposal must say is checked again here.
    clean_text(proposal.title, TITLE_MAX, "title")
    clean_text(proposal.problem, TEXT_MAX, "problem")
    clean_text(proposal.change, TEXT_MAX, "change")
    proposal.state = _initial_state(proposal.organisation_id, True)
    if proposal.state is ProposalState.published:
        proposal.published_at = utcnow()
    db.session.commit()
    return proposal


def edit_proposal(proposal: Proposal, user: User, *, title: str, problem: str, change: str,
                  benefit: str = "") -> Proposal:
    """The author edits; once the proposal has supporters, the replaced text is kept as a version."""
    title = clean_text(title, TITLE_MAX, "title")
    problem = clean_text(problem, TEXT_MAX, "problem")
    change = clean_text(change, TEXT_MAX, "change")
    benefit = clean_text(benefit, TEXT_MAX, "benefit", required=False)
    proposal = lock_proposal(proposal.id)
    if not proposal.can_edit(user):
        raise NotAllowed()
    if (proposal.title, proposal.problem, proposal.change, proposal.benefit) == (title, problem, change, benefit):
        db.session.rollback()
        return proposal
    supporters = proposal.support_count
    if supporters > 0:
        db.session.add(ProposalVersion(proposal_id=proposal.id, number=proposal.version, title=proposal.title,
                                       problem=proposal.problem, change=proposal.change, benefit=proposal.benefit,
                                       support_count=supporters))
        notify(db.session.scalars(select(Support.user_id).where(Support.proposal_id == proposal.id)).all()
               + audience_of(proposal), "proposal_edited", subject_title=title, url=proposal_path(proposal),
               actor_id=user.id)
    proposal.title, proposal.problem, proposal.change, proposal.benefit = title, problem, change, benefit
    proposal.version += 1
    proposal.updated_at = utcnow()
    if proposal.state is ProposalState.published and \
            get_settings(proposal.organisation_id).moderation is ModerationMode.before:
        # Where texts are read before publication, a changed text is read again before it is shown.
        proposal.state = ProposalState.awaiting_moderation
    db.session.commit()
    return proposal


def list_versions(proposal: Proposal) -> list[ProposalVersion]:
    return list(db.session.scalars(select(ProposalVersion).where(ProposalVersion.proposal_id == proposal.id)
                                   .order_by(ProposalVersion.number.desc())))


def withdraw_proposal(proposal: Proposal, user: User) -> Proposal:
    """Only the author withdraws, and not while the proposal is in a vote or after it was decided."""
    proposal = lock_proposal(proposal.id)
    if not proposal.is_author(user):
        raise NotAllowed()
    if proposal.state is ProposalState.in_vote:
        raise InVote()
    if proposal.state not in (ProposalState.draft, ProposalState.awaiting_moderation, ProposalState.published):
        raise WrongState()
    was_public = proposal.is_public
    proposal.state = ProposalState.withdrawn
    proposal.updated_at = utcnow()
    if was_public:
        notify(audience_of(proposal), "proposal_withdrawn", subject_title=proposal.title,
               url=proposal_path(proposal), actor_id=user.id)
    db.session.commit()
    return proposal


# --- supports and follows ------------------------------------------------------------------------

def support(proposal: Proposal, user: User) -> int:
    """One support per verified person, while the proposal is published or in a vote; returns the new count."""
    _require_verified(user)
    begin_write()
    counted = db.session.execute(
        update(Proposal).where(Proposal.id == proposal.id, Proposal.state.in_(SUPPORTABLE_STATES),
                               Proposal.hidden_at.is_(None))
        .values(support_count=Proposal.support_count + 1).execution_options(synchronize_session=False))
    if counted.rowcount != 1:
        db.session.rollback()
        raise SupportClosed()
    try:
        db.session.execute(insert(Support).values(proposal_id=proposal.id, user_id=user.id, created_at=utcnow()))
    except IntegrityError:
        db.session.rollback()
        raise AlreadySupported() from None
    db.session.commit()
    return db.session.scalar(select(Proposal.support_count).where(Proposal.id == proposal.id))


def unsupport(proposal: Proposal, user: User) -> int:
    """Take one's support back while supports are open; returns the new count."""
    if not is_authenticated(user):
        raise NotAllowed()
    begin_write()
    # The conditional UPDATE comes first: it takes the proposal's row lock, so a merge in flight finishes
    # before, and the state is re-checked after it (a support already carried to the merge target stays put:
    # supports close on a merged proposal). Rolled back below when the person had not supported it.
    counted = db.session.execute(
        update(Proposal).where(Proposal.id == proposal.id, Proposal.state.in_(SUPPORTABLE_STATES),
                               Proposal.support_count > 0)
        .values(support_count=Proposal.support_count - 1).execution_options(synchronize_session=False))
    if counted.rowcount != 1:
        state = db.session.scalar(select(Proposal.state).where(Proposal.id == proposal.id))
        db.session.rollback()
        raise SupportClosed() if state not in SUPPORTABLE_STATES else NotSupported()
    removed = db.session.execute(delete(Support).where(Support.proposal_id == proposal.id,
                                                       Support.user_id == user.id))
    if removed.rowcount != 1:
        db.session.rollback()
        raise NotSupported()
    db.session.commit()
    return db.session.scalar(select(Proposal.support_count).where(Proposal.id == proposal.id))


def has_supported(proposal: Proposal, user) -> bool:
    if not is_authenticated(user):
        return False
    return db.session.scalar(select(Support.id).where(Support.proposal_id == proposal.id,
                                                      Support.user_id == user.id)) is not None


def follow(proposal: Proposal, user: User) -> bool:
    """Anyone logged in follows a proposal they can see; following twice changes nothing."""
    if not is_authenticated(user):
        raise NotAllowed()
    if not proposal.can_view(user):
        raise NotFound()
    begin_write()
    try:
        added = _follow(proposal.id, user.id)
    except IntegrityError:
        db.session.rollback()
        return False
    db.session.commit()
    return added


def unfollow(proposal: Proposal, user: User) -> bool:
    if not is_authenticated(user):
        raise NotAllowed()
    begin_write()
    removed = db.session.execute(delete(Follow).where(Follow.proposal_id == proposal.id, Follow.user_id == user.id))
    if removed.rowcount:
        db.session.execute(update(Proposal).where(Proposal.id == proposal.id, Proposal.follower_count > 0)
                           .values(follower_count=Proposal.follower_count - 1))
    db.session.commit()
    return bool(removed.rowcount)


def is_following(proposal: Proposal, user) -> bool:
    if not is_authenticated(user):
        return False
    return db.session.scalar(select(Follow.id).where(Follow.proposal_id == proposal.id,
                                                     Follow.user_id == user.id)) is not None


# --- discussion ----------------------------------------------------------------------------------

def add_comment(proposal: Proposal, user: User, body: str, *, parent_id: int | None = None,
                honeypot: str = "") -> Comment:
    """Verified people comment on a public proposal; replies go one level deep; members' comments are official."""
    _check_honeypot(honeypot)
    _require_verified(user)
    body = clean_text(body, COMMENT_MAX, "body")
    if not proposal.is_public or proposal.is_merged:
        raise WrongState()
    if proposal.is_hidden:
        raise ProposalHidden()
    parent = None
    if parent_id is not None:
        parent = db.session.get(Comment, parent_id)
        if parent is None or parent.proposal_id != proposal.id:
            raise NotFound()
        if parent.parent_id is not None:
            raise ReplyToReply()
        if parent.is_hidden:
            raise CommentHidden()
    official = proposal.is_member(user)
    begin_write()
    comment = Comment(proposal_id=proposal.id, parent_id=parent.id if parent else None, author_id=user.id,
                      body=body, is_official=official, created_at=utcnow())
    db.session.add(comment)
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id)
                       .values(comment_count=Proposal.comment_count + 1).execution_options(synchronize_session=False))
    recipients = audience_of(proposal)
    if parent and parent.author_id:
        recipients.append(parent.author_id)
    notify(recipients, "proposal_official_reply" if official else "proposal_commented",
           subject_title=proposal.title, url=proposal_path(proposal), actor_id=user.id)
    db.session.commit()
    return comment


def list_comments(proposal: Proposal) -> list[tuple[Comment, list[Comment]]]:
    """Top-level comments, oldest first, each with its replies."""
    rows = list(db.session.scalars(select(Comment).where(Comment.proposal_id == proposal.id)
                                   .order_by(Comment.created_at, Comment.id)))
    replies: dict[int, list[Comment]] = {}
    for c in rows:
        if c.parent_id:
            replies.setdefault(c.parent_id, []).append(c)
    return [(c, replies.get(c.id, [])) for c in rows if c.parent_id is None]


# --- promotion from boards -----------------------------------------------------------------------

def _board_of(obj):
    return db.session.get(Board, obj.board_id)


def promote(user: User, *, idea_id: int | None = None, cluster_id: int | None = None) -> Proposal:
    """A facilitator of the board turns an idea or a cluster into a draft proposal pre-filled from it."""

    if (idea_id is None) == (cluster_id is None):
        raise InvalidInput()
    source = db.session.get(Idea, idea_id) if idea_id else db.session.get(Cluster, cluster_id)
    if source is None:
        raise NotFound()
    board = _board_of(source)
    if not board.can_manage(user):
        raise NotAllowed()
    if idea_id:
        if source.status is not IdeaStatus.visible:
            raise WrongState()
        text = source.text.strip()
        title, problem, kind = text.splitlines()[0][:TITLE_MAX] if text else "", text, OriginKind.idea
    else:
        texts = db.session.scalars(select(Idea.text).where(Idea.cluster_id == source.id,
                                                          Idea.status == IdeaStatus.visible).order_by(Idea.id)).all()
        title, problem, kind = source.name[:TITLE_MAX], "\n".join(f"- {t}" for t in texts), OriginKind.cluster
    workshop = board.workshop
    service_id = workshop.services[0].id if workshop and workshop.services else None
    life_event_id = workshop.life_events[0].id if workshop and workshop.life_events else None
    now = utcnow()
    begin_write()
    # "Promoted once" is decided under the source's row lock (BEGIN IMMEDIATE on SQLite): of two facilitators
    # promoting the same idea at once, the second sees the first's origin row.
    model = Idea if idea_id else Cluster
    db.session.execute(select(model.id).where(model.id == source.id).with_for_update())
    existing = db.session.scalar(select(ProposalOrigin.proposal_id).where(
        ProposalOrigin.idea_id == idea_id if idea_id else ProposalOrigin.cluster_id == cluster_id))
    if existing:
        db.session.rollback()
        raise AlreadyPromoted()
    proposal = Proposal(organisation_id=board.organisation_id, service_id=service_id, life_event_id=life_event_id,
                        title=title or "—", problem=problem, change="", benefit="", author_id=user.id,
                        on_behalf_of_workshop_id=board.workshop_id, state=ProposalState.draft, version=1,
                        created_at=now, updated_at=now)
    db.session.add(proposal)
    db.session.flush()
    db.session.add(ProposalOrigin(proposal_id=proposal.id, kind=kind, idea_id=idea_id, cluster_id=cluster_id))
    _follow(proposal.id, user.id)
    db.session.commit()
    return proposal


def origins_of(proposal: Proposal) -> list[ProposalOrigin]:
    return list(db.session.scalars(select(ProposalOrigin).where(ProposalOrigin.proposal_id == proposal.id)
                                   .order_by(ProposalOrigin.id)))


def proposals_from_idea(idea) -> list[Proposal]:
    """Proposals an idea led to: directly, or through its cluster (merged ones lead on to their target)."""
    conditions = [ProposalOrigin.idea_id == idea.id]
    if idea.cluster_id:
        conditions.append(ProposalOrigin.cluster_id == idea.cluster_id)
    from sqlalchemy import or_

    return list(db.session.scalars(select(Proposal).join(ProposalOrigin, ProposalOrigin.proposal_id == Proposal.id)
                                   .where(or_(*conditions)).distinct().order_by(Proposal.id)))


def can_see_idea(idea, user) -> bool:
    """Board participants and facilitators; everyone once a proposal it led to is public (and not hidden by
    the moderators)."""

    board = _board_of(idea)
    if board.can_manage(user):
        return True
    if is_authenticated(user) and db.session.scalar(select(Participant.id).where(
            Participant.board_id == board.id, Participant.user_id == user.id, Participant.removed_at.is_(None))):
        return True
    return any(p.is_public and not p.is_hidden for p in proposals_from_idea(idea))


def promoted_map(board_id: int) -> dict[tuple[str, int], int]:
    """(``"idea"``/``"cluster"``, id) -> proposal id, for a board's ideas and clusters already promoted."""

    rows = db.session.execute(
        select(ProposalOrigin.kind, ProposalOrigin.idea_id, ProposalOrigin.cluster_id, ProposalOrigin.proposal_id)
        .outerjoin(Idea, Idea.id == ProposalOrigin.idea_id).outerjoin(Cluster, Cluster.id == ProposalOrigin.cluster_id)
        .where((Idea.board_id == board_id) | (Cluster.board_id == board_id)))
    return {(kind.value, idea_id or cluster_id): pid for kind, idea_id, cluster_id, pid in rows}


# --- proposals from users' feedback --------------------------------------------------------------
# The feedback area (above this one) turns « Je donne mon avis » responses into proposals: it checks the responses
# and the editor, then calls these in its own transaction. A response is only an id here (``feedback_responses``).

def add_draft_from_feedback(user: User, *, service: Service, title: str, problem: str, response_ids) -> Proposal:
    """A draft proposal about ``service``, written by ``user`` for its organisation from users' words (``problem``
    quotes them), with one origin per response; added to the caller's transaction. The author completes the change
    it proposes, then sends it as any draft."""
    title = clean_text(title, TITLE_MAX, "title")
    problem = clean_text(problem, TEXT_MAX, "problem")
    now = utcnow()
    proposal = Proposal(organisation_id=service.organisation_id, service_id=service.id, title=title, problem=problem,
                        change="", benefit="", author_id=user.id, state=ProposalState.draft, version=1,
                        created_at=now, updated_at=now)
    db.session.add(proposal)
    db.session.flush()
    add_feedback_origins(proposal.id, response_ids)
    _follow(proposal.id, user.id)
    return proposal


def add_feedback_origins(proposal_id: int, response_ids) -> int:
    """Responses become origins of the proposal, each once (those already there are left as they are), in the
    caller's transaction, which holds the proposal's row lock (or made the proposal): the unique (proposal,
    response) constraint has the last word. Returns how many were added."""
    wanted = {int(rid) for rid in response_ids}
    present = set(db.session.scalars(select(ProposalOrigin.response_id).where(
        ProposalOrigin.proposal_id == proposal_id, ProposalOrigin.response_id.in_(wanted)))) if wanted else set()
    added = sorted(wanted - present)
    if added:
        now = utcnow()
        db.session.execute(insert(ProposalOrigin), [
            {"proposal_id": proposal_id, "kind": OriginKind.feedback, "response_id": rid, "created_at": now}
            for rid in added])
    return len(added)
