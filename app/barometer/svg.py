"""The barometer's trend as a server-rendered SVG line chart: no script, no third party, readable without the picture.

One point per month whose figure is shown (the same minimum of answers as the year's figure: a month with fewer is not
drawn, and the line breaks there), the 95 % interval as a band around the line, the observatory's thresholds as dashed
lines named by their level. The chart is an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (the text summary, also printed under it); the page gives the data table after it. Colours are presentation
attributes (the strict CSP refuses ``style`` attributes), dark enough on white, and never the only carrier of meaning:
the thresholds are labelled in words, the line is solid and marked by points, the band is described in the legend.
Sizes are SVG user units (``viewBox``): the ``chart`` class (app/static/css/atelier.css) scales it to its box.
"""

from dataclasses import dataclass

from flask_babel import format_date, gettext
from markupsafe import Markup, escape

from . import indicators as observatory
from .service import TrendPoint
from .views import count_text, is_percent, month_text, scaled, threshold_text, value_text

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 132, 20, 56  # margins: y labels, threshold labels, -, month labels
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
INK = "#161616"  # text (18:1 on white)
LINE = "#000091"  # the value: line and points (15:1)
GRID = "#d8d6cf"
AXIS = "#595959"  # axis and month ticks (7:1)
THRESHOLD = "#3a3a3a"  # dashed threshold lines (11:1)
BAND_OPACITY = "0.18"
SINGLE_BAND = 5  # half width of the band of a month drawn alone (no neighbour to join)


@dataclass(frozen=True)
class TrendChart:
    slug: str
    points: list[TrendPoint]
    summary: str  # the trend in one or two sentences: the chart's <desc>, printed under it
    svg: Markup | None  # None when no month has enough answers: there is nothing to draw

    @property
    def shown(self) -> int:
        return sum(1 for p in self.points if p.figure.shown)

    @property
    def has_thresholds(self) -> bool:
        return bool(threshold_levels(self.slug))


def threshold_levels(slug: str) -> list:
    """The observatory's levels of ``slug`` that start above 0: one dashed line each (none for an indicator the
    observatory gives no level)."""
    target = observatory.OBSERVATORY.get(slug)
    return [lv for lv in observatory.observatory()[target].levels if lv.threshold > 0] if target else []


def summary(slug: str, points: list[TrendPoint], minimum: int) -> str:
    """« Satisfaction sur 24 mois : de 7,9 / 10 (janvier 2025) à 8,4 / 10 (décembre 2026) ; 14 mois sur 24 comptent au
    moins 100 avis. », or what is missing."""
    shown = [p for p in points if p.figure.shown]
    name = str(observatory.NAMES[slug])
    months, minimum = len(points), count_text(minimum)
    if not shown:
        return gettext("Pas assez d'avis pour tracer une tendance : aucun mois ne compte au moins %(minimum)s avis.",
                       minimum=minimum)
    first, last = shown[0], shown[-1]
    if len(shown) == 1:
        return gettext("%(indicator)s : un seul des %(months)s mois compte au moins %(minimum)s avis, %(month)s, "
                       "avec %(value)s.", indicator=name, months=months, minimum=minimum,
                       month=month_text(first.month), value=value_text(first.figure.value, slug))
    return gettext("%(indicator)s sur %(months)s mois : de %(first)s (%(first_month)s) à %(last)s (%(last_month)s) ; "
                   "%(shown)s mois sur %(months)s comptent au moins %(minimum)s avis.", indicator=name,
                   months=months, first=value_text(first.figure.value, slug), first_month=month_text(first.month),
                   last=value_text(last.figure.value, slug), last_month=month_text(last.month), shown=len(shown),
                   minimum=minimum)


def _n(value: float) -> str:
    return f"{value:.1f}"


