"""What the barometer reads: the monthly counts of a scope (a service, an organisation's services, a life event's
services, or every service) summed over a range of months, in one query whatever the number of answers.

Each read is kept ``BAROMETER_CACHE_SECONDS`` (60 by default; 0 turns it off) by the process that made it: a
national figure sums every service's months, and a figure over twelve months moves little in a minute. An answer
shows in the barometer within that time; the monthly counts themselves are written at once, with the answer."""

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from ..catalog.models import Service, life_event_services
from ..decisions.models import MeasureService
from ..extensions import db
from ..feedback.models import FeedbackMonthlyCount

SERVICE, ORGANISATION, LIFE_EVENT, MEASURE, NATIONAL = "service", "organisation", "life_event", "measure", "national"
KINDS = (SERVICE, ORGANISATION, LIFE_EVENT, MEASURE, NATIONAL)


@dataclass(frozen=True)
class Scope:
    """Whose answers a figure pools: one service, the services of an organisation, of a life event or that a
    measure changes, or all."""

    kind: str
    id: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS or (self.kind == NATIONAL) != (self.id is None):
            raise ValueError(f"not a scope: {self.kind} {self.id}")

    def conditions(self) -> list:
        column = FeedbackMonthlyCount.service_id
        if self.kind == SERVICE:
            return [column == self.id]
        if self.kind == ORGANISATION:
            return [column.in_(select(Service.id).where(Service.organisation_id == self.id))]
        if self.kind == LIFE_EVENT:
            return [column.in_(select(life_event_services.c.service_id)
                               .where(life_event_services.c.life_event_id == self.id))]
        if self.kind == MEASURE:
            return [column.in_(select(MeasureService.service_id).where(MeasureService.measure_id == self.id))]
        return []


NATIONAL_SCOPE = Scope(NATIONAL)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


_CACHE: dict = {}
_CACHE_SIZE = 2048


def _kept(key: tuple, read):
    """``read()``, or what it gave less than ``BAROMETER_CACHE_SECONDS`` ago in this process (per database)."""
    seconds = current_app.config["BAROMETER_CACHE_SECONDS"]
    if seconds <= 0:
        return read()
    key = (current_app.config["SQLALCHEMY_DATABASE_URI"], *key)
    now = time.monotonic()
    kept = _CACHE.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    value = read()
    if len(_CACHE) >= _CACHE_SIZE:
        for stale in [k for k, (until, _value) in _CACHE.items() if until <= now] or list(_CACHE)[:_CACHE_SIZE // 2]:
            _CACHE.pop(stale, None)
    _CACHE[key] = (now + seconds, value)
    return value


def counts(scope: Scope, first: date, last: date) -> dict[tuple[str, int], int]:
    """(field, item) -> answers of ``scope`` in the months ``first`` to ``last`` (first days, both included)."""
    return _kept(("counts", scope, first, last), lambda: _counts(scope, first, last))


def _counts(scope: Scope, first: date, last: date) -> dict[tuple[str, int], int]:
    rows = db.session.execute(
        select(FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id,
               func.sum(FeedbackMonthlyCount.count))
        .where(*scope.conditions(), FeedbackMonthlyCount.month.between(first, last))
        .group_by(FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id))
    return {(field, item): int(total) for field, item, total in rows if total}


def monthly_counts(scope: Scope, first: date, last: date) -> dict[date, dict[tuple[str, int], int]]:
    """month -> (field, item) -> answers, for each month of ``first`` to ``last`` that has answers."""
    return _kept(("monthly", scope, first, last), lambda: _monthly_counts(scope, first, last))


def _monthly_counts(scope: Scope, first: date, last: date) -> dict[date, dict[tuple[str, int], int]]:
    rows = db.session.execute(
        select(FeedbackMonthlyCount.month, FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id,
               func.sum(FeedbackMonthlyCount.count))
        .where(*scope.conditions(), FeedbackMonthlyCount.month.between(first, last))
        .group_by(FeedbackMonthlyCount.month, FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id))
    out: dict = defaultdict(dict)
    for month, field, item, total in rows:
        if total:
            out[month][(field, item)] = int(total)
    return dict(out)


def counts_by_service(service_ids, first: date, last: date) -> dict[int, dict[tuple[str, int], int]]:
    """service -> (field, item) -> answers in the months ``first`` to ``last``, for each of ``service_ids`` (every
    service when None) that has answers: one grouped query however many services and answers (a page of services,
    or the pooled scopes of the open data, summed from it)."""
    if service_ids is not None and not service_ids:
        return {}
    ids = None if service_ids is None else tuple(sorted(service_ids))
    return _kept(("by_service", ids, first, last), lambda: _counts_by_service(ids, first, last))


def _counts_by_service(service_ids, first: date, last: date) -> dict[int, dict[tuple[str, int], int]]:
    scope = [FeedbackMonthlyCount.service_id.in_(list(service_ids))] if service_ids is not None else []
    rows = db.session.execute(
        select(FeedbackMonthlyCount.service_id, FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id,
               func.sum(FeedbackMonthlyCount.count))
        .where(*scope, FeedbackMonthlyCount.month.between(first, last))
        .group_by(FeedbackMonthlyCount.service_id, FeedbackMonthlyCount.field_code,
                  FeedbackMonthlyCount.answer_item_id))
    out: dict = defaultdict(dict)
    for service_id, field, item, total in rows:
        if total:
            out[service_id][(field, item)] = int(total)
    return dict(out)
