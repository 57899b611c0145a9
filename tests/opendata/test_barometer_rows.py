"""The barometer in open data (issue 23, points 6 and 8): ``barometre-mensuel`` (a service's counts per month,
question and option, the cells under 5 hidden and the rule stated in the data's own description) and ``barometre``
(the figures with their intervals for every scope, the same as the API's); both CSV files valid against their Table
Schemas with frictionless (and a broken twin refused), formula-safe, validators that follow the answers, and a number
of queries that does not grow with the answers or the services."""

import csv
import io
import json
from datetime import date

import frictionless
import pytest

from app.barometer.queries import add_months
from app.clock import utcnow
from app.extensions import db
from app.feedback.models import FeedbackMonthlyCount
from app.feedback.tally import month_of
from app.opendata.barometer_rows import FIGURES, MONTHLY
from tests.factories import make_life_event, make_organisation, make_service
from tests.queries import statements_of_get

INDICATORS = ["satisfaction", "comprehension", "contact", "contact_reachability", "contact_satisfaction", "autonomy"]


def _month(offset: int = 0) -> date:
    return add_months(month_of(utcnow()), offset)


def _counts(service, cells: dict, month: date | None = None) -> None:
    for (field, item), count in cells.items():
        db.session.add(FeedbackMonthlyCount(service_id=service.id, month=month or _month(), field_code=field,
                                            answer_item_id=item, count=count))
    db.session.commit()


def _fetch(client, url, **headers):
    response = client.get(url, headers=headers)
    response.get_data()
    assert response.status_code in (200, 304), url
    return response


def _csv(client, name) -> list[dict]:
    return list(csv.DictReader(io.StringIO(_fetch(client, f"/donnees-ouvertes/{name}.csv").get_data(as_text=True))))


def _json(client, name) -> list[dict]:
    return json.loads(_fetch(client, f"/donnees-ouvertes/{name}.json").get_data(as_text=True))


@pytest.fixture
def catalogue(app):
    """Two organisations, a life event, three services (one named like a spreadsheet formula), and answers."""
    app.config["BAROMETER_MIN_ANSWERS"] = 5
    caisse, mairie = make_organisation(slug="caisse", name="Caisse"), make_organisation(slug="mairie", name="Mairie")
    event = make_life_event(slug="demenager", name_fr="Je déménage")
    grise = make_service(caisse, slug="carte-grise", name="=Carte grise", life_events=[event])
    permis = make_service(caisse, slug="permis", name="Permis")
    make_service(mairie, slug="etat-civil", name="État civil", life_events=[event])
    db.session.commit()
    _counts(grise, {("satisfaction", 0): 6, ("satisfaction", 3): 5, ("satisfaction", 1): 1,
                    ("contact_reached", 0): 4, ("contact_reached", 17): 4}, month=_month(-1))
    _counts(grise, {("satisfaction", 0): 2, ("satisfaction", 2): 2})
    _counts(permis, {("satisfaction", 0): 30, ("satisfaction", 3): 30}, month=_month(-13))  # before the year
    return {"grise": grise, "permis": permis, "event": event}


# --- barometre-mensuel ----------------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_monthly_counts_are_published_with_the_cells_under_5_hidden(client, catalogue):
    rows = _csv(client, "barometre-mensuel")
    last, this, old = f"{_month(-1):%Y-%m}", f"{_month():%Y-%m}", f"{_month(-13):%Y-%m}"
    cells = [(r["service_slug"], r["month"], r["field_code"], r["answer_item_id"], r["option_label"], r["count"],
              r["hidden"]) for r in rows]
    assert cells == [
        ("carte-grise", last, "contact_reached", "17", "Oui", "", "true"),
        ("carte-grise", last, "satisfaction", "1", "Pas bien", "", "true"),
        ("carte-grise", last, "satisfaction", "3", "Très bien", "5", "false"),
        ("carte-grise", this, "satisfaction", "2", "Moyen", "", "true"),
        ("permis", old, "satisfaction", "3", "Très bien", "30", "false"),
    ], ("a count of 4 (or 1, 2) hidden, 5 shown, in service, month, question and option order; a single-choice "
        "question's respondents (6 = 5 + 1) are not published: they would give the hidden option away")
    assert {(r["service"], r["organisation_slug"]) for r in rows} == {("'=Carte grise", "caisse"),
                                                                      ("Permis", "caisse")}
    data = _json(client, "barometre-mensuel")
    assert data[0] == {"service_id": catalogue["grise"].id, "service_slug": "carte-grise", "service": "=Carte grise",
                       "organisation_slug": "caisse", "month": last, "field_code": "contact_reached",
                       "answer_item_id": 17, "option_label": "Oui", "count": None, "hidden": True}
    body = _fetch(client, "/donnees-ouvertes/barometre-mensuel.csv").get_data(as_text=True)
    assert ",4,false" not in body and ",4,true" not in body and ",1,true" not in body


