"""Live boards under load: fan-out latency to N clients beside two floors, a voting burst, a reconnect storm.

Atelier runs as `make run` runs it (serve.py, one gevent process) on a throwaway PostgreSQL (the tests'
``PostgresServer``, fsync off), migrated and seeded with the demo; N + 1 people are created through the app
and logged in over HTTP once (their session cookies stay valid across server restarts). On a 2-CPU machine
the measured server is pinned to CPU 0, and this process (the load driver) and PostgreSQL to CPU 1.

The driver (``Client`` below) speaks Engine.IO 4 / Socket.IO 5 over raw websockets with asyncio, one
connection per client, as socket.io-client does with ``transports: ["websocket"]``: upgrade with the
session cookie, answer pings, connect to ``/boards``, ``join_board`` with the last seq seen, emit changes
with ack ids. At start it is checked once against python-socketio's own client on the same board: both must
receive the same events with the same payloads.

1. Fan-out: N clients join one board; one more person posts R ideas/s for ~10 s, each with its send time in
   the text; every delivery's latency (send -> frame read by the receiver) is kept; lost and duplicated
   deliveries are counted after a drain. The same driver, in the same run and alternately, measures two
   floors: a bare python-socketio server (bench/baseline_socketio_app.py: same gevent/pywsgi setup, no app,
   no database, it just rebroadcasts) and a bare `websockets` broadcast server
   (bench/baseline_websockets_app.py). A fresh server process for every run.
2. Voting burst: N people each place their whole dot budget at random moments within 8 s, then try one dot
   more; all must be counted and every budget held (checked in the database).
3. Reconnect storm: N people connected, the server is killed with SIGKILL and started again on the same
   port; everyone reconnects with socket.io-client's back-off, resyncs from its last seq with board.js's
   rules, while the poster posts more; each view must equal the database; time to resync is measured.

Targets (issues 4 and 20): N = 1,000, R = 20/s: p95 <= 150 ms, zero loss, p95 at most 1.0x the bare
python-socketio floor measured in the same run (the one-frame room delivery on; ``SOCKETIO_ONE_FRAME_DELIVERY=0``
in the environment measures python-socketio's own delivery inside Atelier). At that point the servers are measured
in alternated rounds (``--rounds``, 5) and the verdict is the median round's: one 10-s draw of either server's p95
can double on a shared machine.
Run from the repository root: `make bench`, or
`.venv/bin/python bench/fanout.py [--quick]`.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil
from common import (
    ROOT,
    LiveServer,
    ProcessMonitor,
    free_port,
    machine,
    machine_busy_seconds,
    percentiles,
    print_machine,
    wait_for_port,
    wait_for_quiet,
    write_results,
)

from tests.boards.live import USER_AGENT, login, session_cookie
from tests.servers import PostgresServer

NS = "/boards"
SOCKETIO_FLOOR = "bench/baseline_socketio_app.py"
WEBSOCKETS_FLOOR = "bench/baseline_websockets_app.py"
PASSWORD = "correct horse battery"  # noqa: S105 - throwaway accounts in a throwaway database
# The measured server: no periodic jobs (no SMTP here), and the per-person limit of board events raised (still
# counted): one driver connection stands for the many people who post R ideas/s together.
ATELIER_ENV = {"ATELIER_RUN_JOBS": "0", "LOGIN_RATE_LIMIT": "100000 per minute",
               "BOARD_EVENTS_RATE_LIMIT": "1000 per second"}
SERVER_CPU, DRIVER_CPU = 0, 1
# Before each run, wait (up to QUIET_TIMEOUT s) for the machine's CPU use to fall under QUIET_BELOW % of one core:
# on a shared machine another job's load lands on the server's or the driver's CPU. "other CPU %" tells.
QUIET_BELOW, QUIET_TIMEOUT = 25.0, 45.0
TARGET = (1000, 20.0)  # (N, R) of issue 4's target
VOTE_TIMEOUT = 180.0  # the voting burst waits this long for each answer (a slow server still finishes)


# --- the driver: Socket.IO over raw websockets -------------------------------------------------------------

class WsProtocol(asyncio.Protocol):
    """One websocket client connection (RFC 6455): the upgrade, unmasked frames in, masked frames out.

    Each frame is handed over with the time its bytes were read (one clock read per TCP read)."""

    def __init__(self, on_message, on_lost):
        self.on_message, self.on_lost = on_message, on_lost
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport = None
        self.fragments: list[bytes] | None = None

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the upgrade"))
        self.on_lost()

    def data_received(self, data):
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:buffer.find(b"\r\n")]).decode("latin-1")
            del buffer[:end + 4]
            if status.split(" ")[1:2] != ["101"]:
                self.upgraded.set_exception(ConnectionError(status))
                self.transport.close()
                return
            self.upgraded.set_result(None)
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            b0, b1 = buffer[pos], buffer[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buffer[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buffer[pos + 2:pos + 10], "big"), 10
            if b1 & 0x80:
                raise ConnectionError("masked frame from the server")
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buffer[pos + head:end])
            pos = end
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode in (1, 2):
                if fin:
                    self.on_message(payload, now)
                else:
                    self.fragments = [payload]
            elif opcode == 0 and self.fragments is not None:
                self.fragments.append(payload)
                if fin:
                    message, self.fragments = b"".join(self.fragments), None
                    self.on_message(message, now)
            elif opcode == 9:  # ping: pong with the same data
                self.send_frame(10, payload)
            elif opcode == 8:
                self.send_frame(8, payload[:2])
                self.transport.close()
        if pos:
            del buffer[:pos]

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "little"))
        self.transport.write(header + mask + masked.to_bytes(n, "little"))


class Client:
    """A Socket.IO client on ``/boards`` (``mode="socketio"``), or the same calls as plain JSON frames for
    the bare websockets floor (``mode="plain"``). ``on_event(client, name, payload, t)`` gets every event."""

    def __init__(self, port: int, *, mode: str = "socketio", cookie: str | None = None, on_event=None,
                 on_lost=None):
        self.port, self.mode, self.cookie = port, mode, cookie
        self.on_event, self.on_lost_cb = on_event, on_lost
        self.acks: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.proto: WsProtocol | None = None
        self.connected = False

    async def connect(self, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.ns_connected = loop.create_future()
        _, self.proto = await asyncio.wait_for(loop.create_connection(
            lambda: WsProtocol(self._message, self._lost), "127.0.0.1", self.port), timeout)
        path = "/socket.io/?EIO=4&transport=websocket" if self.mode == "socketio" else "/"
        key = base64.b64encode(os.urandom(16)).decode()
        cookie = f"Cookie: {self.cookie}\r\n" if self.cookie else ""
        self.proto.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{self.port}\r\n"
            f"User-Agent: {USER_AGENT}\r\n{cookie}\r\n".encode())
        try:
            await asyncio.wait_for(self.proto.upgraded, timeout)
            if self.mode == "socketio":
                await asyncio.wait_for(self.opened, timeout)
                self.proto.send_frame(1, b"40/boards,")
                await asyncio.wait_for(self.ns_connected, timeout)
        except BaseException:
            self.close()
            raise
        self.connected = True

    def emit(self, event: str, data: dict) -> asyncio.Future:
        """Send an event with an ack id; the future gets ``(ack, time read)``."""
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        if not self.connected:
            future.set_exception(ConnectionError("not connected"))
            return future
        self.acks[self.next_id] = future
        if self.mode == "socketio":
            frame = f"42/boards,{self.next_id}" + json.dumps([event, data], separators=(",", ":"))
        else:
            frame = json.dumps({"event": event, "data": data, "id": self.next_id}, separators=(",", ":"))
        self.proto.send_frame(1, frame.encode())
        return future

    async def call(self, event: str, data: dict, timeout: float = 60.0) -> dict:
        ack, _ = await asyncio.wait_for(self.emit(event, data), timeout)
        return ack

    def _message(self, payload: bytes, t: float) -> None:
        if self.mode == "plain":
            message = json.loads(payload)
            if "ack" in message:
                self._ack(message["ack"], message["data"], t)
            elif self.on_event:
                self.on_event(self, message["event"], message["data"], t)
            return
        kind = payload[:1]
        if kind == b"4":
            if payload.startswith(b"42/boards,"):
                name, data = json.loads(payload[10:])
                if self.on_event:
                    self.on_event(self, name, data, t)
            elif payload.startswith(b"43/boards,"):
                body = payload[10:]
                start = body.index(b"[")
                data = json.loads(body[start:])
                self._ack(int(body[:start]), data[0] if data else None, t)
            elif payload.startswith(b"40/boards,"):
                if not self.ns_connected.done():
                    self.ns_connected.set_result(json.loads(payload[10:] or b"null"))
            elif payload.startswith(b"44/boards,"):
                if not self.ns_connected.done():
                    self.ns_connected.set_exception(ConnectionError(payload.decode()))
            elif payload.startswith(b"41/boards,"):
                self.close()
        elif kind == b"2":  # Engine.IO ping: pong
            self.proto.send_frame(1, b"3")
        elif kind == b"0":
            if not self.opened.done():
                self.opened.set_result(json.loads(payload[1:]))
        elif kind == b"1":
            self.close()

    def _ack(self, ack_id: int, data, t: float) -> None:
        future = self.acks.pop(ack_id, None)
        if future is not None and not future.done():
            future.set_result((data, t))

    def _lost(self) -> None:
        was = self.connected
        self.connected = False
        for future in self.acks.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self.acks.clear()
        if was and self.on_lost_cb:
            self.on_lost_cb(self)

    def close(self) -> None:
        """Close politely (a close frame, code 1000), then the TCP connection."""
        self.connected = False
        if self.proto and self.proto.transport:
            self.proto.send_frame(8, (1000).to_bytes(2, "big"))
            self.proto.transport.close()


async def connect_all(clients: list[Client], join: dict | None, concurrency: int = 50) -> list[float]:
    """Connect (and join) every client, ``concurrency`` at a time; a refused join stops the run."""
    gate = asyncio.Semaphore(concurrency)
    times = []

    async def one(client: Client) -> None:
        async with gate:
            for attempt in range(3):
                try:
                    start = time.monotonic()
                    await client.connect()
                    if join is not None:
                        ack = await client.call("join_board", join)
                        if not ack.get("ok"):
                            raise RuntimeError(f"join_board refused: {ack}")
                    times.append(time.monotonic() - start)
                    return
                except (TimeoutError, OSError):
                    client.close()
                    if attempt == 2:
                        raise
                    await asyncio.sleep(1)

    await asyncio.gather(*(one(c) for c in clients))
    return times


# --- servers -----------------------------------------------------------------------------------------------

def pin(pid: int, cpu: int) -> None:
    """Keep a process on one CPU (when the machine has two or more), children included."""
    if len(os.sched_getaffinity(0) | {SERVER_CPU, DRIVER_CPU}) >= 2 and psutil.cpu_count() >= 2:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                p.cpu_affinity([cpu])


@contextlib.contextmanager
def atelier(url: str, port: int | None = None):
    """A fresh Atelier process (serve.py) on ``url``, pinned to the server CPU; ``port`` to reuse one."""
    server = LiveServer(url, smtp_port=free_port(), env=ATELIER_ENV)
    if port is not None:
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        server.env["BASE_URL"] = server.url
    try:
        server.start()
        pin(server.process.pid, SERVER_CPU)
        yield server
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def floor(script: str):
    """A floor server process, pinned to the server CPU; yields (pid, port)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, script, "--port", str(port)], cwd=ROOT)
    try:
        wait_for_port(port)
        pin(process.pid, SERVER_CPU)
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- data, through the app, in this process -----------------------------------------------------------------

