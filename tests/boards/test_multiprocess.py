"""Two server processes share rooms through Redis: a change made through one reaches clients of the other.

Two serve.py processes (gevent, as `make run` starts them) on one PostgreSQL database, both with
``SOCKETIO_MESSAGE_QUEUE`` pointing at a real redis-server; one person's browser client is connected to
server A, another's to server B, on the same board.
"""

import uuid

import pytest

from tests.servers import LiveServer

from .live import (
    BoardClient,
    close_all,
    eventually,
    join_by_code,
    login,
    make_live_board,
    migrate,
    post_idea_form,
    view_differences,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def database_url(pg_server):
    name = f"multi_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


def test_changes_cross_server_processes_through_redis(database_url, redis_url, smtp_server):
    env = {"SOCKETIO_MESSAGE_QUEUE": redis_url, "ATELIER_RUN_JOBS": "0"}
    server_a = LiveServer(database_url, smtp_server.port, env=env)
    migrate(server_a)
    server_b = LiveServer(database_url, smtp_server.port, env=env)
    clients: list[BoardClient] = []
    try:
        server_a.start()
        server_b.start()
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
        [(name, payload)] = [(n, p) for n, p in on_b.events if n == "idea_posted"]
        assert payload["seq"] == ack["seq"]
        assert payload["idea"]["text"] == "Posée via le serveur A"
        assert on_b.state["seq"] == ack["seq"]

        # A change over plain HTTP on B (the no-JavaScript form) reaches the client connected to A.
        post_idea_form(http_b, server_b.url, board.board_id, board.columns[1], "Envoyée par le formulaire sur B")
        wait_until(lambda: any(v["text"] == "Envoyée par le formulaire sur B" for v in on_a.idea_views().values()),
                   10, "the HTTP change on B did not reach the client on A")
        seqs = [p["seq"] for n, p in on_a.events if n == "idea_posted"]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

        # Both clients show what the database holds for each of them.
        eventually(lambda: not view_differences(clients, board.emails, database_url), 10, interval=0.5)
        assert view_differences(clients, board.emails, database_url) == []
    finally:
        close_all(clients)
        server_a.stop()
        server_b.stop()