def _runs(points: list[TrendPoint]) -> list[list[int]]:
    """The indexes of the shown months, in runs of consecutive months (the line breaks between runs)."""
    runs: list[list[int]] = []
    for index, point in enumerate(points):
        if not point.figure.shown:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def line_chart(slug: str, points: list[TrendPoint], *, chart_id: str, title: str, desc: str) -> Markup:
    """The SVG of ``points`` (one per month, oldest first) for the indicator ``slug``."""
    top = 100.0 if is_percent(slug) else 10.0
    count = len(points)

    def x(index: int) -> float:
        return LEFT + (PLOT_WIDTH * index / (count - 1) if count > 1 else PLOT_WIDTH / 2)

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - min(max(value, 0.0), top) / top)

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="chart barometer-chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" focusable="false" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(desc)}</desc>',
    ]
    # The value axis: a line and a label every fifth of the scale.
    parts.append('<g class="chart-grid">')
    for step in range(6):
        tick = top * step / 5
        label = threshold_text(slug, tick)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{_n(y(tick))}" y2="{_n(y(tick))}" '
                     f'stroke="{GRID}" stroke-width="1"/>'
                     f'<text x="{LEFT - 8}" y="{_n(y(tick))}" text-anchor="end" dominant-baseline="middle" '
                     f'fill="{INK}" font-size="14">{escape(label)}</text>')
    parts.append("</g>")
    # The month axis: a tick per month, a label (month, year below) every third month ending with the last one.
    bottom = TOP + PLOT_HEIGHT
    parts.append(f'<g class="chart-months"><line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{bottom}" y2="{bottom}" '
                 f'stroke="{AXIS}" stroke-width="1"/>')
    for index, point in enumerate(points):
        parts.append(f'<line x1="{_n(x(index))}" x2="{_n(x(index))}" y1="{bottom}" y2="{bottom + 5}" '
                     f'stroke="{AXIS}" stroke-width="1"/>')
        if (count - 1 - index) % 3 == 0:
            parts.append(f'<text x="{_n(x(index))}" y="{bottom + 22}" text-anchor="middle" fill="{INK}" '
                         f'font-size="14">{escape(format_date(point.month, "MMM"))}'
                         f'<tspan x="{_n(x(index))}" dy="17">{escape(format_date(point.month, "y"))}</tspan></text>')
    parts.append("</g>")
    # The observatory's thresholds: dashed, each named by the level it opens (« Très bien ≥ 8 »).
    levels = threshold_levels(slug)
    if levels:
        parts.append('<g class="chart-thresholds">')
        for level in levels:
            at = _n(y(level.threshold))
            label = gettext("%(level)s ≥ %(threshold)s", level=level.name,
                            threshold=threshold_text(slug, level.threshold))
            parts.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{at}" y2="{at}" stroke="{THRESHOLD}" '
                         f'stroke-width="1.5" stroke-dasharray="6 4"/>'
                         f'<text x="{LEFT + PLOT_WIDTH + 6}" y="{at}" dominant-baseline="middle" fill="{INK}" '
                         f'font-size="14">{escape(label)}</text>')
        parts.append("</g>")
    runs = _runs(points)
    # The 95 % interval: a band over each run of months (a lone month: a narrow bar).
    parts.append('<g class="chart-band">')
    for run in runs:
        if len(run) == 1:
            i = run[0]
            high, low = (y(scaled(slug, bound)) for bound in (points[i].figure.interval.high,
                                                               points[i].figure.interval.low))
            corners = [(x(i) - SINGLE_BAND, high), (x(i) + SINGLE_BAND, high), (x(i) + SINGLE_BAND, low),
                       (x(i) - SINGLE_BAND, low)]
        else:
            corners = [(x(i), y(scaled(slug, points[i].figure.interval.high))) for i in run] + \
                [(x(i), y(scaled(slug, points[i].figure.interval.low))) for i in reversed(run)]
        polygon = " ".join(f"{_n(px)},{_n(py)}" for px, py in corners)
        parts.append(f'<polygon points="{polygon}" fill="{LINE}" fill-opacity="{BAND_OPACITY}"/>')
    parts.append("</g>")
    # The value: a line over each run, a point on each month shown.
    parts.append('<g class="chart-line">')
    for run in runs:
        if len(run) > 1:
            line = " ".join(f"{_n(x(i))},{_n(y(scaled(slug, points[i].figure.value)))}" for i in run)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{LINE}" stroke-width="2.5" '
                         f'stroke-linejoin="round"/>')
    for run in runs:
        for i in run:
            parts.append(f'<circle cx="{_n(x(i))}" cy="{_n(y(scaled(slug, points[i].figure.value)))}" r="4.5" '
                         f'fill="{LINE}" stroke="#ffffff" stroke-width="1.5"/>')
    parts.append("</g></svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and attribute value escaped above)


def trend_chart(slug: str, points: list[TrendPoint], minimum: int, *,
                chart_id: str = "tendance-graphique") -> TrendChart:
    """The chart, its summary and its points for a page (no picture when no month has enough answers)."""
    text = summary(slug, points, minimum)
    if not any(p.figure.shown for p in points):
        return TrendChart(slug, points, text, None)
    title = gettext("%(indicator)s, mois par mois sur %(months)s mois", indicator=str(observatory.NAMES[slug]),
                    months=len(points))
    return TrendChart(slug, points, text, line_chart(slug, points, chart_id=chart_id, title=title, desc=text))
