"""The change engine: how every change of a board is applied. ``run_change`` runs a use case's rules once per
client-made id under the board's row lock (changes of one board queue per process first, and batchable ones go
together); ``emit`` numbers the change's events (``Board.seq``, one per change) and ``commit`` stores them, commits,
then hands them to the realtime layer (``signals.board_events``), never before. The ``announce_*`` functions
tell each audience what it may see of an idea, a person, or what a setting revealed. It knows no rule of its own
beyond who may act at all: a participant of the board, not removed, whose session still holds."""

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from .. import signals
from ..accounts.models import User
from ..catalog.permissions import can_facilitate
from ..clock import utcnow
from ..database import begin_write
from ..errors import DomainError, NotFound, is_database_unavailable
from ..extensions import db
from ..queues import KeyedQueue
from .errors import NotMember, Removed
from .models import Audience, Board, BoardEvent, ClientChange, Dot, Idea, IdeaStatus, Participant
from .views import idea_view, participant_view, reaction_counts

log = logging.getLogger(__name__)


# Hot path (every change): load what the rules read in as few round trips as possible; an account's memberships
# (read on first use otherwise) only where the facilitator role is re-checked, and then joined.
def _participant_with_roles():
    return joinedload(Participant.user).joinedload(User.memberships)


def lock_board(board_id: int) -> Board:
    """Start the change's write transaction with the board's row locked, re-read (nothing loaded before counts)."""
    begin_write()
    board = db.session.scalars(select(Board).where(Board.id == board_id).with_for_update(of=Board)
                               .options(lazyload(Board.workshop))
                               .execution_options(populate_existing=True)).one_or_none()
    if board is None:
        raise NotFound()
    return board


def _pending() -> list[dict]:
    return db.session.info.setdefault("board_events", [])