class Data:
    """People and boards written through the app against the bench database."""

    def __init__(self, url: str):
        from app import create_app

        self.url = url
        self.app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url, "ARGON2_TIME_COST": 1,
                                       "ARGON2_MEMORY_COST": 1024})

    def people(self, count: int) -> list[str]:
        """A facilitator of the demo's DINUM, then ``count`` verified people; their e-mails, facilitator first."""
        from sqlalchemy import select

        from app.accounts.models import User
        from app.accounts.passwords import hash_password
        from app.catalog.models import Membership, Organisation, Role
        from app.clock import utcnow
        from app.extensions import db

        with self.app.app_context():
            digest, now = hash_password(PASSWORD), utcnow()
            users = [User(email=f"fanout{i}@example.org", display_name=f"Personne {i}", password_hash=digest,
                          email_verified_at=now, terms_accepted_at=now, locale="fr") for i in range(count + 1)]
            db.session.add_all(users)
            db.session.flush()
            self.organisation_id = db.session.scalar(select(Organisation.id).where(Organisation.slug == "dinum"))
            db.session.add(Membership(user_id=users[0].id, organisation_id=self.organisation_id,
                                      role=Role.facilitator))
            db.session.commit()
            self.user_ids = [u.id for u in users]
            emails = [u.email for u in users]
            db.session.remove()
        return emails

    def board(self, people: int, phase: str = "brainstorm", ideas: int = 0, **settings) -> dict:
        """A board of the facilitator with ``people`` participants (users 1..people), ``ideas`` ideas posted by
        the facilitator, then moved to ``phase``; returns its id, columns, seq and participant ids."""
        from app.accounts.models import User
        from app.boards import service
        from app.boards.models import Participant
        from app.catalog.models import Organisation
        from app.extensions import db

        with self.app.app_context():
            facilitator = db.session.get(User, self.user_ids[0])
            board = service.create_board(facilitator, db.session.get(Organisation, self.organisation_id),
                                         "Banc d'essai", "irritants")
            for name, value in settings.items():
                setattr(board, name, value)
            # Joined directly (service.join would add one participant_joined event per person).
            participants = [Participant(board_id=board.id, user_id=uid) for uid in self.user_ids[1:people + 1]]
            db.session.add_all(participants)
            db.session.commit()
            board_id, columns = board.id, [c.id for c in board.columns]
            pids = [p.id for p in participants]
            facilitator_pid = service.participant_for(board, facilitator).id
            service.set_phase(board_id, facilitator_pid, phase="brainstorm")
            for n in range(ideas):
                service.post_idea(board_id, facilitator_pid, column_id=columns[n % len(columns)],
                                  text=f"Idée de départ {n}")
            if phase != "brainstorm":
                service.set_phase(board_id, facilitator_pid, phase=phase)
            seq = service.get_board(board_id).seq
            db.session.remove()
        return {"id": board_id, "columns": columns, "seq": seq, "participants": pids}

    def query(self, sql: str, **params) -> list:
        from sqlalchemy import text

        from app.extensions import db

        with self.app.app_context():
            rows = db.session.execute(text(sql), params).all()
            db.session.remove()
        return rows


