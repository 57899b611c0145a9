"""Shared fixtures: the app on SQLite and on a real PostgreSQL, clients, login, SMTP sink."""

import contextlib
import re

import pytest
from flask.testing import FlaskClient
from pytest_redis import factories as redis_factories
from sqlalchemy import text

from app import create_app
from app.extensions import db

from .servers import PostgresServer, SmtpSink
from .system import find_redis

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server):
    return pg_server.create_database("atelier_test")


redis_proc = redis_factories.redis_proc(executable=find_redis() or "redis-server", port=None)


@pytest.fixture
def redis_url(redis_proc):
    """A real redis-server (started once per session), emptied for each test."""
    import redis

    client = redis.Redis(host=redis_proc.host, port=redis_proc.port)
    client.flushall()
    client.close()
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.fixture(scope="session")
def smtp_server():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    return smtp_server


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


_pg_schema_ready = {}


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    The test body holds an app context for database access; without this, Flask would reuse it for
    requests and share ``g`` (logged-in user, CSRF token) between requests and clients. What the test
    prepared is committed first, and the test's own objects are expired after, so both sides see
    exactly what is in the database.
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


def make_app(backend, request, **overrides):
    config = {"RATELIMIT_ENABLED": False, **overrides}
    if backend == "postgresql":
        config["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("pg_url")
    else:
        # A file, not :memory:, so threads get their own connections as in production (WAL).
        path = request.getfixturevalue("tmp_path") / "atelier-test.db"
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if "MAIL_PORT" not in config and "smtp_server" in request.fixturenames:
        config["MAIL_PORT"] = request.getfixturevalue("smtp_server").port
    app = create_app("test", config)
    app.test_client_class = IsolatedClient
    return app


@contextlib.contextmanager
def prepared_db(app, backend):
    """An app context with an empty schema; the tables are emptied (PostgreSQL) or dropped after."""
    with app.app_context():
        if backend == "postgresql":
            if not _pg_schema_ready.get("done"):
                db.drop_all()
                db.create_all()
                _pg_schema_ready["done"] = True
        else:
            db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            if backend == "postgresql":
                tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
                with db.engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            else:
                db.drop_all()
            db.engine.dispose()


@pytest.fixture
def app(backend, request):
    with prepared_db(make_app(backend, request), backend) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def get_csrf(client, url: str = "/compte/connexion") -> str:
    response = client.get(url)
    return csrf_from(response.get_data(as_text=True))


def post_form(client, url: str, data: dict, csrf_url: str | None = None, **kwargs):
    """POST a form the way a browser does: with the CSRF token of the page that shows it."""
    token = get_csrf(client, csrf_url or url)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def login(client, email: str, password: str = "correct horse battery", remember: bool = False):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    response = post_form(client, "/compte/connexion", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture
def login_as(client):
    def _login(user, password="correct horse battery", **kwargs):
        return login(client, user.email, password, **kwargs)

    return _login
