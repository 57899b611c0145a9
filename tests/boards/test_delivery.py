"""app/realtime.py: one frame per emit, written at once to every idle websocket, queued behind a busy writer.

The gevent tests start tests/boards/delivery_server.py (python-socketio with Atelier's manager and websocket
class, no app) and count, through ``app.realtime.counts``, how each recipient was served; the same server with the
setting ``SOCKETIO_ONE_FRAME_DELIVERY`` off delivers python-socketio's way. That the app itself runs this way under
serve.py is shown in tests/test_live_server.py (no compression is negotiated) and by every live test of the boards
(restart, two processes through Redis, the browsers), which go through it. What the module relies on in the
libraries is checked by tests/boards/test_delivery_contract.py.
"""

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import socketio
import websocket
from flask import Flask
from wsproto.frame_protocol import FrameProtocol, Opcode

from app.config import load_config
from app.realtime import RoomDelivery, client_manager, text_frame
from tests.servers import ROOT, free_port, wait_for_port

from .live import close_at_once, in_order, wait_until

NS = "/d"


@pytest.mark.parametrize("text", ["a" * size for size in (0, 1, 125, 126, 127, 65535, 65536, 70000)]
                         + ["é" * 62 + "a", "é" * 63, "é" * 32767 + "a", "€" * 30000])
def test_text_frame_is_wsprotos_frame(text):
    """Payloads of 125/126 and 65,535/65,536 bytes switch the length's encoding (UTF-8: é is 2 bytes, € 3)."""
    made = text_frame(text)
    assert made == FrameProtocol(client=False, extensions=[]).send_data(text, fin=True)
    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(made)
    (frame,) = list(reader.received_frames())
    assert (frame.opcode, frame.payload, frame.message_finished) == (Opcode.TEXT, text, True)


@contextlib.contextmanager
def delivery_server(*options: str):
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("delivery_server.py")), str(port),
                                *options], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


@pytest.fixture(scope="module")
def server():
    with delivery_server() as url:
        yield url


@pytest.fixture(scope="module")
def server_off():
    """The same server with ``SOCKETIO_ONE_FRAME_DELIVERY`` off."""
    with delivery_server("off") as url:
        yield url


class Receiver:
    """python-socketio's client in the room, keeping the texts it receives in order."""

    def __init__(self, url: str, transport: str = "websocket"):
        self.texts: list[str] = []
        self.client = socketio.Client(reconnection=False)
        in_order(self.client)  # else each message gets a thread of its own, and a busy machine reorders them
        self.client.on("posted", self.texts.append, namespace=NS)
        self.client.connect(url, namespaces=[NS], transports=transport.split(","), wait_timeout=10)
        assert self.client.call("join", namespace=NS, timeout=10) == {"ok": True}

    def close(self) -> None:
        self.client.disconnect()


def poster(url: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=10)
    return client


def counts(client: socketio.Client) -> dict:
    return client.call("counts", namespace=NS, timeout=10)


def change(before: dict, after: dict) -> dict:
    return {key: after.get(key, 0) - before.get(key, 0) for key in set(before) | set(after)
            if after.get(key, 0) != before.get(key, 0)}


def test_idle_websockets_are_written_at_once_in_order(server):
    receivers = [Receiver(server) for _ in range(10)]
    sender = poster(server)
    try:
        before = counts(sender)
        for i in range(5):
            assert sender.call("post", f"idée {i}", namespace=NS, timeout=10) == {"ok": True}
        wait_until(lambda: all(len(r.texts) == 5 for r in receivers), 10, "not every receiver got 5 events")
        served = change(before, counts(sender))
        assert [r.texts for r in receivers] == [[f"idée {i}" for i in range(5)]] * 10
        # 50 deliveries, all by the emitting greenlet; an engine.io ping landing in between may queue one.
        assert served.get("written", 0) + served.get("queued", 0) == 50
        assert served.get("written", 0) >= 45
        assert "python-socketio" not in served
    finally:
        close_at_once(sender.disconnect, *(r.close for r in receivers))