def log_everyone_in(url: str, emails: list[str]) -> list[str]:
    """Log everyone in over HTTP once; their cookies stay valid for every later server on this database."""
    with atelier(url) as server, ThreadPoolExecutor(8) as pool:
        def one(email):
            with login(server.url, email, PASSWORD) as http:
                return session_cookie(http)
        return list(pool.map(one, emails))


# --- 0. the driver checked against python-socketio's client ------------------------------------------------

def check_driver(data: Data, cookies: list[str]) -> dict:
    """One board, three people: A listens with this driver, B with python-socketio's client, C (driver) posts
    5 ideas. A and B must see the same events, with the same payloads, in the same order."""
    import socketio

    board = data.board(3)
    with atelier(data.url) as server:
        received_b = []
        sio = socketio.Client(reconnection=False)
        sio.on("*", lambda event, payload=None: received_b.append([event, payload]), namespace=NS)
        sio.connect(server.url, namespaces=[NS], transports=["websocket"], wait_timeout=10,
                    headers={"Cookie": cookies[2], "User-Agent": USER_AGENT})
        first_join = sio.call("join_board", {"board_id": board["id"], "last_seq": board["seq"]}, namespace=NS,
                              timeout=10)
        assert first_join["ok"], first_join

        async def drive():
            received_a = []
            a = Client(server.port, cookie=cookies[1], on_event=lambda c, n, p, t: received_a.append([n, p]))
            c = Client(server.port, cookie=cookies[3])
            await connect_all([a, c], {"board_id": board["id"], "last_seq": board["seq"]})
            acks = [await c.call("post_idea", {"board_id": board["id"], "client_id": f"check-{k}",
                                               "column_id": board["columns"][0], "text": f"Vérification {k}"})
                    for k in range(5)]
            replay = await c.call("post_idea", {"board_id": board["id"], "client_id": "check-0",
                                                "column_id": board["columns"][0], "text": "Vérification 0"})
            deadline = time.monotonic() + 10
            while (len(received_a) < 5 or len(received_b) < 5) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            join_a = await a.call("join_board", {"board_id": board["id"], "last_seq": board["seq"]})
            a.close()
            c.close()
            return received_a, acks, replay, join_a

        received_a, acks, replay, join_a = asyncio.run(drive())
        # Both resync from the seq before the posts: the same missed events.
        join_b = sio.call("join_board", {"board_id": board["id"], "last_seq": board["seq"]}, namespace=NS,
                          timeout=10)
        sio.disconnect()
    same = received_a == received_b and len(received_a) == 5
    same_resync = join_b.get("ok") and join_a["changes"] == join_b["changes"] and len(join_a["changes"]) == 5
    result = {"events_driver": len(received_a), "events_python_socketio": len(received_b), "identical": same,
              "resync_identical": same_resync, "acks_ok": all(a["ok"] for a in acks),
              "replay_returns_original": replay.get("replayed") is True and replay["idea_id"] == acks[0]["idea_id"]}
    result["ok"] = all(result[k] for k in ("identical", "resync_identical", "acks_ok", "replay_returns_original"))
    return result


