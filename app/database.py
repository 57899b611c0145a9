"""Engine settings: SQLite in WAL mode with a busy timeout, and explicit write transactions."""

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


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

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A connection marked ``sqlite_immediate`` takes the write lock at BEGIN, so a
        # read-then-write transaction cannot be overtaken between its read and its write.
        if conn.get_execution_options().get("sqlite_immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


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
