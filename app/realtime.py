"""One frame for the whole room: the delivery of a Socket.IO event to many websockets, under gevent.

This module is the one place where Atelier relies on libraries' internals; nowhere else does project code call or
patch a library's private names. The setting ``SOCKETIO_ONE_FRAME_DELIVERY`` (on by default;
``SOCKETIO_ONE_FRAME_DELIVERY=0`` in the environment) turns it off: ``client_manager`` then returns None and
``install`` does nothing, so Flask-SocketIO's own manager and engine.io's own websocket class serve, unchanged.

Why. python-socketio encodes a room's event once, then hands it to each recipient's Engine.IO socket: a put on
that connection's queue, which wakes that connection's writer greenlet, which frames the packet again (wsproto)
and writes it. With 1,000 people on a board that is 1,000 wake-ups per idea, and a py-spy profile of the bare
python-socketio server put three quarters of its CPU there. Without this module, a delivery's p95 at 1,000 clients
and 20 ideas/s was above that bare server's (1.07 to 1.76 times it); with it, 0.69 times it, then 0.57 times it
after the one-seq protocol (docs/performance.md, "One frame for the whole room" and "One seq per change").
python-socketio offers no public hook for it: a client manager chooses the recipients, but only engine.io's socket
writes, and engine.io takes its websocket class from a private table.

What it does. The event's websocket frame is made once per emit, and written straight to each connection whose
writer is idle, in one pass that never yields:

- a connection whose queue holds something, or whose writer is busy writing, gets the frame through its queue,
  behind what is there, so each connection still receives its packets in the order they were sent;
- the write is non-blocking: what the kernel does not take at once (a slow reader's full buffer) goes through
  the queue, and that connection's own writer finishes it, before anything else;
- a connection still on long-polling, still upgrading, or closing, goes python-socketio's way;
- websockets are accepted without permessage-deflate, so one frame serves every connection. Socket.IO's own
  server (Node) has it off by default too: board events are a few hundred bytes, and compressing each one
  again for each connection is the costly part of a broadcast.

The same manager serves one process and, with ``SOCKETIO_MESSAGE_QUEUE=redis://...``, the events each process
receives from Redis for its own connections. The threading mode (the pytest process, `flask run`) keeps
python-socketio's delivery: its queues and sockets block.

What it relies on, as of python-socketio 5.18.1, python-engineio 4.15.1, simple-websocket 1.1.0, gevent 26.9.0
and wsproto 1.3.2 (the ranges declared in pyproject.toml). tests/boards/test_delivery_contract.py fails, naming
what changed, when an upgrade takes one of these away; tests/boards/test_delivery.py runs the whole in a gevent
server.

- python-engineio, private names (the lines using them end with ``# noqa: private``):
  - ``Server._async``, the server's table of its async mode's classes: the upgrade of a connection to a
    websocket instantiates its ``"websocket"`` entry as ``cls(handler, server)`` and calls that with
    ``(environ, start_response)``. ``install`` gives one server a copy of the table naming ``WebSocket``.
  - that ``handler`` is the Engine.IO socket's private bound method ``_websocket_handler``: its ``__self__`` is
    the socket the websocket serves.
- python-engineio, public names that are not documented:
  - ``Server.sockets`` (Engine.IO id -> socket); on the socket, ``queue`` (gevent's queue: ``qsize``, ``put``),
    ``upgraded``, ``upgrading``, ``closing``, ``closed`` and ``check_ping_timeout()``;
  - the socket's websocket writer sends ``pkt.encode()`` of each packet it takes from the queue through the
    websocket's ``send``, one packet at a time, in order;
  - ``engineio.async_drivers.gevent.WebSocketWSGI``, engine.io's wrapper of simple-websocket, with
    ``__init__(handler, server)``, ``__call__(environ, start_response)``, ``send(message)``, and the
    simple-websocket ``Server`` it keeps as ``ws`` once called.
  Documented, and used as documented: ``Server.send_packet`` and ``engineio.packet.Packet``.
- simple-websocket, attributes that are not documented: ``Server.sock`` (the connection's socket) and
  ``Server.connected``. It negotiates permessage-deflate only when the request's ``Sec-WebSocket-Extensions``
  offers it, and, besides ``send``, writes on the socket only from its reader (a client's websocket ping or
  close, which Socket.IO clients do not send while connected).
- wsproto (simple-websocket's): it keeps no state about the data frames a server sends, so whole frames written
  beside it are valid.
- gevent: the file descriptor of a ``gevent.socket.socket`` is non-blocking (``os.write`` never waits).
- python-socketio, public names that are not documented: what ``Manager.emit`` does, with its signature (mirrored
  here), ``Manager.rooms``, ``get_participants``, ``Server.eio`` and ``Server.packet_class``; ``PubSubManager``
  delivering what it receives from Redis through ``super().emit`` (so ``RedisRoomDelivery`` delivers it here).
"""

