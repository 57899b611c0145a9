"""Server-rendered SVG charts: readable without JavaScript, described for screen readers, styled by classes.

A chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>`` (the figures in
words), with a data table beside it on every page that shows one. No ``style`` attribute and no script: the
strict CSP needs no exception, and colours and sizes live in ``app/static/css/atelier.css`` (``.chart*``),
including the print rules. Geometry is in SVG user units (``viewBox``), so the chart scales with its box.
"""

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 230  # left column for the bar labels
VALUE_GAP = 8
BAR_HEIGHT = 26
ROW_GAP = 12
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str = ""  # the value as shown at the end of the bar (defaults to the number)
    tone: str = ""  # extra class, e.g. "chart-bar-warn"


def _number(value: float) -> str:
    return f"{value:g}"


def bar_chart(bars: list[Bar], *, chart_id: str, title: str, desc: str) -> Markup:
    """A horizontal bar chart, one row per bar, bars scaled to the largest value (an all-zero chart shows
    empty rows rather than dividing by zero)."""
    biggest = max((bar.value for bar in bars), default=0) or 1
    track = WIDTH - LABEL_WIDTH - 70  # room for the value after the longest bar
    height = TOP * 2 + len(bars) * (BAR_HEIGHT + ROW_GAP)
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" focusable="false" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(desc)}</desc>',
    ]
    for row, bar in enumerate(bars):
        y = TOP + row * (BAR_HEIGHT + ROW_GAP)
        length = round(track * max(bar.value, 0) / biggest, 1)
        middle = y + BAR_HEIGHT / 2
        tone = f" {escape(bar.tone)}" if bar.tone else ""
        parts.append(f'<g class="chart-row">'
                     f'<text class="chart-label" x="{LABEL_WIDTH - VALUE_GAP}" y="{middle}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(bar.label)}</text>'
                     f'<rect class="chart-track" x="{LABEL_WIDTH}" y="{y}" width="{track}" height="{BAR_HEIGHT}"/>'
                     f'<rect class="chart-bar{tone}" x="{LABEL_WIDTH}" y="{y}" width="{length}" '
                     f'height="{BAR_HEIGHT}"/>'
                     f'<text class="chart-value" x="{LABEL_WIDTH + length + VALUE_GAP}" y="{middle}" '
                     f'dominant-baseline="middle">{escape(bar.text or _number(bar.value))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and attribute value escaped above)
