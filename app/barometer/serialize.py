"""A barometer as data: the one JSON shape of its figures that the API serves and the open data flattens
(``docs/api.md``), the barometers of many services computed from one query, and a service's figures published
elsewhere (``published.latest_published``) as data.

A figure always gives its number of answers; its value, interval and level only from the minimum number of answers
(``status`` « shown »), never below it (« insufficient ») nor without answers (« no_answers »). Values are unrounded,
on JDMA's published scale (``scale``): a mean out of 10 (``note_10``), a share 0–1 (``share``: contact
reachability), or a share × 10 (``share_10``: autonomy, as JDMA publishes it).
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..catalog.models import Organisation, Service
from ..extensions import db
from .models import PublishedFigure
from .queries import SERVICE, Scope, counts_by_service
from .service import Barometer, Figure, barometer_from_counts, minimum_answers, window
from .stats import MEAN, Indicator

SHOWN, INSUFFICIENT, NO_ANSWERS = "shown", "insufficient", "no_answers"
STATUSES = (SHOWN, INSUFFICIENT, NO_ANSWERS)
NOTE_10, SHARE, SHARE_10 = "note_10", "share", "share_10"
SCALES = (NOTE_10, SHARE, SHARE_10)
CONFIDENCE = 0.95

# The national scope's name; the open data (written in French whatever the reader's language) writes NATIONAL_FR.
NATIONAL_FR = "Toutes les démarches"
NATIONAL_NAME = _l("Toutes les démarches")


def month_text(month: date) -> str:
    """A month as ``YYYY-MM``."""
    return f"{month.year:04d}-{month.month:02d}"


def status_of(figure: Figure) -> str:
    if figure.shown:
        return SHOWN
    return NO_ANSWERS if figure.count == 0 else INSUFFICIENT


def scale_of(indicator: Indicator) -> str:
    if indicator.kind == MEAN:
        return NOTE_10
    return SHARE if indicator.published_scale == 1.0 else SHARE_10


def figure_json(figure: Figure) -> dict:
    """One indicator of a barometer; the level's label in the current language (the API's: ``Accept-Language``)."""
    indicator = figure.estimate.indicator
    interval, level = figure.interval, figure.level
    return {
        "indicator": figure.slug,
        "count": figure.count,
        "status": status_of(figure),
        "value": figure.value,
        "interval": None if interval is None else {"low": interval.low, "high": interval.high,
                                                   "confidence": CONFIDENCE, "method": indicator.method},
        "scale": scale_of(indicator),
        "level": None if level is None else {"code": level.color, "color": level.color, "label": level.name},
        "uncertain": figure.uncertain,
    }


def scope_json(kind: str, slug: str | None, name: str) -> dict:
    return {"kind": kind, "slug": slug, "name": name}


def national_scope_json() -> dict:
    return scope_json("national", None, str(NATIONAL_NAME))


def barometer_json(barometer: Barometer, scope_info: dict, published: list | None = None) -> dict:
    """A scope's barometer over its rolling year; ``published`` (a service's figures imported from elsewhere, as
    ``published_json`` gives them) is added when given, apart from Atelier's own figures."""
    minimum = next(iter(barometer.figures.values())).minimum
    body = {
        "scope": scope_info,
        "window": {"first_month": month_text(barometer.first), "last_month": month_text(barometer.last)},
        "minimum_answers": minimum,
        "responses": barometer.responses,
        "figures": [figure_json(figure) for figure in barometer.figures.values()],
    }
    if published is not None:
        body["published"] = published
    return body


# --- barometers computed from counts already read ---------------------------------------------------------------

def pooled(counts: Iterable[Mapping[tuple[str, int], int]]) -> Counter:
    """The counts of several services summed: an organisation's, a life event's, the nation's."""
    total: Counter = Counter()
    for one in counts:
        total.update(one)
    return total


def service_barometers(service_ids: list[int], now: datetime | None = None) -> dict[int, Barometer]:
    """The barometer of each service of ``service_ids``, from one grouped query over their monthly counts."""
    first, last = window(now)
    counts = counts_by_service(service_ids, first, last)
    minimum = minimum_answers()
    return {sid: barometer_from_counts(Scope(SERVICE, sid), first, last, counts.get(sid, {}), minimum)
            for sid in service_ids}


def services_page(page: int, per_page: int, now: datetime | None = None) -> tuple[int, list[dict]]:
    """Every service's barometer, by slug, a page at a time: (how many services, the page's items). Three queries
    whatever the number of services on the page or of their answers."""
    total = db.session.scalar(select(func.count(Service.id)))
    rows = db.session.execute(
        select(Service.id, Service.slug, Service.name, Organisation.slug)
        .join(Organisation, Organisation.id == Service.organisation_id)
        .order_by(Service.slug).limit(per_page).offset((page - 1) * per_page)).all()
    barometers = service_barometers([row[0] for row in rows], now)
    return total, [{"slug": slug, "name": name, "organisation_slug": organisation_slug,
                    "barometer": barometer_json(barometers[sid], scope_json(SERVICE, slug, name))}
                   for sid, slug, name, organisation_slug in rows]


# --- figures published elsewhere -------------------------------------------------------------------------------

def published_json(figures: Iterable[PublishedFigure]) -> list[dict]:
    """Figures published elsewhere, as published (their value, unit and period), with their source."""
    return [{"indicator": f.indicator, "value": f.value, "unit": f.unit, "count": f.count, "period": f.period,
             "published_on": f.published_on.isoformat() if f.published_on else None, "source": f.source}
            for f in figures]


def label_text(figure: Figure) -> str | None:
    """The level's label in French, as the observatory writes it (the open data's language)."""
    return figure.level.label if figure.level is not None else None
