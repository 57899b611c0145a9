"""Proposal use cases. Supports are decided by the database: a unique (proposal, person) constraint and a
counter moved by conditional UPDATEs; state changes run under the proposal's row lock (``BEGIN IMMEDIATE``
on SQLite). Notifications are rows added in the same transaction; mail goes out only as a daily digest.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User, utcnow
from ..catalog.models import LifeEvent, Organisation, Service
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..notifications.service import notify
from ..permissions import is_admin, is_authenticated, is_verified
from .models import (
    PUBLIC_STATES,
    SUPPORTABLE_STATES,
    Comment,
    Follow,
    ModerationMode,
    OriginKind,
    Proposal,
    ProposalModerationEntry,
    ProposalOrigin,
    ProposalSettings,
    ProposalState,
    ProposalVersion,
    Report,
    StateLabel,
    Support,
)

TITLE_MAX = 200
TEXT_MAX = 5000
COMMENT_MAX = 3000


# --- errors --------------------------------------------------------------------------------------

class NotVerified(NotAllowed):
    code = "not_verified"
    message = _l("Vérifiez d'abord votre adresse électronique : ouvrez le lien que nous vous avons envoyé.")


class SpamSuspected(InvalidInput):
    code = "spam_suspected"
    message = _l("Votre envoi n'a pas pu être accepté. Réessayez sans remplir le champ caché.")


class OrganisationRequired(InvalidInput):
    code = "organisation_required"
    message = _l("Choisissez une démarche, ou (administration) l'organisation qui recevra la proposition.")


class SubjectRequired(InvalidInput):
    code = "subject_required"
    message = _l("Choisissez la démarche ou le moment de vie concerné.")


class AlreadySupported(Conflict):
    code = "already_supported"
    message = _l("Vous soutenez déjà cette proposition.")


class AlreadyReported(Conflict):
    code = "already_reported"
    message = _l("Vous avez déjà signalé ce contenu : l'équipe de modération l'examinera.")


class NotSupported(Conflict):
    code = "not_supported"
    message = _l("Vous ne soutenez pas cette proposition.")


class SupportClosed(DomainError):
    code = "support_closed"
    message = _l("Cette proposition ne peut plus recevoir de soutiens.")


class WrongState(DomainError):
    code = "wrong_state"
    message = _l("Cette action n'est pas possible dans l'état actuel de la proposition.")


class InVote(DomainError):
    code = "in_vote"
    message = _l("Cette proposition est soumise à un vote en cours : elle ne peut être ni retirée ni fusionnée.")


class MergeIntoItself(InvalidInput):
    code = "merge_into_itself"
    message = _l("Une proposition ne peut pas être fusionnée avec elle-même.")


class MergeIntoMerged(InvalidInput):
    code = "merge_into_merged"
    message = _l("Cette proposition a déjà été fusionnée : choisissez la proposition qui l'a reçue.")


class MergeAcrossOrganisations(NotAllowed):
    code = "merge_across_organisations"
    message = _l("Seule l'administration peut fusionner des propositions de deux organisations.")


class ReplyToReply(InvalidInput):
    code = "reply_to_reply"
    message = _l("On ne peut répondre qu'à un commentaire, pas à une réponse.")


class CommentHidden(DomainError):
    code = "comment_hidden"
    message = _l("Ce commentaire a été masqué par la modération.")


class ProposalHidden(DomainError):
    code = "proposal_hidden"
    message = _l("Cette proposition a été masquée par la modération.")


class ReasonRequired(InvalidInput):
    code = "reason_required"
    message = _l("Indiquez la raison, elle sera affichée publiquement.")


class AlreadyPromoted(Conflict):
    code = "already_promoted"
    message = _l("Une proposition a déjà été créée à partir de cet élément.")


# --- helpers -------------------------------------------------------------------------------------

def _lock(proposal_id: int) -> Proposal:
    """Fresh write transaction, then the proposal under its row lock."""
    begin_write()
    proposal = db.session.scalar(select(Proposal).where(Proposal.id == proposal_id)
                                 .with_for_update(of=Proposal).execution_options(populate_existing=True))
    if proposal is None:
        raise NotFound()
    return proposal


def _clean(value: str | None, limit: int, field: str, required: bool = True) -> str:
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


def _audience(proposal: Proposal) -> list[int]:
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


def _log(proposal: Proposal, actor, action: str, reason: str = "", comment: Comment | None = None) -> None:
    db.session.add(ProposalModerationEntry(organisation_id=proposal.organisation_id, proposal_id=proposal.id,
                                           comment_id=comment.id if comment else None,
                                           actor_id=actor.id if actor else None, action=action, reason=reason))


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


# --- settings ------------------------------------------------------------------------------------

def get_settings(organisation_id: int) -> ProposalSettings:
    settings = db.session.get(ProposalSettings, organisation_id)
    return settings or ProposalSettings(organisation_id=organisation_id, moderation=ModerationMode.after)


def update_settings(organisation: Organisation, user, moderation, labels: dict | None = None) -> ProposalSettings:
    """Editors of the organisation and admins choose the moderation mode and how each state is named."""
    from ..catalog.models import Role
    from ..permissions import has_org_role

    if not (is_admin(user) or has_org_role(user, organisation, Role.editor)):
        raise NotAllowed()
    try:
        mode = moderation if isinstance(moderation, ModerationMode) else ModerationMode(moderation)
    except ValueError:
        raise InvalidInput() from None
    begin_write()
    settings = db.session.get(ProposalSettings, organisation.id)
    if settings is None:
        settings = ProposalSettings(organisation_id=organisation.id)
        db.session.add(settings)
    settings.moderation = mode
    for state, (label_fr, label_en) in (labels or {}).items():
        state = state if isinstance(state, ProposalState) else ProposalState(state)
        label_fr, label_en = (label_fr or "").strip()[:60], (label_en or "").strip()[:60]
        row = db.session.scalar(select(StateLabel).where(StateLabel.organisation_id == organisation.id,
                                                         StateLabel.state == state))
        if not label_fr:
            if row:
                db.session.delete(row)
            continue
        if row is None:
            db.session.add(StateLabel(organisation_id=organisation.id, state=state, label_fr=label_fr,
                                      label_en=label_en))
        else:
            row.label_fr, row.label_en = label_fr, label_en
    db.session.commit()
    return settings


def state_labels(organisation_ids) -> dict[tuple[int, ProposalState], StateLabel]:
    """Custom labels for these organisations, in one query."""
    ids = sorted(set(organisation_ids))
    if not ids:
        return {}
    rows = db.session.scalars(select(StateLabel).where(StateLabel.organisation_id.in_(ids)))
    return {(r.organisation_id, r.state): r for r in rows}


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
    title = _clean(title, TITLE_MAX, "title")
    problem = _clean(problem, TEXT_MAX, "problem")
    change = _clean(change, TEXT_MAX, "change")
    benefit = _clean(benefit, TEXT_MAX, "benefit", required=False)
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
    proposal = _lock(proposal.id)
    if not proposal.can_edit(user):
        raise NotAllowed()
    if proposal.state is not ProposalState.draft:
        raise WrongState()
    # A promoted draft is pre-filled from an idea: what a submitted proposal must say is checked again here.
    _clean(proposal.title, TITLE_MAX, "title")
    _clean(proposal.problem, TEXT_MAX, "problem")
    _clean(proposal.change, TEXT_MAX, "change")
    proposal.state = _initial_state(proposal.organisation_id, True)
    if proposal.state is ProposalState.published:
        proposal.published_at = utcnow()
    db.session.commit()
    return proposal


def edit_proposal(proposal: Proposal, user: User, *, title: str, problem: str, change: str,
                  benefit: str = "") -> Proposal:
    """The author edits; once the proposal has supporters, the replaced text is kept as a version."""
    title = _clean(title, TITLE_MAX, "title")
    problem = _clean(problem, TEXT_MAX, "problem")
    change = _clean(change, TEXT_MAX, "change")
    benefit = _clean(benefit, TEXT_MAX, "benefit", required=False)
    proposal = _lock(proposal.id)
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
               + _audience(proposal), "proposal_edited", subject_title=title, url=proposal_path(proposal),
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
    proposal = _lock(proposal.id)
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
        notify(_audience(proposal), "proposal_withdrawn", subject_title=proposal.title,
               url=proposal_path(proposal), actor_id=user.id)
    db.session.commit()
    return proposal


def approve_proposal(proposal: Proposal, user: User) -> Proposal:
    """Editors publish a proposal awaiting moderation."""
    proposal = _lock(proposal.id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    if proposal.state is not ProposalState.awaiting_moderation or proposal.is_hidden:
        raise WrongState()  # a hidden proposal stays hidden: approving it would publish "published and hidden"
    proposal.state = ProposalState.published
    proposal.published_at = proposal.published_at or utcnow()  # a re-read edit keeps its first date
    _log(proposal, user, "approve")
    notify(_audience(proposal), "proposal_published", subject_title=proposal.title, url=proposal_path(proposal),
           actor_id=user.id)
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


# --- promotion from boards -----------------------------------------------------------------------

def _board_of(obj):
    from ..boards.models import Board

    return db.session.get(Board, obj.board_id)


def promote(user: User, *, idea_id: int | None = None, cluster_id: int | None = None) -> Proposal:
    """A facilitator of the board turns an idea or a cluster into a draft proposal pre-filled from it."""
    from ..boards.models import Cluster, Idea, IdeaStatus

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
    from ..boards.models import Participant

    board = _board_of(idea)
    if board.can_manage(user):
        return True
    if is_authenticated(user) and db.session.scalar(select(Participant.id).where(
            Participant.board_id == board.id, Participant.user_id == user.id, Participant.removed_at.is_(None))):
        return True
    return any(p.is_public and not p.is_hidden for p in proposals_from_idea(idea))


# --- merge ---------------------------------------------------------------------------------------

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
    for origin in db.session.scalars(select(ProposalOrigin).where(ProposalOrigin.proposal_id == source.id)):
        duplicate = db.session.scalar(select(ProposalOrigin.id).where(
            ProposalOrigin.proposal_id == target.id, ProposalOrigin.idea_id == origin.idea_id
            if origin.idea_id else ProposalOrigin.cluster_id == origin.cluster_id))
        if not duplicate:
            db.session.add(ProposalOrigin(proposal_id=target.id, kind=origin.kind, idea_id=origin.idea_id,
                                          cluster_id=origin.cluster_id))
    # Recounted under the target's row lock: supports of A wait on that lock, so the count is exact.
    target.support_count = db.session.scalar(select(func.count()).select_from(Support)
                                             .where(Support.proposal_id == target.id))
    target.follower_count = db.session.scalar(select(func.count()).select_from(Follow)
                                              .where(Follow.proposal_id == target.id))
    source.state = ProposalState.merged
    source.merged_into_id = target.id
    source.merged_at = utcnow()
    _log(source, user, "merge", reason=f"#{source.id} -> #{target.id}")
    notify(_audience(source), "proposal_merged", subject_title=source.title, url=proposal_path(target),
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


# --- discussion and moderation -------------------------------------------------------------------

def add_comment(proposal: Proposal, user: User, body: str, *, parent_id: int | None = None,
                honeypot: str = "") -> Comment:
    """Verified people comment on a public proposal; replies go one level deep; members' comments are official."""
    _check_honeypot(honeypot)
    _require_verified(user)
    body = _clean(body, COMMENT_MAX, "body")
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
    recipients = _audience(proposal)
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


