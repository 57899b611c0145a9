"""Board use cases: creating and joining boards, and every change made on one (ideas, dots, reactions, grouping,
phases, the timer, moderation). Each change is a function of the board and the acting participant that holds its
rules: ``changes.run_change`` runs it once per client-made id under the board's row lock, a broken rule raises one of
``errors``' refusals before anything is written, and what it did is announced (``changes.emit``) with what each
audience may see (``views``). The reads a join or a resync answers with (``snapshot``, ``events_since``,
``changes_for``) are built in ``views`` and offered here too: handlers, pages and receivers ask the service.
"""

import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..accounts.models import User
from ..catalog.models import Organisation
from ..catalog.permissions import can_facilitate
from ..clock import iso, utcnow
from ..errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..inputs import enum_member
from ..workshops.models import Registration, RegistrationStatus
from .changes import (
    acting_participant,
    announce_idea,
    announce_participant,
    announce_visible_ideas,
    announce_vote_totals,
    commit,
    current_batch,
    emit,
    lock_board,
    rollback,
    run_change,
)
from .checks import (
    board_cluster,
    board_column,
    board_idea,
    clean_settings,
    require_facilitator,
    require_idea_text,
    require_phase,
    require_writable,
)
from .errors import (
    BadJoinCode,
    BudgetSpent,
    DotCapReached,
    GuestsNotAllowed,
    IdeaCapReached,
    NoDotToRemove,
    NotMember,
    NotYourIdea,
    Removed,
    UnknownIdea,
    WrongPhase,
)
from .models import (
    REACTIONS,
    Audience,
    Board,
    BoardColumn,
    ClientChange,
    Cluster,
    Dot,
    Idea,
    IdeaStatus,
    Moderation,
    ModerationEntry,
    Participant,
    Phase,
    Reaction,
)
from .sortkey import key_between
from .templates import TEMPLATES
from .views import changes_for as changes_for
from .views import (
    cluster_view,
    column_view,
    hidden_from_participants,
    reaction_counts,
    settings_view,
    timer_view,
    votes_visible,
)
from .views import events_since as events_since
from .views import snapshot as snapshot

MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns on PostgreSQL
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# --- helpers -------------------------------------------------------------------------------------

def _join_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if db.session.scalar(select(Board.id).where(Board.join_code == code)) is None:
            return code


# Load what is read next (the page's participant and their account), not the eager relationships the pages want.
def _participant_only():
    return joinedload(Participant.user)


def sync_role(board_id: int, participant_id: int) -> Participant:
    """Store the facilitator role the person holds now (their membership may have been withdrawn or
    granted since they joined). A change sends ``participant_role_changed``: the realtime layer then
    closes their connections, which rejoin with the right audience."""
    try:
        board = lock_board(board_id)
        participant = acting_participant(board, participant_id)
        commit(board_id)
        return participant
    except Exception:
        rollback()
        raise


def _last_key(column_id: int, exclude: int | None = None) -> str | None:
    stmt = select(func.max(Idea.sort_key)).where(Idea.column_id == column_id)
    if exclude is not None:
        stmt = stmt.where(Idea.id != exclude)
    return db.session.scalar(stmt)


def _next_key(column_id: int, exclude: int, key: str) -> str | None:
    """The smallest sort key after ``key`` in the column, leaving out the idea being moved."""
    return db.session.scalar(select(func.min(Idea.sort_key)).where(Idea.column_id == column_id, Idea.id != exclude,
                                                                   Idea.sort_key > key))


def _previous_key(column_id: int, exclude: int, key: str) -> str | None:
    return db.session.scalar(select(func.max(Idea.sort_key)).where(Idea.column_id == column_id, Idea.id != exclude,
                                                                   Idea.sort_key < key))


# --- boards (facilitators, over HTTP) ------------------------------------------------------------

