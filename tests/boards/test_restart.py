"""Restart test: people post ideas, the server is killed with SIGKILL mid-way and started again; each client
reconnects with the last seq it saw and resends what was never acknowledged, with the same client ids, as
board.js does. Nothing acknowledged is lost, nothing is doubled, every client shows what the database holds.

The server is serve.py (gevent) in a subprocess, on a SQLite file and on PostgreSQL; the clients are
python-socketio clients running board.js's sync logic (tests/boards/live.py).
"""

import threading
import time
import uuid
from collections import Counter

import pytest

from tests.races import new_database
from tests.servers import LiveServer

from .live import (
    BoardClient,
    close_all,
    db_ideas,
    eventually,
    join_by_code,
    login,
    make_live_board,
    migrate,
    view_differences,
    wait_until,
)

pytestmark = pytest.mark.slow

CLIENTS = 5
POSTS_EACH = 24
BEFORE_RESTART = 16  # each client posts this many, then waits for the restart (later ones go after it)
KILL_AFTER_ACKS = 40  # SIGKILL once this many posts are acknowledged: the others are in flight or queued
# Five people post as fast as they type here; the per-connection limit is not what this test is about.
ENV = {"BOARD_EVENTS_RATE_LIMIT": "1000 per second", "ATELIER_RUN_JOBS": "0"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'restart.db'}"
        return
    with new_database(request.getfixturevalue("pg_server"), f"restart_{uuid.uuid4().hex[:8]}") as url:
        yield url


def started(database_url: str, smtp_port: int, prepare: bool = False) -> LiveServer:
    server = LiveServer(database_url, smtp_port, env=ENV)
    if prepare:
        migrate(server)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def test_sigkill_mid_way_loses_and_doubles_nothing(database_url, smtp_server):
    server = started(database_url, smtp_server.port, prepare=True)
    board = make_live_board(database_url, CLIENTS, prefix="restart")
    clients: list[BoardClient] = []
    try:
        for n, email in enumerate(board.emails):
            http = login(server.url, email)
            client = BoardClient(f"p{n}", board.board_id, http, join_by_code(http, server.url, board.join_code))
            client.connect(server.url)
            client.wait_joined()
            clients.append(client)

        restarted = threading.Event()
        lost_ack = {}
        waiting_for_restart = []  # the people who made all their posts before the restart

        def person(client: BoardClient, n: int) -> None:
            for k in range(POSTS_EACH):
                if k == BEFORE_RESTART:
                    waiting_for_restart.append(n)
                    assert restarted.wait(60)
                column = board.columns[(n + k) % len(board.columns)]
                # One change of the first person has its acknowledgement lost: the server applied it, the
                # client never heard back, so it must resend it and get the original result back.
                lose = n == 0 and k == 2
                client_id = client.send("post_idea", lose_ack=lose, column_id=column, text=f"{client.name} idée {k}")
                if lose:
                    lost_ack["client_id"] = client_id
                time.sleep(0.01 * (1 + n % 3))  # pacing: people type at different speeds, their posts interleave

        threads = [threading.Thread(target=person, args=(c, n), daemon=True) for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(len(c.acks) for c in clients) >= KILL_AFTER_ACKS, 30, "posts are not acknowledged")
        server.kill()
        acked_before = {cid: ack for c in clients for cid, ack in list(c.acks.items())}
        in_flight = sum(len(c.pending) for c in clients)
        wait_until(lambda: not any(c.connected for c in clients), 10, "clients did not notice the server died")
        # People keep posting while the server is down, those changes wait in `pending`: until each has made all
        # their posts before the restart.
        wait_until(lambda: len(waiting_for_restart) == CLIENTS, 30,
                   lambda: f"not everyone made their posts before the restart: {waiting_for_restart}")

        server = started(database_url, smtp_server.port)
        pending_at_reconnect = sum(len(c.pending) for c in clients)
        for client in clients:
            client.connect(server.url)  # a restarted server: the same database, another port
        for client in clients:
            client.wait_joined()
        restarted.set()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
        wait_until(lambda: not any(c.pending for c in clients), 30,
                   f"unacknowledged changes left: {[c.pending for c in clients]}")

        # Every change was acknowledged, once applied; the lost ack came back as a replay of the original.
        acks = {cid: ack for c in clients for cid, ack in c.acks.items()}
        assert all(ack and ack["ok"] for ack in acks.values()), [a for a in acks.values() if not a or not a["ok"]]
        assert len(acks) == CLIENTS * POSTS_EACH
        replay = acks[lost_ack["client_id"]]
        assert replay.get("replayed") is True, replay
        assert in_flight + pending_at_reconnect > 0  # the crash did leave changes to resend

        ideas = db_ideas(database_url, board.board_id)
        by_id = {i["id"]: i for i in ideas}
        texts = Counter(i["text"] for i in ideas)
        posted = [c.sent[cid]["payload"]["text"] for c in clients for cid in c.sent]
        assert sorted(texts) == sorted(posted)
        assert {t: n for t, n in texts.items() if n != 1} == {}, "an idea was stored twice"
        for client in clients:
            for client_id, ack in client.acks.items():
                assert by_id[ack["idea_id"]]["text"] == client.sent[client_id]["payload"]["text"]
        for ack in acked_before.values():  # acknowledged before the crash: still there
            assert ack["idea_id"] in by_id

        # Every client shows exactly what the database holds for that person.
        eventually(lambda: not view_differences(clients, board.emails, database_url), 20, interval=0.5)
        assert view_differences(clients, board.emails, database_url) == []
        for client in clients:
            assert set(client.idea_views()) == set(by_id)  # all ideas visible: nothing hidden on this board
            mine = {i for i, v in client.idea_views().items() if v["mine"]}
            assert mine == {ack["idea_id"] for ack in client.acks.values()}
    finally:
        close_all(clients)
        server.stop()