def test_polling_clients_are_served_the_python_socketio_way(server):
    polling = Receiver(server, transport="polling")
    sender = poster(server)
    try:
        before = counts(sender)
        for i in range(3):
            sender.call("post", f"sondage {i}", namespace=NS, timeout=10)
        wait_until(lambda: len(polling.texts) == 3, 10, "the polling client did not get 3 events")
        assert polling.texts == ["sondage 0", "sondage 1", "sondage 2"]
        assert change(before, counts(sender)) == {"python-socketio": 3}
    finally:
        close_at_once(sender.disconnect, polling.close)


def test_a_connection_upgrading_from_polling_meanwhile_gets_every_event_once_in_order(server):
    """Events go on while a client joins over long-polling and upgrades to a websocket: until the upgrade is
    over they go python-socketio's way (a pending poll may take them), then they are written as frames; the
    client sees one unbroken, ordered run of them up to the last."""
    sender = poster(server)
    total, posted = 400, []

    def post_all():
        for i in range(total):
            sender.call("post", str(i), namespace=NS, timeout=10)
            posted.append(i)
            time.sleep(0.002)  # pacing: events go on, a few at a time, while the client joins and upgrades

    thread = threading.Thread(target=post_all)
    thread.start()
    upgrading = None
    try:
        wait_until(lambda: len(posted) >= 20, 10, "the poster did not start")
        upgrading = Receiver(server, transport="polling,websocket")
        thread.join(60)
        wait_until(lambda: upgrading.texts and upgrading.texts[-1] == str(total - 1), 10, "the last event is missing")
        received = [int(text) for text in upgrading.texts]
        assert received == list(range(received[0], total)), received
        assert received[0] < total - 50  # joined while events went on
        assert upgrading.client.transport() == "websocket"
    finally:
        thread.join(60)
        close_at_once(sender.disconnect, *([upgrading.close] if upgrading else []))


def test_events_wait_for_the_end_of_an_upgrade(server):
    """Engine.IO step by step: joined over long-polling, the client probes a websocket (the pending poll
    returns), and events are emitted while the upgrade is unfinished. Nothing may arrive on the websocket
    before the client's "upgrade" packet; then the events come, in order."""
    http = requests.Session()
    polling = f"{server}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(http.get(polling, timeout=10).text[1:])["sid"]
    polling += f"&sid={sid}"
    assert http.post(polling, data=f"40{NS},", timeout=10).text == "OK"
    assert http.get(polling, timeout=10).text.startswith(f"40{NS},")
    assert http.post(polling, data=f'42{NS},0["join"]', timeout=10).text == "OK"
    assert http.get(polling, timeout=10).text == f'43{NS},0[{{"ok":true}}]'
    pending = []
    poll = threading.Thread(target=lambda: pending.append(http.get(polling, timeout=30).text))
    poll.start()
    ws = websocket.WebSocket()
    sender = poster(server)
    try:
        ws.connect(f"{server.replace('http://', 'ws://')}/socket.io/?EIO=4&transport=websocket&sid={sid}",
                   origin=server, timeout=10)
        ws.send("2probe")
        assert ws.recv() == "3probe"
        poll.join(10)
        assert pending == ["6"]  # the pending poll ends with a noop
        for i in range(3):
            sender.call("post", f"pendant la montée {i}", namespace=NS, timeout=10)
        ws.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ws.recv()  # nothing before the upgrade is complete
        ws.settimeout(10)
        ws.send("5")
        texts = []
        while len(texts) < 3:
            message = ws.recv()
            if message.startswith(f'42{NS},["posted",'):
                texts.append(json.loads(message[len(f"42{NS},"):])[1])
        assert texts == [f"pendant la montée {i}" for i in range(3)]
    finally:
        poll.join(30)
        close_at_once(sender.disconnect, ws.close, http.close)


