"""Shared fixtures: the app on SQLite and on a real PostgreSQL, clients, login, SMTP sink."""

import contextlib
import re
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from pytest_redis import factories as redis_factories
from sqlalchemy import text

from app import create_app
from app.extensions import db, limiter

from .servers import PostgresServer, SmtpSink
from .system import find_redis

# Each test runs once, on SQLite, unless its subject depends on the database (concurrency, row locks, full-text
# search, constraint violations, SQL the two databases answer differently): those are marked ``both_databases`` and
# run on PostgreSQL too (``pytest_generate_tests`` below). tests/test_dialects.py checks that every module of app/
# with a dialect branch has a test that runs on PostgreSQL.


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


@pytest.fixture
def backend(request):
    """The database the test's app uses: "sqlite", or "postgresql" for the second run of a ``both_databases`` test
    (parametrised in ``pytest_generate_tests``)."""
    return request.param


def _parametrised_names(mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)


def pytest_generate_tests(metafunc):
    """``backend`` is ``sqlite``, plus ``postgresql`` (marked ``postgres``, so ``-m "not postgres"`` leaves it out)
    for a test marked ``both_databases`` on itself, its class or its module. A test that parametrises ``backend``
    itself keeps its own list. The marker on a test that opens no database would claim a PostgreSQL run that never
    happens: refused at collection (unless the test runs on PostgreSQL only, marked ``postgres``), as is the marker
    beside a list of the test's own."""
    marked = metafunc.definition.get_closest_marker("both_databases") is not None
    own = any("backend" in _parametrised_names(mark) for mark in metafunc.definition.iter_markers("parametrize"))
    where = metafunc.definition.nodeid
    if "backend" not in metafunc.fixturenames:
        if marked and metafunc.definition.get_closest_marker("postgres") is None:
            raise pytest.UsageError(f"{where}: marked both_databases but uses no database (no app, client or backend)")
        return
    if own:
        if marked:
            raise pytest.UsageError(f"{where}: marked both_databases and parametrises backend itself: keep one")
        return
    if marked:
        metafunc.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
    else:
        metafunc.parametrize("backend", ["sqlite"])


_pg_schema_ready = {}


class _SharedBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for the whole session, shared by every app the tests build.

    Tests that need their own configuration build their own app, and each app its own Jinja environment:
    without this, each of them would parse and compile again every template it renders. Entries are keyed by
    template name and source checksum, so a changed template is compiled again.
    """

    def __init__(self):
        self._store = {}

    def load_bytecode(self, bucket):
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket):
        self._store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE_CACHE = _SharedBytecodeCache()
_sqlite_template: dict[str, Path] = {}


def _sqlite_schema_template(request) -> Path:
    """An SQLite file holding the empty schema, built once per test process and copied for each test.

    Copying a file takes a millisecond; creating the schema's tables, indexes and full-text tables
    takes about fifty.
    """
    if "path" not in _sqlite_template:
        path = request.getfixturevalue("tmp_path_factory").mktemp("schema") / "template.db"
        app = create_app("test", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        _sqlite_template["path"] = path
    return _sqlite_template["path"]


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


def _fresh_sqlite_file(path: Path, request) -> None:
    """Put the empty schema at ``path`` (no connection may be open on it)."""
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(_sqlite_schema_template(request), path)


def make_app(backend, request, sqlite_path: Path | None = None, **overrides):
    config = {"RATELIMIT_ENABLED": False, **overrides}
    if backend == "postgresql":
        config["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("pg_url")
    else:
        # A file, not :memory:, so threads get their own connections as in production (WAL).
        path = sqlite_path or request.getfixturevalue("tmp_path") / "atelier-test.db"
        if not path.exists():  # two apps of one test may share the file
            _fresh_sqlite_file(path, request)
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if "MAIL_PORT" not in config and "smtp_server" in request.fixturenames:
        config["MAIL_PORT"] = request.getfixturevalue("smtp_server").port
    app = create_app("test", config)
    app.jinja_env.bytecode_cache = _BYTECODE_CACHE
    app.test_client_class = IsolatedClient
    return app


@contextlib.contextmanager
def prepared_db(app, backend):
    """An app context with an empty schema; the tables are emptied after (PostgreSQL).

    SQLite files start as a copy of the schema template (see ``make_app``) and are thrown away with
    the test's temporary directory.
    """
    with app.app_context():
        if backend == "postgresql" and not _pg_schema_ready.get("done"):
            db.drop_all()
            db.create_all()
            _pg_schema_ready["done"] = True
        try:
            yield app
        finally:
            db.session.remove()
            if backend == "postgresql":
                tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
                with db.engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.engine.dispose()


_shared_apps: dict[tuple, tuple] = {}


def _shared_app(backend, request):
    """One app per backend (and SMTP port) for the whole session, with an empty database for each test.

    Building an app compiles every URL rule and Jinja environment again (a third of a short test's time);
    what a test may change on it (its configuration) is put back after the test, and the database is
    emptied: SQLite's file is replaced by the schema template, PostgreSQL's tables are truncated.
    """
    mail_port = request.getfixturevalue("smtp_server").port if "smtp_server" in request.fixturenames else None
    key = (backend, mail_port)
    if key not in _shared_apps:
        path = None
        if backend == "sqlite":
            path = request.getfixturevalue("tmp_path_factory").mktemp("shared-app") / "atelier-test.db"
        app = make_app(backend, request, sqlite_path=path)
        _shared_apps[key] = (app, path, app.config.copy())
    elif (path := _shared_apps[key][1]) is not None:
        _fresh_sqlite_file(path, request)
    return _shared_apps[key]


@pytest.fixture
def app(backend, request):
    app, _path, config = _shared_app(backend, request)
    # Flask-Limiter's extension object is one per process: a test app built with limits on switches it on
    # for every app, so the shared app (limits off) puts its own setting back.
    limiter.enabled = config["RATELIMIT_ENABLED"]
    try:
        with prepared_db(app, backend):
            yield app
    finally:
        app.config.clear()
        app.config.update(config)


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
