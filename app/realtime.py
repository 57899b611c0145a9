"""Delivery of one Socket.IO event to many websockets (the ``gevent`` mode of `make run` and production).

python-socketio encodes a room's event once, then hands it to each recipient's Engine.IO socket: a put on
that connection's queue, which wakes that connection's writer greenlet, which frames the packet again
(wsproto) and writes it. With 1,000 people on a board that is 1,000 wake-ups per idea, and a py-spy profile
of the bare python-socketio server put three quarters of its CPU there (docs/performance.md, "One frame for
the whole room").

Here the event's websocket frame is made once per emit, and written straight to each connection whose
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

This relies on engine.io's socket attributes (``queue``, ``upgraded``, ``upgrading``, ``closing``, ``closed``)
and on its per-mode table of websocket classes, as of python-engineio 4.x (pinned in requirements.lock);
tests/boards/test_delivery.py runs it in a gevent server.
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
            socket = handler.__self__  # handler: the Engine.IO socket's _websocket_handler
            # A second websocket for one Engine.IO socket (a client upgrading twice at once): which one engine.io
            # keeps is not known here, so that connection is served python-socketio's way from now on.
            socket.atelier_websocket = None if "atelier_websocket" in vars(socket) else self

        def __call__(self, environ, start_response):
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # no permessage-deflate: see the module's docstring
            try:
                return super().__call__(environ, start_response)  # returns when the connection is over
            finally:
                socket = self.app.__self__
                if vars(socket).get("atelier_websocket") is self:
                    del socket.atelier_websocket  # no cycle left for the collector

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
    transport = getattr(socket, "atelier_websocket", None)
    if transport is None or not socket.upgraded or socket.upgrading or socket.closing or socket.closed:
        counts["python-socketio"] += 1
        eio.send_packet(eio_sid, pkt)
        return
    if not socket.check_ping_timeout():
        return
    written = _write_now(transport, socket, raw)
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

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        eio = self.server.eio
        if callback or getattr(eio, "atelier_websocket_class", None) is None:
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                                **kwargs)
        room = to or room
        if namespace not in self.rooms:
            return None
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event] + data).encode()
        packets = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in
                   (encoded if isinstance(encoded, list) else [encoded])]
        if len(packets) != 1 or packets[0].binary:  # binary attachments: python-socketio's way
            for sid, eio_sid in self.get_participants(namespace, room):
                if sid not in skip:
                    for p in packets:
                        self.server._send_eio_packet(eio_sid, p)
            return None
        pkt = packets[0]
        raw = text_frame(pkt.encode())
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid not in skip:
                deliver(eio, eio_sid, pkt, raw)
        return None


class RedisRoomDelivery(socketio.RedisManager, RoomDelivery):
    """Rooms shared through Redis; what arrives for this process's connections is delivered as above."""


def client_manager(message_queue: str | None, async_mode: str | None):
    """The manager to give Flask-SocketIO: ours under gevent (in memory, or through Redis), else None for
    Flask-SocketIO's own choice."""
    if async_mode != "gevent" or _GeventWebSocket is None:
        return None
    if not message_queue:
        return RoomDelivery()
    if message_queue.startswith(("redis://", "rediss://")):
        return RedisRoomDelivery(message_queue, channel="flask-socketio")
    return None


def install(server) -> None:
    """After Flask-SocketIO made its server: websockets through ``WebSocket`` (gevent mode only)."""
    if not isinstance(server.manager, RoomDelivery):
        return
    eio = server.eio
    eio._async = {**eio._async, "websocket": WebSocket}
    eio.atelier_websocket_class = WebSocket
