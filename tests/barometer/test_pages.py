"""The public barometer's pages (app/barometer/routes.py): national, service, organisation, life event and method,
for everyone. Each scope page shows its six figures (value, interval, answers, level in words, « Moins de … avis »),
its window and the minimum, and the 24-month trend of the indicator ``?indicateur=`` chooses; the national page lists
the services 50 a page with their satisfaction, in a number of queries that does not grow with the services or the
answers.

The pages read only the monthly counts: most tests write them through ``tally.apply`` (the function the form calls,
in its transaction); one goes through the form's own service functions. The minimum is lowered per test."""

import html as entities
import re
import secrets
from collections import Counter

import pytest
from babel.dates import format_date

from app.barometer.queries import add_months
from app.barometer.service import window
from app.barometer.stats import estimate, indicator
from app.extensions import db
from app.feedback import service as feedback
from app.feedback import tally
from app.feedback.models import Source
from tests.conftest import get_csrf
from tests.factories import make_life_event, make_organisation, make_service
from tests.queries import count_queries

MINIMUM = 20
SATISFACTION = {"bad": 1, "medium": 2, "good": 3}  # the smiley's stored codes (scores 0, 5, 10)


@pytest.fixture(autouse=True)
def low_minimum(app):
    app.config["BAROMETER_MIN_ANSWERS"] = MINIMUM  # the shared app's configuration is put back after each test


def answer(service, month, bad=0, medium=0, good=0, autonomous=None, helped=0):
    """Adds a month of answers to ``service``'s counts as the form does (``tally.apply``): satisfaction answers, and
    ``autonomous`` + ``helped`` answers to the help question (« Je n'ai pas eu besoin d'aide » or a channel)."""
    cells = Counter({("satisfaction", SATISFACTION["bad"]): bad, ("satisfaction", SATISFACTION["medium"]): medium,
                     ("satisfaction", SATISFACTION["good"]): good,
                     ("satisfaction", tally.RESPONDENTS): bad + medium + good})
    if autonomous is not None:
        cells.update({("contact_tried", 17): autonomous, ("contact_tried", 9): helped,
                      ("contact_tried", tally.RESPONDENTS): autonomous + helped})
    tally.apply(service.id, month, Counter(), +cells)
    db.session.commit()


def months():
    """The 24 months of the trend, oldest first (the last one is the current month)."""
    first, _last = window(None, 24)
    return [add_months(first, offset) for offset in range(24)]


