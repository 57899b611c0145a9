"""The barometer in the API (issue 23, points 6 and 8): a figure's value, interval and level only from the minimum
number of answers, its count always; organisation, life-event and national figures pooling their services'
answers; a service's imported figures apart; its monthly counts with the cells under 5 hidden; unknown slugs and bad
page numbers refused in JSON; the list of every service's barometer with a number of queries that grows neither with
the services of a page nor with the answers. (tests/api/test_openapi.py checks every answer against the document.)"""

import secrets
from collections import Counter
from datetime import date

import pytest
from statsmodels.stats.proportion import proportion_confint

from app.barometer.models import PublishedFigure
from app.barometer.queries import add_months
from app.barometer.stats import empirical_likelihood
from app.clock import utcnow
from app.extensions import db
from app.feedback import service as feedback
from app.feedback.models import FeedbackMonthlyCount, Source
from app.feedback.tally import month_of
from tests.factories import make_life_event, make_organisation, make_service
from tests.queries import count_queries


def _month(offset: int = 0) -> date:
    return add_months(month_of(utcnow()), offset)


def _respond(service, satisfaction, comprehension=None, tried=None, reached=None, quality=None):
    """One response through the form's own service (which keeps the monthly counts), step by step."""
    _response, token = feedback.start_response(service, secrets.token_urlsafe(24), Source.link,
                                               {"satisfaction": satisfaction})
    if comprehension is not None:
        feedback.store_step(token, 2, {"comprehension": comprehension})
    if tried is not None:
        answers = {"contact_tried": tried}
        if reached is not None:
            answers["contact_reached"] = reached
        if quality is not None:
            answers["contact_satisfaction"] = quality
        feedback.store_step(token, 3, answers)


def _counts(service, cells: dict, month: date | None = None) -> None:
    """Monthly counts written as rows (a bulk load): (field, item) -> answers."""
    month = month or _month()
    for (field, item), count in cells.items():
        db.session.add(FeedbackMonthlyCount(service_id=service.id, month=month, field_code=field,
                                            answer_item_id=item, count=count))
    db.session.commit()


def _satisfied(service, answers: int, month: date | None = None) -> None:
    """``answers`` responses of « Très bien » (10/10) in ``month``."""
    _counts(service, {("satisfaction", 0): answers, ("satisfaction", 3): answers}, month)


