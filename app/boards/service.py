"""Board use cases. Each change is one short transaction under the board's row lock: it re-checks the
rules from the database, writes, numbers its events (``Board.seq``), stores them for resync, commits,
then sends ``signals.board_events`` so the realtime layer broadcasts them after commit.
"""

import json
import logging
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from .. import signals
from ..accounts.models import User, utcnow
from ..catalog.models import Organisation
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound, is_database_unavailable
from ..extensions import db
from ..permissions import can_facilitate
from ..queues import KeyedQueue
from . import statements
from .models import (
    PHASE_ORDER,
    REACTIONS,
    Audience,
    Board,
    BoardColumn,
    BoardEvent,
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

log = logging.getLogger(__name__)

IDEA_MAX = 500
MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns on PostgreSQL
GUEST_LABEL = _l("invité·e")
ANONYMOUS_LABEL = _l("anonyme")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# --- errors --------------------------------------------------------------------------------------

class WrongPhase(DomainError):
    code = "wrong_phase"
    message = _l("Ce n'est pas possible pendant cette phase de la séance.")


class BoardLocked(DomainError):
    code = "locked"
    message = _l("Le tableau est verrouillé : il est en lecture seule.")


class BudgetSpent(DomainError):
    code = "budget_spent"
    message = _l("Vous avez déjà placé toutes vos gommettes.")


class DotCapReached(DomainError):
    code = "dot_cap_reached"
    message = _l("Vous avez placé le maximum de gommettes sur cette idée.")


class NoDotToRemove(DomainError):
    code = "no_dot"
    message = _l("Vous n'avez pas de gommette sur cette idée.")


class IdeaCapReached(DomainError):
    code = "idea_cap_reached"
    message = _l("Vous avez atteint le nombre maximal d'idées pour ce tableau.")


class NotMember(NotAllowed):
    code = "not_member"
    message = _l("Vous ne participez pas à ce tableau.")


class Removed(NotAllowed):
    code = "removed"
    message = _l("Vous avez été retiré·e de cette séance.")


class UnknownIdea(NotFound):
    code = "unknown_idea"
    message = _l("Cette idée n'existe pas sur ce tableau.")


class UnknownColumn(NotFound):
    code = "unknown_column"
    message = _l("Cette colonne n'existe pas sur ce tableau.")


class NotYourIdea(NotAllowed):
    code = "not_your_idea"
    message = _l("Vous ne pouvez modifier que vos propres idées.")


class GuestsNotAllowed(NotAllowed):
    code = "guests_not_allowed"
    message = _l("Ce tableau n'accepte pas les invité·es sans compte.")


class BadJoinCode(NotFound):
    code = "bad_join_code"
    message = _l("Ce code ne correspond à aucun tableau ouvert.")


class StaleVersion(Conflict):
    code = "stale_version"
    message = _l("Quelqu'un a modifié cet élément entre-temps : la version à jour est affichée.")


# --- helpers -------------------------------------------------------------------------------------

def _join_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if db.session.scalar(select(Board.id).where(Board.join_code == code)) is None:
            return code


# Hot path (every change): load what the rules read in as few round trips as possible, and not the eager
# relationships the pages want: the board's workshop is never read here; an account's memberships (read on first
# use otherwise) only where the facilitator role is re-checked, and then joined.
def _participant_only():
    return joinedload(Participant.user)


def _participant_with_roles():
    return joinedload(Participant.user).joinedload(User.memberships)


def _idea_with_author():
    return joinedload(Idea.participant).joinedload(Participant.user)


def _lock(board_id: int) -> Board:
    begin_write()
    board = db.session.scalars(select(Board).where(Board.id == board_id).with_for_update(of=Board)
                               .options(lazyload(Board.workshop))
                               .execution_options(populate_existing=True)).one_or_none()
    if board is None:
        raise NotFound()
    return board


def _pending() -> list[dict]:
    return db.session.info.setdefault("board_events", [])


def _emit(board: Board, name: str, payload: dict, audience: Audience = Audience.everyone,
          participant_id: int | None = None) -> None:
    """Add an event to the change under way; it is stored at commit (one INSERT for all of a transaction's events),
    then broadcast. A change moves the board's ``seq`` by one at its first event, and all its events share it,
    ordered by their position (``_end_change`` closes the change)."""
    info = db.session.info
    if info.get("change_seq") is None:
        board.seq += 1
        info["change_seq"], info["change_position"] = board.seq, 0
    position = info["change_position"]
    info["change_position"] = position + 1
    for shared in _AUDIENCES_OF[audience]:  # the first event of the change for an audience: it names the last one
        seen = f"{shared}_seq"
        if getattr(board, seen) != board.seq:
            info.setdefault("change_after", {}).setdefault(board.seq, {})[shared] = getattr(board, seen)
            setattr(board, seen, board.seq)
    _pending().append({"board_id": board.id, "seq": board.seq, "position": position, "name": name,
                       "audience": audience, "participant_id": participant_id,
                       "payload": json.dumps(payload, ensure_ascii=False), "data": payload})


# Which audience's ``change`` an event goes in: both for everyone's, none for one person's own.
_AUDIENCES_OF = {Audience.everyone: ("facilitators", "participants"), Audience.facilitators: ("facilitators",),
                 Audience.participants: ("participants",), Audience.participant: ()}


def _afters() -> dict[int, dict[str, int]]:
    """For each change of this transaction, the previous change each audience was sent (``after``)."""
    return db.session.info.get("change_after", {})


def _end_change() -> None:
    """The next event starts a new change (a new ``seq``): called between the changes of one transaction, and at
    its end."""
    db.session.info["change_seq"] = None


def event_dict(event: BoardEvent) -> dict:
    return {"seq": event.seq, "position": event.position, "name": event.name, "audience": event.audience.value,
            "participant_id": event.participant_id, "payload": json.loads(event.payload)}


def _commit(board_id: int) -> None:
    """Store the change's events, commit, then hand them to the realtime layer (never broadcast before commit)."""
    pending = _pending()
    if pending:
        db.session.execute(insert(BoardEvent.__table__), [{k: v for k, v in e.items() if k != "data"} for e in pending])
    afters = _afters()
    db.session.commit()
    db.session.info["board_events"], db.session.info["change_after"] = [], {}
    _end_change()
    _broadcast(board_id, pending, afters)


def _broadcast(board_id: int, pending: list[dict], afters: dict[int, dict[str, int]]) -> None:
    """Hand committed events (``_emit``'s) to the realtime layer, with each change's ``after`` per audience."""
    if not pending:
        return
    try:
        signals.board_events.send(board_id, afters=afters, events=[
            {"seq": e["seq"], "position": e["position"], "name": e["name"], "audience": e["audience"].value,
             "participant_id": e["participant_id"], "payload": e["data"]} for e in pending])
    except Exception:  # committed: the change stands (a batch must not be applied again); rejoins catch up
        log.exception("board %s: events %s to %s committed but not broadcast", board_id, pending[0]["seq"],
                      pending[-1]["seq"])


def _rollback() -> None:
    db.session.rollback()
    db.session.info["board_events"], db.session.info["change_after"] = [], {}
    _end_change()


def phase_index(phase: Phase) -> int:
    return PHASE_ORDER.index(phase)


def votes_visible(board: Board) -> bool:
    """Vote counts show to participants unless hidden until the end of voting."""
    return not board.hide_votes or phase_index(board.phase) > phase_index(Phase.voting)


def author_label(idea: Idea, board: Board, for_facilitator: bool) -> str | None:
    if board.anonymous and not for_facilitator:
        return None
    p = idea.participant
    if p.user_id is None:
        return p.guest_name or str(GUEST_LABEL)
    return p.user.public_name if p.user else str(GUEST_LABEL)


def idea_view(idea: Idea, board: Board, *, for_facilitator: bool, mine: bool = False,
              reactions: dict | None = None) -> dict:
    """What one audience may see of an idea. Anonymous authors and hidden votes never reach participants."""
    view = {"id": idea.id, "column_id": idea.column_id, "cluster_id": idea.cluster_id, "sort_key": idea.sort_key,
            "text": idea.text, "status": idea.status.value, "version": idea.version,
            "author": author_label(idea, board, for_facilitator), "mine": mine,
            "reactions": reactions or {}}
    if for_facilitator or votes_visible(board):
        view["votes"] = idea.votes
    if for_facilitator:
        view["author_participant_id"] = idea.participant_id
        view["hidden_reason"] = idea.hidden_reason
    return view


def _hidden_from_participants(idea: Idea, board: Board) -> bool:
    return idea.status is not IdeaStatus.visible or board.hide_ideas


def _announce_idea(board: Board, idea: Idea, name: str, reactions: dict | None = None) -> None:
    """Emit an idea change to each audience with what it may see (the server never sends hidden text)."""
    if reactions is None:
        reactions = _reaction_counts([idea.id]).get(idea.id, {})
    _emit(board, name, {"idea": idea_view(idea, board, for_facilitator=True, reactions=reactions)},
          Audience.facilitators)
    author = idea.participant
    if not author.is_facilitator:
        _emit(board, name, {"idea": idea_view(idea, board, for_facilitator=False, mine=True, reactions=reactions)},
              Audience.participant, author.id)
    if idea.status is not IdeaStatus.visible:
        _emit(board, "idea_removed", {"id": idea.id}, Audience.participants)
    elif board.hide_ideas:
        _emit(board, "idea_placeholder", {"id": idea.id, "column_id": idea.column_id}, Audience.participants)
    else:
        _emit(board, name, {"idea": idea_view(idea, board, for_facilitator=False, reactions=reactions)},
              Audience.participants)


def _reaction_counts(idea_ids: list[int]) -> dict[int, dict[str, int]]:
    if not idea_ids:
        return {}
    counts: dict[int, dict[str, int]] = {}
    for idea_id, kind, n in db.session.execute(
            select(Reaction.idea_id, Reaction.kind, func.count()).where(Reaction.idea_id.in_(idea_ids))
            .group_by(Reaction.idea_id, Reaction.kind)):
        counts.setdefault(idea_id, {})[kind] = n
    return counts


def _participant(board: Board, participant_id: int) -> Participant:
    """The acting participant, re-read under the board lock: removed people are refused, and the
    facilitator role follows the person's current membership (a withdrawn role stops working at once)."""
    participant = db.session.get(Participant, participant_id, populate_existing=True,
                                 options=[_participant_with_roles()])
    if participant is None or participant.board_id != board.id:
        raise NotMember()
    if participant.removed_at is not None:
        raise Removed()
    if participant.user is not None:
        role = can_facilitate(participant.user, board.organisation)
        if role != participant.is_facilitator:
            participant.is_facilitator = role
            _emit_participant(board, participant, "participant_role_changed")
    return participant


def _emit_participant(board: Board, participant: Participant, name: str) -> None:
    _emit(board, name, {"participant": participant_view(participant, board, True)}, Audience.facilitators)
    _emit(board, name, {"participant": participant_view(participant, board, False)}, Audience.participants)


def sync_role(board_id: int, participant_id: int) -> Participant:
    """Store the facilitator role the person holds now (their membership may have been withdrawn or
    granted since they joined). A change sends ``participant_role_changed``: the realtime layer then
    closes their connections, which rejoin with the right audience."""
    try:
        board = _lock(board_id)
        participant = _participant(board, participant_id)
        _commit(board_id)
        return participant
    except Exception:
        _rollback()
        raise


def _facilitator(board: Board, participant_id: int) -> Participant:
    participant = _participant(board, participant_id)
    if not participant.is_facilitator:
        raise NotAllowed()
    return participant


def _idea(board: Board, idea_id) -> Idea:
    idea = db.session.get(Idea, idea_id, options=[_idea_with_author()]) if isinstance(idea_id, int) else None
    if idea is None or idea.board_id != board.id:
        raise UnknownIdea()
    return idea


def _column(board: Board, column_id) -> BoardColumn:
    column = db.session.get(BoardColumn, column_id) if isinstance(column_id, int) else None
    if column is None or column.board_id != board.id:
        raise UnknownColumn()
    return column


def _writable(board: Board, participant: Participant) -> None:
    if board.phase is Phase.closed:
        raise WrongPhase(_l("La séance est terminée : le tableau est en lecture seule."))
    if board.locked and not participant.is_facilitator:
        raise BoardLocked()


def _in_phase(board: Board, participant: Participant, *phases: Phase) -> None:
    _writable(board, participant)
    if board.phase not in phases and not participant.is_facilitator:
        raise WrongPhase()


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


# Changes of one board queue here, in this process, holding no database connection: the board's row lock stays
# the real guard (other processes, HTTP), but a handler waiting on it would hold a pooled connection, and a burst on
# one board (a thousand people voting at once) would empty the pool and answer ``server_error`` after
# ``pool_timeout``. Batchable changes (dots) are applied by whoever gets the board's turn, all at once.
BATCH_MAX = 200
_boards = KeyedQueue(BATCH_MAX)


# The account a live connection's session names, as (user id, session version), while its change runs: the change
# checks it against the user row it reads anyway with the participant, under the board lock, so a session revoked
# in another process (log out everywhere, account deleted) is refused at its next event without a read of its own.
_session_account: ContextVar[tuple[int, int] | None] = ContextVar("board_session_account", default=None)


@contextmanager
def acting_session(account: tuple[int, int] | None):
    """Changes run inside this block are refused (``NotMember``) unless ``account`` — (user id, session version),
    or None for a guest or a caller that checked the account itself — still holds."""
    token = _session_account.set(account)
    try:
        yield
    finally:
        _session_account.reset(token)


def _session_holds(participant: Participant, account: tuple[int, int] | None) -> bool:
    if account is None:
        return True
    user = participant.user
    return user is not None and user.id == account[0] and user.session_version == account[1] \
        and not user.is_deleted


class _Queued:
    """A batchable change waiting for this process's next batch of its board."""

    __slots__ = ("participant_id", "client_id", "change", "account", "done", "result", "error")

    def __init__(self, participant_id: int, client_id: str | None, change, account: tuple[int, int] | None):
        self.participant_id, self.client_id, self.change, self.account = participant_id, client_id, change, account
        self.done, self.result, self.error = False, None, None


def run_change(board_id: int, participant_id: int, client_id: str | None, change, *, batchable: bool = False) -> dict:
    """Apply ``change(board, participant) -> ack`` once per client-made id, under the board lock.

    A resend with the same ``client_id`` returns the stored ack and applies nothing.

    ``batchable`` changes (every check before the first write, so a refusal writes nothing) queue per board:
    whoever gets the board's turn applies every change waiting at that moment in one transaction — one
    board lock, one INSERT of events, one commit — and hands each waiter its own ack or refusal.
    """
    account = _session_account.get()
    if batchable:
        item = _Queued(participant_id, client_id, change, account)
        db.session.rollback()  # give the connection back before queueing, as below
        _boards.combine(board_id, item, lambda items: _run_batch(board_id, items))
        if item.error is not None:
            raise item.error
        return item.result
    if client_id:
        stored = db.session.scalar(select(ClientChange.result).where(ClientChange.participant_id == participant_id,
                                                                     ClientChange.client_id == client_id))
        if stored is not None:
            db.session.rollback()
            return {**json.loads(stored), "replayed": True}
    db.session.rollback()  # give the connection back before queueing
    with _boards.hold(board_id):
        return _run_change(board_id, participant_id, client_id, change, account)


class _Batch:
    """What the changes of one batch share, read once under the board lock and written once before its commit.

    Dots: the board's ideas (status, total) and the batch's people's dots, read on the first dot; each dot
    then only counts in memory, and ``flush`` writes every changed total, dot and budget in a few
    multi-row statements. Safe because every change of a board's counts holds the board's row lock."""

    def __init__(self, participant_ids: set[int]):
        self.participant_ids = participant_ids
        self.board_id: int | None = None
        self.ideas: dict[int, list] | None = None  # idea id -> [status, votes]
        self.dots: dict[tuple[int, int], list] = {}  # (participant id, idea id) -> [dot id or None, count]
        self.used: dict[int, int] = {}  # participant id -> dots used
        self.changed_ideas: set[int] = set()
        self.changed_dots: set[tuple[int, int]] = set()

    def load_votes(self, board_id: int) -> None:
        if self.ideas is not None:
            return
        self.board_id = board_id
        ideas, dots = Idea.__table__, Dot.__table__
        self.ideas = {row.id: [IdeaStatus(row.status), row.votes] for row in db.session.execute(
            select(ideas.c.id, ideas.c.status, ideas.c.votes).where(ideas.c.board_id == board_id))}
        self.dots = {(row.participant_id, row.idea_id): [row.id, row.count] for row in db.session.execute(
            select(dots.c.id, dots.c.participant_id, dots.c.idea_id, dots.c.count)
            .where(dots.c.board_id == board_id, dots.c.participant_id.in_(self.participant_ids)))}

    def flush(self) -> None:
        ideas, dots, participants = Idea.__table__, Dot.__table__, Participant.__table__
        if self.used:
            db.session.execute(update(participants).where(participants.c.id == bindparam("pid"))
                               .values(dots_used=bindparam("used")),
                               [{"pid": pid, "used": used} for pid, used in self.used.items()])
        if self.changed_ideas:
            db.session.execute(update(ideas).where(ideas.c.id == bindparam("iid")).values(votes=bindparam("total")),
                               [{"iid": iid, "total": self.ideas[iid][1]} for iid in sorted(self.changed_ideas)])
        added, changed, removed = [], [], []
        for key in sorted(self.changed_dots):
            dot_id, count = self.dots[key]
            if dot_id is None and count:
                added.append({"participant_id": key[0], "idea_id": key[1], "count": count})
            elif dot_id is not None and count:
                changed.append({"did": dot_id, "total": count})
            elif dot_id is not None:
                removed.append({"did": dot_id})
        if removed:
            db.session.execute(delete(dots).where(dots.c.id == bindparam("did")), removed)
        if changed:
            db.session.execute(update(dots).where(dots.c.id == bindparam("did")).values(count=bindparam("total")),
                               changed)
        if added:
            db.session.execute(insert(dots), [{"board_id": self.board_id, **row} for row in added])


def _run_batch(board_id: int, items: list[_Queued]) -> None:
    """Apply queued batchable changes in one transaction; an item that cannot be batched (a replay, a role
    that changed, an unexpected error) is applied on its own, as an unbatched change would be."""
    alone: list[_Queued] = []
    try:
        board = _lock(board_id)
        db.session.info["batch"] = _Batch({i.participant_id for i in items})
        keys = [(i.participant_id, i.client_id) for i in items if i.client_id]
        stored = {}
        if keys:
            stored = {(pid, cid): result for pid, cid, result in db.session.execute(
                select(ClientChange.participant_id, ClientChange.client_id, ClientChange.result)
                .where(tuple_(ClientChange.participant_id, ClientChange.client_id).in_(keys)))}
        found = {p.id: p for p in db.session.scalars(
            select(Participant).where(Participant.id.in_({i.participant_id for i in items}))
            .options(_participant_with_roles()).execution_options(populate_existing=True)).unique()}
        changes, seen = [], set()
        for item in items:
            key = (item.participant_id, item.client_id)
            participant = found.get(item.participant_id)
            if item.client_id and key in stored:
                item.result = {**json.loads(stored[key]), "replayed": True}
                item.done = True
                continue
            if item.client_id and key in seen:  # the same change twice in one batch: the second replays
                alone.append(item)
                continue
            if participant is None or participant.board_id != board.id:
                item.error, item.done = NotMember(), True
                continue
            if participant.removed_at is not None:
                item.error, item.done = Removed(), True
                continue
            if not _session_holds(participant, item.account):
                item.error, item.done = NotMember(), True
                continue
            if participant.user is not None and \
                    can_facilitate(participant.user, board.organisation) != participant.is_facilitator:
                alone.append(item)  # the role sync is stored on its own first (see _participant)
                continue
            _end_change()  # each change of the batch is a change of its own: its own seq
            try:
                result = item.change(board, participant)
            except DomainError as err:  # refused before any write: the batch goes on
                item.error, item.done = err, True
                continue
            ack = item.result = {"ok": True, "seq": board.seq, **result}
            if item.client_id:
                seen.add(key)
                changes.append({"participant_id": item.participant_id, "client_id": item.client_id,
                                "result": json.dumps(ack, ensure_ascii=False), "created_at": utcnow()})
        db.session.info.pop("batch").flush()
        if changes:
            db.session.execute(insert(ClientChange.__table__), changes)
        _commit(board_id)
        for item in items:
            if item.result is not None and item not in alone:
                item.done = True
    except Exception:
        db.session.info.pop("batch", None)
        _rollback()
        # Nothing of the batch was stored: every change is applied again on its own, with its own outcome.
        log.exception("batch of %d changes on board %s failed: applying them one by one", len(items), board_id)
        alone = items
        for item in items:
            item.done, item.result, item.error = False, None, None
    for item in alone:
        try:
            item.result = _run_single(board_id, item.participant_id, item.client_id, item.change, item.account)
        except Exception as err:  # noqa: BLE001 — handed to the waiter, who answers it like any error
            item.error = err
        item.done = True


def _run_single(board_id: int, participant_id: int, client_id: str | None, change,
                account: tuple[int, int] | None) -> dict:
    """One change on its own, the caller holding the board's turn: a stored result is replayed."""
    if client_id:
        stored = db.session.scalar(select(ClientChange.result).where(ClientChange.participant_id == participant_id,
                                                                     ClientChange.client_id == client_id))
        db.session.rollback()
        if stored is not None:
            return {**json.loads(stored), "replayed": True}
    return _run_change(board_id, participant_id, client_id, change, account)


def _run_change(board_id: int, participant_id: int, client_id: str | None, change,
                account: tuple[int, int] | None = None) -> dict:
    try:
        board = _lock(board_id)
        participant = _participant(board, participant_id)
        if not _session_holds(participant, account):
            raise NotMember()
        if _pending():  # the facilitator role changed: that stands even when the change itself is refused
            _commit(board_id)
            board = _lock(board_id)
            participant = _participant(board, participant_id)
        db.session.info["batch"] = batch = _Batch({participant_id})  # a batchable change applied on its own
        ack = change(board, participant)
        ack = {"ok": True, "seq": board.seq, **ack}
        db.session.info.pop("batch", None)
        batch.flush()
        if client_id:  # a plain INSERT: the unit of work would cost more than the change itself
            db.session.execute(insert(ClientChange.__table__).values(
                participant_id=participant_id, client_id=client_id, result=json.dumps(ack, ensure_ascii=False),
                created_at=utcnow()))
        _commit(board_id)
        return ack
    except IntegrityError:
        # Two copies of the same change raced: the first one stored its ack, return that.
        db.session.info.pop("batch", None)
        _rollback()
        stored = db.session.scalar(select(ClientChange.result).where(ClientChange.participant_id == participant_id,
                                                                     ClientChange.client_id == client_id))
        if stored is None:
            raise
        return {**json.loads(stored), "replayed": True}
    except Exception:
        db.session.info.pop("batch", None)
        _rollback()
        raise


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
    board = _lock(board_id)
    existing = {c.id: c for c in board.columns}
    keep = []
    for position, spec in enumerate(columns):
        column = existing.get(spec.get("id")) or BoardColumn(board_id=board.id)
        column.title, column.prompt, column.position = spec["title"].strip(), spec.get("prompt", "").strip(), position
        keep.append(column)
    for column in existing.values():
        if column not in keep:
            if db.session.scalar(select(func.count(Idea.id)).where(Idea.column_id == column.id)):
                _rollback()
                raise InvalidInput(_l("Une colonne qui contient des idées ne peut pas être supprimée."),
                                   code="column_not_empty")
            db.session.delete(column)
    board.columns = keep
    db.session.flush()
    _emit(board, "columns_changed", {"columns": [column_view(c) for c in keep]})
    _commit(board_id)
    return board


def column_view(column: BoardColumn) -> dict:
    return {"id": column.id, "title": column.title, "prompt": column.prompt, "position": column.position}


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
    from ..workshops.models import Registration, RegistrationStatus

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
    board = _lock(board_id)
    participant = Participant(board_id=board_id, **fields)
    db.session.add(participant)
    try:
        db.session.flush()
    except IntegrityError:  # the same person joined from another tab meanwhile
        _rollback()
        return participant_for(db.session.get(Board, board_id), user)
    _emit_participant(board, participant, "participant_joined")
    _commit(board_id)
    return participant


def participant_view(participant: Participant, board: Board, for_facilitator: bool) -> dict:
    name = None
    if for_facilitator or not board.anonymous:
        name = participant.guest_name or (participant.user.public_name if participant.user else str(GUEST_LABEL))
    view = {"id": participant.id, "name": name, "ready": participant.ready, "facilitator": participant.is_facilitator}
    if for_facilitator:
        view["guest"] = participant.is_guest
    return view


# --- changes (over the socket, or HTTP for the no-JS form) ---------------------------------------

def post_idea(board_id: int, participant_id: int, *, column_id: int, text: str, client_id: str | None = None) -> dict:
    """Post an idea (≤ 500 characters) to a column, within the per-person cap, during the brainstorm."""
    text = (text or "").strip()
    change = _post_change(column_id, text)
    if db.engine.dialect.name != "postgresql":
        return run_change(board_id, participant_id, client_id, change)
    # PostgreSQL: the posts waiting for the board's turn in this process go together, in two statements
    # (statements.py); whatever those cannot take as it stands goes on to the locked path (``change``).
    item = _Post(participant_id, column_id, text, client_id, _session_account.get(), change)
    db.session.rollback()  # give the connection back before queueing
    _boards.combine(board_id, item, lambda items: _post_together(board_id, items), group="posts")
    if item.error is not None:
        raise item.error
    return item.result


def _post_change(column_id, text: str):
    """``post_idea``'s rules, under the board lock (``run_change``)."""

    def change(board, participant):
        _in_phase(board, participant, Phase.brainstorm)
        if not 1 <= len(text) <= IDEA_MAX:
            raise InvalidInput(_l("Une idée doit faire entre 1 et 500 caractères."), code="idea_length")
        column = _column(board, column_id)
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
        _announce_idea(board, idea, "idea_posted", reactions={})  # a new idea has no reactions yet
        return {"idea_id": idea.id, "status": status.value}

    return change


class _Post:
    """A post waiting for this process's next posts of its board (PostgreSQL)."""

    __slots__ = ("participant_id", "column_id", "text", "client_id", "account", "change", "done", "result", "error")

    def __init__(self, participant_id: int, column_id, text: str, client_id: str | None,
                 account: tuple[int, int] | None, change):
        self.participant_id, self.column_id, self.text, self.client_id = participant_id, column_id, text, client_id
        self.account, self.change = account, change
        self.done, self.result, self.error = False, None, None


def _post_together(board_id: int, items: list[_Post]) -> None:
    """Post ``items`` in two statements; each one those leave goes on to the locked path, in arrival order."""
    try:
        alone = _post_in_two_statements(board_id, items)
    except Exception as err:  # nothing was stored (the write is one statement): every post goes the locked path
        if not is_database_unavailable(err):  # an outage fails the locked path too, whose answer says so (errors.py)
            log.exception("%d posts on board %s failed together: posting them one by one", len(items), board_id)
        alone = [item for item in items if not item.done]
    for item in sorted(alone, key=items.index):
        try:
            item.result = _run_single(board_id, item.participant_id, item.client_id, item.change, item.account)
        except Exception as err:  # noqa: BLE001 — handed to the waiter, who answers it like any error
            item.error = err
        item.done = True


def _post_in_two_statements(board_id: int, items: list[_Post]) -> list[_Post]:
    """Store every post of ``items`` that succeeds as things stand (``statements.py``), with the same events and
    ack as the locked path; return the others, for which nothing was written."""
    valid = [i for i in items if all(isinstance(n, int) and 0 < n <= MAX_ID
                                     for n in (board_id, i.participant_id, i.column_id))]
    alone = [i for i in items if i not in valid]  # the locked path refuses them with the right error
    if not valid:
        return alone
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        rows = statements.facts(connection, board_id, [(i.participant_id, i.column_id, i.client_id) for i in valid])
        if not rows:  # no such board
            return items
        first = rows[0]
        board = SimpleNamespace(id=board_id, seq=first.seq, phase=Phase[first.phase], anonymous=first.anonymous,
                                hide_ideas=first.hide_ideas, hide_votes=first.hide_votes,
                                facilitators_seq=first.facilitators_seq, participants_seq=first.participants_seq)
        accepted, ideas, changes, accounts = [], [], [], set()
        last_keys, added, seen = {}, {}, set()
        try:
            for item, row in zip(valid, rows, strict=True):
                if row.stored is not None:  # a resend: the stored ack, nothing applied
                    item.result, item.done = {**json.loads(row.stored), "replayed": True}, True
                    continue
                if (item.client_id and (item.participant_id, item.client_id) in seen) \
                        or not _may_post_at_once(row, board_id, item, added.get(item.participant_id, 0)):
                    alone.append(item)  # the same change twice (it replays after), or a case for the locked path
                    continue
                try:
                    sort_key = key_between(last_keys.get(item.column_id, row.last_key), None)
                except ValueError:  # the column needs rebalancing: the locked path says so
                    alone.append(item)
                    continue
                facilitator = row.is_facilitator
                status = IdeaStatus.pending if row.moderation == Moderation.approve.name and not facilitator \
                    else IdeaStatus.visible
                author = SimpleNamespace(id=item.participant_id, user_id=row.user_id, guest_name=row.guest_name,
                                         is_facilitator=facilitator,
                                         user=SimpleNamespace(public_name=row.display_name) if row.user_id else None)
                idea = SimpleNamespace(id=row.idea_id, column_id=item.column_id, participant_id=item.participant_id,
                                       cluster_id=None, text=item.text, sort_key=sort_key, status=status,
                                       hidden_reason="", votes=0, version=1, participant=author)
                _end_change()  # each post is a change of its own
                _announce_idea(board, idea, "idea_posted", reactions={})
                ack = {"ok": True, "seq": board.seq, "idea_id": idea.id, "status": status.value}
                last_keys[item.column_id] = sort_key
                added[item.participant_id] = added.get(item.participant_id, 0) + 1
                ideas.append(idea.__dict__)
                if item.client_id:
                    seen.add((item.participant_id, item.client_id))
                    changes.append((item.participant_id, item.client_id, json.dumps(ack, ensure_ascii=False)))
                if item.account is not None:
                    accounts.add(tuple(item.account))
                accepted.append((item, ack))
            events, afters = _pending(), _afters()
        finally:
            db.session.info["board_events"], db.session.info["change_after"] = [], {}
            _end_change()
        if not accepted:
            return alone
        try:
            stored = statements.write(connection, board_id=board_id, seq=first.seq, accounts=sorted(accounts),
                                      ideas=ideas, events=events, changes=changes, now=utcnow(),
                                      audience_seqs=(board.facilitators_seq, board.participants_seq))
        except IntegrityError:  # e.g. the same client id from another process at this moment: nothing stored
            stored = False
    if not stored:  # the board changed since the read (another process), or an account no longer holds
        return alone + [item for item, _ack in accepted]
    for item, ack in accepted:
        item.result, item.done = ack, True
    _broadcast(board_id, events, afters)
    return alone


def _may_post_at_once(row, board_id: int, item: _Post, added: int) -> bool:
    """Every rule of ``post_idea`` (and of ``_participant``, ``_session_holds``) holds on ``row``, ``added`` ideas
    of this participant being posted before this one in the same statement."""
    if row.participant_board_id != board_id or not row.present:
        return False
    if row.user_id is None:
        if item.account is not None:
            return False
    elif not row.not_deleted or row.may_facilitate != row.is_facilitator \
            or (item.account is not None and (row.user_id, row.session_version) != tuple(item.account)):
        return False  # a deleted account, a role to store first, a revoked session
    phase, facilitator = Phase[row.phase], row.is_facilitator
    if phase is Phase.closed or (row.locked and not facilitator) or (phase is not Phase.brainstorm and not facilitator):
        return False
    if not (1 <= len(item.text) <= IDEA_MAX and row.column_found):
        return False
    return not row.idea_cap or facilitator or row.mine + added < row.idea_cap


def edit_idea(board_id: int, participant_id: int, *, idea_id: int, text: str, version: int | None = None,
              client_id: str | None = None) -> dict:
    """Edit one's idea until grouping starts (facilitators any time); last writer wins, with a version."""
    text = (text or "").strip()

    def change(board, participant):
        idea = _idea(board, idea_id)
        if idea.status is IdeaStatus.withdrawn:
            raise UnknownIdea()
        if participant.is_facilitator:
            _writable(board, participant)
        else:
            if idea.participant_id != participant.id:
                raise NotYourIdea()
            _in_phase(board, participant, Phase.brainstorm)
        if not 1 <= len(text) <= IDEA_MAX:
            raise InvalidInput(_l("Une idée doit faire entre 1 et 500 caractères."), code="idea_length")
        overtaken = version is not None and version != idea.version
        idea.text, idea.version, idea.updated_at = text, idea.version + 1, utcnow()
        _announce_idea(board, idea, "idea_edited")
        return {"idea_id": idea.id, "version": idea.version, "overtaken": overtaken}

    return run_change(board_id, participant_id, client_id, change)


def withdraw_idea(board_id: int, participant_id: int, *, idea_id: int, client_id: str | None = None) -> dict:
    """An author withdraws their idea until grouping starts."""
    def change(board, participant):
        idea = _idea(board, idea_id)
        if idea.participant_id != participant.id:
            raise NotYourIdea()
        _in_phase(board, participant, Phase.brainstorm)
        if idea.status is IdeaStatus.withdrawn:
            return {"idea_id": idea.id}
        idea.status, idea.version = IdeaStatus.withdrawn, idea.version + 1
        _refund_dots(board, idea)
        if board.focused_idea_id == idea.id:
            board.focused_idea_id = None
            _emit(board, "focus_changed", {"idea_id": None})
        _announce_idea(board, idea, "idea_withdrawn")
        return {"idea_id": idea.id}

    return run_change(board_id, participant_id, client_id, change)


def move_idea(board_id: int, participant_id: int, *, idea_id: int, column_id: int, before_id: int | None = None,
              after_id: int | None = None, client_id: str | None = None) -> dict:
    """A facilitator moves an idea to a column, between two neighbours (one row written)."""
    def change(board, participant):
        _facilitator(board, participant.id)
        _writable(board, participant)
        idea = _idea(board, idea_id)
        column = _column(board, column_id)
        before = _idea(board, before_id) if before_id is not None else None
        after = _idea(board, after_id) if after_id is not None else None
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
        _announce_idea(board, idea, "idea_moved")
        _drop_empty_clusters(board, left)
        return {"idea_id": idea.id, "sort_key": idea.sort_key}

    return run_change(board_id, participant_id, client_id, change)


def react(board_id: int, participant_id: int, *, idea_id: int, kind: str, on: bool = True,
          client_id: str | None = None) -> dict:
    """Add or remove one of the fixed reactions."""
    if kind not in REACTIONS:
        raise InvalidInput(_l("Réaction inconnue."), code="unknown_reaction")

    def change(board, participant):
        _writable(board, participant)
        idea = _idea(board, idea_id)
        if idea.status is not IdeaStatus.visible:
            raise UnknownIdea()
        existing = db.session.scalar(select(Reaction).where(Reaction.participant_id == participant.id,
                                                            Reaction.idea_id == idea.id, Reaction.kind == kind))
        if on and existing is None:
            db.session.add(Reaction(board_id=board.id, participant_id=participant.id, idea_id=idea.id, kind=kind))
        elif not on and existing is not None:
            db.session.delete(existing)
        db.session.flush()
        counts = _reaction_counts([idea.id]).get(idea.id, {})
        audience = Audience.facilitators if _hidden_from_participants(idea, board) else Audience.everyone
        _emit(board, "reactions_changed", {"idea_id": idea.id, "reactions": counts}, audience)
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
        _writable(board, participant)
        if board.phase is not Phase.voting:
            raise WrongPhase(_l("Le vote n'est pas ouvert."))
        batch: _Batch = db.session.info["batch"]
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
        _emit(board, "votes_changed", {"idea_id": idea_id, "votes": votes}, Audience.facilitators)
        if votes_visible(board):  # hidden until the end of voting: only the voter and the facilitators hear
            _emit(board, "votes_changed", {"idea_id": idea_id, "votes": votes}, Audience.participants)
        dots_left = board.dot_budget - dots_used
        _emit(board, "my_dots_changed", {"idea_id": idea_id, "mine": mine, "dots_left": dots_left},
              Audience.participant, participant.id)
        return {"idea_id": idea_id, "mine": mine, "dots_left": dots_left}

    return run_change(board_id, participant_id, client_id, change, batchable=True)


def _refund_dots(board: Board, idea: Idea) -> None:
    """Dots on an idea that leaves the board go back to their owners."""
    for dot in db.session.scalars(select(Dot).where(Dot.idea_id == idea.id)).all():
        db.session.execute(update(Participant).where(Participant.id == dot.participant_id)
                           .values(dots_used=Participant.dots_used - dot.count))
        _emit(board, "my_dots_changed", {"idea_id": idea.id, "mine": 0, "refunded": dot.count},
              Audience.participant, dot.participant_id)
        db.session.delete(dot)
    idea.votes = 0


def set_ready(board_id: int, participant_id: int, *, ready: bool, client_id: str | None = None) -> dict:
    """Mark oneself ready (or not); a locked or closed board is read-only for this too."""
    def change(board, participant):
        _writable(board, participant)
        participant.ready = bool(ready)
        _emit(board, "participant_ready", {"participant_id": participant.id, "ready": participant.ready})
        return {"ready": participant.ready}

    return run_change(board_id, participant_id, client_id, change)


# --- facilitation ---------------------------------------------------------------------------------

SETTINGS = {
    "hide_ideas": bool, "anonymous": bool, "hide_votes": bool, "locked": bool, "allow_guests": bool,
    "idea_cap": "cap", "dot_budget": "budget", "dot_cap": "cap", "moderation": "moderation",
}


def settings_view(board: Board) -> dict:
    return {"hide_ideas": board.hide_ideas, "anonymous": board.anonymous, "hide_votes": board.hide_votes,
            "locked": board.locked, "allow_guests": board.allow_guests, "idea_cap": board.idea_cap,
            "dot_budget": board.dot_budget, "dot_cap": board.dot_cap, "moderation": board.moderation.value}


def _clean_setting(name: str, value):
    kind = SETTINGS.get(name)
    if kind is None:
        raise InvalidInput(_l("Réglage inconnu."), code="unknown_setting")
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidInput(code="bad_setting")
        return value
    if kind == "moderation":
        if not isinstance(value, str) or value not in Moderation._value2member_map_:
            raise InvalidInput(code="bad_setting")
        return Moderation(value)
    if kind == "cap" and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (0 if kind == "budget" else 1) <= value <= 100:
        raise InvalidInput(code="bad_setting")
    return value


def update_settings(board_id: int, participant_id: int, *, settings: dict, client_id: str | None = None) -> dict:
    """Change board settings at any moment. Revealing (hide_ideas off) sends the ideas now visible."""
    if not isinstance(settings, dict) or not settings:
        raise InvalidInput(code="bad_setting")
    clean = {name: _clean_setting(name, value) for name, value in settings.items()}

    def change(board, participant):
        _facilitator(board, participant.id)
        was_hidden, was_anonymous, votes_were_visible = board.hide_ideas, board.anonymous, votes_visible(board)
        for name, value in clean.items():
            setattr(board, name, value)
        board.version += 1
        _emit(board, "settings_changed", {"settings": settings_view(board)})
        # Never while ideas are hidden: the refreshed list carries every visible idea's text.
        if not board.hide_ideas and (was_hidden or was_anonymous != board.anonymous):
            _emit_participant_snapshot_ideas(board, "ideas_revealed" if was_hidden else "ideas_refreshed")
        if not votes_were_visible and votes_visible(board):
            _emit_vote_totals(board)
        return {"settings": settings_view(board)}

    return run_change(board_id, participant_id, client_id, change)


def _visible_ideas(board: Board) -> list[Idea]:
    return list(db.session.scalars(select(Idea).where(Idea.board_id == board.id, Idea.status == IdeaStatus.visible)
                                   .order_by(Idea.column_id, Idea.sort_key)))


def _emit_participant_snapshot_ideas(board: Board, name: str) -> None:
    ideas = _visible_ideas(board)
    counts = _reaction_counts([i.id for i in ideas])
    _emit(board, name, {"ideas": [idea_view(i, board, for_facilitator=False, reactions=counts.get(i.id, {}))
                                  for i in ideas]}, Audience.participants)


def _emit_vote_totals(board: Board) -> None:
    totals = {str(i.id): i.votes for i in _visible_ideas(board)}
    _emit(board, "votes_revealed", {"votes": totals}, Audience.participants)


def set_phase(board_id: int, participant_id: int, *, phase: str, client_id: str | None = None) -> dict:
    """Move the session to a phase (facilitators). Closing makes the board read-only."""
    if phase not in Phase._value2member_map_:
        raise InvalidInput(_l("Phase inconnue."), code="unknown_phase")
    target = Phase(phase)

    def change(board, participant):
        _facilitator(board, participant.id)
        if board.phase is Phase.closed and target is not Phase.closed:
            raise WrongPhase(_l("La séance est terminée."))
        votes_were_visible = votes_visible(board)
        board.phase = target
        board.closed_at = utcnow() if target is Phase.closed else None
        board.version += 1
        _emit(board, "phase_changed", {"phase": target.value})
        if not votes_were_visible and votes_visible(board):
            _emit_vote_totals(board)
        return {"phase": target.value}

    return run_change(board_id, participant_id, client_id, change)


def timer_view(board: Board) -> dict:
    return {"ends_at": board.timer_ends_at.isoformat() + "Z" if board.timer_ends_at else None,
            "paused_seconds": board.timer_paused_seconds}


def control_timer(board_id: int, participant_id: int, *, action: str, seconds: int | None = None,
                  client_id: str | None = None) -> dict:
    """Start, pause, resume, add time or stop; the end time is held by the server."""
    if action not in ("start", "pause", "resume", "add", "stop"):
        raise InvalidInput(code="bad_timer_action")
    if action in ("start", "add") and (not isinstance(seconds, int) or isinstance(seconds, bool)
                                       or not 1 <= seconds <= 4 * 3600):
        raise InvalidInput(_l("Une durée de 1 seconde à 4 heures."), code="bad_duration")

    def change(board, participant):
        _facilitator(board, participant.id)
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
        _emit(board, "timer_changed", {"timer": timer_view(board)})
        return {"timer": timer_view(board)}

    return run_change(board_id, participant_id, client_id, change)


def moderate_idea(board_id: int, participant_id: int, *, idea_id: int, action: str, reason: str = "",
                  client_id: str | None = None) -> dict:
    """Approve a pending idea, or hide an idea with a reason (kept in the moderation log), or show it again."""
    if action not in ("approve", "hide", "show"):
        raise InvalidInput(code="bad_moderation_action")
    reason = (reason or "").strip()[:300]

    def change(board, participant):
        facilitator = _facilitator(board, participant.id)
        idea = _idea(board, idea_id)
        if idea.status is IdeaStatus.withdrawn:  # its author took it back: "show" must not publish it again
            raise UnknownIdea()
        if action == "hide":
            if not reason:
                raise InvalidInput(_l("Indiquez le motif du masquage."), code="reason_required")
            idea.status, idea.hidden_reason = IdeaStatus.hidden, reason
            _refund_dots(board, idea)
            if board.focused_idea_id == idea.id:
                board.focused_idea_id = None
                _emit(board, "focus_changed", {"idea_id": None})
        else:
            idea.status, idea.hidden_reason = IdeaStatus.visible, ""
        idea.version += 1
        db.session.add(ModerationEntry(board_id=board.id, idea_id=idea.id, actor_id=facilitator.user_id,
                                       action=action, reason=reason))
        _announce_idea(board, idea, "idea_moderated")
        return {"idea_id": idea.id, "status": idea.status.value}

    return run_change(board_id, participant_id, client_id, change)


def focus_idea(board_id: int, participant_id: int, *, idea_id: int | None, client_id: str | None = None) -> dict:
    def change(board, participant):
        _facilitator(board, participant.id)
        if idea_id is not None:
            idea = _idea(board, idea_id)
            if idea.status is not IdeaStatus.visible:
                raise UnknownIdea()
        board.focused_idea_id = idea_id
        _emit(board, "focus_changed", {"idea_id": idea_id})
        return {"idea_id": idea_id}

    return run_change(board_id, participant_id, client_id, change)


def group_ideas(board_id: int, participant_id: int, *, idea_ids: list, name: str = "", cluster_id: int | None = None,
                client_id: str | None = None) -> dict:
    """Group ideas of one column into a named cluster (a new one, or an existing one)."""
    name = (name or "").strip()
    if not isinstance(idea_ids, list) or not idea_ids or len(idea_ids) > 200:
        raise InvalidInput(code="bad_idea_ids")

    def change(board, participant):
        _facilitator(board, participant.id)
        _writable(board, participant)
        ideas = [_idea(board, i) for i in idea_ids]
        columns = {i.column_id for i in ideas}
        if cluster_id is not None:
            cluster = db.session.get(Cluster, cluster_id) if isinstance(cluster_id, int) else None
            if cluster is None or cluster.board_id != board.id:
                raise NotFound(_l("Ce groupe n'existe pas sur ce tableau."), code="unknown_cluster")
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
        _emit(board, "ideas_grouped", {"cluster": cluster_view(cluster), "idea_ids": [i.id for i in ideas]})
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
        _emit(board, "cluster_removed", {"cluster_id": cluster_id})


def cluster_view(cluster: Cluster) -> dict:
    return {"id": cluster.id, "name": cluster.name, "column_id": cluster.column_id, "version": cluster.version}


def ungroup(board_id: int, participant_id: int, *, idea_ids: list | None = None, cluster_id: int | None = None,
            client_id: str | None = None) -> dict:
    """Take ideas out of their cluster, or dissolve a whole cluster."""
    def change(board, participant):
        _facilitator(board, participant.id)
        _writable(board, participant)
        if cluster_id is not None:
            cluster = db.session.get(Cluster, cluster_id) if isinstance(cluster_id, int) else None
            if cluster is None or cluster.board_id != board.id:
                raise NotFound(_l("Ce groupe n'existe pas sur ce tableau."), code="unknown_cluster")
            ideas = list(db.session.scalars(select(Idea).where(Idea.cluster_id == cluster.id)))
        elif isinstance(idea_ids, list) and idea_ids and len(idea_ids) <= 200:
            ideas = [_idea(board, i) for i in idea_ids]
        else:
            raise InvalidInput(code="bad_idea_ids")
        left = {i.cluster_id for i in ideas if i.cluster_id is not None}
        if cluster_id is not None:
            left.add(cluster_id)
        for idea in ideas:
            idea.cluster_id, idea.version = None, idea.version + 1
        _emit(board, "ideas_ungrouped", {"idea_ids": [i.id for i in ideas], "cluster_id": cluster_id})
        _drop_empty_clusters(board, left)
        return {"idea_ids": [i.id for i in ideas]}

    return run_change(board_id, participant_id, client_id, change)


def remove_participant(board_id: int, participant_id: int, *, target_id: int, client_id: str | None = None) -> dict:
    """A facilitator removes someone from the session; their live connections close at once."""
    def change(board, participant):
        _facilitator(board, participant.id)
        target = db.session.get(Participant, target_id) if isinstance(target_id, int) else None
        if target is None or target.board_id != board.id or target.is_facilitator:
            raise NotFound(_l("Cette personne ne participe pas à ce tableau."), code="unknown_participant")
        target.removed_at = utcnow()
        db.session.add(ModerationEntry(board_id=board.id, participant_id=target.id, actor_id=participant.user_id,
                                       action="remove"))
        _emit(board, "participant_removed", {"participant_id": target.id})
        return {"participant_id": target.id}

    return run_change(board_id, participant_id, client_id, change)


# --- reading ----------------------------------------------------------------------------------------

def snapshot(board: Board, participant: Participant) -> dict:
    """The whole board as this participant may see it, with the seq it is current to."""
    facilitator = participant.is_facilitator
    ideas = list(db.session.scalars(select(Idea).where(Idea.board_id == board.id).order_by(Idea.column_id,
                                                                                          Idea.sort_key)))
    counts = _reaction_counts([i.id for i in ideas])
    my_dots = dict(db.session.execute(select(Dot.idea_id, Dot.count).where(Dot.participant_id == participant.id)).all())
    views, hidden = [], []
    for idea in ideas:
        mine = idea.participant_id == participant.id
        if facilitator:
            if idea.status is not IdeaStatus.withdrawn:
                views.append(idea_view(idea, board, for_facilitator=True, mine=mine, reactions=counts.get(idea.id, {})))
        elif mine and idea.status is not IdeaStatus.withdrawn:
            views.append(idea_view(idea, board, for_facilitator=False, mine=True, reactions=counts.get(idea.id, {})))
        elif idea.status is IdeaStatus.visible:
            if board.hide_ideas:
                hidden.append({"id": idea.id, "column_id": idea.column_id})
            else:
                views.append(idea_view(idea, board, for_facilitator=False, reactions=counts.get(idea.id, {})))
    for view in views:
        view["my_dots"] = my_dots.get(view["id"], 0)
    participants = db.session.scalars(select(Participant).where(Participant.board_id == board.id,
                                                                Participant.removed_at.is_(None))).all()
    clusters = db.session.scalars(select(Cluster).where(Cluster.board_id == board.id)).all()
    return {
        "seq": board.seq,
        "board": {"id": board.id, "title": board.title, "phase": board.phase.value, "join_code": board.join_code
                  if facilitator else None, "focused_idea_id": board.focused_idea_id, "timer": timer_view(board),
                  "settings": settings_view(board)},
        "columns": [column_view(c) for c in board.columns],
        "clusters": [cluster_view(c) for c in clusters],
        "ideas": views,
        "hidden_ideas": hidden,
        "participants": [participant_view(p, board, facilitator) for p in participants],
        "me": {"participant_id": participant.id, "facilitator": facilitator,
               "dots_left": board.dot_budget - participant.dots_used},
    }


def audience_of(facilitator: bool) -> tuple[Audience, Audience]:
    """The audiences whose events one connection receives as its ``change`` (private ones come apart)."""
    return (Audience.everyone, Audience.facilitators) if facilitator else (Audience.everyone, Audience.participants)


def changes_for(events: list[dict], facilitator: bool, participant_id: int | None = None) -> list[dict]:
    """Committed events (``event_dict``'s, in order) as the changes one connection receives: ``{"seq", "events"}``
    with the events of its audience, then those meant for ``participant_id`` alone. A change with nothing for it is
    left out (the ``seq`` of the answer covers it)."""
    audiences = {a.value for a in audience_of(facilitator)}
    changes: list[dict] = []
    for event in events:
        if event["audience"] in audiences or (event["audience"] == Audience.participant.value
                                              and event["participant_id"] == participant_id):
            if not changes or changes[-1]["seq"] != event["seq"]:
                changes.append({"seq": event["seq"], "events": []})
            changes[-1]["events"].append(event)
    for change in changes:  # the person's own events after their audience's, as they arrive live
        change["events"] = [{"name": e["name"], "payload": e["payload"]}
                            for e in sorted(change["events"], key=lambda e: (e["audience"] == "participant",
                                                                            e["position"]))]
    return changes


def events_since(board: Board, participant: Participant, last_seq: int, limit: int | None = None) -> list[dict] | None:
    """The changes after ``last_seq`` as this participant receives them (``changes_for``), or None when too far
    behind (send a snapshot)."""
    limit = limit or current_app.config.get("BOARD_RESYNC_LIMIT", 500)
    if last_seq > board.seq or last_seq < 0:
        return None
    audiences = audience_of(participant.is_facilitator)
    rows = db.session.scalars(
        select(BoardEvent).where(BoardEvent.board_id == board.id, BoardEvent.seq > last_seq,
                                 (BoardEvent.audience.in_(audiences)) | (
                                     (BoardEvent.audience == Audience.participant)
                                     & (BoardEvent.participant_id == participant.id)))
        .order_by(BoardEvent.seq, BoardEvent.position).limit(limit + 1)).all()
    if len(rows) > limit:
        return None
    return changes_for([event_dict(e) for e in rows], participant.is_facilitator, participant.id)


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