def emit(board: Board, name: str, payload: dict, audience: Audience = Audience.everyone,
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


def commit(board_id: int) -> None:
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
    """Hand committed events (``emit``'s) to the realtime layer, with each change's ``after`` per audience."""
    if not pending:
        return
    try:
        signals.board_events.send(board_id, afters=afters, events=[
            {"seq": e["seq"], "position": e["position"], "name": e["name"], "audience": e["audience"].value,
             "participant_id": e["participant_id"], "payload": e["data"]} for e in pending])
    except Exception:  # committed: the change stands (a batch must not be applied again); rejoins catch up
        log.exception("board %s: events %s to %s committed but not broadcast", board_id, pending[0]["seq"],
                      pending[-1]["seq"])


def rollback() -> None:
    """Drop the change under way: nothing of it is stored, none of its events is sent."""
    db.session.rollback()
    db.session.info["board_events"], db.session.info["change_after"] = [], {}
    _end_change()


def announce_idea(board: Board, idea: Idea, name: str, reactions: dict | None = None) -> None:
    """Emit an idea change to each audience with what it may see (the server never sends hidden text)."""
    if reactions is None:
        reactions = reaction_counts([idea.id]).get(idea.id, {})
    emit(board, name, {"idea": idea_view(idea, board, for_facilitator=True, reactions=reactions)},
         Audience.facilitators)
    author = idea.participant
    if not author.is_facilitator:
        emit(board, name, {"idea": idea_view(idea, board, for_facilitator=False, mine=True, reactions=reactions)},
             Audience.participant, author.id)
    if idea.status is not IdeaStatus.visible:
        emit(board, "idea_removed", {"id": idea.id}, Audience.participants)
    elif board.hide_ideas:
        emit(board, "idea_placeholder", {"id": idea.id, "column_id": idea.column_id}, Audience.participants)
    else:
        emit(board, name, {"idea": idea_view(idea, board, for_facilitator=False, reactions=reactions)},
             Audience.participants)


def acting_participant(board: Board, participant_id: int) -> Participant:
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
            announce_participant(board, participant, "participant_role_changed")
    return participant


def announce_participant(board: Board, participant: Participant, name: str) -> None:
    """Emit a change of a person to each audience with what it may see (anonymous boards name nobody)."""
    emit(board, name, {"participant": participant_view(participant, board, True)}, Audience.facilitators)
    emit(board, name, {"participant": participant_view(participant, board, False)}, Audience.participants)


def announce_visible_ideas(board: Board, name: str) -> None:
    """Send participants every idea they may now see (ideas revealed, or refreshed when anonymity changes)."""
    ideas = _visible_ideas(board)
    counts = reaction_counts([i.id for i in ideas])
    emit(board, name, {"ideas": [idea_view(i, board, for_facilitator=False, reactions=counts.get(i.id, {}))
                                 for i in ideas]}, Audience.participants)


def announce_vote_totals(board: Board) -> None:
    """Send participants the vote totals they may now see (votes were hidden until the end of voting)."""
    totals = {str(i.id): i.votes for i in _visible_ideas(board)}
    emit(board, "votes_revealed", {"votes": totals}, Audience.participants)


def _visible_ideas(board: Board) -> list[Idea]:
    return list(db.session.scalars(select(Idea).where(Idea.board_id == board.id, Idea.status == IdeaStatus.visible)
                                   .order_by(Idea.column_id, Idea.sort_key)))


# Changes of one board queue here, in this process, holding no database connection: the board's row lock stays
# the real guard (other processes, HTTP), but a handler waiting on it would hold a pooled connection, and a burst on
# one board (a thousand people voting at once) would empty the pool and answer ``server_error`` after
# ``pool_timeout``. Batchable changes (posts, dots) are applied by whoever gets the board's turn, all at once.
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


def _stored_ack(participant_id: int, client_id: str | None) -> dict | None:
    """The ack stored for this client-made id, marked as replayed; None when no such change was applied."""
    if not client_id:
        return None
    stored = db.session.scalar(select(ClientChange.result).where(ClientChange.participant_id == participant_id,
                                                                 ClientChange.client_id == client_id))
    return None if stored is None else {**json.loads(stored), "replayed": True}


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
    stored = _stored_ack(participant_id, client_id)
    db.session.rollback()  # give the connection back before queueing
    if stored is not None:
        return stored
    with _boards.hold(board_id):
        return _run_change(board_id, participant_id, client_id, change, account)


def current_batch() -> "_Batch":
    """The batch the running batchable change belongs to (a change applied on its own has one of its own)."""
    return db.session.info["batch"]


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
        board = lock_board(board_id)
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
                alone.append(item)  # the role sync is stored on its own first (see acting_participant)
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
        commit(board_id)
        for item in items:
            if item.result is not None and item not in alone:
                item.done = True
    except Exception as err:
        db.session.info.pop("batch", None)
        rollback()
        # Nothing of the batch was stored: every change is applied again on its own, with its own outcome. An
        # outage fails each of them too, and each answer says so (``unavailable``, errors.py): no traceback for it.
        if not is_database_unavailable(err):
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
    stored = _stored_ack(participant_id, client_id)
    db.session.rollback()
    if stored is not None:
        return stored
    return _run_change(board_id, participant_id, client_id, change, account)


def _run_change(board_id: int, participant_id: int, client_id: str | None, change,
                account: tuple[int, int] | None = None) -> dict:
    try:
        board = lock_board(board_id)
        participant = acting_participant(board, participant_id)
        if not _session_holds(participant, account):
            raise NotMember()
        if _pending():  # the facilitator role changed: that stands even when the change itself is refused
            commit(board_id)
            board = lock_board(board_id)
            participant = acting_participant(board, participant_id)
        db.session.info["batch"] = batch = _Batch({participant_id})  # a batchable change applied on its own
        ack = change(board, participant)
        ack = {"ok": True, "seq": board.seq, **ack}
        db.session.info.pop("batch", None)
        batch.flush()
        if client_id:  # a plain INSERT: the unit of work would cost more than the change itself
            db.session.execute(insert(ClientChange.__table__).values(
                participant_id=participant_id, client_id=client_id, result=json.dumps(ack, ensure_ascii=False),
                created_at=utcnow()))
        commit(board_id)
        return ack
    except IntegrityError:
        # Two copies of the same change raced: the first one stored its ack, return that.
        db.session.info.pop("batch", None)
        rollback()
        stored = _stored_ack(participant_id, client_id)
        if stored is None:
            raise
        return stored
    except Exception:
        db.session.info.pop("batch", None)
        rollback()
        raise
