"""The contract of app/realtime.py with the libraries it relies on: what its docstring lists, checked one by one.

Each test fails, saying what changed, when an upgrade of python-socketio, python-engineio, simple-websocket, gevent
or wsproto takes away something the one-frame delivery relies on. Then adapt app/realtime.py to the new version
(and move its range in pyproject.toml), or keep the old version, or turn the delivery off
(``SOCKETIO_ONE_FRAME_DELIVERY=0``: python-socketio's own path serves, slower with a thousand people on a board).

The checks run in the pytest process, which gevent does not patch: engine.io's gevent classes and gevent's sockets
work without it. The lines reading a private name are marked ``# noqa: private``, as in the module; the whole
delivery, in a gevent server, is tests/boards/test_delivery.py.
"""

import contextlib
import os
import tomllib
from importlib.metadata import version
from inspect import signature

import engineio
import engineio.socket
import gevent
import gevent.socket
import pytest
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers import gevent as gevent_driver
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app import realtime
from tests.servers import ROOT

# The versions app/realtime.py was checked against (its docstring names them too).
CHECKED = {"python-socketio": "5.18.1", "python-engineio": "4.15.1", "simple-websocket": "1.1.0",
           "gevent": "26.9.0", "wsproto": "1.3.2"}
WHAT_TO_DO = ("adapt app/realtime.py (its docstring lists what it relies on) or turn SOCKETIO_ONE_FRAME_DELIVERY "
              "off")


def parameters(function) -> list[str]:
    return list(signature(function).parameters)


def websocket_table(eio: engineio.Server) -> dict:
    """The engine.io server's table of its async mode's classes, where ``realtime.install`` names its websocket."""
    table = getattr(eio, "_async", None)  # noqa: private
    assert isinstance(table, dict) and "websocket" in table, (
        f"engine.io's Server._async is no longer a dict with a 'websocket' entry ({type(table).__name__}): "
        f"install() cannot choose the websocket class; {WHAT_TO_DO}")
    return table


def engineio_server(websocket_class=None) -> engineio.Server:
    """An engine.io server in gevent mode; with ``websocket_class`` in its table, as ``realtime.install`` does."""
    eio = engineio.Server(async_mode="gevent")
    if websocket_class is not None:
        eio._async = {**websocket_table(eio), "websocket": websocket_class}  # noqa: private
    return eio


def test_the_installed_libraries_are_within_the_ranges_checked():
    """pyproject.toml declares each library with a range around the version checked, and that is what is installed:
    a version outside it has not been checked against what the module relies on."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(r.name): r.specifier for r in map(Requirement, project["dependencies"])}
    for name, checked in CHECKED.items():
        assert f"{name} {checked}" in realtime.__doc__, f"app/realtime.py's docstring does not name {name} {checked}"
        spec = declared.get(canonicalize_name(name))
        assert spec is not None, f"{name} is not declared in pyproject.toml's dependencies"
        assert any(s.operator == "<" for s in spec), f"{name} has no upper bound in pyproject.toml ({spec})"
        assert spec.contains(checked), f"{name}'s range in pyproject.toml ({spec}) leaves out {checked}, as checked"
        installed = version(name)
        assert spec.contains(installed), (
            f"{name} {installed} is installed, outside the range app/realtime.py was checked against ({spec}): "
            f"{WHAT_TO_DO}")


def test_engineio_keeps_its_websocket_class_in_a_table_of_each_server():
    """``install`` gives a server a copy of that table naming ``realtime.WebSocket``."""
    table = websocket_table(engineio_server())
    assert table["websocket"] is gevent_driver.WebSocketWSGI, (
        f"engine.io's gevent websocket class is now {table['websocket']!r}, not async_drivers.gevent.WebSocketWSGI, "
        f"which realtime.WebSocket extends; {WHAT_TO_DO}")


class Probe(realtime.WebSocket):
    """``realtime.WebSocket`` as engine.io makes it, stopped before simple-websocket's handshake."""

    made: list = []

    def __init__(self, handler, server):
        super().__init__(handler, server)
        self.handler = handler

    def __call__(self, environ, start_response):
        self.called_with = (environ, start_response)
        Probe.made.append(self)
        return []


UPGRADE = {"REQUEST_METHOD": "GET", "HTTP_CONNECTION": "Upgrade", "HTTP_UPGRADE": "websocket"}


def upgraded_probe() -> tuple[Probe, engineio.socket.Socket, engineio.Server]:
    """An Engine.IO socket asked to upgrade to a websocket, with ``Probe`` in its server's table."""
    eio = engineio_server(Probe)
    socket = engineio.socket.Socket(eio, "sid")
    Probe.made.clear()

    def start_response(status, headers):
        return None

    try:
        socket.handle_get_request(dict(UPGRADE), start_response)
    except AttributeError as err:
        pytest.fail(f"engine.io no longer hands the websocket class a method bound to its socket ({err}): "
                    f"realtime.WebSocket cannot find the Engine.IO socket it serves; {WHAT_TO_DO}")
    assert len(Probe.made) == 1, ("an upgrade no longer makes and calls its server's table's websocket class once: "
                                  f"install() no longer chooses the websocket class; {WHAT_TO_DO}")
    (probe,) = Probe.made
    assert probe.called_with[0]["HTTP_UPGRADE"] == "websocket", (
        f"the websocket class is no longer called with the request's WSGI environ; {WHAT_TO_DO}")
    return probe, socket, eio


