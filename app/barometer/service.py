"""The barometer's figures: a scope's six indicators over 12 rolling months with their intervals and the
observatory's levels, their 24-month trend, and the before/after around a measure's implementation.

Windows are whole months of the monthly counts. The rolling year is the current month and the eleven before it; a
trend point is one month. Around a date, « before » is the six months before its month and « after » the six months
after it: the month itself, half before and half after, is left out.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app

from ..clock import utcnow
from ..feedback.tally import month_of
from . import indicators as observatory
from .queries import Scope, add_months, counts, counts_by_service, monthly_counts
from .stats import Difference, Estimate, differences, estimate, estimates, indicator, indicators

WINDOW_MONTHS = 12
TREND_MONTHS = 24
EFFECT_MONTHS = 6


def minimum_answers() -> int:
    """The answers an indicator needs before its figure is shown (``BAROMETER_MIN_ANSWERS``, 100 as the
    observatory)."""
    return current_app.config["BAROMETER_MIN_ANSWERS"]


@dataclass(frozen=True)
class Figure:
    """An indicator of a scope as the barometer shows it."""

    estimate: Estimate
    minimum: int

    @property
    def slug(self) -> str:
        return self.estimate.slug

    @property
    def count(self) -> int:
        return self.estimate.count

    @property
    def shown(self) -> bool:
        return self.estimate.value is not None and self.count >= self.minimum

    @property
    def value(self) -> float | None:
        return self.estimate.value if self.shown else None

    @property
    def interval(self):
        return self.estimate.interval if self.shown else None

    @property
    def level(self) -> observatory.Level | None:
        return observatory.level_of(self.slug, self.value) if self.shown else None

    @property
    def uncertain(self) -> bool:
        """Whether the interval reaches another level than the value's."""
        return self.shown and self.level is not None and observatory.is_uncertain(
            self.slug, self.interval.low, self.interval.high)


@dataclass(frozen=True)
class Barometer:
    scope: Scope
    first: date  # first month of the window
    last: date  # its last month (the current one)
    figures: dict[str, Figure]

    @property
    def responses(self) -> int:
        """The responses of the window (every response answers the satisfaction question)."""
        return self.figures["satisfaction"].count


def window(now: datetime | None = None, months: int = WINDOW_MONTHS) -> tuple[date, date]:
    last = month_of(now or utcnow())
    return add_months(last, -(months - 1)), last


def barometer_from_counts(scope: Scope, first: date, last: date, window_counts: Mapping,
                          minimum: int | None = None) -> Barometer:
    """The barometer of ``scope`` from its counts over ``first``–``last`` already read (one read serving many
    scopes: a page of services, the open data's every scope)."""
    minimum = minimum_answers() if minimum is None else minimum
    return Barometer(scope, first, last, {slug: Figure(e, minimum) for slug, e in estimates(window_counts).items()})


def barometer(scope: Scope, now: datetime | None = None) -> Barometer:
    first, last = window(now)
    return barometer_from_counts(scope, first, last, counts(scope, first, last))


@dataclass(frozen=True)
class TrendPoint:
    month: date
    figure: Figure


def trend(scope: Scope, now: datetime | None = None, months: int = TREND_MONTHS,
          slugs: tuple[str, ...] | None = None) -> dict[str, list[TrendPoint]]:
    """indicator -> one point per month of the last ``months`` (each month's own answers), oldest first. A month's
    figure is shown from the same minimum as the year's (``Figure.shown``). ``slugs``: only these indicators (a
    page draws one; each estimate's interval has a cost)."""
    first, last = window(now, months)
    return _trend(first, months, monthly_counts(scope, first, last), slugs)


def _trend(first: date, months: int, by_month: dict, slugs: tuple[str, ...] | None) -> dict[str, list[TrendPoint]]:
    minimum = minimum_answers()
    chosen = [ind for ind in indicators() if slugs is None or ind.slug in slugs]
    out: dict[str, list[TrendPoint]] = {}
    for offset in range(months):
        month = add_months(first, offset)
        month_counts = by_month.get(month, {})
        for ind in chosen:
            out.setdefault(ind.slug, []).append(TrendPoint(month, Figure(estimate(ind, month_counts), minimum)))
    return out


def barometer_and_trend(scope: Scope, slugs: tuple[str, ...] | None = None, now: datetime | None = None,
                        months: int = TREND_MONTHS) -> tuple[Barometer, dict[str, list[TrendPoint]]]:
    """A scope's page: its barometer and its trend from one read of its monthly counts (the year's counts are the
    sum of its months: what ``counts`` sums in SQL, summed here from the trend's months)."""
    first, last = window(now, months)
    by_month = monthly_counts(scope, first, last)
    year_first, year_last = window(now)
    year: dict = {}
    for month, cells in by_month.items():
        if year_first <= month <= year_last:
            for cell, count in cells.items():
                year[cell] = year.get(cell, 0) + count
    return barometer_from_counts(scope, year_first, year_last, year), _trend(first, months, by_month, slugs)


def service_figures(service_ids, slug: str = "satisfaction", now: datetime | None = None) -> dict[int, Figure]:
    """One indicator of each of ``service_ids`` over the barometer's window, with its minimum (as ``barometer``
    computes it, from ``stats.estimate``): service id -> Figure. One grouped query over the monthly counts for the
    whole list, whatever the number of services and answers."""
    ind = indicator(slug)
    first, last = window(now)
    by_service = counts_by_service(service_ids, first, last)
    minimum = minimum_answers()
    return {service_id: Figure(estimate(ind, by_service.get(service_id, {})), minimum) for service_id in service_ids}


@dataclass(frozen=True)
class Effect:
    """The before/after of a date: six months on each side (the date's month left out)."""

    on: date
    before: tuple[date, date]
    after: tuple[date, date]
    complete: bool  # whether the six months after have all passed
    differences: dict[str, Difference]


def effect(scope: Scope, on: date, now: datetime | None = None, months: int = EFFECT_MONTHS) -> Effect:
    month = month_of(on)
    before = (add_months(month, -months), add_months(month, -1))
    after = (add_months(month, 1), add_months(month, months))
    current = month_of(now or utcnow())
    return Effect(on, before, after, current > after[1],
                  differences(counts(scope, *before), counts(scope, *after), minimum_answers()))