def report(proposal: Proposal, user: User, reason: str = "", *, comment_id: int | None = None) -> Report:
    """Anyone logged in reports a proposal or one of its comments."""
    if not is_authenticated(user):
        raise NotAllowed()
    if not proposal.can_view(user):
        raise NotFound()
    if comment_id is not None:
        comment = db.session.get(Comment, comment_id)
        if comment is None or comment.proposal_id != proposal.id:
            raise NotFound()
    reason = _clean(reason, 1000, "reason", required=False)
    begin_write()
    row = Report(proposal_id=proposal.id, comment_id=comment_id, reporter_id=user.id, reason=reason)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyReported() from None
    return row


def hide_proposal(proposal: Proposal, user: User, reason: str) -> Proposal:
    """Editors of the owning organisation and admins hide a proposal with a public reason."""
    reason = _clean(reason, 500, "reason") if (reason or "").strip() else None
    if reason is None:
        raise ReasonRequired()
    proposal = _lock(proposal.id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    if proposal.is_hidden:
        raise ProposalHidden()
    proposal.hidden_at, proposal.hidden_reason = utcnow(), reason
    _log(proposal, user, "hide_proposal", reason)
    db.session.execute(update(Report).where(Report.proposal_id == proposal.id, Report.comment_id.is_(None),
                                            Report.resolved_at.is_(None)).values(resolved_at=utcnow()))
    notify(_audience(proposal), "proposal_hidden", subject_title=proposal.title, url=proposal_path(proposal),
           actor_id=user.id)
    db.session.commit()
    return proposal


def hide_comment(comment: Comment, user: User, reason: str) -> Comment:
    """Editors of the owning organisation and admins hide a comment with a public reason."""
    if not (reason or "").strip():
        raise ReasonRequired()
    reason = _clean(reason, 500, "reason")
    proposal = _lock(comment.proposal_id)
    if not proposal.can_moderate(user):
        raise NotAllowed()
    comment = db.session.get(Comment, comment.id, populate_existing=True)
    if comment.is_hidden:
        raise CommentHidden()
    comment.hidden_at, comment.hidden_reason = utcnow(), reason
    _log(proposal, user, "hide_comment", reason, comment=comment)
    db.session.execute(update(Report).where(Report.comment_id == comment.id, Report.resolved_at.is_(None))
                       .values(resolved_at=utcnow()))
    db.session.commit()
    return comment


def moderation_log(user: User, limit: int = 200) -> list[ProposalModerationEntry]:
    """Admins read the whole moderation trail."""
    if not is_admin(user):
        raise NotAllowed()
    return list(db.session.scalars(select(ProposalModerationEntry)
                                   .order_by(ProposalModerationEntry.created_at.desc(),
                                             ProposalModerationEntry.id.desc()).limit(limit)))


def open_reports(user: User, limit: int = 200) -> list[Report]:
    if not is_admin(user):
        raise NotAllowed()
    return list(db.session.scalars(select(Report).where(Report.resolved_at.is_(None))
                                   .order_by(Report.created_at.desc()).limit(limit)))


# --- lists and search ----------------------------------------------------------------------------

SORTS = ("newest", "supported")
PER_PAGE = 20


def list_proposals(*, organisation_id=None, service_id=None, life_event_id=None, state=None, q: str = "",
                   sort: str = "newest", page: int = 1, per_page: int = PER_PAGE) -> tuple[list[Proposal], int]:
    """Public proposals with filters, full-text search, a sort and a page; a constant number of queries."""
    from . import search

    conditions = [Proposal.state.in_(PUBLIC_STATES - {ProposalState.merged}), Proposal.hidden_at.is_(None)]
    if state is not None:
        state = state if isinstance(state, ProposalState) else ProposalState(state)
        conditions = [Proposal.state == state, Proposal.hidden_at.is_(None)]
        if state not in PUBLIC_STATES:
            return [], 0
    if organisation_id:
        conditions.append(Proposal.organisation_id == organisation_id)
    if service_id:
        conditions.append(Proposal.service_id == service_id)
    if life_event_id:
        conditions.append(Proposal.life_event_id == life_event_id)
    matches = search.matching(db.engine.dialect.name, q) if q else None
    base = select(Proposal).where(*conditions)
    if matches is not None:
        base = matches.apply(base)
    if sort == "supported":
        keys = [(Proposal.support_count, True), (Proposal.id, True)]
    elif matches is not None and sort == "relevance":
        keys = [(matches.rank, False), (Proposal.id, True)]
    else:
        keys = [(func.coalesce(Proposal.published_at, Proposal.created_at), True), (Proposal.id, True)]
    page = max(1, page)
    # The page's ids are chosen on narrow rows (id and sort keys), then only those rows are loaded with their
    # joined organisation, service, life event and author: sorting every matching row joined and in full
    # costs ~5x more with 10,000 proposals (bench/proposals.py). Still one query.
    # A search reads and sorts every match anyway: the page carries their number (``count(*) OVER ()``) instead of a
    # second pass over the matches (on PostgreSQL, ranking « passeport » was 14 ms and counting it again 11 ms).
    # Without a search the count reads one index, and the page stops at its last row: two queries stay cheaper.
    columns = [key.label(f"k{i}") for i, (key, _) in enumerate(keys)]
    if matches is None:
        narrow = base.with_only_columns(Proposal.id.label("id"), *columns)
        counted = []
    else:
        # The matches are gathered first (a materialised CTE), then counted and sorted: left to itself, PostgreSQL
        # walked the whole « newest » index to avoid a sort, testing every row's text on the way (8.8 ms instead
        # of 1.0 for « passeport » on 10,000 proposals), though a count of the matches must read them all anyway.
        gathered = base.with_only_columns(Proposal.id.label("id"), *columns).cte("matched").prefix_with("MATERIALIZED")
        columns = [gathered.c[f"k{i}"] for i in range(len(keys))]
        narrow = select(gathered.c.id, *columns)
        counted = [func.count().over().label("total")]
    chosen = (narrow.add_columns(*counted)
              .order_by(*[c.desc() if desc else c.asc() for c, (_, desc) in zip(columns, keys, strict=True)])
              .offset((page - 1) * per_page).limit(per_page).subquery())
    outer = [chosen.c[f"k{i}"].desc() if desc else chosen.c[f"k{i}"].asc() for i, (_, desc) in enumerate(keys)]
    if matches is None:
        total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
        items = db.session.scalars(select(Proposal).join(chosen, chosen.c.id == Proposal.id).order_by(*outer))
        return list(items), total
    rows = db.session.execute(select(Proposal, chosen.c.total).join(chosen, chosen.c.id == Proposal.id)
                              .order_by(*outer)).all()
    if rows:
        return [proposal for proposal, _ in rows], rows[0][1]
    # Past the last page: no row carries the number.
    return [], db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))


