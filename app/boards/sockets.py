"""Socket.IO namespace ``/boards``: thin handlers. Each event re-checks, from the database, who is
acting and whether they may; validates the payload; calls one service; answers with an ack. Broadcasts
come from ``receivers.py`` after commit, so HTTP changes reach live clients the same way.
"""

import logging
import time
from functools import lru_cache

from babel import Locale
from flask import current_app, request, session
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_socketio import ConnectionRefusedError, Namespace, join_room
from limits import RateLimitItem, parse_many

from ..accounts.current import signed_in_user
from ..accounts.models import session_account
from ..catalog.permissions import can_facilitate
from ..database import end_session
from ..errors import DomainError, socket_error
from ..extensions import limiter, socketio
from . import schemas, service
from .changes import acting_session
from .errors import NotMember, Removed
from .rooms import board_room, facilitators_room, participant_room, participants_room, user_room

log = logging.getLogger(__name__)
NAMESPACE = "/boards"

# Per connection, who it joined each board as: {sid: {board id: (participant id, user id or None)}}. Only a
# shortcut for finding the participant: every event still checks the account (Flask-Login, from the
# database) is the one that joined, and the service re-reads the participant under the board lock (removed,
# role, board gone). Nothing about the board lives here.
_joined: dict[str, dict[int, tuple[int, int | None]]] = {}
# Per connection, the account its session cookie names, as (user id, session version), or None: read once at
# connect (the cookie of a live connection is the one of its handshake and never changes); every change checks it
# against the database in its own transaction.
_accounts: dict[str, tuple[int, int] | None] = {}
# Per connection, the language its messages are written in: the one the page that opened it was in (the locale
# selected at connect). An event's refusal is then translated without loading the account again.
_languages: dict[str, Locale] = {}


def _error(code: str, message) -> dict:
    return {"ok": False, "error": {"code": code, "message": str(message)}}


STORAGE_WARNING_SECONDS = 60.0
_storage_warned = [-STORAGE_WARNING_SECONDS]  # when this process last logged a failure of the rate-limit storage


@lru_cache(maxsize=8)
def _rate_limits(setting: str) -> list[RateLimitItem]:
    return parse_many(setting)


def _allow(sid: str) -> bool:
    """Whether this connection's person may send one more board event (``BOARD_EVENTS_RATE_LIMIT``); over the
    limit, events get an error ack (no disconnect).

    Counted by the ``limits`` strategy Flask-Limiter serves the HTTP limits with, in the same storage
    (``RATELIMIT_STORAGE_URI``: Redis when several processes serve, so a person's connections to every process share
    one allowance), per account, or per connection for a guest. Should that storage fail, events go through
    unlimited and the failure is logged: the board matters more than its rate limit.
    """
    account = _accounts.get(sid)
    key = f"user:{account[0]}" if account else f"connection:{sid}"
    limits = _rate_limits(current_app.config["BOARD_EVENTS_RATE_LIMIT"])  # checked at start (config.py)
    try:
        return all(limiter.limiter.hit(item, "board-events", key) for item in limits)
    except Exception as err:  # the storage's own errors (a Redis client's, for one) have no common base class
        now = time.monotonic()
        if now - _storage_warned[0] >= STORAGE_WARNING_SECONDS:  # one line a minute, not one per event
            _storage_warned[0] = now
            log.warning("board events let through unlimited: the rate-limit storage failed (%s)", type(err).__name__)
        return True


# Each client change: the service that applies it. Its payload's schema is in ``schemas.py``.
EVENTS = {
    "post_idea": service.post_idea, "edit_idea": service.edit_idea, "withdraw_idea": service.withdraw_idea,
    "move_idea": service.move_idea, "react": service.react, "vote": service.vote, "set_ready": service.set_ready,
    "update_settings": service.update_settings, "set_phase": service.set_phase,
    "control_timer": service.control_timer, "moderate_idea": service.moderate_idea,
    "focus_idea": service.focus_idea, "group_ideas": service.group_ideas, "ungroup": service.ungroup,
    "remove_participant": service.remove_participant,
}


def boards_joined_here() -> set[int]:
    """The boards this process's connections joined (for ``announce``)."""
    return {board_id for boards in list(_joined.values()) for board_id in boards}


def guest_cookie_name(board_id: int) -> str:
    """Guests hold one HttpOnly cookie per board: their identity lives on that board only."""
    return f"atelier_guest_{board_id}"



