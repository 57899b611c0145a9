"""Hand-made malformed Socket.IO and Engine.IO frames against a live server (serve.py, gevent): each one closes its
connection and leaves at most one short warning line in the log, never an ERROR or a traceback; a well-formed
client is served as before, and a real fault of the server still logs its ERROR with the traceback."""

import contextlib
import json
import logging
import sqlite3
import sys
import time

import pytest
import requests
import socketio
import websocket

from app.frames import MAX_DEPTH, MAX_INT_DIGITS, BoundedJSON, MalformedFrame, MalformedFrameFilter
from tests.boards.live import NS, USER_AGENT, login, make_live_board, session_cookie
from tests.servers import LiveServer, free_port
from tests.waiting import eventually, wait_until

pytestmark = pytest.mark.slow


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# name -> the frames a hand-made client sends after connecting to /boards (bytes: a binary frame)
MALFORMED = {
    "truncated JSON": ['42/boards,["post_idea",{"board_id":1,"text":"coup'],
    "empty event array": ["42/boards,[]"],
    "event name not a string": ['42/boards,[["post_idea"],{"board_id":1}]'],
    "deep nesting": ["42/boards," + nested(5000)],
    "nesting past the bound": ['42/boards,["post_idea",{"board_id":1,"text":' + nested(MAX_DEPTH) + "}]"],
    "binary placeholder pointing nowhere": ['451-/boards,["post_idea",{"_placeholder":true,"num":7}]', b"\x01\x02"],
    "unknown Socket.IO packet type": ['49/boards,["post_idea",{}]'],
    "unknown Engine.IO packet type": ["x42/boards,[]"],
    "4,000-digit integer": ['42/boards,["post_idea",{"board_id":' + "9" * 4000 + "}]"],
    "integer past the bound": ['42/boards,["post_idea",{"board_id":' + "9" * (MAX_INT_DIGITS + 1) + "}]"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("frames")
    with LiveServer.on_sqlite(directory, free_port(), ATELIER_RUN_JOBS="0").running(demo=False) as server:
        yield server


def log_since(server, offset: int) -> str:
    with server.log_path.open(errors="replace") as log:
        log.seek(offset)
        return log.read()


HEALTH_CHECK_LINE = " INFO atelier.access GET /healthz 200 "


def log_once_a_later_request_is_in(server, offset: int) -> str:
    """The log since ``offset``, read once a request made now is in it, without that request's line: what the
    server still had to log about what came before (a connection already closed), it logs before it has served a
    later request (instead of a fixed wait)."""
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    wait_until(lambda: HEALTH_CHECK_LINE in log_since(server, offset), 10,
               lambda: f"the health check is not in the log: {log_since(server, offset)[-3000:]}")
    return "".join(line for line in log_since(server, offset).splitlines(keepends=True)
                   if HEALTH_CHECK_LINE not in line)


def open_socket(server) -> tuple[websocket.WebSocket, str]:
    """A raw websocket, connected to /boards the way the official client does it; with its engine.io id."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                                     origin=server.url, timeout=5)
    opened = ws.recv()
    assert opened.startswith("0"), opened
    ws.send("40/boards,")
    assert ws.recv().startswith("40/boards,")
    return ws, json.loads(opened[1:])["sid"]


def closed_by_server(ws: websocket.WebSocket, seconds: float = 5) -> bool:
    """Whether the server closes this websocket within ``seconds`` (engine.io's close packet "1", then the close)."""
    ws.settimeout(seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketException, OSError):
            return True
        if frame in ("", b""):
            return True
    return False


def close_client(client: socketio.Client) -> None:
    """Disconnect, and close the websocket python-socketio's client may leave open (see tests/boards/live.py)."""
    with contextlib.suppress(Exception):
        client.disconnect()
    ws = getattr(client.eio, "ws", None)
    if ws is not None:
        with contextlib.suppress(Exception):
            ws.shutdown()


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_frame_closes_its_connection_with_one_short_warning(server, name):
    offset = server.log_path.stat().st_size
    ws, sid = open_socket(server)
    try:
        for _ in range(5):  # the same frame again and again: still one line
            for frame in MALFORMED[name]:
                with contextlib.suppress(websocket.WebSocketException, OSError):
                    ws.send_binary(frame) if isinstance(frame, bytes) else ws.send(frame)
        closed = closed_by_server(ws)
    finally:
        ws.shutdown()
    log = log_once_a_later_request_is_in(server, offset)  # with anything the server would still log about it
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert closed, f"{name}: the connection stayed open"
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) <= 1, log
    for line in lines:
        assert " WARNING " in line and "malformed" in line and len(line) < 400, line
        assert sid in line, line


def test_a_well_formed_client_is_served_after_malformed_frames(server):
    bad, _ = open_socket(server)
    bad.send('42/boards,["post_idea",{"board_id":' + "9" * 4000 + "}]")
    raw, _ = open_socket(server)
    try:
        raw.send('42/boards,1["join_board",{"board_id":999999}]')
        ack = raw.recv()
        assert ack.startswith("43/boards,1"), ack
        assert json.loads(ack[len("43/boards,1"):])[0]["error"]["code"] == "not_found"
    finally:
        raw.shutdown()
        bad.shutdown()
    client = socketio.Client(reconnection=False)
    client.connect(server.url, namespaces=[NS], transports=["websocket"], wait_timeout=10)
    try:
        ack = client.call("join_board", {"board_id": 999999}, namespace=NS, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "not_found"
    finally:
        close_client(client)


def test_a_fault_of_the_server_still_logs_an_error_with_its_traceback(server):
    """Not every failure is the client's: with the accounts table gone (a broken deployment), a signed-in person's
    connection is refused, and the log says ERROR with the traceback, as before."""
    board = make_live_board(server.database_url, 1, prefix="frames")
    http = login(server.url, board.emails[0])
    path = server.database_url.removeprefix("sqlite:///")
    offset = server.log_path.stat().st_size
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE users RENAME TO users_away")
    client = socketio.Client(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, namespaces=[NS], transports=["websocket"], wait_timeout=5,
                           headers={"Cookie": session_cookie(http), "User-Agent": USER_AGENT})
    finally:
        close_client(client)
        with sqlite3.connect(path) as conn:
            conn.execute("ALTER TABLE users_away RENAME TO users")
    expected = (" ERROR app.sockets socket connect failed", "Traceback", "no such table: users")
    eventually(lambda: all(part in log_since(server, offset) for part in expected), 10)
    log = log_since(server, offset)
    assert " ERROR app.sockets socket connect failed" in log and "Traceback" in log, log[-3000:]
    assert "no such table: users" in log
    client = socketio.Client(reconnection=False)  # the table back, the same person connects
    client.connect(server.url, namespaces=[NS], transports=["websocket"], wait_timeout=10,
                   headers={"Cookie": session_cookie(http), "User-Agent": USER_AGENT})
    assert client.connected
    close_client(client)
    http.close()


# --- the pieces, without a server ----------------------------------------------------------------------------

def test_bounded_json_keeps_what_clients_send_and_refuses_the_rest():
    payload = '["post_idea",{"board_id":1,"text":"Une idée","ids":[12345678901234567890,-3]}]'
    assert BoundedJSON.loads(payload) == json.loads(payload)
    assert BoundedJSON.loads(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    for bad in (nested(MAX_DEPTH + 1), nested(100_000), "1" * (MAX_INT_DIGITS + 1), "-" + "1" * (MAX_INT_DIGITS + 1),
                '{"a":[' + "9" * 4000 + "]}", '["post_idea",{"board_id":1', ""):
        with pytest.raises(MalformedFrame):
            BoundedJSON.loads(bad)
    assert issubclass(MalformedFrame, ValueError)  # what python-socketio and engine.io take as an undecodable frame
    value = {"seq": 3, "idea": {"text": "é\u2028", "votes": [1, 2]}}
    assert BoundedJSON.dumps(value, separators=(",", ":")) == json.dumps(value, separators=(",", ":"))


def _server_fault():
    raise RuntimeError("a bug of ours")


def test_the_filter_leaves_other_errors_of_the_engine_logger_alone():
    """A record whose exception was not raised by the libraries' decoding (a fault of ours) keeps its level and its
    traceback; one raised by python-socketio's decoding becomes a short warning, without the traceback."""
    frame_filter = MalformedFrameFilter()
    logger = logging.getLogger("engineio.server")

    def record_of(call):
        try:
            call()
        except Exception:
            return logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "message handler error", (),
                                     sys.exc_info())
        raise AssertionError("no exception")

    fault = record_of(_server_fault)
    assert frame_filter.filter(fault) is True
    assert fault.levelno == logging.ERROR and fault.exc_info is not None

    from socketio import packet

    malformed = record_of(lambda: packet.Packet(
        encoded_packet='51-/boards,["x",{"_placeholder":true,"num":"no"}]').add_attachment(b"1"))
    assert frame_filter.filter(malformed) is True
    assert malformed.levelno == logging.WARNING and malformed.exc_info is None
    assert "Traceback" not in logging.Formatter().format(malformed)


def test_a_failing_board_event_is_still_an_error_with_its_traceback(request, monkeypatch, caplog):
    """An exception inside a board event (here the snapshot ``join_board`` answers with) is a fault of ours: the
    client gets ``server_error``, the log an ERROR with the traceback, as before."""
    from flask_socketio.test_client import SocketIOTestClient

    from app.boards import service
    from tests.boards.helpers import logged_in, make_world
    from tests.conftest import make_app, prepared_db

    def boom(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    app = make_app("sqlite", request)
    try:
        with prepared_db(app, "sqlite"):
            world = make_world()
            live = logged_in(app, world.citizen)
            monkeypatch.setattr(service, "snapshot", boom)
            with caplog.at_level(logging.WARNING):
                ack = live.join(world.board_id)
            live.disconnect()
    finally:
        SocketIOTestClient.clients.clear()
    assert ack["ok"] is False and ack["error"]["code"] == "server_error", ack
    [record] = [r for r in caplog.records if r.name == "app.boards.sockets"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert str(record.exc_info[1]) == "a bug of ours"
