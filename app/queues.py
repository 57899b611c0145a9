"""In-process queues per key (a live board): callers wait here holding no database connection.

The database stays the guard (row locks, constraints: other processes go through them too). These queues only
keep a crowd in one process from waiting on a row lock inside PostgreSQL, each with a pooled connection: a burst
would empty the pool, and every hand-over of the lock would wait for the next backend to be scheduled. Under
``serve.py`` the locks are gevent's (threading is patched before this module is imported); in tests, threads'.
"""

import threading
from collections.abc import Callable
from contextlib import contextmanager


class KeyedQueue:
    """One queue per key. ``hold(key)`` runs a block alone for its key; ``combine(key, item, run)`` queues ``item``
    and, when the key's turn comes, runs ``run(items)`` once for every item waiting at that moment (at most
    ``batch_max``, the caller's own always among them). ``run`` must set ``item.done`` on each."""

    def __init__(self, batch_max: int):
        self.batch_max = batch_max
        self._guard = threading.Lock()
        self._locks: dict = {}  # key -> [lock, users]: a queue only, never state
        self._waiting: dict = {}  # key -> items not yet taken by a batch

    @contextmanager
    def hold(self, key):
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._locks.pop(key, None)

    def waiting(self, key) -> int:
        """How many items wait for a batch of ``key`` (tests hold the key's turn to gather one)."""
        with self._guard:
            return len(self._waiting.get(key, ()))

    def combine(self, key, item, run: Callable[[list], None]) -> None:
        with self._guard:
            self._waiting.setdefault(key, []).append(item)
        with self.hold(key):
            if item.done:  # an earlier batch took it
                return
            with self._guard:
                waiting = self._waiting.pop(key, [])
                items, rest = waiting[:self.batch_max], waiting[self.batch_max:]
                if item not in items:  # over the batch size: ours goes first, the rest waits its turn
                    items, rest = [item, *items[:-1]], [*items[-1:], *[r for r in rest if r is not item]]
                if rest:
                    self._waiting[key] = rest
            run(items)