def _participant(board):
    user = signed_in_user()
    guest_token = None if user else request.cookies.get(guest_cookie_name(board.id))
    participant = service.participant_for(board, user, guest_token)
    if participant is None:
        raise NotMember()
    if participant.removed_at is not None:
        raise Removed()
    if user is not None and can_facilitate(user, board.organisation) != participant.is_facilitator:
        # Role withdrawn (or granted) since they joined: store it now; the receiver closes this person's
        # connections, so none stays in an audience it no longer belongs to.
        participant = service.sync_role(board.id, participant.id)
    return participant


class BoardNamespace(Namespace):
    def on_connect(self, auth=None):
        # The engine already refused foreign origins (cors_allowed_origins). Anonymous connections are
        # allowed for guests, who prove themselves with their board cookie at join_board.
        named = session.get("_user_id")  # read before Flask-Login checks the session (and drops it if it fails)
        user = signed_in_user()
        if named and user is None:
            # The session names an account that it does not sign in here: Flask-Login's protection binds it to the
            # browser and address of the page (another User-Agent on this handshake fails it), or it was revoked.
            # Going on as a guest would fail every change later, silently: refuse now, and say why.
            raise ConnectionRefusedError(
                _("Votre session ne vaut pas pour cette connexion en direct (navigateur ou adresse différents de "
                  "ceux de la page, ou session terminée). Rechargez la page ; si cela continue, reconnectez-vous."),
                {"code": "session_refused"})
        if user is not None:
            join_room(user_room(user.id))
        _accounts[request.sid] = session_account(session.get("_user_id"))
        _languages[request.sid] = get_locale()
        return True

    def on_disconnect(self, reason=None):
        _joined.pop(request.sid, None)
        _accounts.pop(request.sid, None)
        _languages.pop(request.sid, None)

    def on_join_board(self, data=None, *extra):
        """Join a board's rooms; answer with the missed events since ``last_seq``, or a full snapshot."""
        with force_locale(_languages.get(request.sid) or get_locale()):
            return self._join_board(data, *extra)

    def _join_board(self, data=None, *extra):
        try:
            if not _allow(request.sid):
                return _error("rate_limited", _("Trop de messages : attendez un instant."))
            fields = schemas.parse("join_board", data)
            if fields is None or extra:
                return _error("invalid_input", _("Les informations envoyées ne sont pas valides."))
            last_seq = fields["last_seq"]
            board = service.get_board(fields["board_id"])
            participant = _participant(board)
            join_room(board_room(board.id))
            join_room(facilitators_room(board.id) if participant.is_facilitator else participants_room(board.id))
            join_room(participant_room(board.id, participant.id))
            user = signed_in_user()
            _joined.setdefault(request.sid, {})[board.id] = (participant.id, user.id if user else None)
            changes = service.events_since(board, participant, last_seq) if last_seq is not None else None
            if changes is None:
                return {"ok": True, "snapshot": service.snapshot(board, participant)}
            return {"ok": True, "changes": changes, "seq": board.seq}
        except DomainError as err:
            return _error(err.code, err.message)
        except Exception as err:  # never let a handler raise: answer, log, and keep the connection
            return socket_error(err, log, "join_board")  # ``unavailable`` while the database is, else server_error
        finally:
            end_session()

    def _change(self, event, data=None, *extra):
        with force_locale(_languages.get(request.sid) or get_locale()):
            return self._apply_change(event, data, *extra)

    def _apply_change(self, event, data=None, *extra):
        try:
            if not _allow(request.sid):
                return _error("rate_limited", _("Trop de messages : attendez un instant."))
            fields = schemas.parse(event, data)
            if fields is None or extra:
                return _error("invalid_input", _("Les informations envoyées ne sont pas valides."))
            board_id, client_id = fields.pop("board_id"), fields.pop("client_id")
            joined = _joined.get(request.sid, {}).get(board_id)
            # The account this connection's session names (no database read): the change checks it, with the
            # participant, under the board lock; a revoked session is refused there (``not_member``).
            account = _accounts[request.sid] if request.sid in _accounts \
                else session_account(session.get("_user_id"))
            if joined is not None and joined[1] == (account[0] if account else None):
                participant_id = joined[0]
            else:
                participant_id = _participant(service.get_board(board_id)).id
            with acting_session(account):
                return EVENTS[event](board_id, participant_id, client_id=client_id, **fields)
        except DomainError as err:
            return _error(err.code, err.message)
        except Exception as err:  # the session is rolled back as it ends, below
            return socket_error(err, log, event)  # ``unavailable`` while the database is, else server_error
        finally:
            end_session()


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