def test_the_hiding_rule_is_stated_in_the_data(client):
    assert "inférieur à 5" in str(MONTHLY.description)
    schema = {f["name"]: f for f in MONTHLY.table_schema()["fields"]}
    assert schema["count"]["constraints"] == {"minimum": 5}, "a published count is never under 5"
    assert "inférieur à 5" in schema["count"]["description"]
    assert schema["month"]["type"] == "yearmonth"


def test_months_before_the_24_and_empty_cells_are_not_published(client):
    service = make_service(slug="carte-grise")
    db.session.commit()
    _counts(service, {("contact_tried", 0): 50}, month=_month(-24))
    _counts(service, {("contact_tried", 0): 7, ("contact_tried", 9): 0}, month=_month(-23))
    assert [(r["month"], r["answer_item_id"], r["count"]) for r in _csv(client, "barometre-mensuel")] == \
        [(f"{_month(-23):%Y-%m}", "0", "7")], "the checkbox question's respondents are published"


# --- barometre ---------------------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_figures_of_every_scope_are_the_apis(client, catalogue):
    rows = _csv(client, "barometre")
    scopes = [(r["scope_kind"], r["scope_slug"]) for r in rows[::6]]
    assert scopes == [("national", ""), ("organisation", "caisse"), ("organisation", "mairie"),
                      ("life_event", "demenager"), ("service", "carte-grise"), ("service", "etat-civil"),
                      ("service", "permis")]
    assert [r["indicator"] for r in rows[:6]] == INDICATORS
    by_key = {(r["scope_kind"], r["scope_slug"], r["indicator"]): r for r in rows}
    national = by_key[("national", "", "satisfaction")]
    assert (national["scope"], national["first_month"], national["last_month"]) == \
        ("Toutes les démarches", f"{_month(-11):%Y-%m}", f"{_month():%Y-%m}")
    assert (national["count"], national["status"], national["minimum_answers"]) == ("8", "shown", "5")
    assert float(national["value"]) == pytest.approx((5 * 10 + 0 + 2 * 5) / 8)
    assert (national["method"], national["scale"]) == ("empirical_likelihood", "note_10")
    assert float(national["ci_low"]) < float(national["value"]) < float(national["ci_high"])
    # The same figures as the API's, the same function (app.barometer.serialize).
    for kind, slug, url in (("service", "carte-grise", "/api/v1/barometer/services/carte-grise"),
                            ("organisation", "caisse", "/api/v1/barometer/organisations/caisse"),
                            ("life_event", "demenager", "/api/v1/barometer/life-events/demenager"),
                            ("national", "", "/api/v1/barometer")):
        for figure in client.get(url).get_json()["figures"]:
            row = by_key[(kind, slug, figure["indicator"])]
            assert (int(row["count"]), row["status"]) == (figure["count"], figure["status"]), (kind, figure)
            if figure["value"] is None:
                assert row["value"] == row["ci_low"] == row["ci_high"] == row["method"] == "", (kind, figure)
            else:
                assert float(row["value"]) == pytest.approx(figure["value"])
                assert float(row["ci_high"]) == pytest.approx(figure["interval"]["high"])
    reached = by_key[("service", "carte-grise", "contact_reachability")]
    assert (reached["count"], reached["status"], reached["value"]) == ("4", "insufficient", ""), \
        "below the minimum: the count only"
    assert by_key[("service", "etat-civil", "satisfaction")]["status"] == "no_answers"
    permis = by_key[("service", "permis", "satisfaction")]
    assert (permis["count"], permis["status"]) == ("0", "no_answers"), "answers of thirteen months ago left out"
    assert by_key[("service", "carte-grise", "satisfaction")]["scope"] == "'=Carte grise", "formula-safe"
    assert by_key[("organisation", "caisse", "satisfaction")]["level_label"] in ("Très bien", "Insuffisant")
    figures = {(r["scope_kind"], r["scope_slug"], r["indicator"]): r for r in _json(client, "barometre")}
    assert figures[("service", "carte-grise", "satisfaction")]["scope"] == "=Carte grise"
    assert figures[("national", None, "satisfaction")]["count"] == 8


def test_the_apis_pages_of_figures_are_the_files_rows(client, catalogue):
    """Pages of a size that cuts scopes (4 rows, six indicators each) hold every row of the file, once, in order."""
    rows = _json(client, "barometre")
    paged, page = [], client.get("/api/v1/barometre?per_page=4").get_json()
    assert page["meta"]["total"] == len(rows) == 7 * 6
    while True:
        paged += page["data"]
        if not page["links"]["next"]:
            break
        page = client.get(page["links"]["next"]).get_json()
    assert paged == rows
    with client.application.test_request_context():
        assert FIGURES.count() == len(list(FIGURES.iter_rows())) == len(rows)


