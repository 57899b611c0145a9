"""Time as Atelier stores it: naive UTC datetimes, and their ISO 8601 form for exports and APIs.

Every area reads the clock through here (``utcnow``), so tests and jobs share one definition, and no area has to
import the accounts area for it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, without a time zone (the columns store naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with its ``Z``, for exports; ``None`` stays ``None``."""
    return value.isoformat() + "Z" if value else None