def create_board(actor: User, organisation: Organisation, title: str, template: str = "irritants",
                 workshop=None, allow_guests: bool = False) -> Board:
    """A facilitator creates a board from a template, for a workshop or for the organisation."""
    if not can_facilitate(actor, organisation):
        raise NotAllowed()
    if workshop is not None and workshop.organisation_id != organisation.id:
        raise NotAllowed()
    if template not in TEMPLATES:
        raise InvalidInput(_l("Modèle de tableau inconnu."), code="unknown_template")
    board = Board(organisation=organisation, workshop=workshop, title=title.strip(), template=template,
                  join_code=_join_code(), created_by_id=actor.id, allow_guests=allow_guests)
    board.columns = [BoardColumn(title=str(t), prompt=str(p), position=i)
                     for i, (t, p) in enumerate(TEMPLATES[template][1])]
    db.session.add(board)
    db.session.flush()
    db.session.add(Participant(board_id=board.id, user_id=actor.id, is_facilitator=True))
    db.session.commit()
    return board


def update_columns(actor: User, board: Board, columns: list[dict]) -> Board:
    """Rename, re-prompt, add or remove columns (a column with ideas cannot be removed)."""
    if not board.can_manage(actor):
        raise NotAllowed()
    board_id = board.id
    board = lock_board(board_id)
    existing = {c.id: c for c in board.columns}
    keep = []
    for position, spec in enumerate(columns):
        column = existing.get(spec.get("id")) or BoardColumn(board_id=board.id)
        column.title, column.prompt, column.position = spec["title"].strip(), spec.get("prompt", "").strip(), position
        keep.append(column)
    for column in existing.values():
        if column not in keep:
            if db.session.scalar(select(func.count(Idea.id)).where(Idea.column_id == column.id)):
                rollback()
                raise InvalidInput(_l("Une colonne qui contient des idées ne peut pas être supprimée."),
                                   code="column_not_empty")
            db.session.delete(column)
    board.columns = keep
    db.session.flush()
    emit(board, "columns_changed", {"columns": [column_view(c) for c in keep]})
    commit(board_id)
    return board


def regenerate_join_code(actor: User, board: Board) -> str:
    """A new join code: old links and codes stop working."""
    if not board.can_manage(actor):
        raise NotAllowed()
    board.join_code = _join_code()
    db.session.commit()
    return board.join_code


def get_board(board_id: int) -> Board:
    # Out of the id range the database would raise ("integer out of range" on PostgreSQL), not find nothing.
    board = db.session.get(Board, board_id) if 0 < board_id <= MAX_ID else None
    if board is None:
        raise NotFound()
    return board


def board_by_code(code: str) -> Board:
    board = db.session.scalar(select(Board).where(Board.join_code == (code or "").strip().upper()))
    if board is None or board.phase is Phase.closed:
        raise BadJoinCode()
    return board


def participant_for(board: Board, user=None, guest_token: str | None = None) -> Participant | None:
    if user is not None and getattr(user, "is_authenticated", False):
        return db.session.scalar(select(Participant).options(_participant_only())
                                 .where(Participant.board_id == board.id, Participant.user_id == user.id))
    if guest_token and "\x00" not in guest_token:  # never a token of ours; PostgreSQL text cannot hold it
        return db.session.scalar(select(Participant).options(_participant_only())
                                 .where(Participant.board_id == board.id, Participant.guest_token == guest_token))
    return None


def may_join(board: Board, user) -> bool:
    """Facilitators of the organisation; confirmed participants of the board's workshop."""
    if can_facilitate(user, board.organisation):
        return True
    if not (user and user.is_authenticated and user.is_verified):
        return False
    if board.workshop_id is None:
        return False

    return db.session.scalar(select(Registration.id).where(
        Registration.workshop_id == board.workshop_id, Registration.user_id == user.id,
        Registration.status == RegistrationStatus.confirmed)) is not None


def join(board: Board, user=None, *, guest_name: str | None = None, by_code: bool = False) -> Participant:
    """Enter a board: with an account (allowed people, or anyone holding the code), or as a named guest
    through the code when the facilitator allows guests. Removed people stay out."""
    existing = participant_for(board, user)
    if existing is not None:
        if existing.removed_at is not None:
            raise Removed()
        return existing
    if user is not None and user.is_authenticated:
        if not (may_join(board, user) or by_code):
            raise NotMember()
        fields = {"user_id": user.id, "is_facilitator": can_facilitate(user, board.organisation)}
    else:
        if not (board.allow_guests and by_code):
            raise GuestsNotAllowed()
        name = (guest_name or "").strip()
        if not 1 <= len(name) <= 60:
            raise InvalidInput(_l("Choisissez un nom d'affichage de 1 à 60 caractères."), code="guest_name")
        fields = {"guest_name": name, "guest_token": secrets.token_urlsafe(32)}
    board_id = board.id
    board = lock_board(board_id)
    participant = Participant(board_id=board_id, **fields)
    db.session.add(participant)
    try:
        db.session.flush()
    except IntegrityError:  # the same person joined from another tab meanwhile
        rollback()
        return participant_for(db.session.get(Board, board_id), user)
    announce_participant(board, participant, "participant_joined")
    commit(board_id)
    return participant


