"""Two serve.py processes (gevent) on one database, and many people at both at once: the HTTP race harness."""

import contextlib
import threading
from dataclasses import dataclass

from flask import Flask

from app.extensions import db
from tests.boards.live import data_app
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.servers import LiveServer


@contextlib.contextmanager
def new_database(pg_server, name: str):
    """A new, empty PostgreSQL database ``name`` on ``pg_server``: yields its URL, drops it at the end."""
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@contextlib.contextmanager
def server_pair(database_url: str, smtp_port: int, env: dict, *, demo: bool = True, start: bool = True):
    """Two servers with the same ``env`` on one database, prepared once (migrated, with the demo unless
    ``demo=False``), started unless ``start=False``; stopped, and their logs removed, at the end."""
    servers = [LiveServer(database_url, smtp_port, env=env) for _ in range(2)]
    servers[0].prepare_database(demo)
    try:
        yield [server.start() for server in servers] if start else servers
    finally:
        for server in servers:
            server.stop()
            server.log_path.unlink(missing_ok=True)


@dataclass
class Race:
    """Two servers on one database (not started until ``start``) and this process's app on it, to write and check."""

    servers: list[LiveServer]
    app: Flask

    def start(self) -> None:
        for server in self.servers:
            server.start()

    def logs(self, chars: int = 3000) -> str:
        """The end of both servers' logs, for a failure message."""
        return "\n".join(server.log_path.read_text()[-chars:] for server in self.servers)

    def assert_each_served(self, request_line: str, count: int) -> None:
        """Both servers are still up and each logged ``request_line`` (method, rule, status) ``count`` times."""
        for server in self.servers:
            assert server.process.poll() is None, server.log_path.read_text()[-2000:]
            assert server.log_path.read_text().count(request_line) == count


@contextlib.contextmanager
def race_on_postgresql(pg_server, smtp_port: int, dbname: str, env: dict):
    """A new PostgreSQL database ``dbname`` with the demo and two servers on it (see ``Race``); everything stopped
    and the database dropped at the end."""
    with new_database(pg_server, dbname) as url:
        app = data_app(url)
        try:
            with server_pair(url, smtp_port, env, start=False) as servers:
                yield Race(servers, app)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def sign_in(http, base_url: str, email: str, timeout: float) -> None:
    """Signs the ``requests`` session in through the sign-in form (password ``PASSWORD``); it must redirect."""
    token = csrf_from(http.get(base_url + "/compte/connexion", timeout=timeout).text)
    response = http.post(base_url + "/compte/connexion", timeout=timeout, allow_redirects=False,
                         data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text[:500]


def in_threads(target, n: int, timeout: float) -> None:
    """Runs ``target(i)`` for each ``i`` below ``n``, each in a thread of its own, and waits for all (``timeout``
    each); fails if one is still running."""
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads)
