"""Report pages over HTTP: the organisation's « Vous avez dit, nous avons fait », the overdue flags on the
catalogue's organisation page, the dashboard and its filter errors, the print stylesheet, query counts."""

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.proposals.models import Proposal
from tests.decisions.helpers import World
from tests.factories import make_organisation
from tests.queries import count_queries
from tests.reports.helpers import build, seed_bulk


@pytest.fixture
def data(app):
    return build(World())


def page(client, url, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.status_code
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_organisation_report_shows_figures_charts_tables_and_measures(client, data):
    org = data.world.organisation
    html = page(client, f"/rapports/organisations/{org.slug}")
    words = text_of(html)
    assert "Vous avez dit, nous avons fait" in html and org.name in html
    assert "7 propositions reçues" in words and "4 avec une réponse publique" in words
    assert "dont 2 adoptées en tout ou partie" in words and "Délai médian de réponse : 25 jours" in words
    assert "1 proposition attend sa réponse au-delà du délai" in words
    # the overdue proposal is flagged and linked; the others are not listed as overdue
    overdue = html[html.index('id="overdue-title"'):html.index('id="measures-title"')]
    assert f"/propositions/{data.proposals['p4'].id}" in overdue and "En retard" in overdue
    assert f"/propositions/{data.proposals['p5'].id}\"" not in overdue
    # charts: accessible SVG images, each followed by its data table
    assert html.count('role="img"') == 2 and '<title id="chart-answers-title">' in html
    assert "<th scope=\"row\">Adoptée en partie</th><td class=\"num\">1</td>" in html
    assert "<th scope=\"row\">Sans réponse</th><td class=\"num\">3</td>" in html
    # measures with status, progress bar and milestones
    assert '<progress max="100" value="40"' in html and "1 sur 2" in html and "Mesure réalisée" in html
    assert "Mesure de B" not in html
    assert "style=" not in html[html.index('<main'):]


def test_catalogue_organisation_page_flags_overdue_proposals_and_links_the_report(client, data):
    org = data.world.organisation
    html = page(client, f"/organisations/{org.slug}")
    section = html[html.index('id="org-answers-title"'):html.index("</section>")]
    assert f"/rapports/organisations/{org.slug}" in section
    assert "En retard" in section and "P4 en retard" in section and "P5" not in section
    assert re.search(r"Réponses en retard</dt><dd>1</dd>", section)
    other = page(client, f"/organisations/{data.world.other_organisation.slug}")
    section = other[other.index('id="org-answers-title"'):other.index("</section>")]
    assert "En retard" not in section and re.search(r"Réponses en retard</dt><dd>0</dd>", section)


def test_organisation_report_of_an_unknown_organisation_is_404(client, data):
    page(client, "/rapports/organisations/nexiste-pas", status=404)


@pytest.mark.parametrize("query", ["?page=abc", "?page=-3", "?page=999"])
def test_organisation_report_with_an_odd_page_number_shows_a_page(client, data, query):
    html = page(client, f"/rapports/organisations/{data.world.organisation.slug}{query}")
    assert "Mesure en cours" in html


def test_measures_are_paginated(client, app):
    world = World()
    seed_bulk(world.organisation, world.author, 600)  # 60 measures: pages of 25, 25 and 10
    url = f"/rapports/organisations/{world.organisation.slug}"
    first, last = page(client, url), page(client, url + "?page=3")
    assert first.count("<progress ") == 25 and last.count("<progress ") == 10
    assert "page 1 sur 3" in first and "?page=2" in first and "Mesures suivantes" in first
    assert "Mesures précédentes" in last and "Mesures suivantes" not in last


def test_dashboard_shows_the_funnel_as_chart_table_and_text(client, data):
    html = page(client, "/rapports/")
    words = text_of(html)
    assert "5 idées déposées" in words and "8 propositions publiées" in words
    assert "dont 4 retenues par un vote (50 %)" in words.replace("\u202f", " ").replace("\xa0", " ")
    assert "3 adoptées en tout ou partie" in words and "2 mises en œuvre" in words
    assert html.count('role="img"') == 2 and '<desc id="chart-funnel-desc">' in html
    assert '<th scope="row">Propositions retenues</th><td class="num">4</td>' in html
    assert f"/rapports/organisations/{data.world.organisation.slug}" in html
    assert "<script" not in html[html.index("<main"):]


def test_dashboard_filters_by_organisation_life_event_and_period(client, data):
    other = data.world.other_organisation
    words = text_of(page(client, f"/rapports/?organisation={other.id}"))
    assert "2 idées déposées" in words and "1 proposition publiée" in words
    words = text_of(page(client, f"/rapports/?moment={data.life_event.id}"))
    assert "3 idées déposées" in words and "3 propositions publiées" in words
    since = data.now.date().replace(day=1).isoformat()
    html = page(client, f"/rapports/?du={since}&au={data.now.date().isoformat()}")
    assert 'value="' + since + '"' in html and "Effacer les filtres" in html


@pytest.mark.parametrize("query, message", [
    ("?organisation=abc", "Choisissez une organisation de la liste."),
    ("?organisation=999999", "Choisissez une organisation de la liste."),
    ("?moment=x", "Choisissez un moment de vie de la liste."),
    ("?du=2026-13-45", "Indiquez une date au format AAAA-MM-JJ"),
    ("?au=hier", "Indiquez une date au format AAAA-MM-JJ"),
    ("?du=2026-06-01&au=2026-05-01", "La fin de la période doit venir après son début."),
])
def test_dashboard_refuses_bad_filters_with_a_form_error(client, data, query, message):
    response = client.get("/rapports/" + query)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html and message in html
    assert 'aria-invalid="true"' in html and 'role="img"' not in html


def test_dashboard_accepts_a_one_day_period_and_empty_filters(client, data):
    day = data.now.date().isoformat()
    assert 'role="img"' in page(client, f"/rapports/?du={day}&au={day}")
    assert 'role="img"' in page(client, "/rapports/?organisation=&moment=&du=&au=")


def test_report_pages_are_in_english_too(client, data):
    client.post("/langue", data={"lang": "en", "csrf_token": _csrf(client)})
    html = page(client, "/rapports/")
    assert '<html lang="en">' in html
    # Shares follow the language: no space before the percent sign in English.
    assert "(50%)" in text_of(html) and not re.search(r"50[ \u00a0\u202f]%", html)


def _desc(html: str, chart_id: str) -> str:
    return re.search(rf'<desc id="{chart_id}-desc">([^<]*)</desc>', html).group(1)


def test_report_charts_and_counts_read_as_french_with_the_singular_for_one(client, data):
    html = page(client, f"/rapports/organisations/{data.world.organisation.slug}")
    answers = _desc(html, "chart-answers")
    assert answers.startswith("7 propositions reçues. ") and answers.endswith(" ; Sans réponse : 3.")
    assert "Adoptée en partie : 1 ; " in answers
    assert _desc(html, "chart-measures").startswith("4 mesures. ")
    # Organisation B: one proposal, answered one day after its publication, and one measure.
    html = page(client, f"/rapports/organisations/{data.world.other_organisation.slug}")
    assert _desc(html, "chart-answers").startswith("1 proposition reçue. ")
    assert _desc(html, "chart-measures").startswith("1 mesure. ") and "Réalisée : 1 ; " in _desc(html, "chart-measures")
    assert "Délai médian de réponse : 1 jour." in text_of(html)
    funnel = _desc(page(client, "/rapports/"), "chart-funnel")
    assert " : 8 ; " in funnel and ";" not in funnel.replace(" ; ", "")


def test_english_report_pages_use_english_punctuation_and_plurals(client, data):
    """Needs the English catalog entries of the new msgids (chart patterns, plurals)."""
    client.post("/langue", data={"lang": "en", "csrf_token": _csrf(client)})
    html = page(client, f"/rapports/organisations/{data.world.other_organisation.slug}")
    main = text_of(html[html.index("<main"):html.index("</main>")])
    assert _desc(html, "chart-answers").startswith("1 proposal received. ")
    assert _desc(html, "chart-measures").startswith("1 measure. ")
    assert "Median time to answer: 1 day." in main
    for desc in (_desc(html, "chart-answers"), _desc(html, "chart-measures")):
        assert re.search(r"\w: \d+; \w", desc), desc
    html = page(client, "/rapports/")
    main = text_of(html[html.index("<main"):html.index("</main>")])
    assert re.search(r"\w: \d+; \w", _desc(html, "chart-funnel"))
    for text in (main, _desc(html, "chart-funnel"), _desc(html, "chart-dashboard-measures")):
        assert " :" not in text and " ;" not in text and "«" not in text, text


def _csrf(client) -> str:
    from tests.conftest import get_csrf

    return get_csrf(client, "/")


def test_print_stylesheet_hides_navigation_and_filters_and_keeps_table_rows_whole(client, app):
    response = client.get("/static/css/atelier.css")
    css = response.get_data(as_text=True)
    response.close()
    blocks = re.findall(r"@media print \{(.*?)\n\}", css, flags=re.S)
    report = next(block for block in blocks if ".report-table" in block)
    assert ".main-nav" in report and ".report-filters" in report and "display: none" in report
    assert re.search(r"\.report-table tr[^{]*\{[^}]*break-inside: avoid", report)
    assert ".report-table { display: table" in report


@pytest.mark.parametrize("path", ["/rapports/organisations/{slug}", "/rapports/", "/rapports/?organisation={id}",
                                  "/organisations/{slug}"])
def test_report_pages_issue_the_same_number_of_queries_with_10_and_1000_proposals(client, app, path):
    world = World()
    spare = make_organisation(name="Troisième organisation")
    db.session.commit()
    url = path.format(slug=world.organisation.slug, id=world.organisation.id)
    seed_bulk(world.organisation, world.author, 10)
    few = count_queries(client, url)
    seed_bulk(world.organisation, world.author, 990, start=10)
    seed_bulk(spare, world.author, 10, start=1000)  # a third organisation appears in the per-organisation rows
    assert db.session.scalar(select(func.count()).select_from(Proposal)) == 1010
    assert count_queries(client, url) == few