# --- 1. fan-out ----------------------------------------------------------------------------------------------

@dataclass
class FanoutResult:
    server: str
    clients: int
    rate: float
    posts: int
    seconds: float
    expected: int
    delivered: int
    lost: int
    duplicated: int
    latencies_ms: list
    ack_ms: list
    server_cpu_percent: float
    server_rss_mib: float
    driver_cpu_percent: float
    connect_seconds: float
    others_cpu_percent: float = 0.0  # the rest of the machine during the run: high means a noisy measurement
    busy_before_percent: float = 0.0  # the machine's CPU use just before the server started
    round: int = 1  # at the target point, the servers are measured in alternated rounds

    def summary(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("latencies_ms", "ack_ms")}
        lat = percentiles(self.latencies_ms)
        return {**data, **{f"{k}_ms": v for k, v in lat.items()},
                "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
                **{f"ack_{k}_ms": v for k, v in percentiles(self.ack_ms).items()}}


async def fanout(kind: str, port: int, pid: int, n: int, rate: float, seconds: float, cookies: list[str] | None,
                 board: dict | None) -> FanoutResult:
    """N receivers and one poster on ``port``; the poster posts ``rate`` ideas/s for ``seconds``."""
    mode = "plain" if kind == "websockets" else "socketio"
    total = int(rate * seconds)
    counts = [bytearray(total) for _ in range(n)]
    latencies: list[float] = []
    prefix = f"fanout-{kind}-{n}-{rate:g} "

    def receiver(index):
        seen = counts[index]

        def on_event(client, name, payload, t):
            if name != "change":
                return
            for event in payload["events"]:
                if event["name"] != "idea_posted":
                    continue
                text = event["payload"]["idea"]["text"]
                if not text.startswith(prefix):
                    continue
                k, sent = text[len(prefix):].split(" ")
                k = int(k)
                if seen[k] == 0:
                    latencies.append(t - float(sent))
                if seen[k] < 255:
                    seen[k] += 1
        return on_event

    join = {"board_id": board["id"], "last_seq": board["seq"]} if board else {"board_id": 1, "last_seq": 0}
    cookie = (lambda i: cookies[i]) if cookies else (lambda i: None)
    receivers = [Client(port, mode=mode, cookie=cookie(i + 1), on_event=receiver(i)) for i in range(n)]
    poster = Client(port, mode=mode, cookie=cookie(n + 1))
    started = time.monotonic()
    await connect_all([*receivers, poster], join)
    connect_seconds = time.monotonic() - started
    column = board["columns"][0] if board else 1
    for k in range(3):  # warm-up, not counted
        await poster.call("post_idea", {"board_id": join["board_id"], "client_id": f"warm-{k}", "column_id": column,
                                        "text": f"échauffement {k}"})
    await asyncio.sleep(1)

    acks: list[float] = []
    errors: list = []

    def acked(future, sent):
        if future.exception() is None:
            ack, t = future.result()
            if ack and ack.get("ok"):
                acks.append(t - sent)
                return
            errors.append(ack)
        else:
            errors.append(repr(future.exception()))

    loop = asyncio.get_running_loop()
    busy0 = machine_busy_seconds()
    with ProcessMonitor(pid) as server_monitor, ProcessMonitor(os.getpid()) as driver_monitor:
        start = loop.time()
        for k in range(total):
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.monotonic()
            future = poster.emit("post_idea", {"board_id": join["board_id"], "client_id": f"{prefix}{k}",
                                               "column_id": column, "text": f"{prefix}{k} {sent:.6f}"})
            future.add_done_callback(lambda f, s=sent: acked(f, s))
        posted = loop.time() - start
        deadline = loop.time() + 5  # drain: whatever has not arrived 5 s after the last post is lost
        while loop.time() < deadline and (len(latencies) < n * total or len(acks) + len(errors) < total):
            await asyncio.sleep(0.05)
    window = loop.time() - start
    others = 100 * (machine_busy_seconds() - busy0) / window - server_monitor.cpu_percent - driver_monitor.cpu_percent
    for client in [*receivers, poster]:
        client.close()
    await asyncio.sleep(0.2)
    if errors:
        print(f"    {len(errors)} posts refused or failed, e.g. {errors[0]}", flush=True)
    delivered = sum(1 for seen in counts for c in seen if c)
    duplicated = sum(c - 1 for seen in counts for c in seen if c > 1)
    return FanoutResult(kind, n, rate, total, posted, n * total, delivered, n * total - delivered, duplicated,
                        [x * 1000 for x in latencies], [x * 1000 for x in acks], server_monitor.cpu_percent,
                        server_monitor.rss_max / 2**20, driver_monitor.cpu_percent, connect_seconds,
                        max(others, 0.0))


def run_fanout(kind: str, data: Data, cookies: list[str], n: int, rate: float, seconds: float) -> FanoutResult:
    board = data.board(n + 1) if kind == "atelier" else None
    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    if kind == "atelier":
        with atelier(data.url) as server:
            result = asyncio.run(fanout(kind, server.port, server.process.pid, n, rate, seconds, cookies, board))
    else:
        with floor(SOCKETIO_FLOOR if kind == "socketio" else WEBSOCKETS_FLOOR) as (pid, port):
            result = asyncio.run(fanout(kind, port, pid, n, rate, seconds, None, None))
    result.busy_before_percent = busy
    return result


