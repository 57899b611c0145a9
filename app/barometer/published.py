"""Figures published elsewhere (imported by editors, ``importing``), as a service's page shows them: the latest of
each kind of period, grouped by period, each value in its unit. They are never mixed with Atelier's own figures.

A period names its kind and the date it was read (« last 3 months, scanned 2026-07-24 »): the kind is the text
before « , scanned », and a service shows, for each kind, the figures of its latest date only.
"""

from dataclasses import dataclass, field
from datetime import date

from flask_babel import format_decimal, format_number, format_percent, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..clock import iso
from ..extensions import db
from . import bp
from .importing import COUNTED, INDICATORS, period_kind
from .indicators import NAMES
from .models import PublishedFigure
from .views import value_text

# How the periods the observatory publishes are named on the pages (any other kind is shown as published).
PERIOD_NAMES = {
    "edition window": _l("Période de l'édition de l'observatoire"),
    "last 3 months": _l("3 derniers mois"),
    "last 3 months (updown.io)": _l("3 derniers mois (mesures updown.io)"),
}
OTHER_NAMES = {
    "uptime": _l("Disponibilité"),
    "apdex": _l("Indice de performance Apdex"),
    "response_time_total": _l("Temps de réponse"),
}
INDICATOR_ORDER = {slug: position for position, slug in enumerate(INDICATORS)}
PERIOD_ORDER = {kind: position for position, kind in enumerate(PERIOD_NAMES)}


def _display_order(figure: PublishedFigure) -> tuple:
    kind = period_kind(figure.period)
    return (PERIOD_ORDER.get(kind, len(PERIOD_ORDER)), kind, INDICATOR_ORDER.get(figure.indicator, len(INDICATORS)),
            figure.indicator)


def latest_published(service_id: int) -> list[PublishedFigure]:
    """For each kind of period, the service's figures of its latest published date (a period without a date counts
    as older than any dated one), ordered for display: by period, then indicator."""
    figures = db.session.scalars(select(PublishedFigure).where(PublishedFigure.service_id == service_id)).all()
    latest: dict[str, tuple] = {}
    for figure in figures:
        kind, when = period_kind(figure.period), (figure.published_on or date.min, figure.period)
        latest[kind] = max(latest.get(kind, when), when)
    return sorted((f for f in figures if (f.published_on or date.min, f.period) == latest[period_kind(f.period)]),
                  key=_display_order)


@dataclass
class PublishedPeriod:
    """One table of the partial: the figures of one period, with their date and sources."""

    period: str
    name: str
    published_on: date | None
    figures: list[PublishedFigure] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(f.source for f in self.figures))


@bp.app_template_filter("published_periods")
def published_periods(figures: list[PublishedFigure]) -> list[PublishedPeriod]:
    """The figures (as ``latest_published`` orders them) grouped by period."""
    periods: dict[str, PublishedPeriod] = {}
    for figure in figures:
        if figure.period not in periods:
            kind = period_kind(figure.period)
            periods[figure.period] = PublishedPeriod(figure.period, str(PERIOD_NAMES.get(kind, kind)),
                                                     figure.published_on)
        periods[figure.period].figures.append(figure)
    return list(periods.values())


@bp.app_template_filter("published_name")
def indicator_name(slug: str) -> str:
    return str(NAMES.get(slug) or OTHER_NAMES.get(slug) or slug)


def _percent(value: float, digits: str) -> str:
    pattern = get_locale().percent_formats[None].pattern.replace("#,##0", digits, 1)
    return format_percent(value / 100, pattern)


@bp.app_template_filter("published_value")
def published_value(figure: PublishedFigure) -> str:
    """The value in its unit: the six JDMA indicators as Atelier shows its own (« 8,8 / 10 », « 72,0 % »), the
    availability as a percentage (« 99,98 % »), the Apdex index (« 0,998 ») and the response time (« 528 ms »)."""
    if figure.indicator in COUNTED:
        return value_text(figure.value, figure.indicator)
    if figure.indicator == "uptime":
        return _percent(figure.value, "#,##0.0##")
    if figure.indicator == "response_time_total":
        return f"{format_number(round(figure.value))}\u00a0ms"  # a no-break space, as both languages write it
    return format_decimal(figure.value, "#,##0.0##")


def personal_data(user) -> dict:
    """« Mes données »: the published figures this editor imported (the figures are public; who imported them is
    theirs)."""
    rows = db.session.scalars(select(PublishedFigure).where(PublishedFigure.imported_by_id == user.id)
                              .order_by(PublishedFigure.id))
    return {"figures_imported": [{"service": f.service.name, "period": f.period, "indicator": f.indicator,
                                  "value": f.value, "imported_at": iso(f.imported_at)} for f in rows]}