def words(html: str) -> str:
    """Text without its tags, entities read, spaces folded (no-break spaces as spaces)."""
    return " ".join(entities.unescape(re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ").replace("\u202f", " ")
                    .split())


def text(response) -> str:
    """The page's text."""
    return words(response.get_data(as_text=True))


def row(response, heading: str) -> str:
    """The text of the first table row whose heading cell reads ``heading``."""
    for cell, rest in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', response.get_data(as_text=True), re.S):
        if words(cell) == heading:
            return words(rest)
    raise AssertionError(f"no row {heading!r}")


def one_decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def french_month(month) -> str:
    return format_date(month, "MMMM y", locale="fr")


@pytest.fixture
def world(app):
    """« passeport » of DINUM, in « je-demenage »: 40 satisfaction answers this month (value 8,5) and 30 the month
    before, 12 autonomy answers (under the minimum); « carte » of DINUM, with 5 answers; « permis », of another
    organisation, without any."""
    event = make_life_event(slug="je-demenage", name_fr="Je déménage", name_en="I am moving")
    dinum = make_organisation(slug="dinum", name="DINUM")
    passeport = make_service(dinum, slug="passeport", name="Passeport", life_events=[event])
    carte = make_service(dinum, slug="carte", name="Carte d'identité", life_events=[event])
    permis = make_service(make_organisation(slug="ants", name="ANTS"), slug="permis", name="Permis de conduire")
    db.session.commit()
    trend = months()
    answer(passeport, trend[-1], bad=2, medium=8, good=30, autonomous=8, helped=4)
    answer(passeport, trend[-2], bad=10, medium=10, good=10)
    answer(carte, trend[-1], good=5)
    return {"passeport": passeport, "carte": carte, "permis": permis, "event": event, "dinum": dinum}


def test_a_service_page_shows_its_six_figures_with_interval_answers_level_and_the_minimum(client, world):
    response = client.get("/barometre/services/passeport")
    assert response.status_code == 200
    # 70 answers: (2×0 + 18×5 + 40×10) / 70 = 7,0; the interval as stats computes it, rounded to one decimal.
    counts = {("satisfaction", 1): 12, ("satisfaction", 2): 18, ("satisfaction", 3): 40}
    expected = estimate(indicator("satisfaction"), counts)
    assert one_decimal(expected.value) == "7,0"
    satisfaction = row(response, "Satisfaction")
    assert satisfaction.startswith(f"7,0 / 10 de {one_decimal(expected.interval.low)} à "
                                   f"{one_decimal(expected.interval.high)} 70 Insuffisant"), satisfaction
    assert row(response, "Autonomie") == "Moins de 20 avis – 12 –"
    assert row(response, "Clarté des informations") == "Pas encore d'avis – 0 –"
    page = text(response)
    first, last = window(None)
    assert f"De {french_month(first)} à {french_month(last)} (les 12 derniers mois, le mois en cours compris)" in page
    assert "70 réponses au questionnaire" in page
    assert "Un indicateur n'est donné qu'à partir de 20 avis" in page
    # The way back to the service, and to the organisation's barometer.
    assert 'href="/demarches/passeport"' in response.get_data(as_text=True)
    assert 'href="/barometre/organisations/dinum"' in response.get_data(as_text=True)


def test_a_level_whose_interval_reaches_another_one_is_said_uncertain(client, world):
    # 40 answers of this month alone, averaging 8,5: the interval reaches below 8 (« Très bien » from 8).
    answer(world["permis"], months()[-1], bad=2, medium=8, good=30)
    satisfaction = row(client.get("/barometre/services/permis"), "Satisfaction")
    assert satisfaction.startswith("8,5 / 10 de 7,") and satisfaction.endswith("40 Très bien (niveau incertain)")
    # Far from any threshold, the level is certain.
    answer(world["permis"], months()[-1], good=400)
    assert row(client.get("/barometre/services/permis"), "Satisfaction").endswith("Très bien")


def test_the_trend_shows_each_month_its_chart_points_and_its_data_table(client, world):
    response = client.get("/barometre/services/passeport")
    html = response.get_data(as_text=True)
    trend = months()
    # Two months drawn (40 and 30 answers), the others under the minimum: two points, one line, one band.
    svg = re.search(r"<svg .*?</svg>", html, re.S).group(0)
    assert svg.count("<circle ") == 2 and svg.count("<polyline ") == 1 and svg.count("<polygon ") == 1
    page = text(response)
    assert (f"Satisfaction sur 24 mois : de 5,0 / 10 ({french_month(trend[-2])}) à 8,5 / 10 "
            f"({french_month(trend[-1])}) ; 2 mois sur 24 comptent au moins 20 avis.") in page
    assert "Un mois de moins de 20 avis n'est pas tracé" in page
    # The data table: one row per month, the months without answers said so.
    table = re.search(r'<details class="barometer-data">.*?</details>', html, re.S).group(0)
    assert table.count('<tr><th scope="row">') == 24
    assert row(response, french_month(trend[-1])).startswith("8,5 / 10 de ")
    assert row(response, french_month(trend[-3])) == "Aucun avis – 0 –"
    # The month of « carte » counts only for « carte »: « passeport »'s table has no month with 5 answers.
    assert "Moins de 20 avis" not in table


def test_the_indicator_of_the_trend_is_chosen_by_its_link_and_an_unknown_one_falls_back(client, world):
    def current(url):
        html = client.get(url).get_data(as_text=True)
        return re.findall(r'<a href="[^"]*indicateur=(\w+)#tendance" aria-current="page">', html)

    assert current("/barometre/services/passeport") == ["satisfaction"]
    assert current("/barometre/services/passeport?indicateur=autonomy") == ["autonomy"]
    assert current("/barometre/services/passeport?indicateur=bogus") == ["satisfaction"]
    response = client.get("/barometre/services/passeport?indicateur=autonomy")
    assert "<caption>Autonomie, mois par mois</caption>" in response.get_data(as_text=True)
    # 12 autonomy answers: no month to draw, and the page says so instead of an empty picture.
    assert "<svg " not in response.get_data(as_text=True)
    assert "Pas assez d'avis pour tracer une tendance : aucun mois ne compte au moins 20 avis." in text(response)
    # The links keep the page's other arguments.
    html = client.get("/barometre/?page=1&indicateur=bogus").get_data(as_text=True)
    assert 'href="/barometre/?page=1&amp;indicateur=autonomy#tendance"' in html


def test_the_organisation_and_life_event_pages_pool_their_services_and_list_them(client, world):
    response = client.get("/barometre/organisations/dinum")
    assert response.status_code == 200
    # passeport's 70 answers and carte's 5: 75 answers, (18×5 + 45×10) / 75 = 7,2.
    assert row(response, "Satisfaction").startswith("7,2 / 10 de ")
    assert "75 réponses au questionnaire" in text(response)
    assert row(response, "Passeport").startswith("7,0 / 10 de ")
    assert row(response, "Carte d'identité") == "Moins de 20 avis – 5 –"
    assert "Permis de conduire" not in text(response)
    response = client.get("/barometre/moments-de-vie/je-demenage")
    assert response.status_code == 200
    assert row(response, "Satisfaction").startswith("7,2 / 10 de ")
    assert row(response, "Passeport").startswith("DINUM 7,0 / 10 de ")
    assert row(response, "Carte d'identité") == "DINUM Moins de 20 avis – 5 –"


def test_the_national_page_pools_every_service_and_lists_organisations_life_events_and_services(client, world):
    response = client.get("/barometre/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert row(response, "Satisfaction").startswith("7,2 / 10 de ")
    for href in ("/barometre/organisations/dinum", "/barometre/organisations/ants",
                 "/barometre/moments-de-vie/je-demenage", "/barometre/services/permis", "/barometre/methode"):
        assert f'href="{href}"' in html
    assert row(response, "Permis de conduire") == "ANTS Pas encore d'avis – 0 –"
    # By name.
    names = re.findall(r'<th scope="row"><a href="/barometre/services/[^"]+">([^<]+)</a>', html)
    assert names == ["Carte d&#39;identité", "Passeport", "Permis de conduire"]


def test_the_services_are_listed_fifty_a_page_by_name(client, app):
    organisation = make_organisation()
    for n in range(53):
        make_service(organisation, slug=f"s-{n:02d}", name=f"Démarche {n:02d}")
    db.session.commit()
    first = client.get("/barometre/").get_data(as_text=True)
    names = re.findall(r'<a href="/barometre/services/s-\d+">([^<]+)</a>', first)
    assert names == [f"Démarche {n:02d}" for n in range(50)]
    assert 'href="/barometre/?page=2#demarches"' in first
    second = client.get("/barometre/?page=2").get_data(as_text=True)
    assert re.findall(r'<a href="/barometre/services/s-\d+">([^<]+)</a>', second) == ["Démarche 50", "Démarche 51",
                                                                                     "Démarche 52"]


@pytest.mark.parametrize("url", ["/barometre/services/inconnue", "/barometre/organisations/inconnue",
                                 "/barometre/moments-de-vie/inconnu"])
def test_an_unknown_slug_is_not_found(client, world, url):
    assert client.get(url).status_code == 404


def test_an_answer_given_through_the_form_reaches_the_page(client, world, app):
    app.config["BAROMETER_MIN_ANSWERS"] = 1
    service = make_service(slug="formulaire", name="Formulaire")
    db.session.commit()
    response_, token = feedback.start_response(service, secrets.token_urlsafe(24), Source.link, {"satisfaction": 2})
    feedback.store_step(token, 2, {"comprehension": 8})
    page = client.get("/barometre/services/formulaire")
    assert row(page, "Satisfaction").startswith("5,0 / 10 de 5,0 à 5,0 1")
    assert row(page, "Clarté des informations").startswith("10,0 / 10 de 10,0 à 10,0 1")


def test_the_method_page_names_the_questions_the_minimum_the_interval_and_its_references(client, app):
    response = client.get("/barometre/methode")
    assert response.status_code == 200
    page = text(response)
    assert "De façon générale, comment ça s’est passé ?" in page
    assert "Moyenne des notes sur 10 de chaque réponse (Pas bien = 0 ; Moyen = 5 ; Très bien = 10)." in page
    assert "Part des réponses « Je n'ai pas eu besoin d'aide », en pourcentage." in page
    assert "Très bien : 8 et plus ; Insuffisant : de 5 à 8 (exclu) ; Critique : moins de 5" in page
    assert "Très bien : 85 % et plus" in page
    assert "Au moins 20 avis" in page and "contient la vraie valeur 95 fois sur 100" in page
    for reference in ("Wilson, E. B. (1927)", "Owen, A. B. (1988)", "Zou, G. Y. & Donner, A. (2008)",
                      "Newcombe, R. G. (1998)"):
        assert reference in page


def test_numbers_months_and_names_follow_the_language(client, world):
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    response = client.get("/barometre/services/passeport")
    assert response.status_code == 200
    first, last = (format_date(m, "MMMM y", locale="en") for m in window(None))
    page = text(response)
    assert first in page and last in page
    assert row(response, "Satisfaction").startswith("7.0 / 10 ")
    assert "I am moving" in text(client.get("/barometre/"))


def test_the_catalogue_and_the_footer_link_to_the_barometer(client, world):
    assert 'href="/barometre/services/passeport"' in client.get("/demarches/passeport").get_data(as_text=True)
    assert 'href="/barometre/organisations/dinum"' in client.get("/organisations/dinum").get_data(as_text=True)
    assert 'href="/barometre/moments-de-vie/je-demenage"' in \
        client.get("/moments-de-vie/je-demenage").get_data(as_text=True)
    assert re.search(r'<footer.*href="/barometre/".*</footer>', client.get("/").get_data(as_text=True), re.S)


# --- queries --------------------------------------------------------------------------------------------------------

def _spread(services, answers: int):
    """``answers`` satisfaction answers spread over the services and the 24 months."""
    trend = months()
    cells = Counter((services[n % len(services)], trend[n % 24]) for n in range(answers))
    for (service, month), good in cells.items():
        answer(service, month, good=good)


@pytest.mark.both_databases("app.database")  # the counts written by add_to_count's upsert; PostgreSQL as in production
def test_the_query_count_of_the_national_and_service_pages_grows_neither_with_services_nor_answers(client, app):
    organisation = make_organisation(slug="dinum")
    event = make_life_event(slug="je-demenage")
    services = [make_service(organisation, life_events=[event]) for _ in range(5)]
    db.session.commit()
    _spread(services, 10)
    urls = ["/barometre/", f"/barometre/services/{services[0].slug}", "/barometre/organisations/dinum",
            "/barometre/moments-de-vie/je-demenage"]
    for url in urls:  # the first request of a page loads what every later one finds ready
        client.get(url)
    small = {url: count_queries(client, url) for url in urls}
    services += [make_service(organisation, life_events=[event]) for _ in range(55)]
    db.session.commit()
    _spread(services, 990)
    big = {url: count_queries(client, url) for url in urls}
    assert big == small
    # The list holds 50 of the 60 services with their figures: they came from one grouped query.
    assert len(re.findall(r'href="/barometre/services/', client.get("/barometre/").get_data(as_text=True))) == 50
