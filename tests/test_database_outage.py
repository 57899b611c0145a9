"""PostgreSQL restarted under load, behind a live server (serve.py, gevent) that is not restarted: while the
database is gone, pages answer the translated « réessayez » page (503, Retry-After), the API its JSON error, socket
changes an ``unavailable`` acknowledgement, and the log gets one short line per failure, never a traceback; once
the database is back, everything works again by itself."""

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
import socketio

from tests.boards.live import (
    NS,
    USER_AGENT,
    csrf_token,
    join_by_code,
    login,
    make_live_board,
    session_cookie,
)
from tests.servers import LiveServer, PostgresServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres("app.errors", "app.database")]

OUTAGE_FAILURES = 2  # of each kind (page, API, post), for each person, before the database comes back
OUTAGE_TIMEOUT = 30
# The outage lasts this long at least, as a restart does: seconds of people hitting a database that is gone (the
# scenario the test stands for; see ``outage_under_way`` for what must have been observed meanwhile).
OUTAGE_MIN_SECONDS = 4
RECOVERY_SECONDS = 30
WORKERS = 3
RETRY_TEXT = {"fr": "Le service est momentanément indisponible. Réessayez dans quelques instants.",
              "en": "The service is temporarily unavailable. Please try again in a few moments."}


@dataclass
class Outcome:
    started: float
    ended: float
    kind: str  # "page", "api" or "post"
    status: int | str  # HTTP status, or the ack's "ok"/error code ("no ack": none came)
    detail: dict = field(default_factory=dict)


@dataclass
class Worker:
    """One signed-in person: pages and the API over HTTP, ideas posted over the board's socket, without pause."""

    name: str
    language: str
    http: requests.Session
    client: socketio.Client
    board_id: int
    column_id: int
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self, base_url: str, stop: threading.Event) -> None:
        while not stop.is_set():
            self.page(base_url, f"/tableaux/{self.board_id}", "page")
            self.page(base_url, "/api/v1/proposals", "api")
            self.post()
            time.sleep(0.05)  # pacing: a person clicks again a moment later, not in a tight loop

    def page(self, base_url: str, path: str, kind: str) -> None:
        started = time.monotonic()
        try:
            response = self.http.get(base_url + path, timeout=10)
        except requests.RequestException as err:
            self.outcomes.append(Outcome(started, time.monotonic(), kind, f"no answer: {err}"))
            return
        detail = {"retry_after": response.headers.get("Retry-After"), "type": response.headers.get("Content-Type"),
                  "body": response.text}
        self.outcomes.append(Outcome(started, time.monotonic(), kind, response.status_code, detail))

    def post(self) -> None:
        started = time.monotonic()
        payload = {"board_id": self.board_id, "client_id": uuid.uuid4().hex[:16], "column_id": self.column_id,
                   "text": f"Idée de {self.name} à {started:.2f}"}
        try:
            ack = self.client.call("post_idea", payload, namespace=NS, timeout=10)
        except socketio.exceptions.SocketIOError as err:  # no ack within the timeout, or disconnected
            self.outcomes.append(Outcome(started, time.monotonic(), "post", "no ack", {"error": repr(err)}))
            return
        status = "ok" if ack.get("ok") else ack["error"]["code"]
        self.outcomes.append(Outcome(started, time.monotonic(), "post", status, ack))


def close_client(client: socketio.Client) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    ws = getattr(client.eio, "ws", None)  # python-socketio's client may leave it open (see tests/boards/live.py)
    if ws is not None:
        with contextlib.suppress(Exception):
            ws.shutdown()


@pytest.fixture(scope="module")
def database():
    """A PostgreSQL of its own: this module stops and starts it."""
    server = PostgresServer(max_connections=100).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(database):
    url = database.create_database("outage")
    with LiveServer(url, free_port()).running(demo=False) as server:
        yield server


def connect_worker(live, board, email: str, number: int, language: str) -> Worker:
    http = login(live.url, email)
    join_by_code(http, live.url, board.join_code)
    if language != "fr":  # chosen for the session: the socket's handshake carries it too
        token = csrf_token(http.get(live.url + "/", timeout=10).text)
        http.post(live.url + "/langue", data={"csrf_token": token, "lang": language, "next": "/"}, timeout=10)
    client = socketio.Client(reconnection=False)
    client.connect(live.url, namespaces=[NS], transports=["websocket"], wait_timeout=10,
                   headers={"Cookie": session_cookie(http), "User-Agent": USER_AGENT})
    ack = client.call("join_board", {"board_id": board.board_id}, namespace=NS, timeout=10)
    assert ack["ok"], ack
    return Worker(f"personne {number}", language, http, client, board.board_id, board.columns[0])


def succeeded_after(worker: Worker, moment: float) -> bool:
    """Whether, since ``moment``, this person got a page, the API and an acknowledged post."""
    kinds = {o.kind for o in worker.outcomes if o.started >= moment and o.status in (200, "ok")}
    return kinds == {"page", "api", "post"}