import collections
import os
import struct

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

try:
    import gevent.socket
    from engineio.async_drivers import gevent as _gevent_driver
except ImportError:  # pragma: no cover (gevent is a dependency; this keeps the module importable without it)
    _gevent_driver = None
# engine.io's gevent websocket is simple-websocket's unless gevent-websocket is installed; only that one is known.
_GeventWebSocket = (_gevent_driver.WebSocketWSGI
                    if _gevent_driver is not None and _gevent_driver.SimpleWebSocketWSGI is not None else None)

# How each recipient of a room's emit was served since the process started: "written" at once, "rest queued"
# (the kernel took part of the frame or none of it: the rest went to its queue), "queued" (its writer was
# busy), "python-socketio" (not one of our websockets: long-polling, upgrading, closing).
counts: collections.Counter = collections.Counter()
TEXT_FRAME = 0x81  # FIN + opcode 1 (text); frames from a server are not masked (RFC 6455, 5.1)

# The websockets of each Engine.IO socket, while they run. Two at once (a client upgrading twice at once): which
# one engine.io writes through is not known here, so that connection goes python-socketio's way meanwhile.
_websockets: dict[object, list] = {}


class RawFrame(bytes):
    """Bytes already framed for the websocket: the transport writes them as they are."""


def text_frame(text: str) -> RawFrame:
    """The websocket frame of one text message, as every client receives it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", TEXT_FRAME, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", TEXT_FRAME, 126, size)
    else:
        header = struct.pack("!BBQ", TEXT_FRAME, 127, size)
    return RawFrame(header + payload)


class FramedPacket(eio_packet.Packet):
    """An Engine.IO message whose websocket bytes are already made (a whole frame, or what is left of one)."""

    def __init__(self, raw: bytes, data: str):
        super().__init__(eio_packet.MESSAGE, data)
        self.raw = raw if isinstance(raw, RawFrame) else RawFrame(raw)  # a whole frame is shared, not copied

    def encode(self, b64=False):
        return self.raw


if _GeventWebSocket is not None:

    class WebSocket(_GeventWebSocket):
        """engine.io's gevent websocket, known to its Engine.IO socket, without compression, and able to write
        bytes that are already framed."""

        def __init__(self, handler, server):
            super().__init__(handler, server)
            # ``handler``: the Engine.IO socket's private ``_websocket_handler``, bound to that socket.
            self.engineio_socket = handler.__self__  # noqa: private

        def __call__(self, environ, start_response):
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # no permessage-deflate: see the module's docstring
            running = _websockets.setdefault(self.engineio_socket, [])
            running.append(self)
            try:
                return super().__call__(environ, start_response)  # returns when the connection is over
            finally:
                running.remove(self)
                if not running:  # no cycle left for the collector
                    del _websockets[self.engineio_socket]

        sending = False  # True while a write may wait for the socket (the only point a writer yields)

        def send(self, message):
            """The writer's send. Text is framed here and written whole: simple-websocket's own send writes with
            ``socket.send`` and drops what a full buffer did not take."""
            self.sending = True
            try:
                if isinstance(message, str):
                    message = text_frame(message)
                elif not isinstance(message, RawFrame):
                    return super().send(message)  # binary: engine.io's way
                if not self.ws.connected:
                    raise OSError("websocket closed")
                self.ws.sock.sendall(message)
                return None
            finally:
                self.sending = False


def _write_now(transport, socket, raw: bytes) -> int | None:
    """Writes what the kernel takes of ``raw`` to the websocket without waiting: the number of bytes written,
    or None when the connection's writer must do it (busy, or something already in line)."""
    if transport.sending or socket.queue.qsize():  # in the middle of a write, or something in line
        return None
    ws = getattr(transport, "ws", None)
    # Only a plain gevent socket (non-blocking; not TLS, whose bytes os.write would bypass) is written here.
    if ws is None or not ws.connected or type(ws.sock) is not gevent.socket.socket:
        return None
    fd = ws.sock.fileno()
    if fd < 0:
        return None
    try:
        return os.write(fd, raw)
    except BlockingIOError:
        return 0
    except OSError:  # the peer is gone: the writer meets the same error and ends the connection
        return None


