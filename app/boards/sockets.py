"""Socket.IO namespace ``/boards``: thin handlers. Each event re-checks, from the database, who is
acting and whether they may; validates the payload; calls one service; answers with an ack. Broadcasts
come from ``receivers.py`` after commit, so HTTP changes reach live clients the same way.
"""

import logging
import time

from flask import current_app, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import Namespace, join_room

from ..accounts.models import session_account
from ..errors import DomainError
from ..extensions import db, socketio
from ..permissions import can_facilitate
from . import service
from .rooms import board_room, facilitators_room, participant_room, participants_room, user_room

log = logging.getLogger(__name__)
NAMESPACE = "/boards"

_buckets: dict[str, list[float]] = {}  # per-connection rate limit: [tokens, last refill]
# Per connection, who it joined each board as: {sid: {board id: (participant id, user id or None)}}. Only a
# shortcut for finding the participant: every event still checks the account (Flask-Login, from the
# database) is the one that joined, and the service re-reads the participant under the board lock (removed,
# role, board gone). Nothing about the board lives here.
_joined: dict[str, dict[int, tuple[int, int | None]]] = {}
# Per connection, the account its session cookie names, as (user id, session version), or None: read once at
# connect (the cookie of a live connection is the one of its handshake and never changes); every change checks it
# against the database in its own transaction.
_accounts: dict[str, tuple[int, int] | None] = {}


def _error(code: str, message) -> dict:
    return {"ok": False, "error": {"code": code, "message": str(message)}}


def _allow(sid: str) -> bool:
    """Token bucket per connection: over the limit, events get an error ack (no disconnect)."""
    rate, burst = current_app.config["BOARD_EVENTS_PER_SECOND"], current_app.config["BOARD_EVENTS_BURST"]
    now = time.monotonic()
    tokens, last = _buckets.get(sid, (burst, now))
    tokens = min(burst, tokens + (now - last) * rate)
    if tokens < 1:
        _buckets[sid] = [tokens, now]
        return False
    _buckets[sid] = [tokens - 1, now]
    return True


# Field specs: name -> (type or tuple of types, required, max length for strings).
INT, STR, BOOL, OPT_INT = (int,), (str,), (bool,), (int, type(None))

EVENTS = {
    "post_idea": (service.post_idea, {"column_id": (INT, True), "text": (STR, True)}),
    "edit_idea": (service.edit_idea, {"idea_id": (INT, True), "text": (STR, True), "version": (OPT_INT, False)}),
    "withdraw_idea": (service.withdraw_idea, {"idea_id": (INT, True)}),
    "move_idea": (service.move_idea, {"idea_id": (INT, True), "column_id": (INT, True),
                                      "before_id": (OPT_INT, False), "after_id": (OPT_INT, False)}),
    "react": (service.react, {"idea_id": (INT, True), "kind": (STR, True), "on": (BOOL, False)}),
    "vote": (service.vote, {"idea_id": (INT, True), "delta": (INT, True)}),
    "set_ready": (service.set_ready, {"ready": (BOOL, True)}),
    "update_settings": (service.update_settings, {"settings": ((dict,), True)}),
    "set_phase": (service.set_phase, {"phase": (STR, True)}),
    "control_timer": (service.control_timer, {"action": (STR, True), "seconds": (OPT_INT, False)}),
    "moderate_idea": (service.moderate_idea, {"idea_id": (INT, True), "action": (STR, True),
                                              "reason": (STR, False)}),
    "focus_idea": (service.focus_idea, {"idea_id": (OPT_INT, True)}),
    "group_ideas": (service.group_ideas, {"idea_ids": ((list,), True), "name": (STR, False),
                                          "cluster_id": (OPT_INT, False)}),
    "ungroup": (service.ungroup, {"idea_ids": ((list, type(None)), False), "cluster_id": (OPT_INT, False)}),
    "remove_participant": (service.remove_participant, {"target_id": (INT, True)}),
}
MAX_STRING = 2000
# Ids are 32-bit INTEGER columns on PostgreSQL: a larger number would make the database raise (a "server
# error") instead of being refused as invalid input. No other field needs more.
MAX_INT = service.MAX_ID