# --- changes (over the socket, or HTTP for the no-JS form) ---------------------------------------

def post_idea(board_id: int, participant_id: int, *, column_id: int, text: str, client_id: str | None = None) -> dict:
    """Post an idea (≤ 500 characters) to a column, within the per-person cap, during the brainstorm.

    Batchable, like a dot (every check comes before the idea is written): the posts waiting for a board's turn in
    this process go together, one lock and one commit, each with its own ``seq`` and ack."""
    text = (text or "").strip()

    def change(board, participant):
        require_phase(board, participant, Phase.brainstorm)
        require_idea_text(text)
        column = board_column(board, column_id)
        if board.idea_cap and not participant.is_facilitator:
            mine = db.session.scalar(select(func.count(Idea.id)).where(
                Idea.participant_id == participant.id, Idea.status != IdeaStatus.withdrawn))
            if mine >= board.idea_cap:
                raise IdeaCapReached()
        status = IdeaStatus.pending if board.moderation is Moderation.approve and not participant.is_facilitator \
            else IdeaStatus.visible
        idea = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text=text,
                    sort_key=key_between(_last_key(column.id), None), status=status)
        db.session.add(idea)
        db.session.flush()
        announce_idea(board, idea, "idea_posted", reactions={})  # a new idea has no reactions yet
        return {"idea_id": idea.id, "status": status.value}

    return run_change(board_id, participant_id, client_id, change, batchable=True)


def edit_idea(board_id: int, participant_id: int, *, idea_id: int, text: str, version: int | None = None,
              client_id: str | None = None) -> dict:
    """Edit one's idea until grouping starts (facilitators any time); last writer wins, with a version."""
    text = (text or "").strip()

    def change(board, participant):
        idea = board_idea(board, idea_id)
        if idea.status is IdeaStatus.withdrawn:
            raise UnknownIdea()
        if participant.is_facilitator:
            require_writable(board, participant)
        else:
            if idea.participant_id != participant.id:
                raise NotYourIdea()
            require_phase(board, participant, Phase.brainstorm)
        require_idea_text(text)
        overtaken = version is not None and version != idea.version
        idea.text, idea.version, idea.updated_at = text, idea.version + 1, utcnow()
        announce_idea(board, idea, "idea_edited")
        return {"idea_id": idea.id, "version": idea.version, "overtaken": overtaken}

    return run_change(board_id, participant_id, client_id, change)


def withdraw_idea(board_id: int, participant_id: int, *, idea_id: int, client_id: str | None = None) -> dict:
    """An author withdraws their idea until grouping starts."""
    def change(board, participant):
        idea = board_idea(board, idea_id)
        if idea.participant_id != participant.id:
            raise NotYourIdea()
        require_phase(board, participant, Phase.brainstorm)
        if idea.status is IdeaStatus.withdrawn:
            return {"idea_id": idea.id}
        idea.status, idea.version = IdeaStatus.withdrawn, idea.version + 1
        _refund_dots(board, idea)
        if board.focused_idea_id == idea.id:
            board.focused_idea_id = None
            emit(board, "focus_changed", {"idea_id": None})
        announce_idea(board, idea, "idea_withdrawn")
        return {"idea_id": idea.id}

    return run_change(board_id, participant_id, client_id, change)