def similar_proposals(q: str, *, organisation_id=None, exclude_id=None, limit: int = 5) -> list[Proposal]:
    """Public proposals sharing words with ``q`` (any word), best match first: duplicate hints."""
    from . import search

    matches = search.matching(db.engine.dialect.name, q, any_word=True)
    if matches is None:
        return []
    stmt = (matches.apply(select(Proposal))
            .where(Proposal.state.in_(PUBLIC_STATES - {ProposalState.merged}), Proposal.hidden_at.is_(None)))
    if organisation_id:
        stmt = stmt.where(Proposal.organisation_id == organisation_id)
    if exclude_id:
        stmt = stmt.where(Proposal.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(matches.rank, Proposal.support_count.desc()).limit(limit)))


def list_mine(user: User) -> list[Proposal]:
    return list(db.session.scalars(select(Proposal).where(Proposal.author_id == user.id)
                                   .order_by(Proposal.created_at.desc())))


def list_awaiting(user: User) -> list[Proposal]:
    """Proposals awaiting moderation in organisations this person edits (all for admins); one hidden by the
    moderators has been refused, and no longer waits."""
    from ..catalog.models import Role

    stmt = select(Proposal).where(Proposal.state == ProposalState.awaiting_moderation, Proposal.hidden_at.is_(None))
    if not is_admin(user):
        org_ids = [m.organisation_id for m in user.memberships if m.role is Role.editor]
        stmt = stmt.where(Proposal.organisation_id.in_(org_ids or [-1]))
    return list(db.session.scalars(stmt.order_by(Proposal.created_at)))