def _is_int(value) -> bool:
    """An integer in the safe range (``True`` is an int in Python: never accept it as one)."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value <= MAX_INT


def _validate(data, spec: dict) -> dict | None:
    """Typed, bounded fields from a payload, or None when anything is off (unknown keys are refused)."""
    if not isinstance(data, dict):
        return None
    allowed = set(spec) | {"board_id", "client_id"}
    if set(data) - allowed:
        return None
    if not _is_int(data.get("board_id")):
        return None
    client_id = data.get("client_id")
    if client_id is not None and not (isinstance(client_id, str) and 1 <= len(client_id) <= 64
                                      and "\x00" not in client_id):
        return None
    fields = {}
    for name, (types, required) in spec.items():
        if name not in data:
            if required:
                return None
            continue
        value = data[name]
        if isinstance(value, bool) and bool not in types:
            return None  # True is an int in Python; never accept it as one
        if not isinstance(value, types) or (isinstance(value, int) and bool not in types and not _is_int(value)):
            return None
        if isinstance(value, str) and (len(value) > MAX_STRING or "\x00" in value):
            return None  # PostgreSQL text cannot hold NUL; no one types it
        if isinstance(value, list) and not all(_is_int(v) for v in value):
            return None
        if isinstance(value, dict) and len(value) > 20:
            return None
        fields[name] = value
    return fields


def guest_cookie_name(board_id: int) -> str:
    """Guests hold one HttpOnly cookie per board: their identity lives on that board only."""
    return f"atelier_guest_{board_id}"


def _user():
    """The account behind this connection now (None for guests), read from the database: at connect and at
    ``join_board`` (changes check the session's account in their own transaction, see ``_change``)."""
    return current_user._get_current_object() if current_user and current_user.is_authenticated else None


def _participant(board):
    user = _user()
    guest_token = None if user else request.cookies.get(guest_cookie_name(board.id))
    participant = service.participant_for(board, user, guest_token)
    if participant is None:
        raise service.NotMember()
    if participant.removed_at is not None:
        raise service.Removed()
    if user is not None and can_facilitate(user, board.organisation) != participant.is_facilitator:
        # Role withdrawn (or granted) since they joined: store it now; the receiver closes this person's
        # connections, so none stays in an audience it no longer belongs to.
        participant = service.sync_role(board.id, participant.id)
    return participant


class BoardNamespace(Namespace):
    def on_connect(self, auth=None):
        # The engine already refused foreign origins (cors_allowed_origins). Anonymous connections are
        # allowed for guests, who prove themselves with their board cookie at join_board.
        user = _user()
        if user is not None:
            join_room(user_room(user.id))
        _accounts[request.sid] = session_account(session.get("_user_id"))
        return True

    def on_disconnect(self, reason=None):
        _buckets.pop(request.sid, None)
        _joined.pop(request.sid, None)
        _accounts.pop(request.sid, None)

    def on_join_board(self, data=None, *extra):
        """Join a board's rooms; answer with the missed events since ``last_seq``, or a full snapshot."""
        try:
            if not _allow(request.sid):
                return _error("rate_limited", _("Trop de messages : attendez un instant."))
            if extra or not isinstance(data, dict) or set(data) - {"board_id", "last_seq"} \
                    or not _is_int(data.get("board_id")):
                return _error("invalid_input", _("Les informations envoyées ne sont pas valides."))
            last_seq = data.get("last_seq")
            if last_seq is not None and not _is_int(last_seq):
                return _error("invalid_input", _("Les informations envoyées ne sont pas valides."))
            board = service.get_board(data["board_id"])
            participant = _participant(board)
            join_room(board_room(board.id))
            join_room(facilitators_room(board.id) if participant.is_facilitator else participants_room(board.id))
            join_room(participant_room(board.id, participant.id))
            user = _user()
            _joined.setdefault(request.sid, {})[board.id] = (participant.id, user.id if user else None)
            events = service.events_since(board, participant, last_seq) if last_seq is not None else None
            if events is None:
                return {"ok": True, "snapshot": service.snapshot(board, participant)}
            return {"ok": True, "events": events, "seq": board.seq}
        except DomainError as err:
            return _error(err.code, err.message)
        except Exception:  # never let a handler raise: answer, log, and keep the connection
            log.exception("join_board failed")
            return _error("server_error", _("Une erreur inattendue s'est produite."))
        finally:
            db.session.remove()

    def _change(self, event, data=None, *extra):
        try:
            if not _allow(request.sid):
                return _error("rate_limited", _("Trop de messages : attendez un instant."))
            func, spec = EVENTS[event]
            fields = _validate(data, spec)
            if fields is None or extra:
                return _error("invalid_input", _("Les informations envoyées ne sont pas valides."))
            board_id = data["board_id"]
            joined = _joined.get(request.sid, {}).get(board_id)
            # The account this connection's session names (no database read): the change checks it, with the
            # participant, under the board lock; a revoked session is refused there (``not_member``).
            account = _accounts[request.sid] if request.sid in _accounts \
                else session_account(session.get("_user_id"))
            if joined is not None and joined[1] == (account[0] if account else None):
                participant_id = joined[0]
            else:
                participant_id = _participant(service.get_board(board_id)).id
            with service.acting_session(account):
                return func(board_id, participant_id, client_id=data.get("client_id"), **fields)
        except DomainError as err:
            return _error(err.code, err.message)
        except Exception:
            log.exception("%s failed", event)
            db.session.rollback()
            return _error("server_error", _("Une erreur inattendue s'est produite."))
        finally:
            db.session.remove()


def _handler(event: str):
    def handle(self, data=None, *extra):
        return self._change(event, data, *extra)

    handle.__name__ = f"on_{event}"
    handle.__doc__ = f"Client change ``{event}``: see docs/realtime-protocol.md."
    return handle


for _event in EVENTS:  # one on_<event> method per change, all through the same checks
    setattr(BoardNamespace, f"on_{_event}", _handler(_event))


def init_app(app) -> None:
    socketio.on_namespace(BoardNamespace(NAMESPACE))