def move_idea(board_id: int, participant_id: int, *, idea_id: int, column_id: int, before_id: int | None = None,
              after_id: int | None = None, client_id: str | None = None) -> dict:
    """A facilitator moves an idea to a column, between two neighbours (one row written)."""
    def change(board, participant):
        require_facilitator(board, participant.id)
        require_writable(board, participant)
        idea = board_idea(board, idea_id)
        column = board_column(board, column_id)
        before = board_idea(board, before_id) if before_id is not None else None
        after = board_idea(board, after_id) if after_id is not None else None
        for neighbour in (before, after):
            if neighbour is not None and (neighbour.column_id != column.id or neighbour.id == idea.id):
                raise InvalidInput(_l("Position invalide."), code="bad_position")
        # The key goes strictly between the two ideas that will surround this one. With one neighbour
        # given, the other side is the idea next to it (not the column's end, whose key it could equal);
        # two neighbours that are no longer next to each other mean the client's view is stale.
        if before is not None:
            low = before.sort_key
            high = _next_key(column.id, idea.id, low)
            if after is not None and high != after.sort_key:
                raise InvalidInput(_l("Position invalide."), code="bad_position")
        elif after is not None:
            low, high = _previous_key(column.id, idea.id, after.sort_key), after.sort_key
        else:
            low, high = _last_key(column.id, exclude=idea.id), None
        left = set()
        if idea.column_id != column.id and idea.cluster_id is not None:
            left.add(idea.cluster_id)
            idea.cluster_id = None
        idea.column_id, idea.sort_key = column.id, key_between(low, high)
        idea.version += 1
        announce_idea(board, idea, "idea_moved")
        _drop_empty_clusters(board, left)
        return {"idea_id": idea.id, "sort_key": idea.sort_key}

    return run_change(board_id, participant_id, client_id, change)


def react(board_id: int, participant_id: int, *, idea_id: int, kind: str, on: bool = True,
          client_id: str | None = None) -> dict:
    """Add or remove one of the fixed reactions."""
    if kind not in REACTIONS:
        raise InvalidInput(_l("Réaction inconnue."), code="unknown_reaction")

    def change(board, participant):
        require_writable(board, participant)
        idea = board_idea(board, idea_id)
        if idea.status is not IdeaStatus.visible:
            raise UnknownIdea()
        existing = db.session.scalar(select(Reaction).where(Reaction.participant_id == participant.id,
                                                            Reaction.idea_id == idea.id, Reaction.kind == kind))
        if on and existing is None:
            db.session.add(Reaction(board_id=board.id, participant_id=participant.id, idea_id=idea.id, kind=kind))
        elif not on and existing is not None:
            db.session.delete(existing)
        db.session.flush()
        counts = reaction_counts([idea.id]).get(idea.id, {})
        audience = Audience.facilitators if hidden_from_participants(idea, board) else Audience.everyone
        emit(board, "reactions_changed", {"idea_id": idea.id, "reactions": counts}, audience)
        return {"idea_id": idea.id, "reactions": counts}

    return run_change(board_id, participant_id, client_id, change)


def vote(board_id: int, participant_id: int, *, idea_id: int, delta: int, client_id: str | None = None) -> dict:
    """Place (+1) or remove (-1) a dot during voting, within the budget and the per-idea cap.

    Dots of one board are applied in batches (``run_change(batchable=True)``): the batch reads the board's
    idea totals and its voters' dots once under the board lock, every check of a dot comes before it counts
    (so a refused dot changes nothing), and the batch writes the new totals, dots and budgets at its end —
    hundreds of people voting at once cost one lock, a few statements and one commit per batch."""
    if delta not in (1, -1):
        raise InvalidInput(_l("Un vote ajoute ou retire une gommette."), code="bad_delta")

    def change(board, participant):
        require_writable(board, participant)
        if board.phase is not Phase.voting:
            raise WrongPhase(_l("Le vote n'est pas ouvert."))
        batch = current_batch()
        batch.load_votes(board.id)
        idea = batch.ideas.get(idea_id)
        if idea is None or idea[0] is not IdeaStatus.visible:
            raise UnknownIdea()
        key = (participant.id, idea_id)
        dot = batch.dots.get(key) or [None, 0]
        used = batch.used.get(participant.id, participant.dots_used)
        if delta > 0:
            if used >= board.dot_budget:
                raise BudgetSpent()
            if board.dot_cap and dot[1] >= board.dot_cap:
                raise DotCapReached()
        elif dot[1] == 0:
            raise NoDotToRemove()
        batch.dots[key] = dot
        dot[1] += delta
        idea[1] += delta
        batch.used[participant.id] = dots_used = used + delta
        batch.changed_dots.add(key)
        batch.changed_ideas.add(idea_id)
        votes, mine = idea[1], dot[1]
        emit(board, "votes_changed", {"idea_id": idea_id, "votes": votes}, Audience.facilitators)
        if votes_visible(board):  # hidden until the end of voting: only the voter and the facilitators hear
            emit(board, "votes_changed", {"idea_id": idea_id, "votes": votes}, Audience.participants)
        dots_left = board.dot_budget - dots_used
        emit(board, "my_dots_changed", {"idea_id": idea_id, "mine": mine, "dots_left": dots_left},
             Audience.participant, participant.id)
        return {"idea_id": idea_id, "mine": mine, "dots_left": dots_left}

    return run_change(board_id, participant_id, client_id, change, batchable=True)


