"""The `make run` entry point (serve.py, gevent) as a real process: Socket.IO, jobs, mail, SQLite WAL."""

import contextlib
import re
import socket
import sqlite3
import subprocess
import sys

import pytest
import requests
import socketio

from tests.servers import ROOT, LiveServer, SmtpSink, free_port, text_body
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(smtp_server, tmp_path_factory):
    with LiveServer.on_sqlite(tmp_path_factory.mktemp("live"), smtp_server.port).running() as server:
        yield server


def csrf(session: requests.Session, url: str) -> str:
    html = session.get(url, timeout=10).text
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def register(server, email):
    http = requests.Session()
    token = csrf(http, server.url + "/compte/inscription")
    response = http.post(server.url + "/compte/inscription", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": email, "display_name": "Live", "password": "live test password",
        "password_confirm": "live test password", "accept_terms": "y"})
    assert response.status_code == 302, response.text[:500]
    return http


def outbox_row(server, recipient: str) -> tuple[str, int] | None:
    """(status, attempts) of the outbox row of the mail to ``recipient``, read from the live server's SQLite file."""
    path = server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        return conn.execute("SELECT status, attempts FROM outbox_messages WHERE recipient = ?",
                            (recipient,)).fetchone()


def test_health_and_sqlite_wal(server):
    body = requests.get(server.url + "/healthz", timeout=5).json()
    assert body == {"status": "ok", "database": "ok", "version": body["version"]}
    path = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_socketio_connects_over_websocket_with_gevent(server):
    client = socketio.Client(reconnection=False)
    # websocket-client sends Origin: <the server URL> itself, as a browser on the site would.
    client.connect(server.url, transports=["websocket"], wait_timeout=10)
    assert client.connected
    assert client.transport() == "websocket"
    client.disconnect()


def test_websockets_are_accepted_without_compression(server):
    """A browser offers permessage-deflate; Atelier answers without it, so one frame of an event serves every
    connection of a room (app/realtime.py). simple-websocket alone would accept it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall((
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nOrigin: {server.url}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += conn.recv(4096)
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert "sec-websocket-extensions" not in headers
        while len(rest) < 2:
            rest += conn.recv(4096)
        assert rest[0] == 0x81  # FIN, text, RSV1 clear: the engine.io open packet, not compressed
        while len(rest) < 3:
            rest += conn.recv(4096)
        assert rest[2:3] == b"0"  # engine.io "open"


def test_socketio_refuses_another_origin(server):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, transports=["websocket"], headers={"Origin": "http://evil.example"},
                       wait_timeout=5)
    assert not client.connected


def test_jobs_in_the_server_deliver_registration_mail(server, smtp_server):
    register(server, "live.one@example.org")
    [message] = smtp_server.wait_for("live.one@example.org", timeout=20)
    assert server.url + "/compte/verifier/" in text_body(message)


def test_mail_survives_an_smtp_outage_and_arrives_exactly_once(tmp_path):
    """Stop the SMTP server, make a change that sends mail, restart it: the mail arrives once."""
    outage = SmtpSink(port=free_port())  # not started: mail server down
    server = LiveServer.on_sqlite(tmp_path, outage.port)
    server.prepare_database()
    server.start()
    try:
        register(server, "outage@example.org")

        def failed_twice():
            row = outbox_row(server, "outage@example.org")
            return row is not None and row[0] == "pending" and row[1] >= 2

        # Several job rounds fail meanwhile: each failed attempt is counted in the outbox and sets the mail back to
        # pending, for a later round.
        wait_until(failed_twice, 30, lambda: f"not tried twice: {outbox_row(server, 'outage@example.org')}")
        assert outage.to("outage@example.org") == []
        outage.start()
        assert len(outage.wait_for("outage@example.org", timeout=30)) == 1
        # Nothing is sent twice: the row says sent, which no round takes again; and a mail queued now leaves in a
        # later round, after the first one would have left again were it still due (due mail leaves in order).
        wait_until(lambda: outbox_row(server, "outage@example.org")[0] == "sent", 10,
                   lambda: f"the mail sent is not marked sent: {outbox_row(server, 'outage@example.org')}")
        register(server, "later.mail@example.org")
        outage.wait_for("later.mail@example.org", timeout=30)
        assert len(outage.to("outage@example.org")) == 1
    finally:
        server.stop()
        outage.stop()


def test_two_job_processes_at_once_send_each_mail_once(smtp_server, tmp_path):
    server = LiveServer.on_sqlite(tmp_path, smtp_server.port, SOCKETIO_ASYNC_MODE="threading")
    server.prepare_database()
    script = (
        "from wsgi import app\n"
        "from app.extensions import db\n"
        "from app.mail.service import queue_mail\n"
        "with app.app_context():\n"
        "    for n in range(30):\n"
        "        queue_mail(f'batch{n}@example.org', 'email_change_requested', 'fr',\n"
        "                   user=type('U', (), {'display_name': 'B'})(), new_email='x@example.org')\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=server.env, check=True)
    flask = [sys.executable, "-m", "flask", "jobs", "run", "--once"]
    processes = [subprocess.Popen(flask, cwd=ROOT, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    for n in range(30):
        assert len(smtp_server.wait_for(f"batch{n}@example.org", timeout=10)) == 1


def test_a_socket_whose_session_does_not_hold_is_refused_with_its_reason(server):
    """Flask-Login binds a session to the page's browser (User-Agent) and address: a handshake from another browser
    is not signed in. It is refused with a code and a message, instead of going on as a guest whose every change
    would then be refused."""
    http = requests.Session()
    token = csrf(http, server.url + "/compte/connexion")
    signed_in = http.post(server.url + "/compte/connexion", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": "citoyenne@atelier.example", "password": "atelier-demo-2026"})
    assert signed_in.status_code == 302, signed_in.text[:500]
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    page_agent = http.headers["User-Agent"]
    refusals = []
    client = socketio.Client(reconnection=False)
    client.on("connect_error", lambda data=None: refusals.append(data), namespace="/boards")
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, namespaces=["/boards"], transports=["websocket"], wait_timeout=5,
                       headers={"Cookie": cookie, "User-Agent": "another browser/1.0"})
    assert refusals and refusals[0]["data"] == {"code": "session_refused"}, refusals
    assert refusals[0]["message"].startswith("Votre session ne vaut pas pour cette connexion en direct")
    # The same session from the page's browser connects, signed in.
    same = socketio.Client(reconnection=False)
    same.connect(server.url, namespaces=["/boards"], transports=["websocket"], wait_timeout=5,
                 headers={"Cookie": cookie, "User-Agent": page_agent})
    try:
        assert same.connected
    finally:
        same.disconnect()


def test_failed_sign_ins_leave_no_traceback_in_the_log(server):
    """Passwords are checked in gevent's thread pool; a mismatch raised there was reported with its traceback, so a
    guessing script (every wrong password, every unknown address) filled the log."""
    start = server.log_path.stat().st_size
    http = requests.Session()
    for email in ("citoyenne@atelier.example", "personne@example.org"):
        token = csrf(http, server.url + "/compte/connexion")
        answer = http.post(server.url + "/compte/connexion", timeout=10, allow_redirects=False, data={
            "csrf_token": token, "email": email, "password": "not the password at all"})
        assert answer.status_code == 200 and "incorrect" in answer.text
    with server.log_path.open("rb") as log:
        log.seek(start)
        written = log.read().decode()
    assert "POST /compte/connexion 200" in written
    assert "Traceback" not in written and "VerifyMismatchError" not in written, written[-2000:]
