"""Running service calls at the same moment from real threads, each with its own app context and session."""

import threading
from contextlib import contextmanager

import pytest

from app.extensions import db
from tests.conftest import make_app, prepared_db

JOIN_TIMEOUT = 120


@contextmanager
def app_for_threads(backend, request, workers: int):
    """An app whose pool holds a connection per worker (and SQLite writers wait instead of failing)."""
    overrides = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": workers + 10, "max_overflow": 0, "pool_timeout": 60}}
    if backend == "sqlite":
        overrides["SQLITE_BUSY_TIMEOUT_MS"] = 60_000
    with prepared_db(make_app(backend, request, **overrides), backend) as app:
        yield app


def threads_app_fixture(workers: int, name: str = "app"):
    """A fixture called ``name``: the parametrised app of ``app_for_threads`` for ``workers`` threads."""
    @pytest.fixture(name=name)
    def threads_app(backend, request):
        with app_for_threads(backend, request, workers) as app:
            yield app

    return threads_app


def run_together(app, jobs):
    """Run each ``job(barrier)`` in its own thread; jobs wait on the barrier to start together.
    Returns (results by job index, [(index, exception)])."""
    barrier = threading.Barrier(len(jobs), timeout=JOIN_TIMEOUT)
    errors, results = [], [None] * len(jobs)

    def run(i, job):
        with app.app_context():
            try:
                results[i] = job(barrier)
            except Exception as exc:  # kept for the test to assert on
                errors.append((i, exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results, errors