class StalledReader:
    """A raw Engine.IO websocket with a tiny receive buffer that reads nothing until told to."""

    def __init__(self, url: str):
        self.ws = websocket.WebSocket(sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)])
        self.ws.connect(url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
                        origin=url, timeout=10)
        assert self.ws.recv().startswith("0{")  # engine.io open
        self.ws.send(f"40{NS},")
        assert self.ws.recv().startswith(f"40{NS},")  # socket.io connect
        self.ws.send(f'42{NS},0["join"]')
        assert self.ws.recv() == f'43{NS},0[{{"ok":true}}]'

    def read_posts(self, count: int, timeout: float) -> list[str]:
        texts, deadline = [], time.monotonic() + timeout
        prefix = f'42{NS},["posted",'
        while len(texts) < count and time.monotonic() < deadline:
            message = self.ws.recv()
            if message == "2":
                self.ws.send("3")  # engine.io ping -> pong
            elif message.startswith(prefix):
                texts.append(json.loads(message[len(f"42{NS},"):])[1])
        return texts

    def close(self) -> None:
        self.ws.close()


def test_a_stalled_reader_gets_everything_in_order_and_holds_no_one_back(server):
    """8 MB of events for a connection that reads nothing: the kernel takes what it can, the rest of a frame
    and what follows wait in that connection's queue, and the other receiver is served meanwhile."""
    stalled = StalledReader(server)
    live = Receiver(server)
    sender = poster(server)
    count = 1000
    texts = [f"{i:04d}:" + "x" * 8000 for i in range(count)]
    try:
        before = counts(sender)
        for text in texts:
            sender.call("post", text, namespace=NS, timeout=10)
        wait_until(lambda: len(live.texts) == count, 30, "the live receiver was held back by the stalled one")
        assert live.texts == texts
        served = change(before, counts(sender))
        assert served.get("rest queued", 0) >= 1, served  # the kernel took part of a frame, or none of it
        assert served.get("queued", 0) >= 1, served  # then what followed waited behind it
        assert served.get("written", 0) + served.get("rest queued", 0) + served.get("queued", 0) == 2 * count

        assert stalled.read_posts(count, timeout=60) == texts  # every frame whole, once, in order
    finally:
        close_at_once(sender.disconnect, live.close, stalled.close)


def test_the_setting_is_on_unless_the_environment_turns_it_off(monkeypatch):
    monkeypatch.delenv("SOCKETIO_ONE_FRAME_DELIVERY", raising=False)
    app = Flask(__name__)
    load_config(app, "test")
    assert app.config["SOCKETIO_ONE_FRAME_DELIVERY"] is True
    monkeypatch.setenv("SOCKETIO_ONE_FRAME_DELIVERY", "0")
    load_config(app, "test")
    assert app.config["SOCKETIO_ONE_FRAME_DELIVERY"] is False


def test_the_manager_is_ours_only_under_gevent_with_the_setting_on():
    """Off, or in the threading mode, Flask-SocketIO makes its own (from ``SOCKETIO_MESSAGE_QUEUE`` too), and
    ``install`` finds a manager that is not ours: it does nothing."""
    assert isinstance(client_manager(None, "gevent", enabled=True), RoomDelivery)
    assert client_manager(None, "gevent", enabled=False) is None
    assert client_manager("redis://127.0.0.1:1/0", "gevent", enabled=False) is None
    assert client_manager(None, "threading", enabled=True) is None


def offered_compression_is_taken(url: str) -> bool:
    """Whether the server answers a websocket request offering permessage-deflate (as browsers do) with it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall((
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nOrigin: {url}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(4096)
            assert chunk, received
            received += chunk
    head = received.partition(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 101"), head
    return "sec-websocket-extensions: permessage-deflate" in head


def test_with_the_setting_off_python_socketio_delivers_every_event_in_order(server, server_off):
    """Off: python-socketio's own manager and engine.io's own websocket class (which takes the compression a client
    offers); none of the module's ways are used, and every receiver gets every event, in order."""
    assert not offered_compression_is_taken(server)
    assert offered_compression_is_taken(server_off)
    receivers = [Receiver(server_off) for _ in range(10)]
    sender = poster(server_off)
    try:
        before = counts(sender)
        for i in range(5):
            assert sender.call("post", f"idée {i}", namespace=NS, timeout=10) == {"ok": True}
        wait_until(lambda: all(len(r.texts) == 5 for r in receivers), 10, "not every receiver got 5 events")
        assert [r.texts for r in receivers] == [[f"idée {i}" for i in range(5)]] * 10
        assert change(before, counts(sender)) == {}  # no "written", nor any other of the module's ways
    finally:
        close_at_once(sender.disconnect, *(r.close for r in receivers))