def _get(client, url, status=200, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == status, (url, response.get_data(as_text=True))
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()


def _figures(body) -> dict:
    return {figure["indicator"]: figure for figure in body["figures"]}


@pytest.fixture
def four_answers(app):
    """A service with four responses through the form, and figures shown from three answers."""
    app.config["BAROMETER_MIN_ANSWERS"] = 3
    organisation = make_organisation(slug="caisse", name="Caisse")
    service = make_service(organisation, slug="carte-grise", name="Carte grise")
    db.session.commit()
    _respond(service, 3, comprehension=8, tried=[17])  # « Je n'ai pas eu besoin d'aide »
    _respond(service, 3, comprehension=6, tried=[10], reached=17, quality=23)  # phone, reached, excellent help
    _respond(service, 3, tried=[10], reached=17, quality=22)  # reached, good help
    _respond(service, 2, tried=[9, 10], reached=18)  # not reached
    return service


@pytest.mark.both_databases("app.database")
def test_a_figure_is_shown_from_the_minimum_with_its_interval_and_its_count_always(client, four_answers):
    body = _get(client, "/api/v1/barometer/services/carte-grise")
    this = _month()
    assert body["scope"] == {"kind": "service", "slug": "carte-grise", "name": "Carte grise"}
    assert body["window"] == {"first_month": f"{add_months(this, -11):%Y-%m}", "last_month": f"{this:%Y-%m}"}
    assert (body["minimum_answers"], body["responses"]) == (3, 4)
    assert body["published"] == []
    figures = _figures(body)
    assert list(figures) == ["satisfaction", "comprehension", "contact", "contact_reachability",
                             "contact_satisfaction", "autonomy"]

    satisfaction = figures["satisfaction"]
    assert (satisfaction["count"], satisfaction["status"], satisfaction["scale"]) == (4, "shown", "note_10")
    assert satisfaction["value"] == pytest.approx((10 + 10 + 10 + 5) / 4)
    expected = empirical_likelihood({10.0: 3, 5.0: 1})
    assert satisfaction["interval"] == {"low": pytest.approx(expected.low), "high": pytest.approx(expected.high),
                                        "confidence": 0.95, "method": "empirical_likelihood"}
    assert satisfaction["interval"]["low"] < satisfaction["value"] < satisfaction["interval"]["high"] <= 10
    assert satisfaction["level"] == {"code": "green", "color": "green", "label": "Très bien"}
    assert satisfaction["uncertain"] is True, "8.75 is « Très bien », its interval reaches below 8"

    # Below the minimum: the count, and nothing else.
    for slug, count in (("comprehension", 2), ("contact_satisfaction", 2)):
        assert figures[slug] == {"indicator": slug, "count": count, "status": "insufficient", "value": None,
                                 "interval": None, "scale": "note_10", "level": None, "uncertain": False}

    # The help: each administration not reached counts 0; the observatory gives this one no level.
    contact = figures["contact"]
    assert (contact["count"], contact["status"], contact["level"]) == (3, "shown", None)
    assert contact["value"] == pytest.approx((10 + 7.5 + 0) / 3)

    # Shares: a Wilson interval (the same as statsmodels' on the same counts).
    reachability = figures["contact_reachability"]
    assert (reachability["count"], reachability["scale"]) == (3, "share")
    assert reachability["value"] == pytest.approx(2 / 3)
    low, high = proportion_confint(2, 3, alpha=0.05, method="wilson")
    assert (reachability["interval"]["low"], reachability["interval"]["high"]) == \
        (pytest.approx(low), pytest.approx(high))
    assert reachability["interval"]["method"] == "wilson"
    assert reachability["level"]["code"] == "red", "66.7 % reached: under the observatory's 70 %"

    autonomy = figures["autonomy"]
    assert (autonomy["count"], autonomy["scale"], autonomy["status"]) == (4, "share_10", "shown")
    assert autonomy["value"] == pytest.approx(2.5), "one of four needed no help: 25 %, published × 10"
    low, high = proportion_confint(1, 4, alpha=0.05, method="wilson")
    assert (autonomy["interval"]["low"], autonomy["interval"]["high"]) == \
        (pytest.approx(10 * low), pytest.approx(10 * high))


def test_below_the_minimum_the_same_answers_give_counts_only(app, client, four_answers):
    """Twin of the above: with the observatory's minimum of 100, no figure is shown, every count still is."""
    app.config["BAROMETER_MIN_ANSWERS"] = 100
    figures = _figures(_get(client, "/api/v1/barometer/services/carte-grise"))
    assert {slug: (f["status"], f["count"], f["value"]) for slug, f in figures.items()} == {
        "satisfaction": ("insufficient", 4, None), "comprehension": ("insufficient", 2, None),
        "contact": ("insufficient", 3, None), "contact_reachability": ("insufficient", 3, None),
        "contact_satisfaction": ("insufficient", 2, None), "autonomy": ("insufficient", 4, None)}


def test_level_labels_follow_accept_language(client, four_answers):
    english = _get(client, "/api/v1/barometer/services/carte-grise", **{"Accept-Language": "en"})
    assert _figures(english)["satisfaction"]["level"] == {"code": "green", "color": "green", "label": "Very good"}
    french = _get(client, "/api/v1/barometer/services/carte-grise")
    assert _figures(french)["satisfaction"]["level"]["label"] == "Très bien"


def test_organisation_life_event_and_national_figures_pool_their_services(app, client, four_answers):
    other = make_service(four_answers.organisation, slug="permis", name="Permis")
    elsewhere = make_service(make_organisation(slug="mairie"), slug="etat-civil")
    event = make_life_event(slug="demenager", name_fr="Je déménage", name_en="I am moving")
    event.services = [other, elsewhere]
    quiet = make_service(make_organisation(slug="muette"), slug="sans-avis")
    db.session.commit()
    _satisfied(other, 2)
    _satisfied(elsewhere, 5)
    _satisfied(elsewhere, 50, month=_month(-12))  # thirteen months ago: out of the rolling year

    organisation = _get(client, "/api/v1/barometer/organisations/caisse")
    assert organisation["scope"] == {"kind": "organisation", "slug": "caisse", "name": "Caisse"}
    assert "published" not in organisation, "imported figures belong to a service"
    assert _figures(organisation)["satisfaction"]["count"] == 4 + 2
    assert _figures(organisation)["satisfaction"]["value"] == pytest.approx((35 + 20) / 6)

    life_event = _get(client, "/api/v1/barometer/life-events/demenager")
    assert life_event["scope"] == {"kind": "life_event", "slug": "demenager", "name": "Je déménage"}
    assert (life_event["responses"], _figures(life_event)["satisfaction"]["value"]) == (7, 10.0)
    assert _get(client, "/api/v1/barometer/life-events/demenager",
                **{"Accept-Language": "en"})["scope"]["name"] == "I am moving"

    national = _get(client, "/api/v1/barometer")
    assert national["scope"] == {"kind": "national", "slug": None, "name": "Toutes les démarches"}
    assert national["responses"] == 4 + 2 + 5
    assert "published" not in national

    # A service without any answer: every figure « no_answers », with its count of 0.
    nothing = _figures(_get(client, f"/api/v1/barometer/services/{quiet.slug}"))
    assert {(f["status"], f["count"], f["value"], f["interval"], f["level"]) for f in nothing.values()} == \
        {("no_answers", 0, None, None, None)}


def test_a_services_figures_published_elsewhere_come_apart(client, four_answers):
    db.session.add_all([
        PublishedFigure(service_id=four_answers.id, period="edition window, scanned 2026-08-22",
                        published_on=date(2026, 8, 22), indicator="satisfaction", value=7.4, unit="note /10",
                        count=2315, source="observatoire.numerique.gouv.fr"),
        PublishedFigure(service_id=four_answers.id, period="edition window, scanned 2026-05-02",
                        published_on=date(2026, 5, 2), indicator="satisfaction", value=7.1, unit="note /10",
                        count=2001, source="observatoire.numerique.gouv.fr"),  # an older edition: not shown
        PublishedFigure(service_id=four_answers.id, period="last 3 months (updown.io)", published_on=None,
                        indicator="uptime", value=99.9, unit="percent", count=None, source="dashlord"),
    ])
    db.session.commit()
    body = _get(client, "/api/v1/barometer/services/carte-grise")
    assert body["published"] == [
        {"indicator": "satisfaction", "value": 7.4, "unit": "note /10", "count": 2315,
         "period": "edition window, scanned 2026-08-22", "published_on": "2026-08-22",
         "source": "observatoire.numerique.gouv.fr"},
        {"indicator": "uptime", "value": 99.9, "unit": "percent", "count": None,
         "period": "last 3 months (updown.io)", "published_on": None, "source": "dashlord"},
    ]
    assert _figures(body)["satisfaction"]["count"] == 4, "never mixed with Atelier's own figures"


# --- monthly counts ---------------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_monthly_counts_hide_the_cells_under_5(client):
    service = make_service(make_organisation(slug="caisse"), slug="carte-grise")
    db.session.commit()
    _counts(service, {("satisfaction", 0): 9, ("satisfaction", 3): 5, ("satisfaction", 2): 4},
            month=_month(-2))
    _counts(service, {("satisfaction", 0): 1, ("satisfaction", 1): 1, ("satisfaction", 2): 0})
    _counts(service, {("satisfaction", 0): 40, ("satisfaction", 3): 40}, month=_month(-24))  # 25 months ago
    body = _get(client, "/api/v1/barometer/services/carte-grise/monthly")
    assert body["service"] == {"slug": "carte-grise", "name": service.name, "organisation_slug": "caisse"}
    assert body["window"] == {"first_month": f"{_month(-23):%Y-%m}", "last_month": f"{_month():%Y-%m}"}
    assert body["hidden_below"] == 5
    old, this = f"{_month(-2):%Y-%m}", f"{_month():%Y-%m}"
    assert body["data"] == [
        {"month": old, "field_code": "satisfaction", "answer_item_id": 2, "option_label": "Moyen", "count": None,
         "hidden": True},
        {"month": old, "field_code": "satisfaction", "answer_item_id": 3, "option_label": "Très bien", "count": 5,
         "hidden": False},
        {"month": this, "field_code": "satisfaction", "answer_item_id": 1, "option_label": "Pas bien",
         "count": None, "hidden": True},
    ], ("4 hidden, 5 shown; a cell without answers and the months before the 24 are not listed; nor the respondents "
        "of a single-choice question (9 = 5 + the hidden 4)")
    text = client.get("/api/v1/barometer/services/carte-grise/monthly").get_data(as_text=True)
    assert '"count": 4' not in text and '"count": 1' not in text


# --- errors -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/v1/barometer/services/inconnue", "/api/v1/barometer/services/inconnue/monthly",
                                 "/api/v1/barometer/organisations/inconnue", "/api/v1/barometer/life-events/inconnue"])
