"""The trend's SVG chart (app/barometer/svg.py): well-formed, named and described, one point per month shown, the line
and the band broken where a month has too few answers, the observatory's thresholds dashed and named, values placed
on the indicator's scale, no style attribute; and its text summary."""

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from flask_babel import force_locale

from app.barometer import svg
from app.barometer.queries import add_months
from app.barometer.service import Figure, TrendPoint
from app.barometer.stats import estimate, indicator
from app.feedback.tally import RESPONDENTS

NS = {"svg": "http://www.w3.org/2000/svg"}
MINIMUM = 20
FIRST = date(2025, 1, 1)


def point(slug: str, offset: int, counts: dict) -> TrendPoint:
    return TrendPoint(add_months(FIRST, offset), Figure(estimate(indicator(slug), counts), MINIMUM))


def satisfaction(bad=0, medium=0, good=0) -> dict:
    return {("satisfaction", 1): bad, ("satisfaction", 2): medium, ("satisfaction", 3): good}


def autonomy(autonomous=0, helped=0) -> dict:
    return {("contact_tried", 17): autonomous, ("contact_tried", 9): helped,
            ("contact_tried", RESPONDENTS): autonomous + helped}


def satisfaction_points(shown: set[int]) -> list[TrendPoint]:
    """24 months of satisfaction: 40 answers (8,5) in the months of ``shown``, 5 in the others."""
    return [point("satisfaction", m, satisfaction(bad=2, medium=8, good=30) if m in shown else satisfaction(good=5))
            for m in range(24)]


@pytest.fixture
def fr(app):
    with app.test_request_context(), force_locale("fr"):
        yield


def parse(chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))  # noqa: S314 (our own chart, in a test): well-formed XML, or this raises


def test_the_chart_is_well_formed_named_described_and_has_a_point_per_month_shown(fr):
    shown = {0, 1, 2, 3, 4, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}
    chart = svg.trend_chart("satisfaction", satisfaction_points(shown), MINIMUM)
    root = parse(chart)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "tendance-graphique-title tendance-graphique-desc"
    assert root.find("svg:title", NS).text == "Satisfaction, mois par mois sur 24 mois"
    assert root.find("svg:desc", NS).text == chart.summary
    assert len(root.findall(".//svg:circle", NS)) == len(shown) == chart.shown
    # Three runs of months (0–4, 7, 10–23): the line breaks at each gap (a lone month has a point and a band but no
    # line), and so does the band.
    assert len(root.findall(".//svg:polyline", NS)) == 2
    assert len(root.findall(".//svg:polygon", NS)) == 3
    assert "style=" not in str(chart.svg) and "<script" not in str(chart.svg)


def test_points_sit_on_the_scale_and_the_band_spans_the_interval(fr):
    points = satisfaction_points({23})
    chart = svg.trend_chart("satisfaction", points, MINIMUM)
    root = parse(chart)
    (circle,) = root.findall(".//svg:circle", NS)
    # 8,5 on a 0–10 scale: 15 % of the plot's height below its top; the last month at the right end of the plot.
    assert float(circle.get("cy")) == pytest.approx(svg.TOP + svg.PLOT_HEIGHT * 0.15, abs=0.06)
    assert float(circle.get("cx")) == pytest.approx(svg.LEFT + svg.PLOT_WIDTH, abs=0.06)
    interval = points[23].figure.interval
    (band,) = root.findall(".//svg:polygon", NS)
    ys = sorted({float(xy.split(",")[1]) for xy in band.get("points").split()})
    assert ys == pytest.approx([svg.TOP + svg.PLOT_HEIGHT * (1 - interval.high / 10),
                                svg.TOP + svg.PLOT_HEIGHT * (1 - interval.low / 10)], abs=0.06)


def test_the_thresholds_are_dashed_and_named_and_a_share_is_drawn_in_percent(fr):
    root = parse(svg.trend_chart("satisfaction", satisfaction_points({0, 1}), MINIMUM))
    dashed = [line for line in root.iter("{http://www.w3.org/2000/svg}line") if line.get("stroke-dasharray")]
    assert [float(line.get("y1")) for line in dashed] == pytest.approx(
        [svg.TOP + svg.PLOT_HEIGHT * 0.2, svg.TOP + svg.PLOT_HEIGHT * 0.5], abs=0.06)
    labels = [" ".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Très bien ≥ 8" in labels and "Insuffisant ≥ 5" in labels
    # Autonomy: a percentage (0 to 100 %) without observatory levels, so without thresholds. 30 of 40: 75 %.
    points = [point("autonomy", m, autonomy(30, 10)) for m in range(24)]
    chart = svg.trend_chart("autonomy", points, MINIMUM)
    root = parse(chart)
    labels = [" ".join(t.itertext()).replace("\u00a0", " ") for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "100 %" in labels and "0 %" in labels
    assert not [line for line in root.iter("{http://www.w3.org/2000/svg}line") if line.get("stroke-dasharray")]
    assert not chart.has_thresholds
    cy = [float(c.get("cy")) for c in root.findall(".//svg:circle", NS)]
    assert cy == pytest.approx([svg.TOP + svg.PLOT_HEIGHT * 0.25] * 24, abs=0.06)
    assert "de 75,0 % (janvier 2025) à 75,0 % (décembre 2026)" in chart.summary.replace("\u00a0", " ")


def test_the_months_are_labelled_every_third_month_ending_with_the_last(fr):
    root = parse(svg.trend_chart("satisfaction", satisfaction_points({5}), MINIMUM))
    months = [" ".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.find("svg:tspan", NS) is not None]
    assert months[0] == "mars 2025" and months[-1] == "déc. 2026" and len(months) == 8


def test_the_summary_says_the_first_and_last_months_shown_or_what_is_missing(fr):
    chart = svg.trend_chart("satisfaction", satisfaction_points({3, 4, 20}), MINIMUM)
    assert chart.summary == ("Satisfaction sur 24 mois : de 8,5 / 10 (avril 2025) à 8,5 / 10 (septembre 2026) ; "
                             "3 mois sur 24 comptent au moins 20 avis.")
    chart = svg.trend_chart("satisfaction", satisfaction_points({6}), MINIMUM)
    assert chart.summary == ("Satisfaction : un seul des 24 mois compte au moins 20 avis, juillet 2025, "
                             "avec 8,5 / 10.")
    chart = svg.trend_chart("satisfaction", satisfaction_points(set()), MINIMUM)
    assert chart.summary == "Pas assez d'avis pour tracer une tendance : aucun mois ne compte au moins 20 avis."
    assert chart.svg is None and chart.shown == 0


def test_text_is_escaped(fr):
    chart = svg.line_chart("satisfaction", satisfaction_points({1, 2}), chart_id='a"b', title="<b>Titre</b> & co",
                           desc="x < y")
    root = ET.fromstring(str(chart))  # noqa: S314 (our own chart, in a test)
    assert root.find("svg:title", NS).text == "<b>Titre</b> & co" and root.find("svg:desc", NS).text == "x < y"
    assert root.get("id") == 'a"b'


def test_the_chart_follows_the_language(app):
    with app.test_request_context(), force_locale("en"):
        chart = svg.trend_chart("satisfaction", satisfaction_points({0, 23}), MINIMUM)
        months = [" ".join(t.itertext()) for t in parse(chart).iter("{http://www.w3.org/2000/svg}text")
                  if t.find("svg:tspan", NS) is not None]
    assert months[-1] == "Dec 2026"
    assert re.search(r"8\.5 / 10 \(January 2025\).*8\.5 / 10 \(December 2026\)", chart.summary)