def deliver(eio, eio_sid: str, pkt: eio_packet.Packet, raw: bytes) -> None:
    """One recipient of an emit: written at once when its writer is idle, else queued, already framed.

    Only a connection on one of our websockets, upgraded and not closing, takes framed bytes: until the upgrade
    is over, a pending long-polling request may still take its queue's packets."""
    socket = eio.sockets.get(eio_sid)
    running = _websockets.get(socket)
    if (not running or len(running) != 1 or not socket.upgraded or socket.upgrading or socket.closing
            or socket.closed):
        counts["python-socketio"] += 1
        eio.send_packet(eio_sid, pkt)
        return
    if not socket.check_ping_timeout():
        return
    written = _write_now(running[0], socket, raw)
    if written is None:
        counts["queued"] += 1
        socket.queue.put(FramedPacket(raw, pkt.data))
    elif written < len(raw):
        counts["rest queued"] += 1
        socket.queue.put(FramedPacket(raw[written:], pkt.data))
    else:
        counts["written"] += 1


class RoomDelivery(socketio.Manager):
    """python-socketio's in-memory manager, delivering an emit to a room with one frame (see the module)."""

    installed = False  # set by ``install``: the server's websockets are ours

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        if callback or not self.installed:
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                                **kwargs)
        room = to or room
        if namespace not in self.rooms:
            return None
        if isinstance(data, tuple):
            arguments = list(data)
        elif data is not None:
            arguments = [data]
        else:
            arguments = []
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event] + arguments).encode()
        if not isinstance(encoded, str):  # binary attachments: python-socketio's way
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        raw = text_frame(pkt.encode())
        eio = self.server.eio
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid not in skip:
                deliver(eio, eio_sid, pkt, raw)
        return None


class RedisRoomDelivery(socketio.RedisManager, RoomDelivery):
    """Rooms shared through Redis; what arrives for this process's connections is delivered as above."""


def client_manager(message_queue: str | None, async_mode: str | None, *, enabled: bool):
    """The manager to give Flask-SocketIO: ours under gevent when ``enabled`` (the ``SOCKETIO_ONE_FRAME_DELIVERY``
    setting), in memory or through Redis; else None, for Flask-SocketIO's own."""
    if not enabled or async_mode != "gevent" or _GeventWebSocket is None:
        return None
    if not message_queue:
        return RoomDelivery()
    if message_queue.startswith(("redis://", "rediss://")):
        return RedisRoomDelivery(message_queue, channel="flask-socketio")
    return None


def install(server) -> None:
    """After Flask-SocketIO made its server: its websockets through ``WebSocket``, when its manager is ours (so
    nothing when ``client_manager`` returned None)."""
    if not isinstance(server.manager, RoomDelivery):
        return
    eio = server.eio
    # engine.io has no public way to choose its websocket class: this server gets a copy of its table naming ours.
    eio._async = {**eio._async, "websocket": WebSocket}  # noqa: private
    server.manager.installed = True