def test_an_upgrade_makes_the_tables_websocket_class_with_a_handler_bound_to_the_engineio_socket():
    probe, socket, _eio = upgraded_probe()
    assert probe.engineio_socket is socket, (
        f"the handler engine.io gives its websocket class is bound to {probe.engineio_socket!r}, not to the Engine.IO "
        f"socket: realtime.WebSocket would write to the wrong connection; {WHAT_TO_DO}")


class FakeTransport:
    """What engine.io's websocket handler drives: ``wait`` queues ``packets`` once the writer runs, lets it send
    them, then ends the connection."""

    def __init__(self, socket, packets):
        self.socket, self.packets, self.sent = socket, packets, []

    def wait(self):
        for pkt in self.packets:
            self.socket.queue.put(pkt)
        for _ in range(200):
            if len(self.sent) >= len(self.packets):
                break
            gevent.sleep(0.005)
        return None

    def send(self, message):
        self.sent.append(message)

    def close(self):
        return None


def test_the_websocket_writer_sends_what_each_queued_packet_encodes_to_in_order():
    """A ``FramedPacket`` put on a connection's queue reaches the websocket's ``send`` as its ``encode()``: the
    bytes already framed, which ``realtime.WebSocket.send`` writes as they are, between the other packets."""
    probe, socket, _eio = upgraded_probe()
    data = '2["posted","idée"]'
    frame = realtime.text_frame("4" + data)
    transport = FakeTransport(socket, [eio_packet.Packet(eio_packet.MESSAGE, "a"), realtime.FramedPacket(frame, data),
                                       eio_packet.Packet(eio_packet.MESSAGE, "b")])
    # The handler is engine.io's private Socket._websocket_handler, run here as engine.io runs it.
    probe.handler(transport)  # noqa: private
    assert transport.sent == ["4a", frame, "4b"], (
        f"engine.io's websocket writer no longer sends pkt.encode() of each queued packet, in order "
        f"(sent {transport.sent!r}): framed bytes would not reach realtime.WebSocket.send as they are; {WHAT_TO_DO}")
    assert socket.upgraded and socket.closed, "engine.io's socket no longer says it was upgraded, then closed"


def test_an_engineio_socket_has_the_state_the_delivery_reads():
    eio = engineio_server()
    assert isinstance(eio.sockets, dict), f"engine.io's Server.sockets is no longer a dict; {WHAT_TO_DO}"
    assert parameters(engineio.Server.send_packet) == ["self", "sid", "pkt"], (
        f"engine.io's Server.send_packet is now {signature(engineio.Server.send_packet)}; {WHAT_TO_DO}")
    socket = engineio.socket.Socket(eio, "sid")
    for name in ("upgraded", "upgrading", "closing", "closed"):
        assert getattr(socket, name, None) is False, (
            f"engine.io's Socket has no boolean {name!r} any more (a fresh one has {getattr(socket, name, None)!r}): "
            f"deliver() cannot tell which connections to write to; {WHAT_TO_DO}")
    assert parameters(engineio.socket.Socket.check_ping_timeout) == ["self"], (
        f"engine.io's Socket.check_ping_timeout is now {signature(engineio.socket.Socket.check_ping_timeout)}")
    assert socket.check_ping_timeout() is True, "a fresh engine.io Socket's check_ping_timeout() is not True"
    queue = socket.queue
    assert queue.qsize() == 0, f"engine.io's Socket.queue has no qsize() or is not empty at first ({queue!r})"
    queue.put(eio_packet.Packet(eio_packet.NOOP))
    assert queue.qsize() == 1, f"engine.io's Socket.queue does not count what is put on it ({queue!r}); {WHAT_TO_DO}"


def test_engineios_gevent_websocket_is_simple_websockets_wrapper():
    assert gevent_driver.SimpleWebSocketWSGI is not None, (
        "gevent-websocket is installed: engine.io's gevent websocket is no longer simple-websocket's, the only one "
        f"realtime.WebSocket knows; uninstall gevent-websocket, or {WHAT_TO_DO}")
    cls = gevent_driver.WebSocketWSGI
    assert issubclass(cls, gevent_driver.SimpleWebSocketWSGI), f"{cls!r} no longer wraps simple-websocket"
    for method, expected in (("__init__", ["self", "handler", "server"]),
                             ("__call__", ["self", "environ", "start_response"]),
                             ("send", ["self", "message"])):
        assert parameters(getattr(cls, method)) == expected, (
            f"engine.io's gevent WebSocketWSGI.{method} is now {signature(getattr(cls, method))}; {WHAT_TO_DO}")


