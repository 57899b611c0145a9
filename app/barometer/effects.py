"""The before/after of implemented measures, shown on a measure's page (``measure_effect``: the answers of every
service it changes, pooled) and on each service's barometer (``service_effects``: that service's answers alone).

They are Jinja globals registered by the barometer's blueprint: the decisions area's templates call them (when
they are defined) without decisions importing the barometer. ``effect_period`` and ``effect_rows`` put an effect
into words for ``templates/barometer/_effect.html``.
"""

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from ..decisions.models import Measure, MeasureService, MeasureStatus
from ..extensions import db
from . import bp
from .indicators import NAMES, PERCENT, observatory_scale
from .queries import MEASURE, SERVICE, Scope
from .service import Effect, effect
from .stats import Difference, Estimate
from .views import count_text, value_text

VOWELS = frozenset("aeiouyàâéèêîôûAEIOUYÀÂÉÈÊÎÔÛ")


@bp.app_template_global()
def measure_effect(measure, now: datetime | None = None) -> Effect | None:
    """The before/after of ``measure`` over the services it changes; None without an implementation date or
    without a service."""
    if measure.implemented_on is None or not measure.services:
        return None
    return effect(Scope(MEASURE, measure.id), measure.implemented_on, now)


@bp.app_template_global()
def service_effects(service, now: datetime | None = None) -> list[tuple[Measure, Effect]]:
    """(measure, its before/after on ``service`` alone) for each implemented measure that changes the service, the
    latest first: one query for the measures (their lists left unloaded: the page names and links them), two per
    measure for its windows' counts."""
    found = db.session.scalars(
        select(Measure).options(lazyload(Measure.services), lazyload(Measure.proposals),
                                lazyload(Measure.milestones), lazyload(Measure.updates))
        .join(MeasureService, MeasureService.measure_id == Measure.id)
        .where(MeasureService.service_id == service.id, Measure.status == MeasureStatus.implemented,
               Measure.implemented_on.is_not(None))
        .order_by(Measure.implemented_on.desc(), Measure.id.desc()))
    return [(measure, effect(Scope(SERVICE, service.id), measure.implemented_on, now)) for measure in found]


# --- words -----------------------------------------------------------------------------------------------------------

@bp.app_template_global()
def effect_period(first: date, last: date) -> str:
    """« de janvier à juin 2026 », « d'août 2026 à janvier 2027 »: the months ``first`` to ``last``."""
    if first.year == last.year:
        start, end = format_date(first, "LLLL"), format_date(last, "MMMM y")
    else:
        start, end = format_date(first, "MMMM y"), format_date(last, "MMMM y")
    if start[:1] in VOWELS:  # « d'avril », « d'août », « d'octobre »
        return _("d'%(first)s à %(last)s", first=start, last=end)
    return _("de %(first)s à %(last)s", first=start, last=end)


def _one_decimal(value: float, signed: bool = False) -> str:
    value = round(value, 1) + 0.0  # + 0.0: no « -0,0 »
    if signed and value:
        return format_decimal(value, "+#,##0.0;-#,##0.0")
    return format_decimal(value, "#,##0.0")


@dataclass(frozen=True)
class EffectRow:
    """An indicator of a before/after, in words."""

    slug: str
    name: str
    before: str  # the value as the barometer's pages show it (views.value_text), or « Moins de 100 avis »
    before_count: str
    after: str
    after_count: str
    difference: str | None  # « +0,6 (de +0,2 à +1,0) »; None: not enough answers
    significant: bool


def _side(estimate: Estimate, minimum: int) -> str:
    if estimate.value is None or estimate.count < minimum:
        return _("Moins de %(minimum)s avis", minimum=count_text(minimum))
    return value_text(estimate.value, estimate.slug)


def _difference(slug: str, difference: Difference) -> str | None:
    if not difference.enough:
        return None
    value, interval = difference.value, difference.interval
    words = {"value": _one_decimal(observatory_scale(slug, value), signed=True),
             "low": _one_decimal(observatory_scale(slug, interval.low), signed=True),
             "high": _one_decimal(observatory_scale(slug, interval.high), signed=True)}
    if slug in PERCENT:  # a difference of percentages is in percentage points
        return _("%(value)s points (de %(low)s à %(high)s)", **words)
    return _("%(value)s (de %(low)s à %(high)s)", **words)


@bp.app_template_global()
def effect_rows(result: Effect) -> list[EffectRow]:
    """The six indicators of a before/after, in the observatory's order, as the table shows them."""
    rows = []
    for slug, difference in result.differences.items():
        rows.append(EffectRow(slug, str(NAMES[slug]), _side(difference.before, difference.minimum),
                              count_text(difference.before.count), _side(difference.after, difference.minimum),
                              count_text(difference.after.count), _difference(slug, difference),
                              difference.significant))
    return rows