def _refund_dots(board: Board, idea: Idea) -> None:
    """Dots on an idea that leaves the board go back to their owners."""
    for dot in db.session.scalars(select(Dot).where(Dot.idea_id == idea.id)).all():
        db.session.execute(update(Participant).where(Participant.id == dot.participant_id)
                           .values(dots_used=Participant.dots_used - dot.count))
        emit(board, "my_dots_changed", {"idea_id": idea.id, "mine": 0, "refunded": dot.count},
             Audience.participant, dot.participant_id)
        db.session.delete(dot)
    idea.votes = 0


def set_ready(board_id: int, participant_id: int, *, ready: bool, client_id: str | None = None) -> dict:
    """Mark oneself ready (or not); a locked or closed board is read-only for this too."""
    def change(board, participant):
        require_writable(board, participant)
        participant.ready = bool(ready)
        emit(board, "participant_ready", {"participant_id": participant.id, "ready": participant.ready})
        return {"ready": participant.ready}

    return run_change(board_id, participant_id, client_id, change)


# --- facilitation ---------------------------------------------------------------------------------

def update_settings(board_id: int, participant_id: int, *, settings: dict, client_id: str | None = None) -> dict:
    """Change board settings at any moment. Revealing (hide_ideas off) sends the ideas now visible."""
    clean = clean_settings(settings)

    def change(board, participant):
        require_facilitator(board, participant.id)
        was_hidden, was_anonymous, votes_were_visible = board.hide_ideas, board.anonymous, votes_visible(board)
        for name, value in clean.items():
            setattr(board, name, value)
        board.version += 1
        emit(board, "settings_changed", {"settings": settings_view(board)})
        # Never while ideas are hidden: the refreshed list carries every visible idea's text.
        if not board.hide_ideas and (was_hidden or was_anonymous != board.anonymous):
            announce_visible_ideas(board, "ideas_revealed" if was_hidden else "ideas_refreshed")
        if not votes_were_visible and votes_visible(board):
            announce_vote_totals(board)
        return {"settings": settings_view(board)}

    return run_change(board_id, participant_id, client_id, change)


def set_phase(board_id: int, participant_id: int, *, phase: str, client_id: str | None = None) -> dict:
    """Move the session to a phase (facilitators). Closing makes the board read-only."""
    target = enum_member(Phase, phase) if isinstance(phase, str) else None
    if target is None:
        raise InvalidInput(_l("Phase inconnue."), code="unknown_phase")

    def change(board, participant):
        require_facilitator(board, participant.id)
        if board.phase is Phase.closed and target is not Phase.closed:
            raise WrongPhase(_l("La séance est terminée."))
        votes_were_visible = votes_visible(board)
        board.phase = target
        board.closed_at = utcnow() if target is Phase.closed else None
        board.version += 1
        emit(board, "phase_changed", {"phase": target.value})
        if not votes_were_visible and votes_visible(board):
            announce_vote_totals(board)
        return {"phase": target.value}

    return run_change(board_id, participant_id, client_id, change)