# --- frictionless ----------------------------------------------------------------------------------------------

def _validate(client, tmp_path, name: str, body: str | None = None):
    package = client.get("/donnees-ouvertes/datapackage.json").get_json()
    resource = next(r for r in package["resources"] if r["name"] == name)
    text = body if body is not None else _fetch(client, f"/donnees-ouvertes/{name}.csv").get_data(as_text=True)
    (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    (tmp_path / "datapackage.json").write_text(
        json.dumps({**package, "resources": [{**resource, "path": f"{name}.csv"}]}), encoding="utf-8")
    return frictionless.validate(str(tmp_path / "datapackage.json"))


@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_both_files_are_valid_against_their_table_schemas(client, catalogue, tmp_path):
    for name, count in (("barometre-mensuel", 5), ("barometre", 42)):
        report = _validate(client, tmp_path, name)
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
        assert report.tasks[0].stats["rows"] == count


@pytest.mark.parametrize("column,value", [("count", "4"), ("month", "2026-13"), ("field_code", "verbatim")])
def test_a_monthly_file_that_breaks_its_schema_is_refused(client, catalogue, tmp_path, column, value):
    """The check above can fail: a count of 4 published, a month that does not exist, a free-text question."""
    text = _fetch(client, "/donnees-ouvertes/barometre-mensuel.csv").get_data(as_text=True)
    header, row = text.splitlines()[:2]
    cells = next(csv.reader([row]))
    cells[header.split(",").index(column)] = value
    broken = io.StringIO()
    csv.writer(broken, lineterminator="\r\n").writerows([header.split(","), cells])
    report = _validate(client, tmp_path, "barometre-mensuel", broken.getvalue())
    assert not report.valid
    assert {e.type for e in report.tasks[0].errors} <= {"constraint-error", "type-error"}


# --- validators and queries -------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_every_change_of_the_counts_changes_the_etags(app, client, catalogue):
    urls = ["/donnees-ouvertes/barometre-mensuel.csv", "/donnees-ouvertes/barometre.csv",
            "/api/v1/barometre-mensuel", "/api/v1/barometre"]
    grise = catalogue["grise"]

    def cell(item):
        return db.session.get(FeedbackMonthlyCount, (grise.id, _month(), "satisfaction", item))

    def changes(change) -> None:
        before = {url: _fetch(client, url).headers["ETag"] for url in urls}
        change()
        db.session.commit()
        for url, etag in before.items():
            assert _fetch(client, url, **{"If-None-Match": etag}).status_code == 200, (change.__doc__, url)

    def counted():
        """an answer counted"""
        cell(0).count += 1
        cell(2).count += 1

    def moved():
        """an answer moved to another option (a response corrected)"""
        cell(2).count -= 1
        db.session.add(FeedbackMonthlyCount(service_id=grise.id, month=_month(), field_code="satisfaction",
                                            answer_item_id=3, count=1))

    def renamed():
        """a service renamed"""
        grise.name = "Certificat d'immatriculation"

    def minimum():
        """the minimum number of answers changed"""
        app.config["BAROMETER_MIN_ANSWERS"] = 3

    for change in (counted, moved, renamed):
        changes(change)
    before = _fetch(client, "/donnees-ouvertes/barometre.csv").headers["ETag"]
    minimum()
    assert _fetch(client, "/donnees-ouvertes/barometre.csv", **{"If-None-Match": before}).status_code == 200
    # Unchanged: 304.
    for url in urls:
        etag = _fetch(client, url).headers["ETag"]
        assert _fetch(client, url, **{"If-None-Match": etag}).status_code == 304, url


@pytest.mark.both_databases("app.opendata.barometer_rows")
def test_files_and_api_issue_the_same_queries_whatever_the_answers_and_services(client, catalogue):
    urls = ["/donnees-ouvertes/barometre-mensuel.csv", "/donnees-ouvertes/barometre.csv",
            "/donnees-ouvertes/barometre.json", "/api/v1/barometre-mensuel?per_page=100",
            "/api/v1/barometre?per_page=100", "/api/v1/barometre?page=2&per_page=7"]

    def counts():
        out = {}
        for url in urls:
            response, statements = statements_of_get(client, url)
            assert response.status_code == 200, url
            out[url] = len(statements)
        return out

    few = counts()
    organisation = make_organisation()
    for index in range(40):
        service = make_service(organisation, life_events=[catalogue["event"]] if index % 2 else [])
        db.session.flush()
        _counts(service, {("satisfaction", 0): 10 + index, ("satisfaction", 3): 10 + index}, month=_month(-index % 24))
    many = counts()
    assert many == few
    assert max(few.values()) <= 4, few
    assert len(_csv(client, "barometre")) == (1 + 3 + 1 + 43) * 6