# --- 2. voting burst ---------------------------------------------------------------------------------------

async def voting(port: int, pid: int, cookies: list[str], board: dict, n: int, budget: int, window: float) -> dict:
    """Each person places ``budget`` dots at random moments within ``window`` s (not waiting for answers, as
    someone clicking does), then, once all are acknowledged, tries one more."""
    ideas = [int(i) for i in board["idea_ids"]]
    clients = [Client(port, cookie=cookies[i + 1]) for i in range(n)]
    await connect_all(clients, {"board_id": board["id"], "last_seq": board["seq"]})
    latencies, answers, extra, finished = [], [], [], []
    rng = random.Random(4)
    loop = asyncio.get_running_loop()

    async def person(i: int, client: Client) -> None:
        moments = sorted(rng.uniform(0, window) for _ in range(budget))
        futures = []
        for k, moment in enumerate(moments):
            await asyncio.sleep(max(0.0, start + moment - loop.time()))
            futures.append((client.emit("vote", {"board_id": board["id"], "client_id": f"v{i}-{k}",
                                                 "idea_id": rng.choice(ideas), "delta": 1}), time.monotonic()))
        placed = 0
        for future, sent in futures:
            try:
                ack, t = await asyncio.wait_for(future, VOTE_TIMEOUT)
            except (TimeoutError, ConnectionError) as err:
                answers.append(type(err).__name__)
                continue
            answers.append("ok" if ack.get("ok") else ack["error"]["code"])
            if ack.get("ok"):
                placed += 1
                latencies.append(t - sent)
        finished.append(time.monotonic() - started)
        if placed == budget:  # one dot more than the budget: must be refused
            ack = await client.call("vote", {"board_id": board["id"], "client_id": f"v{i}-x", "idea_id": ideas[0],
                                             "delta": 1}, VOTE_TIMEOUT)
            extra.append("accepted" if ack.get("ok") else ack["error"]["code"])

    with ProcessMonitor(pid) as monitor:
        start, started = loop.time(), time.monotonic()
        await asyncio.gather(*(person(i, c) for i, c in enumerate(clients)))
        seconds = time.monotonic() - started
    for client in clients:
        client.close()
    return {"latencies_ms": [x * 1000 for x in latencies], "answers": _count(answers), "extra": _count(extra),
            "seconds": seconds, "all_placed_after_s": max(finished) if finished else None,
            "people_done_within_window_plus_2s": sum(1 for f in finished if f <= window + 2),
            "server_cpu_percent": monitor.cpu_percent, "server_rss_mib": monitor.rss_max / 2**20}


def run_voting(data: Data, cookies: list[str], n: int, budget: int = 5, window: float = 8.0,
               hide_votes: bool = True) -> dict:
    board = data.board(n, phase="voting", ideas=20, dot_budget=budget, hide_votes=hide_votes)
    board["idea_ids"] = [r[0] for r in data.query("SELECT id FROM ideas WHERE board_id = :b", b=board["id"])]
    wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    with atelier(data.url) as server:
        result = asyncio.run(voting(server.port, server.process.pid, cookies, board, n, budget, window))
    [(most, used_total)] = data.query("SELECT COALESCE(MAX(dots_used), 0), COALESCE(SUM(dots_used), 0) "
                                      "FROM board_participants WHERE board_id = :b", b=board["id"])
    dots = data.query("SELECT COALESCE(SUM(count), 0) FROM board_dots WHERE board_id = :b", b=board["id"])[0][0]
    mismatched = data.query("SELECT COUNT(*) FROM ideas i WHERE board_id = :b AND votes <> "
                            "(SELECT COALESCE(SUM(count), 0) FROM board_dots d WHERE d.idea_id = i.id)",
                            b=board["id"])[0][0]
    accepted = result["answers"].get("ok", 0) + result["extra"].get("accepted", 0)
    result.update({"people": n, "budget": budget, "window_s": window, "hide_votes": hide_votes,
                   "dots_in_database": int(dots), "most_dots_used": int(most),
                   "all_counted": int(dots) == accepted == int(used_total) and mismatched == 0,
                   "budgets_held": int(most) <= budget and not result["extra"].get("accepted")})
    result["ok"] = (result["all_counted"] and result["budgets_held"] and result["answers"] == {"ok": n * budget}
                    and result["extra"] == {"budget_spent": n})
    return result


# --- 3. reconnect storm -------------------------------------------------------------------------------------