def test_unknown_slugs_are_404_in_json(client, url):
    make_service(make_organisation(slug="connue"), slug="connue")
    make_life_event(slug="connue")
    db.session.commit()
    error = _get(client, url, status=404)["error"]
    assert error == {"code": "not_found", "message": "Aucun élément de cette ressource ne porte cet identifiant."}
    assert _get(client, url.replace("inconnue", "connue"))  # the same address with a known slug answers


@pytest.mark.parametrize("query,code", [("page=0", "invalid_page"), ("page=abc", "invalid_page"),
                                        ("page=100001", "invalid_page"), ("per_page=0", "invalid_per_page"),
                                        ("per_page=101", "invalid_per_page")])
def test_bad_page_numbers_are_400(client, query, code):
    error = _get(client, f"/api/v1/barometer/services?{query}", status=400)["error"]
    assert error["code"] == code
    assert "entier entre 1 et" in error["message"]
    english = _get(client, f"/api/v1/barometer/services?{query}", status=400, **{"Accept-Language": "en"})
    assert english["error"]["message"] != error["message"]


# --- the list of every service ----------------------------------------------------------------------------------

def test_every_service_is_listed_by_slug_a_page_at_a_time(app, client):
    app.config["BAROMETER_MIN_ANSWERS"] = 2
    organisation = make_organisation(slug="caisse")
    services = [make_service(organisation, slug=slug, name=slug.title()) for slug in ("c-demarche", "a-demarche",
                                                                                     "b-demarche")]
    db.session.commit()
    _satisfied(services[1], 3)
    first = _get(client, "/api/v1/barometer/services?per_page=2")
    assert first["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    assert first["links"]["next"].endswith("/api/v1/barometer/services?page=2&per_page=2")
    assert first["links"]["prev"] is None
    assert [item["slug"] for item in first["data"]] == ["a-demarche", "b-demarche"]
    item = first["data"][0]
    assert (item["name"], item["organisation_slug"]) == ("A-Demarche", "caisse")
    alone = _get(client, "/api/v1/barometer/services/a-demarche")
    del alone["published"]
    assert item["barometer"] == alone, "the same barometer as the service's own address"
    assert _figures(item["barometer"])["satisfaction"]["status"] == "shown"
    assert _figures(first["data"][1]["barometer"])["satisfaction"]["status"] == "no_answers"
    second = _get(client, first["links"]["next"])
    assert [item["slug"] for item in second["data"]] == ["c-demarche"]
    assert _get(client, "/api/v1/barometer/services?page=9")["data"] == []


def test_answers_304_while_unchanged_and_200_once_an_answer_counts(client, four_answers):
    urls = ("/api/v1/barometer", "/api/v1/barometer/services", "/api/v1/barometer/services/carte-grise",
            "/api/v1/barometer/services/carte-grise/monthly", "/api/v1/barometer/organisations/caisse")
    for index, url in enumerate(urls):
        etag = client.get(url).headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304, url
        # The monthly counts publish no count under 5: the fifth « Très bien » (three before, one at index 2) shows.
        _respond(four_answers, 3 if index >= 2 else 1)
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 200, url


def _grow(organisation, services: int = 0, answers: int = 0) -> int:
    """``services`` more services of ``organisation``, and ``answers`` more answers spread over its services and the
    last 24 months; how many of them fall in the rolling year."""
    for _ in range(services):
        make_service(organisation)
    db.session.commit()
    ids = sorted(s.id for s in organisation.services)
    cells: Counter = Counter()
    for index in range(answers):
        service_id, month = ids[index % len(ids)], _month(-(index % 24))
        for field, item in (("satisfaction", 0), ("satisfaction", 1 + index % 3), ("comprehension", 0),
                            ("comprehension", 4 + index % 5)):
            cells[(service_id, month, field, item)] += 1
    for key, count in cells.items():
        cell = db.session.get(FeedbackMonthlyCount, key)
        if cell is None:
            db.session.add(FeedbackMonthlyCount(service_id=key[0], month=key[1], field_code=key[2],
                                                answer_item_id=key[3], count=count))
        else:
            cell.count += count
    db.session.commit()
    return sum(1 for index in range(answers) if index % 24 < 12)


@pytest.mark.both_databases("app.database")
def test_queries_grow_neither_with_the_services_of_a_page_nor_with_the_answers(app, client):
    app.config["BAROMETER_MIN_ANSWERS"] = 5
    organisation = make_organisation(slug="caisse")
    event = make_life_event(slug="demenager")
    make_service(organisation, slug="carte-grise", life_events=[event])
    db.session.commit()
    urls = ["/api/v1/barometer", "/api/v1/barometer/services?per_page=100",
            "/api/v1/barometer/services/carte-grise", "/api/v1/barometer/services/carte-grise/monthly",
            "/api/v1/barometer/organisations/caisse", "/api/v1/barometer/life-events/demenager"]

    def queries():
        return {url: count_queries(client, url) for url in urls}

    in_year = _grow(organisation, services=4, answers=10)
    few = queries()
    assert client.get(urls[1]).get_json()["meta"]["total"] == 5
    _grow(organisation, services=55)
    more_services = queries()
    assert client.get(urls[1]).get_json()["meta"]["total"] == 60
    in_year += _grow(organisation, answers=990)
    more_answers = queries()
    assert few == more_services == more_answers
    assert few[urls[1]] <= 4, few  # BEGIN (SQLite), the total, the page of services, their counts
    assert client.get("/api/v1/barometer").get_json()["responses"] == in_year, "the rolling year's answers"


def test_the_barometer_is_read_only(client):
    for url in ("/api/v1/barometer", "/api/v1/barometer/services"):
        response = client.post(url)
        assert response.status_code == 405, url
        assert response.get_json()["error"]["code"] == "method_not_allowed"