def personal_data(user: User) -> list[dict]:
    """What the proposals area holds about a person (for « Mes données »)."""
    own = [{"title": p.title, "state": p.state.value, "created_at": p.created_at.isoformat() + "Z"}
           for p in list_mine(user)]
    supported = db.session.scalars(select(Proposal.title).join(Support, Support.proposal_id == Proposal.id)
                                   .where(Support.user_id == user.id)).all()
    comments = db.session.scalars(select(Comment.body).where(Comment.author_id == user.id)).all()
    return [{"proposals": own, "supported": list(supported), "comments": list(comments)}]


def promoted_map(board_id: int) -> dict[tuple[str, int], int]:
    """(``"idea"``/``"cluster"``, id) -> proposal id, for a board's ideas and clusters already promoted."""
    from ..boards.models import Cluster, Idea

    rows = db.session.execute(
        select(ProposalOrigin.kind, ProposalOrigin.idea_id, ProposalOrigin.cluster_id, ProposalOrigin.proposal_id)
        .outerjoin(Idea, Idea.id == ProposalOrigin.idea_id).outerjoin(Cluster, Cluster.id == ProposalOrigin.cluster_id)
        .where((Idea.board_id == board_id) | (Cluster.board_id == board_id)))
    return {(kind.value, idea_id or cluster_id): pid for kind, idea_id, cluster_id, pid in rows}