class Resyncing:
    """A client that keeps board.js's state for ideas (seq rule included, live events held while its
    join_board is unanswered) and reconnects like socket.io-client: first try after 1 s +- 50 %, then
    doubling up to 5 s, each +- 50 %."""

    def __init__(self, port: int, cookie: str, board_id: int, seq: int, stats: dict):
        self.client = Client(port, cookie=cookie, on_event=self.on_event, on_lost=self.lost)
        self.board_id, self.seq, self.ideas = board_id, seq, {}
        self.stats = stats
        self.synced_at: float | None = None
        self.attempts = 0
        self.pending: list[dict] = []
        self.held: list[dict] | None = None  # live changes held while a join is unanswered

    def apply_events(self, events: list[dict]) -> None:
        for event in events:
            if event["name"] == "idea_posted":
                self.ideas[event["payload"]["idea"]["id"]] = event["payload"]["idea"]["text"]

    def apply(self, change: dict) -> bool:
        """board.js's ``applyChange``: False when a change was lost before this one."""
        if change["seq"] <= self.seq:
            self.stats["skipped"] += 1
            return True
        if change["after"] > self.seq:
            self.stats["gaps"] += 1
            return False
        self.apply_events(change["events"])
        self.seq = change["seq"]
        return True

    def on_event(self, client, name, payload, t):
        if name != "change":
            return
        if self.held is not None:
            self.held.append(payload)
        elif not self.apply(payload):
            asyncio.get_running_loop().create_task(self.resync())  # join again from the last seq

    def lost(self, client):
        self.synced_at = None
        self.held = None
        asyncio.get_running_loop().create_task(self.reconnect())

    async def reconnect(self) -> None:
        attempt = 0
        while True:
            ms = min(1000 * 2 ** attempt, 5000)
            r = random.random()
            deviation = int(r * 0.5 * ms)
            ms = ms - deviation if int(r * 10) & 1 == 0 else ms + deviation
            await asyncio.sleep(min(ms, 5000) / 1000)
            attempt += 1
            self.attempts += 1
            try:
                await self.join()
                return
            except (TimeoutError, OSError, RuntimeError):
                self.client.close()
                self.stats["failed_attempts"] += 1

    async def join(self) -> None:
        self.held = []
        await self.client.connect()
        await self.resync()

    async def resync(self) -> None:
        """``join_board`` from the last seq, live changes held meanwhile (as board.js does)."""
        self.held = self.held if self.held is not None else []
        sent = self.seq
        ack = await self.client.call("join_board", {"board_id": self.board_id, "last_seq": sent})
        if not ack.get("ok"):
            raise RuntimeError(f"join refused: {ack}")
        held, self.held = self.held or [], None
        if any(c["seq"] > sent for c in held) and any(c["seq"] > sent for c in ack.get("changes", [])):
            self.stats["overtaken_joins"] += 1  # a live change came before the ack (held, as board.js does)
        if "snapshot" in ack:
            self.stats["snapshots"] += 1
            self.seq = ack["snapshot"]["seq"]
            self.ideas = {i["id"]: i["text"] for i in ack["snapshot"]["ideas"]}
        else:
            for change in ack["changes"]:
                self.apply_events(change["events"])
            self.seq = ack["seq"]
        if not all(self.apply(change) for change in held):
            await self.resync()  # a change was lost while joining
            return
        self.synced_at = time.monotonic()


async def storm(server_factory, data: Data, cookies: list[str], board: dict, n: int, before: int, during: int,
                timeout: float) -> dict:
    stats = {"skipped": 0, "failed_attempts": 0, "snapshots": 0, "overtaken_joins": 0, "gaps": 0}
    loop = asyncio.get_running_loop()
    first = server_factory()
    server = first.__enter__()
    port = server.port
    people = [Resyncing(port, cookies[i + 1], board["id"], board["seq"], stats) for i in range(n + 1)]
    poster = people[-1]
    gate = asyncio.Semaphore(50)

    async def first_join(person: Resyncing) -> None:
        async with gate:
            await person.join()

    await asyncio.gather(*(first_join(p) for p in people))
    column = board["columns"][0]
    for k in range(before):
        await poster.client.call("post_idea", {"board_id": board["id"], "client_id": f"storm-{k}",
                                               "column_id": column, "text": f"Avant {k}"})
    await asyncio.sleep(1)
    killed = time.monotonic()
    server.kill()
    first.__exit__(None, None, None)
    second = server_factory(port)
    server = await loop.run_in_executor(None, second.__enter__)
    ready = time.monotonic()
    monitor = ProcessMonitor(server.process.pid).__enter__()
    try:
        # The poster posts as soon as it is back, while everyone else is still reconnecting.
        while poster.synced_at is None and time.monotonic() < ready + timeout:
            await asyncio.sleep(0.01)
        for k in range(during):
            await poster.client.call("post_idea", {"board_id": board["id"], "client_id": f"storm-d{k}",
                                                   "column_id": column, "text": f"Pendant {k}"})
            await asyncio.sleep(0.05)
        while any(p.synced_at is None for p in people) and time.monotonic() < ready + timeout:
            await asyncio.sleep(0.05)
        expected = {r[0]: r[1] for r in data.query("SELECT id, text FROM ideas WHERE board_id = :b", b=board["id"])}
        settle = time.monotonic() + 5  # live events still on their way
        while time.monotonic() < settle and any(p.ideas != expected for p in people):
            await asyncio.sleep(0.1)
    finally:
        monitor.__exit__(None, None, None)
        for p in people:
            p.client.on_lost_cb = None
            p.client.close()
        second.__exit__(None, None, None)
    synced = [p.synced_at for p in people if p.synced_at is not None]
    behind = [p for p in people if p.ideas != expected]
    return {"people": n + 1, "ideas_before": before, "ideas_during": during,
            "restart_seconds": ready - killed, "resynced": len(synced),
            "resync_after_ready_s": percentiles([t - ready for t in synced]) | {
                "max": max(t - ready for t in synced) if synced else None},
            "last_resync_after_kill_s": max(synced) - killed if synced else None,
            "views_differing_from_database": len(behind),
            "missing_ideas": sum(len(set(expected) - set(p.ideas)) for p in behind),
            "extra_ideas": sum(len(set(p.ideas) - set(expected)) for p in behind),
            "reconnect_attempts": sum(p.attempts for p in people), **stats,
            "server_cpu_percent": monitor.cpu_percent, "server_rss_mib": monitor.rss_max / 2**20}


def run_storm(data: Data, cookies: list[str], n: int, timeout: float = 60.0) -> dict:
    board = data.board(n + 1)
    result = asyncio.run(storm(lambda port=None: atelier(data.url, port), data, cookies, board, n, 10, 20, timeout))
    result["ok"] = (result["resynced"] == n + 1 and result["views_differing_from_database"] == 0)
    return result


# --- output --------------------------------------------------------------------------------------------------

def fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def fanout_table(results: list[FanoutResult]) -> str:
    floors = {(r.clients, r.rate, r.round): r for r in results if r.server == "socketio"}
    head = ["server", "N", "R/s", "round", "posts", "deliveries", "lost", "dup", "p50 ms", "p95 ms", "p99 ms", "max ms",
            "p95 ÷ socketio floor", "ack p95 ms", "server CPU %", "server RSS MiB", "driver CPU %", "other CPU %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = {"atelier": "Atelier", "socketio": "bare python-socketio", "websockets": "bare websockets"}
    for r in results:
        s = r.summary()
        base = floors.get((r.clients, r.rate, r.round))
        base_p95 = base.summary()["p95_ms"] if base else None
        ratio = s["p95_ms"] / base_p95 if s["p95_ms"] and base_p95 else None
        lines.append("| " + " | ".join([
            names[r.server], str(r.clients), f"{r.rate:g}", str(r.round), str(r.posts), f"{r.delivered:,}", str(r.lost),
            str(r.duplicated), fmt(s["p50_ms"]), fmt(s["p95_ms"]), fmt(s["p99_ms"]), fmt(s["max_ms"]),
            fmt(ratio, 2), fmt(s["ack_p95_ms"]), fmt(r.server_cpu_percent, 0), fmt(r.server_rss_mib, 0),
            fmt(r.driver_cpu_percent, 0), fmt(r.others_cpu_percent, 0)]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 50, 200; R = 2, 20; 5 s runs; 200 voters")
    parser.add_argument("--seconds", type=float, help="measured seconds of each fan-out run (default 10)")
    parser.add_argument("--clients", type=int, nargs="*", help="N values")
    parser.add_argument("--rates", type=float, nargs="*", help="R values")
    parser.add_argument("--servers", nargs="*", default=["socketio", "atelier", "websockets"])
    parser.add_argument("--crowd", type=int, help="people in the voting burst and the reconnect storm (1000)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["fanout", "voting", "storm"])
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternated rounds of the servers at the target point, N = 1000 and R = 20/s (5)")
    opts = parser.parse_args()
    clients = opts.clients or ([50, 200] if opts.quick else [50, 200, 500, 1000])
    rates = opts.rates or [2, 20]
    seconds = opts.seconds or (5 if opts.quick else 10)
    crowd = opts.crowd or (200 if opts.quick else 1000)
    people = max([*clients, crowd]) + 1
    info = machine()
    print_machine(info)
    began = time.monotonic()

    postgres = PostgresServer(max_connections=300).start()
    # The database works on the driver's CPU: the server's CPU is the measured server's alone.
    pin(int((postgres.datadir / "postmaster.pid").read_text().split()[0]), DRIVER_CPU)
    try:
        with tempfile.TemporaryDirectory():
            url = postgres.create_database("atelier_fanout")
            prep = LiveServer(url, smtp_port=free_port(), env=ATELIER_ENV)
            prep.prepare_database()
            prep.log_path.unlink(missing_ok=True)
        # From here on the servers get CPU 0 and this process (the load driver) CPU 1.
        if psutil.cpu_count() >= 2:
            os.sched_setaffinity(0, {DRIVER_CPU})
        data = Data(url)
        emails = data.people(people)
        started = time.monotonic()
        cookies = log_everyone_in(url, emails)
        print(f"{len(emails)} people created and logged in ({time.monotonic() - started:.0f} s); "
              f"server pinned to CPU {SERVER_CPU}; driver and PostgreSQL (fsync off) to CPU {DRIVER_CPU}",
              flush=True)

        check = check_driver(data, cookies)
        print(f"Driver check against python-socketio's client: {'ok' if check['ok'] else 'FAILED'} {check}",
              flush=True)

        results: list[FanoutResult] = []
        if "fanout" not in opts.skip:
            for n in clients:
                for rate in rates:
                    rounds = max(opts.rounds, 1) if (n, rate) == TARGET else 1
                    for kind, number in ((k, i + 1) for i in range(rounds) for k in opts.servers):
                        r = run_fanout(kind, data, cookies, n, rate, seconds)
                        r.round = number
                        s = r.summary()
                        print(f"  {kind:10} N={n:5} R={rate:g} round {number}: p50 {fmt(s['p50_ms'])} "
                              f"p95 {fmt(s['p95_ms'])} p99 {fmt(s['p99_ms'])} ms, lost {r.lost}, "
                              f"dup {r.duplicated}, server CPU "
                              f"{r.server_cpu_percent:.0f} %, driver CPU {r.driver_cpu_percent:.0f} %, other CPU "
                              f"{r.others_cpu_percent:.0f} %, connect {r.connect_seconds:.1f} s", flush=True)
                        results.append(r)
        vote = vote_visible = storm_result = None
        if "voting" not in opts.skip:
            vote = run_voting(data, cookies, crowd)
            print(f"  voting burst, {crowd} people, votes hidden: {summary_line(vote)}", flush=True)
            small = min(200, crowd)
            vote_visible = run_voting(data, cookies, small, hide_votes=False)
            print(f"  voting burst, {small} people, votes shown live: {summary_line(vote_visible)}", flush=True)
        if "storm" not in opts.skip:
            storm_result = run_storm(data, cookies, crowd)
            print(f"  reconnect storm: {storm_result}", flush=True)
    finally:
        postgres.stop()

    print(f"\nFan-out ({seconds:g} s per run, fresh server per run, latency = post sent -> frame read by each "
          "receiver):\n")
    print(fanout_table(results))
    verdict = target_verdict(results)
    if verdict:
        print("\n" + verdict)
    if vote:
        print("\n" + voting_table([v for v in (vote, vote_visible) if v]))
        on_time = vote["people_done_within_window_plus_2s"] == vote["people"] and vote["ok"]
        print(f"\nVoting burst, {vote['people']} people: all counted {vote['all_counted']}, budgets held "
              f"{vote['budgets_held']}, every dot acknowledged within 10 s: {on_time}")
    if storm_result:
        print("\n" + storm_table(storm_result))
        last = storm_result["resync_after_ready_s"]["max"]
        print(f"\nReconnect storm, {storm_result['people']} people: all resynced within 10 s of the restart: "
              f"{storm_result['resynced'] == storm_result['people'] and last is not None and last <= 10}; nothing "
              f"lost: {storm_result['views_differing_from_database'] == 0} ({storm_result['overtaken_joins']} joins "
              "overtaken by a live event: see docs/performance.md)")
    path = write_results("fanout", {
        "machine": info, "database": "postgresql", "seconds": seconds, "driver_check": check,
        "fanout": [r.summary() for r in results], "voting": [v for v in (vote, vote_visible) if v],
        "storm": storm_result, "wall_seconds": time.monotonic() - began})
    print(f"\nRaw results: {path.relative_to(ROOT)} (whole run {time.monotonic() - began:.0f} s)")
    if not check["ok"]:
        sys.exit("the driver does not see what python-socketio's client sees: see above")
    # Data integrity fails the run; slowness (and board.js's join race, a client bug) is reported above.
    broken = [r for r in results if r.server == "atelier" and (r.lost or r.duplicated)]
    broken += [v for v in (vote, vote_visible) if v and not (v["all_counted"] and v["budgets_held"])]
    if broken:
        sys.exit("deliveries lost or doubled, or dots miscounted: see above")


MAX_FLOOR_RATIO = 1.0


def target_verdict(results: list[FanoutResult]) -> str | None:
    """The target (issues 4 and 20) on the median round: p95 <= 150 ms, nothing lost in any round, p95 at most 1.0x
    the bare python-socketio floor measured in the same round. One round of 10 s is one draw: on a shared machine
    either server's p95 can double from one run to the next, so the servers alternate and the median is kept."""
    ours = {r.round: r for r in results if r.server == "atelier" and (r.clients, r.rate) == TARGET}
    floors = {r.round: r for r in results if r.server == "socketio" and (r.clients, r.rate) == TARGET}
    if not ours:
        return None
    ratios = [ours[k].summary()["p95_ms"] / floors[k].summary()["p95_ms"] for k in sorted(ours)
              if k in floors and ours[k].summary()["p95_ms"] and floors[k].summary()["p95_ms"]]
    p95 = statistics.median(r.summary()["p95_ms"] or float("inf") for r in ours.values())
    ratio = statistics.median(ratios) if ratios else None
    lost = sum(r.lost + r.duplicated for r in ours.values())
    ok = p95 <= 150 and lost == 0 and ratio is not None and ratio <= MAX_FLOOR_RATIO
    return (f"Target N=1000, R=20/s, median of {len(ours)} round(s): p95 {fmt(p95)} ms (≤ 150), lost or doubled "
            f"{lost} (0), {fmt(ratio, 2)}× the python-socketio floor (≤ {MAX_FLOOR_RATIO:g}; per round: "
            f"{', '.join(fmt(x, 2) for x in ratios)}): {'met' if ok else 'NOT met'}")


def summary_line(v: dict) -> str:
    p = percentiles(v["latencies_ms"])
    return (f"answers {v['answers']}, last person done after {fmt(v['all_placed_after_s'])} s, ack p50 "
            f"{fmt(p['p50'])} p95 {fmt(p['p95'])} ms, extra dot {v['extra']}, database {v['dots_in_database']} "
            f"dots, all counted {v['all_counted']}, budgets held {v['budgets_held']}")


def _count(items: list) -> dict:
    out: dict = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def voting_table(votes: list[dict]) -> str:
    head = ["people × budget", "votes shown live", "last person's dots all acked after s",
            "people done within window + 2 s", "ack p50 ms", "ack p95 ms", "ack p99 ms", "answers",
            "extra dot refused (budget_spent)", "dots in database", "all counted", "budgets held", "server CPU %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in votes:
        p = percentiles(v["latencies_ms"])
        lines.append("| " + " | ".join([
            f"{v['people']} × {v['budget']}", "no" if v["hide_votes"] else "yes", fmt(v["all_placed_after_s"]),
            f"{v['people_done_within_window_plus_2s']} / {v['people']}", fmt(p["p50"]), fmt(p["p95"]),
            fmt(p["p99"]), ", ".join(f"{k} {n:,}" for k, n in v["answers"].items()),
            f"{v['extra'].get('budget_spent', 0)} / {v['people']}", f"{v['dots_in_database']:,}",
            "yes" if v["all_counted"] else "NO", "yes" if v["budgets_held"] else "NO",
            fmt(v["server_cpu_percent"], 0)]) + " |")
    return "\n".join(lines)


def storm_table(s: dict) -> str:
    r = s["resync_after_ready_s"]
    head = ["people", "restart (kill -> ready) s", "resynced", "resync after ready p50 s", "p95 s", "max s",
            "last resync after kill s", "views ≠ database", "missing ideas", "joins overtaken by a live event",
            "failed connects", "snapshots", "server CPU %"]
    cells = [str(s["people"]), fmt(s["restart_seconds"]), f"{s['resynced']} / {s['people']}", fmt(r["p50"], 2),
             fmt(r["p95"], 2), fmt(r["max"], 2), fmt(s["last_resync_after_kill_s"]),
             str(s["views_differing_from_database"]), str(s["missing_ideas"]), str(s["overtaken_joins"]),
             str(s["failed_attempts"]),
             str(s["snapshots"]), fmt(s["server_cpu_percent"], 0)]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head), "| " + " | ".join(cells) + " |"])


if __name__ == "__main__":
    main()