def control_timer(board_id: int, participant_id: int, *, action: str, seconds: int | None = None,
                  client_id: str | None = None) -> dict:
    """Start, pause, resume, add time or stop; the end time is held by the server."""
    if action not in ("start", "pause", "resume", "add", "stop"):
        raise InvalidInput(code="bad_timer_action")
    if action in ("start", "add") and (not isinstance(seconds, int) or isinstance(seconds, bool)
                                       or not 1 <= seconds <= 4 * 3600):
        raise InvalidInput(_l("Une durée de 1 seconde à 4 heures."), code="bad_duration")

    def change(board, participant):
        require_facilitator(board, participant.id)
        now = utcnow()
        if action == "start":
            board.timer_ends_at, board.timer_paused_seconds = now + timedelta(seconds=seconds), None
        elif action == "pause" and board.timer_ends_at:
            board.timer_paused_seconds = max(0, int((board.timer_ends_at - now).total_seconds()))
            board.timer_ends_at = None
        elif action == "resume" and board.timer_paused_seconds is not None:
            board.timer_ends_at = now + timedelta(seconds=board.timer_paused_seconds)
            board.timer_paused_seconds = None
        elif action == "add":
            if board.timer_ends_at:
                board.timer_ends_at = max(board.timer_ends_at, now) + timedelta(seconds=seconds)
            elif board.timer_paused_seconds is not None:
                board.timer_paused_seconds += seconds
            else:
                board.timer_ends_at = now + timedelta(seconds=seconds)
        elif action == "stop":
            board.timer_ends_at = board.timer_paused_seconds = None
        emit(board, "timer_changed", {"timer": timer_view(board)})
        return {"timer": timer_view(board)}

    return run_change(board_id, participant_id, client_id, change)


def moderate_idea(board_id: int, participant_id: int, *, idea_id: int, action: str, reason: str = "",
                  client_id: str | None = None) -> dict:
    """Approve a pending idea, or hide an idea with a reason (kept in the moderation log), or show it again."""
    if action not in ("approve", "hide", "show"):
        raise InvalidInput(code="bad_moderation_action")
    reason = (reason or "").strip()[:300]

    def change(board, participant):
        facilitator = require_facilitator(board, participant.id)
        idea = board_idea(board, idea_id)
        if idea.status is IdeaStatus.withdrawn:  # its author took it back: "show" must not publish it again
            raise UnknownIdea()
        if action == "hide":
            if not reason:
                raise InvalidInput(_l("Indiquez le motif du masquage."), code="reason_required")
            idea.status, idea.hidden_reason = IdeaStatus.hidden, reason
            _refund_dots(board, idea)
            if board.focused_idea_id == idea.id:
                board.focused_idea_id = None
                emit(board, "focus_changed", {"idea_id": None})
        else:
            idea.status, idea.hidden_reason = IdeaStatus.visible, ""
        idea.version += 1
        db.session.add(ModerationEntry(board_id=board.id, idea_id=idea.id, actor_id=facilitator.user_id,
                                       action=action, reason=reason))
        announce_idea(board, idea, "idea_moderated")
        return {"idea_id": idea.id, "status": idea.status.value}

    return run_change(board_id, participant_id, client_id, change)


def focus_idea(board_id: int, participant_id: int, *, idea_id: int | None, client_id: str | None = None) -> dict:
    def change(board, participant):
        require_facilitator(board, participant.id)
        if idea_id is not None:
            idea = board_idea(board, idea_id)
            if idea.status is not IdeaStatus.visible:
                raise UnknownIdea()
        board.focused_idea_id = idea_id
        emit(board, "focus_changed", {"idea_id": idea_id})
        return {"idea_id": idea_id}

    return run_change(board_id, participant_id, client_id, change)


def group_ideas(board_id: int, participant_id: int, *, idea_ids: list, name: str = "", cluster_id: int | None = None,
                client_id: str | None = None) -> dict:
    """Group ideas of one column into a named cluster (a new one, or an existing one)."""
    name = (name or "").strip()
    if not isinstance(idea_ids, list) or not idea_ids or len(idea_ids) > 200:
        raise InvalidInput(code="bad_idea_ids")

    def change(board, participant):
        require_facilitator(board, participant.id)
        require_writable(board, participant)
        ideas = [board_idea(board, i) for i in idea_ids]
        columns = {i.column_id for i in ideas}
        if cluster_id is not None:
            cluster = board_cluster(board, cluster_id)
            columns.add(cluster.column_id)
        else:
            if not 1 <= len(name) <= 120:
                raise InvalidInput(_l("Donnez un nom au groupe (120 caractères au plus)."), code="cluster_name")
            if len(columns) != 1:
                raise InvalidInput(_l("On regroupe des idées d'une même colonne."), code="mixed_columns")
            cluster = Cluster(board_id=board.id, column_id=ideas[0].column_id, name=name)
            db.session.add(cluster)
            db.session.flush()
        if len(columns) != 1:
            raise InvalidInput(_l("On regroupe des idées d'une même colonne."), code="mixed_columns")
        for idea in ideas:
            idea.cluster_id, idea.version = cluster.id, idea.version + 1
        emit(board, "ideas_grouped", {"cluster": cluster_view(cluster), "idea_ids": [i.id for i in ideas]})
        return {"cluster_id": cluster.id}

    return run_change(board_id, participant_id, client_id, change)


