"""A live event that overtakes the join_board acknowledgement must not hide the missed events the ack brings.

On reconnect the server joins the socket to the board's rooms, then reads the missed events from the
database; on PostgreSQL that read yields to other greenlets, so another person's change can be broadcast to
the new socket *before* the ack. board.js applies that live event at once, moves its ``seq`` past it, and
then skips every missed event of the ack as "already applied": those ideas never show (until a reload).

B misses some ideas while disconnected, then reconnects while A posts fast. Applying live events at once lost
ideas within a few rounds in most runs while this was investigated (not in every run: it is a race, so no test
asserts that it happens); board.js holds live events until the ack is applied, and that loses nothing.
"""

import threading
import time
import uuid

import pytest

from tests.servers import LiveServer

from .live import (
    BOARD_JS_HOLDS_LIVE_EVENTS_WHILE_JOINING,
    BoardClient,
    close_all,
    db_ideas,
    join_by_code,
    login,
    make_live_board,
    migrate,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROUNDS = 8  # ~3.5 s a round; the race showed within a few rounds when it was there


@pytest.fixture(scope="module")
def live(pg_server, smtp_server):
    name = f"race_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    server = LiveServer(url, smtp_server.port,
                        env={"BOARD_EVENTS_RATE_LIMIT": "1000 per second", "ATELIER_RUN_JOBS": "0"})
    migrate(server)
    server.start()
    yield server, url
    server.stop()
    pg_server.drop_database(name)


def lost_ideas(server: LiveServer, url: str, hold: bool) -> list[int]:
    board = make_live_board(url, 2, prefix=f"race{uuid.uuid4().hex[:6]}")
    http_a, http_b = login(server.url, board.emails[0]), login(server.url, board.emails[1])
    a = BoardClient("A", board.board_id, http_a, join_by_code(http_a, server.url, board.join_code))
    b = BoardClient("B", board.board_id, http_b, join_by_code(http_b, server.url, board.join_code),
                    hold_live_events_while_joining=hold)
    try:
        a.connect(server.url)
        a.wait_joined()
        for n in range(ROUNDS):
            b.close()
            for k in range(3):  # missed while away: the join_board ack brings them back
                a.send("post_idea", column_id=board.columns[0], text=f"{n} manquée {k}")
            wait_until(lambda: not a.pending, 10, "A's posts are not acknowledged")
            stop = threading.Event()

            def keep_posting(n=n, stop=stop):
                k = 0
                while not stop.is_set():
                    a.send("post_idea", column_id=board.columns[1], text=f"{n} en direct {k}")
                    k += 1
                    time.sleep(0.01)  # pacing: A posts fast, not in a tight loop

            poster = threading.Thread(target=keep_posting)
            poster.start()
            time.sleep(0.01)  # race timing: B reconnects while A's live posts are under way
            try:
                b.connect(server.url)
                b.wait_joined()
                time.sleep(0.05)  # race timing: A keeps posting a moment after B's join
            finally:
                stop.set()
                poster.join()
            wait_until(lambda: not a.pending, 10, "A's posts are not acknowledged")
            expected = {i["id"] for i in db_ideas(url, board.board_id)}
            # The last live events on their way: until B has applied (or skipped, as already seen) the change of
            # A's last post; B applies changes in the order of their seq.
            last = max(ack.get("seq", 0) for ack in a.acks.values())
            wait_until(lambda last=last: b.state["seq"] >= last, 10,
                       lambda last=last: f"B is behind: {b.state['seq']} < {last}")
            missing = sorted(expected - set(b.idea_views()))
            if missing:
                return missing
        return []
    finally:
        close_all([a, b])


def test_board_js_holding_live_events_until_the_ack_loses_nothing(live):
    assert BOARD_JS_HOLDS_LIVE_EVENTS_WHILE_JOINING
    assert lost_ideas(*live, hold=True) == []