def outage_under_way(workers: list[Worker], down: float, log_path, offset: int) -> bool:
    """Whether, since ``down``, each person got ``OUTAGE_FAILURES`` answers of each kind, and a round of the
    periodic jobs found the database gone (its warning is in the log since ``offset``)."""
    for worker in workers:
        kinds = [o.kind for o in list(worker.outcomes) if o.started >= down]
        if any(kinds.count(kind) < OUTAGE_FAILURES for kind in ("page", "api", "post")):
            return False
    with log_path.open("rb") as file:
        file.seek(offset)
        return b" app.jobs jobs: database unavailable" in file.read()


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # an administrator's restart; a crash
def test_a_postgresql_restart_under_load_answers_retry_later_then_recovers(database, live, mode):
    board = make_live_board(live.database_url, WORKERS, prefix=f"outage-{mode}")
    workers = [connect_worker(live, board, email, n, "en" if n == 1 else "fr") for n, email in enumerate(board.emails)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(live.url, stop), daemon=True) for w in workers]
    late = None
    try:
        for thread in threads:
            thread.start()
        began = time.monotonic()
        assert wait_for(lambda: all(succeeded_after(w, began) for w in workers), 20), "no success before the outage"

        offset = live.log_path.stat().st_size
        database.halt(mode)
        down = time.monotonic()
        # Long enough for every kind of request to fail for everyone, and for the jobs (observed), and as long as a
        # restart lasts (a scenario's length, not a wait for something not to happen).
        under_way = wait_for(lambda: outage_under_way(workers, down, live.log_path, offset)
                             and time.monotonic() - down >= OUTAGE_MIN_SECONDS, OUTAGE_TIMEOUT)
        health_down = requests.get(live.url + "/healthz", timeout=10)
        # Someone signed in who connects now is refused (their account cannot be read), with one line too.
        late = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            late.connect(live.url, namespaces=[NS], transports=["websocket"], wait_timeout=10,
                         headers={"Cookie": session_cookie(workers[0].http), "User-Agent": USER_AGENT})
        restarting = time.monotonic()
        database.resume()
        back = time.monotonic()
        recovered = wait_for(lambda: all(succeeded_after(w, back) for w in workers), RECOVERY_SECONDS)
        health_back = requests.get(live.url + "/healthz", timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        for worker in workers:
            close_client(worker.client)
            worker.http.close()
        if late is not None:
            close_client(late)
    with live.log_path.open("rb") as file:
        file.seek(offset)
        log = file.read().decode(errors="replace")

    assert under_way, f"within {OUTAGE_TIMEOUT}s of the outage, not every request failed, or the jobs did not run"
    for worker in workers:
        during = [o for o in worker.outcomes if o.started >= down and o.ended <= restarting]
        by_kind = {kind: [o for o in during if o.kind == kind] for kind in ("page", "api", "post")}
        assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}
        text = RETRY_TEXT[worker.language]
        for outcome in by_kind["page"]:
            assert outcome.status == 503, (outcome.status, outcome.detail.get("body", "")[:300])
            assert outcome.detail["retry_after"] == "5" and outcome.detail["type"].startswith("text/html")
            assert text in outcome.detail["body"]
        for outcome in by_kind["api"]:
            assert outcome.status == 503 and outcome.detail["retry_after"] == "5", outcome.status
            assert outcome.detail["type"].startswith("application/json")
            assert json.loads(outcome.detail["body"])["error"] == {"code": "unavailable", "message": text}
        for outcome in by_kind["post"]:
            assert outcome.status == "unavailable", outcome.detail
            assert outcome.detail["error"]["message"] == text
    assert health_down.status_code == 503 and health_down.json()["database"] == "unreachable"

    assert recovered, f"not every person was served again within {RECOVERY_SECONDS}s of the restart"
    assert health_back.status_code == 200 and health_back.json()["database"] == "ok"
    assert live.process.poll() is None  # the same server throughout

    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]
    failures = sum(1 for w in workers for o in w.outcomes if o.started >= down - 1 and o.status not in (200, "ok"))
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert any("database unavailable" in line for line in warnings), log[-2000:]
    # One line per failed request or change, one per round of the periodic jobs (every second here), the refused
    # connection and the health checks: no flood.
    rounds = (time.monotonic() - down) / 1 + 2
    assert len(warnings) <= failures + rounds + 5, (len(warnings), failures, log[-2000:])
    assert all(len(line) < 500 for line in warnings)


# --- which errors mean "the database is out of reach" ----------------------------------------------------------

def test_only_a_database_out_of_reach_counts_as_unavailable():
    """Lost or refused connections, a server shutting down or starting, a pool with no free connection: retry later.
    A wrong statement, a deadlock or SQLite's own errors are faults (500, ``server_error``, with the traceback)."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.errors import is_database_unavailable

    def wrapped(orig, invalidated=False):
        return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)

    unavailable = [wrapped(psycopg.OperationalError("connection failed: Connection refused")),
                   wrapped(psycopg.errors.AdminShutdown("terminating connection due to administrator command")),
                   wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")),
                   wrapped(psycopg.errors.ConnectionFailure("connection failure")),
                   wrapped(psycopg.InterfaceError("the connection is closed")),
                   wrapped(RuntimeError("anything"), invalidated=True),
                   PoolTimeout("QueuePool limit reached")]
    faults = [wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
              wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
              wrapped(sqlite3.OperationalError("no such table: users")),
              IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
              RuntimeError("a bug of ours")]
    assert [is_database_unavailable(e) for e in unavailable] == [True] * len(unavailable)
    assert [is_database_unavailable(e) for e in faults] == [False] * len(faults)


def test_ending_a_session_whose_connection_the_database_dropped_is_one_warning(request, caplog):
    """The race of a restart: a request read, PostgreSQL then ended its connection, and the session's closing
    rollback meets the dead connection. The request went well: no exception, one warning, and the next session gets
    a working connection."""
    import logging

    from sqlalchemy import text

    from app.database import end_session
    from app.extensions import db
    from tests.conftest import make_app, prepared_db

    with prepared_db(make_app("postgresql", request), "postgresql") as app, app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        with db.engine.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        with caplog.at_level(logging.WARNING, logger="app.database"):
            end_session()
        assert [r.levelname for r in caplog.records if r.name == "app.database"] == ["WARNING"]
        assert all(r.exc_info is None for r in caplog.records)
        assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