def _drop_empty_clusters(board: Board, cluster_ids: set[int]) -> None:
    """A cluster whose last idea left it is deleted (no empty groups stay on the board)."""
    if not cluster_ids:
        return
    db.session.flush()
    still_used = set(db.session.scalars(select(Idea.cluster_id).where(Idea.cluster_id.in_(cluster_ids)).distinct()))
    for cluster_id in sorted(cluster_ids - still_used):
        db.session.execute(delete(Cluster).where(Cluster.id == cluster_id, Cluster.board_id == board.id))
        emit(board, "cluster_removed", {"cluster_id": cluster_id})


def ungroup(board_id: int, participant_id: int, *, idea_ids: list | None = None, cluster_id: int | None = None,
            client_id: str | None = None) -> dict:
    """Take ideas out of their cluster, or dissolve a whole cluster."""
    def change(board, participant):
        require_facilitator(board, participant.id)
        require_writable(board, participant)
        if cluster_id is not None:
            cluster = board_cluster(board, cluster_id)
            ideas = list(db.session.scalars(select(Idea).where(Idea.cluster_id == cluster.id)))
        elif isinstance(idea_ids, list) and idea_ids and len(idea_ids) <= 200:
            ideas = [board_idea(board, i) for i in idea_ids]
        else:
            raise InvalidInput(code="bad_idea_ids")
        left = {i.cluster_id for i in ideas if i.cluster_id is not None}
        if cluster_id is not None:
            left.add(cluster_id)
        for idea in ideas:
            idea.cluster_id, idea.version = None, idea.version + 1
        emit(board, "ideas_ungrouped", {"idea_ids": [i.id for i in ideas], "cluster_id": cluster_id})
        _drop_empty_clusters(board, left)
        return {"idea_ids": [i.id for i in ideas]}

    return run_change(board_id, participant_id, client_id, change)


def remove_participant(board_id: int, participant_id: int, *, target_id: int, client_id: str | None = None) -> dict:
    """A facilitator removes someone from the session; their live connections close at once."""
    def change(board, participant):
        require_facilitator(board, participant.id)
        target = db.session.get(Participant, target_id) if isinstance(target_id, int) else None
        if target is None or target.board_id != board.id or target.is_facilitator:
            raise NotFound(_l("Cette personne ne participe pas à ce tableau."), code="unknown_participant")
        target.removed_at = utcnow()
        db.session.add(ModerationEntry(board_id=board.id, participant_id=target.id, actor_id=participant.user_id,
                                       action="remove"))
        emit(board, "participant_removed", {"participant_id": target.id})
        return {"participant_id": target.id}

    return run_change(board_id, participant_id, client_id, change)


# --- jobs ------------------------------------------------------------------------------------------

