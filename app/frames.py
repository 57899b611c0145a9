"""What the Socket.IO server takes off the wire before any handler runs, and how a malformed frame is logged.

python-socketio decodes every frame itself, then dispatches it; a frame it cannot decode or dispatch (truncated
JSON, an empty event array, a binary placeholder pointing at no attachment, an unknown packet type) raises inside
engine.io's message handler, which logs an ERROR with the whole traceback and keeps the connection. Anyone could
fill the log that way, one frame after another. So, with the libraries' public hooks only:

- ``CheckedPacket``, python-socketio's packet class given as its ``serializer=``, also refuses an event without
  a name (an empty array, a number or a list in the name's place);
- ``BoundedJSON`` is given to python-socketio as its ``json=`` module (engine.io receives it too): the same
  ``dumps``, and a ``loads`` that refuses JSON nested deeper than ``MAX_DEPTH`` or holding an integer of more than
  ``MAX_INT_DIGITS`` digits (no client of ours sends either: the board's payloads nest three deep, and JavaScript
  writes no integer longer than 21 digits; a number too large for an id but within the bound stays the handlers'
  ``invalid_input``), raising ``MalformedFrame``, a ``ValueError``, as for any other undecodable frame;
- ``MalformedFrameFilter``, a logging filter on engine.io's logger, turns the traceback of a frame that failed in
  the libraries' own decoding or dispatch into one short WARNING line per connection, drops the lines its later
  frames would add, and closes the connection (engine.io's public ``disconnect``): a well-behaved client never sends
  such a frame, and one that did has lost its protocol state. Anything else (a fault of the server, raised
  outside the libraries' decoding) keeps its ERROR and traceback;
- ``serve.py``'s request handler does the same (``refuse_escaped_frame``) for a frame engine.io itself cannot parse
  (no packet type), which escapes from the websocket's request instead of reaching a logger.

Which connection a failure belongs to is read from the failing call's arguments, as the traceback records them
(python-socketio names that argument ``eio_sid``, engine.io's request handler ``sid``). Should a future version
name it otherwise, the failure is still one short warning (at most one per ``UNKNOWN_CONNECTION_SECONDS`` when the
connection is unknown), only the connection is not closed: tests/test_socket_frames.py would say so.
"""

import json
import logging
import threading
import time
import weakref
from collections import OrderedDict

from socketio import packet as sio_packet

MAX_DEPTH = 32
MAX_INT_DIGITS = 32  # JavaScript writes 21 digits at most (beyond, an exponent); 2**70 stays invalid input
UNKNOWN_CONNECTION_SECONDS = 10.0
REMEMBERED_CONNECTIONS = 10_000  # connections already warned about, most recent kept (each is closed at once anyway)
# What python-socketio and engine.io raise on a frame they cannot decode or dispatch (an index or key the frame
# lacks, a type it should not have): counted as the client's fault only when raised by their own code.
WIRE_ERRORS = (ValueError, IndexError, KeyError, TypeError, AttributeError)
WIRE_MODULES = ("engineio.", "socketio.")

log = logging.getLogger("atelier.frames")


class MalformedFrame(ValueError):
    """A frame's JSON is not JSON, nests deeper than ``MAX_DEPTH``, or holds an integer of too many digits."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedFrame(f"integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _depth_within(value, limit: int) -> bool:
    """Whether ``value``'s lists and objects nest at most ``limit`` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


