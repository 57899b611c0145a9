"""Waiting in tests: for a condition that can be observed, never for a fixed time.

To show that something did *not* happen (no duplicate, nothing more logged, nothing sent twice), a test waits
instead for a later event that must come after it, were it to happen (a marker sent after, its answer, a log line,
a counter that moved), then checks.
"""

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Whether ``predicate()`` is true within ``timeout`` seconds, asked every ``interval`` seconds (and once more
    at the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def wait_until(predicate: Callable[[], object], timeout: float, message: str | Callable[[], str],
               interval: float = 0.05) -> None:
    """Return once ``predicate()`` is true; fail with ``message`` (or what it returns, when called then) after
    ``timeout`` seconds."""
    if not eventually(predicate, timeout, interval):
        raise AssertionError(message() if callable(message) else message)
