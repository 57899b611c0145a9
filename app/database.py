"""Engine settings: SQLite in WAL mode with a busy timeout, and explicit write transactions.

SQLite allows one writer at a time. Its busy timeout waits inside C code, which under gevent blocks
every greenlet of the process, including the one holding the lock: two writers of one process would
freeze the server until the timeout. So writers of one process first queue on a Python lock (gevent-aware
once patched, a thread lock otherwise) and only then take SQLite's lock; the busy timeout is left for
other processes, whose write transactions are short.
"""

import logging
import re
import threading

from flask import Flask, g, has_app_context, request
from sqlalchemy import Date, Float, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .errors import is_database_unavailable
from .extensions import db

log = logging.getLogger(__name__)


def configure_engines(app: Flask) -> None:
    """Attach SQLite pragmas; PostgreSQL needs nothing here."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite"):
        return
    timeout_ms = app.config["SQLITE_BUSY_TIMEOUT_MS"]
    with app.app_context():
        engine = db.engine
        _attach_sqlite_events(engine, timeout_ms, in_memory=uri in ("sqlite://", "sqlite:///:memory:"))


def _attach_sqlite_events(engine: Engine, timeout_ms: int, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (pysqlite's own
        # handling defers BEGIN and cannot take the write lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(conn, _cursor, statement, _parameters, _context, _executemany):
        # A write inside a transaction that began as a read: queue for the process's write lock first.
        if conn.in_transaction() and not conn.info.get(_HOLDS) and _WRITE_RE.match(statement):
            _acquire(conn)

    @event.listens_for(engine, "commit")
    def _on_commit(conn):
        _release(conn)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn):
        _release(conn)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection, record, _reset_state):
        # A connection going back to the pool mid-transaction is rolled back there: release with it.
        if record.info.pop(_HOLDS, False):
            _WRITE_LOCK.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A transaction that will write takes the write lock at BEGIN (``BEGIN IMMEDIATE``): in WAL mode a
        # read transaction that later writes fails at once ("database is locked") if another connection
        # wrote in between, whatever the busy timeout. Writers are: connections marked ``sqlite_immediate``
        # (begin_write), state-changing requests, and the periodic jobs (``g.db_write_intent``).
        if conn.get_execution_options().get("sqlite_immediate") or _write_intent():
            _acquire(conn)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except Exception:
                _release(conn)
                raise
        else:
            conn.exec_driver_sql("BEGIN")


_WRITE_LOCK = threading.RLock()  # created after serve.py's monkey-patching: a gevent lock there
_HOLDS = "atelier_write_lock"
_WRITE_RE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _acquire(conn) -> None:
    _WRITE_LOCK.acquire()
    conn.info[_HOLDS] = True


def _release(conn) -> None:
    if conn.info.pop(_HOLDS, False):
        _WRITE_LOCK.release()


def _write_intent() -> bool:
    return has_app_context() and bool(g.get("db_write_intent"))


def mark_write_intent() -> None:
    """This request or job will write: its SQLite transactions start with ``BEGIN IMMEDIATE``."""
    g.db_write_intent = True


def init_app(app: Flask) -> None:
    @app.before_request
    def _writes_take_the_lock_first():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            mark_write_intent()

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (Flask runs teardowns last registered first).
    app.teardown_appcontext(lambda _exc: end_session())


def end_session() -> None:
    """End the session of this request, socket event or job.

    Ending it rolls back its transaction; when the database dropped the connection meanwhile (PostgreSQL restarting),
    that rollback raises, though the server already rolled the transaction back, and the page already answered:
    SQLAlchemy has then invalidated the connection (the pool replaces it), and the session is ended once more, on
    nothing. One warning line instead of a traceback and a 500 for a request that went well.
    """
    try:
        db.session.remove()
    except Exception as err:
        if not is_database_unavailable(err):
            raise
        log.warning("session ended on a lost database connection (%s)", type(getattr(err, "orig", err)).__name__)
        db.session.remove()  # the failed close left the session in place: end it on the invalidated connection


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def insert_unless_present(model, index_elements: list[str], **values):
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` for ``model``: SQLAlchemy spells it per dialect, so
    the one branch on the database for it is here (both databases run it in the tests of its callers)."""
    insert = sqlite_insert if is_sqlite() else postgresql_insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements)


def add_to_count(model, keys: dict, column: str, amount: int):
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET column = column + amount``: a counter row made or increased in
    one statement (the row lock decides between writers). Only for a positive ``amount``: PostgreSQL checks the
    proposed row's constraints before it looks for the conflict, so a decrease is an ``UPDATE`` of the row."""
    if amount <= 0:
        raise ValueError("add_to_count takes a positive amount")
    insert = (sqlite_insert if is_sqlite() else postgresql_insert)(model).values(**keys, **{column: amount})
    return insert.on_conflict_do_update(index_elements=list(keys),
                                        set_={column: getattr(model, column) + insert.excluded[column]})


def begin_write() -> None:
    """Start a fresh write transaction (``BEGIN IMMEDIATE`` on SQLite).

    Call it first thing in a service that reads then writes rows other requests may also write: a
    read transaction left open by the request (loading the page's objects) is ended first, so what
    the service reads next is current and, on SQLite, already holds the write lock. On PostgreSQL
    such services also lock the rows they read (``with_for_update``).
    """
    session = db.session()  # the scoped session's current Session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_write() called with unsaved changes in the session")
    if session.in_transaction():
        session.rollback()
    session.connection(execution_options={"sqlite_immediate": True})


class days_between(FunctionElement):  # noqa: N801 - used like a SQL function
    """``days_between(later, earlier)``: the time between two timestamps, in days (a float); ``julianday`` on SQLite,
    ``EXTRACT(EPOCH ...)`` on PostgreSQL (the reports' answer delays, the feedback replies' delays)."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between, "postgresql")
def _days_between_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later}) - ({earlier})) / 86400.0)"


class month_start(FunctionElement):  # noqa: N801 - used like a SQL function
    """``month_start(timestamp)``: the first day of its month, a date (the barometer's monthly counts)."""

    type = Date()
    name = "month_start"
    inherit_cache = True


@compiles(month_start, "sqlite")
def _month_start_sqlite(element, compiler, **kw):
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({moment}, 'start of month')"


@compiles(month_start, "postgresql")
def _month_start_postgresql(element, compiler, **kw):
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(date_trunc('month', {moment}) AS DATE)"