class BoundedJSON:
    """The ``json=`` module of the Socket.IO server: the standard ``dumps``, a bounded ``loads``."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text, *args, **kwargs):
        kwargs["parse_int"] = _bounded_int
        try:
            value = json.loads(text, *args, **kwargs)
        except MalformedFrame:
            raise
        except (ValueError, RecursionError) as err:  # RecursionError: nested far deeper than MAX_DEPTH
            raise MalformedFrame(f"not JSON ({type(err).__name__})") from None
        if isinstance(value, dict | list) and not _depth_within(value, MAX_DEPTH):
            raise MalformedFrame(f"nested deeper than {MAX_DEPTH}")
        return value


class CheckedPacket(sio_packet.Packet):
    """python-socketio's packet (its public ``serializer=`` hook), refusing at decoding an event that names no
    event: an empty array, or a first element that is not a string, would otherwise fail later, in a task of its
    own whose error goes to stderr with its traceback, past any logger."""

    def decode(self, encoded_packet):
        attachments = super().decode(encoded_packet)
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
                isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
            raise MalformedFrame("an event without a name")
        return attachments


def _innermost_module(tb) -> str:
    name = ""
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return name


def is_malformed_frame(exc: BaseException | None, tb=None) -> bool:
    """Whether ``exc`` comes from a frame a client sent, not from a fault of the server: refused by
    ``BoundedJSON``, or raised by python-socketio's or engine.io's own decoding or dispatch."""
    if isinstance(exc, MalformedFrame):
        return True
    tb = tb if tb is not None else getattr(exc, "__traceback__", None)
    return isinstance(exc, WIRE_ERRORS) and _innermost_module(tb).startswith(WIRE_MODULES)


def describe(exc: BaseException) -> str:
    """The exception in one short line (its text may quote a few characters of the frame: escaped, cut)."""
    text = ascii(str(exc))[1:-1]
    return f"{type(exc).__name__}: {text[:120]}"


def _connection_of(tb) -> str | None:
    """The engine.io session id of the call that failed, from its arguments as the traceback records them."""
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__", "").startswith(WIRE_MODULES):
            sid = frame.f_locals.get("eio_sid") or frame.f_locals.get("sid")
            if isinstance(sid, str):
                found = sid
                if "eio_sid" in frame.f_locals:
                    return sid
        tb = tb.tb_next
    return found


class MalformedFrameFilter(logging.Filter):
    """On engine.io's logger: a malformed frame's traceback becomes one short warning per connection, which is
    closed; repeats from that connection are dropped. Other records pass unchanged."""

    def __init__(self):
        super().__init__()
        self.servers = weakref.WeakSet()  # engine.io servers, to find and close a connection by its id
        self.warned: OrderedDict[str, None] = OrderedDict()
        self.last_unknown = float("-inf")
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not is_malformed_frame(record.exc_info[1], record.exc_info[2]):
            return True
        first, sid, closed = self.refuse(record.exc_info[2])
        if not first:
            return False
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.msg = "malformed Socket.IO frame on connection %s (%s): %s"
        record.args = (sid or "?", describe(record.exc_info[1]), "connection closed" if closed else "ignored")
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def refuse(self, tb) -> tuple[bool, str | None, bool]:
        """Close the connection a malformed frame came on (found from the traceback ``tb``); return whether this is
        the first time for it (to be logged), its engine.io id, and whether it is being closed."""
        sid = _connection_of(tb)
        with self.lock:
            if sid is None:
                now = time.monotonic()
                if now - self.last_unknown < UNKNOWN_CONNECTION_SECONDS:
                    return False, None, False
                self.last_unknown = now
            else:
                if sid in self.warned:
                    return False, sid, True
                self.warned[sid] = None
                while len(self.warned) > REMEMBERED_CONNECTIONS:
                    self.warned.popitem(last=False)
        return True, sid, self._close(sid) if sid is not None else False

    def _close(self, sid: str) -> bool:
        for eio in list(self.servers):
            if sid in eio.sockets:
                # Not from here: this runs inside logging, in the middle of engine.io's message handler.
                eio.start_background_task(eio.disconnect, sid)
                return True
        return False


_filter = MalformedFrameFilter()
ENGINE_LOGGERS = ("engineio.server", "socketio.server")


def quiet_engine_loggers() -> None:
    """Before the Socket.IO server is made: engine.io's and python-socketio's loggers at their usual level (ERROR),
    set here so that they do not add their own stderr handler too (every line would be written twice, once without
    its time), and the filter on engine.io's, which logs the handler errors."""
    for name in ENGINE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)
    engine = logging.getLogger("engineio.server")
    if _filter not in engine.filters:
        engine.addFilter(_filter)


def refuse_escaped_frame(exc: BaseException, tb) -> bool:
    """For the server's request handler (serve.py): whether ``exc``, escaped from a websocket's request, comes from a
    frame engine.io could not parse; if so its connection is being closed and one warning line was logged."""
    if not is_malformed_frame(exc, tb):
        return False
    first, sid, _closed = _filter.refuse(tb)
    if first:
        log.warning("malformed Engine.IO frame on connection %s (%s): connection closed", sid or "?", describe(exc))
    return True


def install(sio_server) -> None:
    """After Flask-SocketIO made its server: the filter may close that server's connections."""
    _filter.servers.add(sio_server.eio)