def purge_guest_names(now: datetime | None = None) -> int:
    """Periodic job: erase guests' display names some days after their board closed (ideas stay)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["BOARD_GUEST_RETENTION_DAYS"])
    boards = db.session.scalars(select(Board.id).where(Board.closed_at <= cutoff,
                                                       Board.guests_purged_at.is_(None))).all()
    erased = 0
    for board_id in boards:
        erased += db.session.execute(update(Participant).where(Participant.board_id == board_id,
                                                               Participant.user_id.is_(None))
                                     .values(guest_name="")
                                     .execution_options(synchronize_session=False)).rowcount
        db.session.execute(update(Board).where(Board.id == board_id).values(guests_purged_at=now)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return erased


# --- « Mes données » -----------------------------------------------------------------------------

def personal_data(user: User) -> dict:
    """What the boards area holds about a person (for « Mes données »): the boards they joined, their ideas, dots
    and reactions there, the receipts of their changes, their removals, and, as a facilitator, the boards they
    created and the moderation they did. Other people appear by what was acted on (an idea's text), never by name."""

    mine = select(Participant.id).where(Participant.user_id == user.id).scalar_subquery()

    def on_boards(*columns, join_on, where, order):
        return db.session.execute(select(*columns, Board.title).join(Board, Board.id == join_on)
                                  .where(where).order_by(*order)).all()

    participations = on_boards(Participant, join_on=Participant.board_id, where=Participant.user_id == user.id,
                               order=(Participant.joined_at, Participant.id))
    ideas = db.session.execute(
        select(Idea, Board.title, BoardColumn.title, Cluster.name).join(Board, Board.id == Idea.board_id)
        .join(BoardColumn, BoardColumn.id == Idea.column_id).outerjoin(Cluster, Cluster.id == Idea.cluster_id)
        .where(Idea.participant_id.in_(mine)).order_by(Idea.created_at, Idea.id)).all()
    dots = db.session.execute(select(Dot.count, Idea.text, Board.title).join(Idea, Idea.id == Dot.idea_id)
                              .join(Board, Board.id == Dot.board_id).where(Dot.participant_id.in_(mine))
                              .order_by(Dot.id)).all()
    reactions = db.session.execute(select(Reaction.kind, Idea.text, Board.title).join(Idea, Idea.id == Reaction.idea_id)
                                   .join(Board, Board.id == Reaction.board_id)
                                   .where(Reaction.participant_id.in_(mine)).order_by(Reaction.id)).all()
    receipts = db.session.execute(
        select(ClientChange.client_id, ClientChange.created_at, Board.title)
        .join(Participant, Participant.id == ClientChange.participant_id).join(Board, Board.id == Participant.board_id)
        .where(ClientChange.participant_id.in_(mine)).order_by(ClientChange.created_at, ClientChange.id)).all()
    removals = on_boards(ModerationEntry, join_on=ModerationEntry.board_id,
                         where=ModerationEntry.participant_id.in_(mine),
                         order=(ModerationEntry.created_at, ModerationEntry.id))
    actions = db.session.execute(
        select(ModerationEntry, Board.title, Idea.text).join(Board, Board.id == ModerationEntry.board_id)
        .outerjoin(Idea, Idea.id == ModerationEntry.idea_id).where(ModerationEntry.actor_id == user.id)
        .order_by(ModerationEntry.created_at, ModerationEntry.id)).all()
    created = db.session.scalars(select(Board).where(Board.created_by_id == user.id)
                                 .order_by(Board.created_at, Board.id)).all()
    return {
        "participations": [{"board": title, "joined_at": iso(p.joined_at), "facilitator": p.is_facilitator,
                            "dots_used": p.dots_used, "ready": p.ready, "removed_at": iso(p.removed_at)}
                           for p, title in participations],
        "ideas": [{"board": title, "column": column, "group": group, "text": i.text, "status": i.status.value,
                   "hidden_reason": i.hidden_reason or None, "dots_received": i.votes,
                   "created_at": iso(i.created_at), "updated_at": iso(i.updated_at)}
                  for i, title, column, group in ideas],
        "votes": [{"board": title, "idea": text, "dots": count} for count, text, title in dots],
        "reactions": [{"board": title, "idea": text, "reaction": kind} for kind, text, title in reactions],
        # Kept so that a change resent by a screen that lost its connection is not applied twice.
        "change_receipts": [{"board": title, "change_id": client_id, "received_at": iso(at)}
                            for client_id, at, title in receipts],
        "removals": [{"board": title, "reason": e.reason, "at": iso(e.created_at)} for e, title in removals],
        "moderation_actions": [{"board": title, "action": e.action, "idea": text, "reason": e.reason,
                                "at": iso(e.created_at)} for e, title, text in actions],
        "created": [{"title": b.title, "organisation": b.organisation.name, "created_at": iso(b.created_at),
                     "closed_at": iso(b.closed_at)} for b in created],
    }
