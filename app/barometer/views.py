"""What the barometer's pages show of a figure, in the reader's language: a value (« 8,7 / 10 », « 72,4 % »), an
interval (« de 8,5 à 8,9 »), a month (« janvier 2026 »), and the method page's table of the indicators.

Values are JDMA's (``stats``); they are shown on the observatory's scale (``indicators.observatory_scale``): a note out
of 10 for the means, a percentage for the two shares. Registered as Jinja filters for every template (``_effect.html``
and ``_published.html`` may use them too).
"""

from dataclasses import dataclass
from datetime import date

from flask_babel import format_date, format_decimal, format_percent, get_locale, gettext

from ..feedback.questionnaire import get_questionnaire, translated
from . import bp
from . import indicators as observatory
from .stats import MEAN, indicators


def is_percent(slug: str) -> bool:
    return slug in observatory.PERCENT


def scaled(slug: str, value: float) -> float:
    """A JDMA value on the scale the pages draw: 0–10, or 0–100 (%)."""
    return observatory.observatory_scale(slug, value)


def _percent(percent: float, digits: str) -> str:
    """A percentage with the locale's sign and spacing (« 72,4 % », "72.4%") and the given decimals."""
    return format_percent(percent / 100, get_locale().percent_formats[None].pattern.replace("#,##0", digits, 1))


def number(slug: str, value: float) -> str:
    """The value alone, one decimal: « 8,7 », or « 72,4 % »."""
    if is_percent(slug):
        return _percent(scaled(slug, value), "#,##0.0")
    return format_decimal(scaled(slug, value), "#,##0.0")


@bp.app_template_filter("barometer_value")
def value_text(value: float | None, slug: str) -> str:
    """« 8,7 / 10 » or « 72,4 % » (« – » without a value)."""
    if value is None:
        return "–"
    return number(slug, value) if is_percent(slug) else gettext("%(value)s / 10", value=number(slug, value))


@bp.app_template_filter("barometer_interval")
def interval_text(interval, slug: str) -> str:
    """« de 8,5 à 8,9 » (« – » without an interval)."""
    if interval is None:
        return "–"
    return gettext("de %(low)s à %(high)s", low=number(slug, interval.low), high=number(slug, interval.high))


@bp.app_template_filter("barometer_count")
def count_text(count: int) -> str:
    """A number of answers with the locale's grouping (« 56 000 », "56,000")."""
    return format_decimal(count, "#,##0")


@bp.app_template_filter("barometer_month")
def month_text(month: date) -> str:
    """« janvier 2026 »."""
    return format_date(month, "MMMM y")


def threshold_text(slug: str, threshold: float) -> str:
    """An observatory threshold (on its own scale): « 8 », « 85 % »."""
    return _percent(threshold, "#,##0.#") if is_percent(slug) else format_decimal(threshold, "#,##0.#")


@dataclass(frozen=True)
class MethodRow:
    slug: str
    name: str
    question: str
    scale: str
    levels: str


def _option_label(field_code: str, item: int) -> str:
    option = get_questionnaire().field(field_code).option(item)
    return translated(option.label)


def _levels_text(slug: str) -> str:
    target = observatory.OBSERVATORY.get(slug)
    levels = observatory.observatory()[target].levels if target else ()
    if not levels:
        return gettext("L'observatoire ne fixe pas de niveau pour cet indicateur.")
    parts = []
    for position, level in enumerate(levels):
        low = threshold_text(slug, level.threshold)
        if position == 0:
            parts.append(gettext("%(level)s : %(low)s et plus", level=level.name, low=low))
        elif level.threshold == 0:
            parts.append(gettext("%(level)s : moins de %(high)s", level=level.name,
                                 high=threshold_text(slug, levels[position - 1].threshold)))
        else:
            parts.append(gettext("%(level)s : de %(low)s à %(high)s (exclu)", level=level.name, low=low,
                                 high=threshold_text(slug, levels[position - 1].threshold)))
    return " ; ".join(parts)


def method_rows() -> list[MethodRow]:
    """Each indicator: what it asks, how its answers count (from the questionnaire's scores) and the observatory's
    levels, for the method page."""
    rows = []
    for ind in indicators():
        if ind.kind == MEAN:
            scores = " ; ".join(f"{_option_label(field, item)} = {format_decimal(score, '#,##0.#')}"
                                for (field, item), score in ind.scores)
            scale = gettext("Moyenne des notes sur 10 de chaque réponse (%(scores)s).", scores=scores)
        else:
            succeeding = ", ".join(_option_label(field, item) for (field, item), _score in ind.scores)
            scale = gettext("Part des réponses « %(options)s », en pourcentage.", options=succeeding)
        rows.append(MethodRow(ind.slug, str(observatory.NAMES[ind.slug]), str(observatory.QUESTIONS[ind.slug]), scale,
                              _levels_text(ind.slug)))
    return rows