def test_simple_websocket_exposes_its_socket_and_state_and_writes_one_whole_frame_per_message():
    """Through engine.io's gevent wrapper, over a socket pair: once called, it keeps simple-websocket's ``Server``
    as ``ws``, whose ``sock`` is the connection's socket and ``connected`` is True; without the request offering
    permessage-deflate it answers without it, and its ``send`` of a text writes the one frame ``text_frame`` makes
    (frames written beside it then keep the stream whole)."""
    server_end, client_end = gevent.socket.socketpair()
    seen = {}

    def app(wrapper):
        seen["ws"] = getattr(wrapper, "ws", None)
        seen["sock"] = getattr(seen["ws"], "sock", None)
        seen["connected"] = getattr(seen["ws"], "connected", None)
        wrapper.send("4x")
        return []

    environ = {"REQUEST_METHOD": "GET", "HTTP_HOST": "localhost", "HTTP_UPGRADE": "websocket",
               "HTTP_CONNECTION": "Upgrade", "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
               "HTTP_SEC_WEBSOCKET_VERSION": "13", "werkzeug.socket": server_end}
    try:
        with contextlib.suppress(ConnectionError):  # how simple-websocket ends a request it took from Werkzeug
            gevent_driver.WebSocketWSGI(app, None)(environ, None)
        received = b""
        client_end.settimeout(5)
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 4:
            chunk = client_end.recv(4096)
            assert chunk, f"the connection ended after {received!r}"
            received += chunk
    finally:
        client_end.close()
        reader = getattr(seen.get("ws"), "thread", None)  # simple-websocket's reader sees the end and stops
        if reader is not None:
            reader.join(timeout=5)
        server_end.close()
    assert seen["ws"] is not None, (
        f"engine.io's gevent websocket no longer keeps simple-websocket's Server as ws; {WHAT_TO_DO}")
    assert seen["sock"] is server_end, (
        f"simple-websocket's Server.sock is no longer the connection's socket ({seen['sock']!r}); {WHAT_TO_DO}")
    assert seen["connected"] is True, f"simple-websocket's Server.connected is {seen['connected']!r} once open"
    head, _, frame = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"sec-websocket-extensions" not in head.lower(), (
        f"simple-websocket negotiated an extension the request did not offer: {head!r}; {WHAT_TO_DO}")
    assert frame == realtime.text_frame("4x"), (
        f"simple-websocket's send of a text no longer writes the one frame text_frame() makes ({frame!r}): frames "
        f"written beside it could break the stream; {WHAT_TO_DO}")


def test_a_gevent_sockets_descriptor_is_non_blocking():
    """``os.write`` on it must return at once: what the kernel does not take goes through the connection's queue."""
    with gevent.socket.socket() as sock, sock.dup() as copy:  # simple-websocket keeps a dup of pywsgi's socket
        assert type(copy) is gevent.socket.socket, f"a gevent socket's dup() is a {type(copy)!r}"
        for each in (sock, copy):
            assert os.get_blocking(each.fileno()) is False, (
                f"a gevent socket's file descriptor is blocking: os.write could freeze every greenlet; {WHAT_TO_DO}")


def test_python_socketios_manager_is_the_one_room_delivery_stands_in_for():
    assert parameters(socketio.Manager.emit) == ["self", "event", "data", "namespace", "room", "skip_sid",
                                                 "callback", "to", "kwargs"], (
        f"python-socketio's Manager.emit is now {signature(socketio.Manager.emit)}: RoomDelivery.emit mirrors the "
        f"old one; {WHAT_TO_DO}")
    assert parameters(socketio.Manager.get_participants) == ["self", "namespace", "room"], (
        f"python-socketio's Manager.get_participants is now {signature(socketio.Manager.get_participants)}")
    mro = realtime.RedisRoomDelivery.__mro__
    assert mro.index(socketio.PubSubManager) < mro.index(realtime.RoomDelivery) < mro.index(socketio.Manager), (
        "RedisRoomDelivery no longer puts RoomDelivery between python-socketio's pub/sub manager and Manager")
    manager = realtime.RoomDelivery()
    server = socketio.Server(async_mode="gevent", client_manager=manager)
    assert manager.server is server and server.manager is manager, "python-socketio no longer links its manager"
    assert isinstance(manager.rooms, dict), f"python-socketio's Manager.rooms is no longer a dict; {WHAT_TO_DO}"
    assert isinstance(server.eio, engineio.Server), "python-socketio's Server.eio is not engine.io's server"
    assert issubclass(server.packet_class, socketio.packet.Packet), "python-socketio's Server.packet_class changed"
    realtime.install(server)
    assert manager.installed, "install() did not take the server whose manager is RoomDelivery"
