"""Report figures and fragments kept in the process between requests, for as long as their data is unchanged.

An entry is keyed by the version of the data (``data_versions['reports']``: epoch and number, moved by database
triggers whenever a table the reports read changes, see ``versions.py``) and by what the caller says the result
depends on (organisation, page, language, time zone, filters). Reading the version is one primary-key lookup; a
page whose entry is there skips its aggregate queries (and, for fragments, their rendering). Every process keeps
its own entries, and they all read the same version, so none of them shows figures older than the database.

Figures that depend on the clock (a proposal becomes overdue when its deadline passes) carry the time until which
they hold: ``compute`` returns ``(value, valid_until)``, ``valid_until`` None meaning "until the data changes".
Without a version row (a database no report-relevant write has touched yet) nothing is kept.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select

from ..clock import utcnow
from ..extensions import db
from .models import DataVersion
from .versions import NAME

MAX_ENTRIES = 256  # fragments are ~10-40 KB: a few MiB per process at most

T = TypeVar("T")

_entries: "OrderedDict[tuple, tuple[datetime | None, object]]" = OrderedDict()
_lock = threading.Lock()


def current_version() -> tuple[str, int] | None:
    """(epoch, number) of the report data, or None when no report-relevant write happened yet."""
    row = db.session.execute(select(DataVersion.epoch, DataVersion.version).where(DataVersion.name == NAME)).first()
    return None if row is None else (row[0], row[1])


_READ_NOW = object()


def remember(key: tuple, compute: Callable[[], tuple[T, datetime | None]], now: datetime | None = None,
             version=_READ_NOW) -> T:
    """``compute()``'s value for ``key`` at the current data version, computed once per version (and period).

    The version must be read before anything ``compute`` relies on: a copy may be newer than its version, never
    older. A caller whose copy shows data it read before calling (the dashboard's organisations and ideas) reads
    the version before that data and passes it as ``version``."""
    if version is _READ_NOW:
        version = current_version()
    if version is None:
        return compute()[0]
    full_key = (version, key)
    now = now or utcnow()
    with _lock:
        found = _entries.get(full_key)
        if found is not None and (found[0] is None or now < found[0]):
            _entries.move_to_end(full_key)
            return found[1]
    value, valid_until = compute()
    with _lock:
        _entries[full_key] = (valid_until, value)
        _entries.move_to_end(full_key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()


def size() -> int:
    return len(_entries)
