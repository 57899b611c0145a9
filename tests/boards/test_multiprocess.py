"""Two server processes share rooms through Redis: a change made through one reaches clients of the other, and
posts made through both at once are each stored once, in one order.

Two serve.py processes (gevent, as `make run` starts them) on one PostgreSQL database, both with
``SOCKETIO_MESSAGE_QUEUE`` pointing at a real redis-server; one person's browser client is connected to
server A, another's to server B, on the same board.
"""

import contextlib
import signal
import subprocess
import uuid

import pytest
import requests

from app.extensions import db
from tests.races import new_database, server_pair
from tests.servers import free_port, wait_for_port
from tests.system import find_redis

from .helpers import events
from .live import (
    BoardClient,
    close_all,
    data_app,
    db_ideas,
    eventually,
    join_by_code,
    login,
    make_live_board,
    post_idea_form,
    view_differences,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def database_url(pg_server):
    with new_database(pg_server, f"multi_{uuid.uuid4().hex[:8]}") as url:
        yield url


def test_changes_cross_server_processes_through_redis(database_url, redis_url, smtp_server):
    clients: list[BoardClient] = []
    with two_servers(database_url, smtp_server.port, redis_url) as (server_a, server_b), closing(clients):
        board = make_live_board(database_url, 2, prefix="multi")
        http_a = login(server_a.url, board.emails[0])
        http_b = login(server_b.url, board.emails[1])
        on_a = BoardClient("on A", board.board_id, http_a, join_by_code(http_a, server_a.url, board.join_code))
        on_b = BoardClient("on B", board.board_id, http_b, join_by_code(http_b, server_b.url, board.join_code))
        clients += [on_a, on_b]
        on_a.connect(server_a.url)
        on_b.connect(server_b.url)
        on_a.wait_joined()
        on_b.wait_joined()

        # An idea posted through A reaches the client connected to B, with the seq A's ack gave.
        client_id = on_a.send("post_idea", column_id=board.columns[0], text="Posée via le serveur A")
        wait_until(lambda: client_id in on_a.acks, 10, "no ack from server A")
        ack = on_a.acks[client_id]
        assert ack["ok"], ack
        wait_until(lambda: ack["idea_id"] in on_b.idea_views(), 10, "the idea did not reach the client on B")
        [(seq, payload)] = on_b.received("idea_posted")
        assert seq == ack["seq"]
        assert payload["idea"]["text"] == "Posée via le serveur A"
        assert on_b.state["seq"] == ack["seq"]

        # A change over plain HTTP on B (the no-JavaScript form) reaches the client connected to A.
        post_idea_form(http_b, server_b.url, board.board_id, board.columns[1], "Envoyée par le formulaire sur B")
        wait_until(lambda: any(v["text"] == "Envoyée par le formulaire sur B" for v in on_a.idea_views().values()),
                   10, "the HTTP change on B did not reach the client on A")
        seqs = [message["seq"] for kind, message in on_a.events if kind == "change"]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every change once, none missing

        # Both processes post at once (ten ideas from each client, none waiting for its ack): each post is stored
        # once, under a seq of its own, whichever process took it (the board's row lock orders them).
        burst = [(client, client.send("post_idea", column_id=board.columns[0], text=f"{client.name} {n}"))
                 for n in range(10) for client in clients]
        wait_until(lambda: all(i in c.acks for c, i in burst), 20, "a post of the burst was not acknowledged")
        acks = [client.acks[client_id] for client, client_id in burst]
        assert all(a["ok"] for a in acks), acks
        assert len({a["seq"] for a in acks}) == len({a["idea_id"] for a in acks}) == len(acks)
        stored = {i["id"]: i["text"] for i in db_ideas(database_url, board.board_id)}
        assert {stored.get(a["idea_id"]) for a in acks} == {f"{c.name} {n}" for n in range(10) for c in clients}
        with data_app(database_url).app_context():
            numbered = sorted({e["seq"] for e in events(board.board_id)})
            db.session.remove()
            db.engine.dispose()
        assert numbered == list(range(1, len(numbered) + 1))  # the board's changes in one order, no gap

        # Both clients show what the database holds for each of them.
        eventually(lambda: not view_differences(clients, board.emails, database_url), 10, interval=0.5)
        assert view_differences(clients, board.emails, database_url) == []


def two_servers(database_url: str, smtp_port: int, bus_url: str, **env):
    """Two serve.py processes on one migrated database, sharing rooms through the Redis at ``bus_url``."""
    env = {"SOCKETIO_MESSAGE_QUEUE": bus_url, "ATELIER_RUN_JOBS": "0", **env}
    return server_pair(database_url, smtp_port, env, demo=False)


@contextlib.contextmanager
def closing(clients: list[BoardClient]):
    try:
        yield clients
    finally:
        close_all(clients)


class OwnRedis:
    """A redis-server of this test's own, on a fixed port, that the test kills (SIGKILL) and starts again."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> "OwnRedis":
        self.process = subprocess.Popen([find_redis(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def test_a_redis_outage_loses_no_acknowledged_idea(database_url, smtp_server):
    """Redis dies in the middle of a live session across two processes, then comes back: posts made meanwhile and
    right after are acknowledged (the database decides), /healthz says Redis is degraded, and every client ends up
    with every acknowledged idea: each process announces its boards' latest seq from the database, and a client
    behind it resyncs (docs/realtime-protocol.md). The rate limits are counted in that Redis too, as in production:
    while it is gone, board events go through unlimited, and each process says so in its log."""
    bus = OwnRedis().start()
    clients: list[BoardClient] = []
    with two_servers(database_url, smtp_server.port, bus.url, BOARD_SEQ_ANNOUNCE_SECONDS="1",
                     RATELIMIT_STORAGE_URI=bus.url) as servers, \
            closing(clients), contextlib.ExitStack() as stack:
        stack.callback(bus.kill)
        server_a, server_b = servers
        board = make_live_board(database_url, 4, prefix="outage")
        for n, email in enumerate(board.emails):
            server = (server_a, server_b)[n % 2]
            http = login(server.url, email)
            clients.append(BoardClient(f"{email} on {'AB'[n % 2]}", board.board_id, http,
                                       join_by_code(http, server.url, board.join_code)))
            clients[-1].connect(server.url)
        for client in clients:
            client.wait_joined()
        column = board.columns[0]

        def post_from_each(label: str) -> list[str]:
            ids = [client.send("post_idea", column_id=column, text=f"{label} {client.name}") for client in clients]
            for client, client_id in zip(clients, ids, strict=True):
                wait_until(lambda c=client, i=client_id: i in c.acks, 15, f"{label}: no ack for {client.name}")
                assert client.acks[client_id]["ok"], client.acks[client_id]
            return [f"{label} {client.name}" for client in clients]

        texts = post_from_each("avant")
        bus.kill()
        texts += post_from_each("pendant")
        health = requests.get(server_a.url + "/healthz", timeout=10).json()
        assert (health["status"], health["redis"], health["database"]) == ("degraded", "degraded", "ok"), health
        for server in servers:
            assert "the rate-limit storage failed" in server.log_path.read_text()
        bus.start()  # the same port: both processes find it again by themselves
        texts += post_from_each("après")
        wait_until(lambda: requests.get(server_b.url + "/healthz", timeout=10).json()["redis"] == "ok", 20,
                   "server B still sees Redis as down")

        def everyone_has_everything() -> bool:
            return all({v["text"] for v in client.idea_views().values()} >= set(texts) for client in clients)

        eventually(everyone_has_everything, 30, interval=0.5)
        missing = {c.name: sorted(set(texts) - {v["text"] for v in c.idea_views().values()}) for c in clients}
        assert everyone_has_everything(), missing
        assert sum(c.resyncs_announced + c.gaps for c in clients) > 0  # they caught up by resyncing, as designed
        eventually(lambda: not view_differences(clients, board.emails, database_url), 10, interval=0.5)
        assert view_differences(clients, board.emails, database_url) == []


def test_one_persons_board_events_share_one_allowance_across_server_processes(database_url, redis_url, smtp_server):
    """With the rate-limit storage in Redis, a person connected to both processes has one allowance, not one per
    process; another person keeps their own."""
    clients: list[BoardClient] = []
    with two_servers(database_url, smtp_server.port, redis_url, RATELIMIT_STORAGE_URI=redis_url,
                     BOARD_EVENTS_RATE_LIMIT="6 per hour") as (server_a, server_b), closing(clients):
        board = make_live_board(database_url, 2, prefix="limit")
        same_person = [login(server.url, board.emails[0]) for server in (server_a, server_b)]
        on_a, on_b = (BoardClient(f"tab on {name}", board.board_id, http,
                                  join_by_code(http, server.url, board.join_code))
                      for name, http, server in (("A", same_person[0], server_a), ("B", same_person[1], server_b)))
        other_http = login(server_b.url, board.emails[1])
        other = BoardClient("other on B", board.board_id, other_http,
                            join_by_code(other_http, server_b.url, board.join_code))
        clients += [on_a, on_b, other]
        for client, server in ((on_a, server_a), (on_b, server_b), (other, server_b)):
            client.connect(server.url)
            client.wait_joined()  # one event each

        def ack_of(client: BoardClient, ready: bool) -> dict:
            client_id = client.send("set_ready", ready=ready)
            wait_until(lambda: client_id in client.acks, 10, f"{client.name}: no ack")
            return client.acks[client_id]

        # Two joins and four changes, spread over both processes: six events, the whole allowance.
        assert [ack_of(c, n % 2 == 0)["ok"] for n, c in enumerate((on_a, on_b, on_a, on_b))] == [True] * 4
        for client in (on_a, on_b):
            ack = ack_of(client, True)
            assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
            assert client.connected
        assert ack_of(other, True)["ok"] is True
