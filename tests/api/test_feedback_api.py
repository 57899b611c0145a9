"""The published experiences and their replies in the API (issue 22, point 8): the list, filtered by organisation,
service and publication day, paginated like every list; one experience; malformed filters refused with a translated
message; the OpenAPI document describes the filters (tests/api/test_openapi.py runs schemathesis over them)."""

from datetime import datetime

import pytest
from jsonschema import Draft202012Validator

from app.extensions import db
from app.feedback.models import ExperienceStatus
from tests.factories import make_organisation, make_service
from tests.feedback.helpers import make_response
from tests.opendata.helpers import build_world, experience_of


def _published(service, text, published_at, **fields):
    experience = experience_of(make_response(service, satisfaction=2, verbatim=text, consent=True,
                                             experience=ExperienceStatus.published))
    experience.published_at = published_at
    for name, value in fields.items():
        setattr(experience, name, value)
    db.session.commit()
    return experience


def _ids(client, query="") -> list[int]:
    response = client.get(f"/api/v1/experiences?per_page=100{query}")
    assert response.status_code == 200, query
    return [row["id"] for row in response.get_json()["data"]]


@pytest.fixture
def two_organisations():
    """Two organisations, two services each side of midnight (UTC) on 1 March 2026."""
    first, second = make_organisation(slug="caisse-a"), make_organisation(slug="caisse-b")
    a1, a2 = make_service(first, slug="demarche-a1"), make_service(first, slug="demarche-a2")
    b1 = make_service(second, slug="demarche-b1")
    db.session.commit()
    return {
        "a1_evening": _published(a1, "Le soir.", datetime(2026, 3, 1, 23, 59, 59)),
        "a2_morning": _published(a2, "Le matin.", datetime(2026, 3, 2, 0, 0, 0)),
        "b1_later": _published(b1, "Plus tard.", datetime(2026, 4, 15, 12, 0)),
    }


@pytest.mark.both_databases("app.opendata.feedback_rows")
def test_list_filters_by_organisation_service_and_publication_day(client, two_organisations):
    e = {name: experience.id for name, experience in two_organisations.items()}
    assert _ids(client) == sorted(e.values())
    assert _ids(client, "&organisation=caisse-a") == [e["a1_evening"], e["a2_morning"]]
    assert _ids(client, "&organisation=caisse-b") == [e["b1_later"]]
    assert _ids(client, "&service=demarche-a2") == [e["a2_morning"]]
    assert _ids(client, "&organisation=caisse-b&service=demarche-a1") == []
    assert _ids(client, "&organisation=inconnue") == [], "an unknown slug filters everything out"
    # Days are whole UTC days, both ends included.
    assert _ids(client, "&published_to=2026-03-01") == [e["a1_evening"]]
    assert _ids(client, "&published_from=2026-03-02") == [e["a2_morning"], e["b1_later"]]
    assert _ids(client, "&published_from=2026-03-01&published_to=2026-03-02") == [e["a1_evening"], e["a2_morning"]]
    assert _ids(client, "&published_from=2026-03-02&published_to=2026-03-01") == []
    assert _ids(client, "&published_from=0001-01-01&published_to=9999-12-31") == sorted(e.values())
    assert _ids(client, "&organisation=caisse-a&published_from=2026-03-02") == [e["a2_morning"]]


def test_filtered_pages_count_and_link_the_filtered_rows(client, two_organisations):
    body = client.get("/api/v1/experiences?organisation=caisse-a&per_page=1").get_json()
    assert body["meta"] == {"page": 1, "per_page": 1, "total": 2, "pages": 2}
    assert body["links"]["next"].endswith("/api/v1/experiences?page=2&per_page=1&organisation=caisse-a")
    second = client.get(body["links"]["next"]).get_json()
    assert [row["id"] for row in second["data"]] == [two_organisations["a2_morning"].id]
    assert second["links"]["next"] is None
    assert second["links"]["prev"].endswith("page=1&per_page=1&organisation=caisse-a")
    unfiltered = client.get("/api/v1/experiences?per_page=1")
    filtered = client.get("/api/v1/experiences?per_page=1&organisation=caisse-a")
    assert unfiltered.headers["ETag"] != filtered.headers["ETag"], "each filter has its own validator"
    again = client.get("/api/v1/experiences?per_page=1&organisation=caisse-a",
                       headers={"If-None-Match": filtered.headers["ETag"]})
    assert again.status_code == 304


def test_one_experience_and_only_a_public_one(client):
    world = build_world()
    answered = world.experiences["answered"]
    response = client.get(f"/api/v1/experiences/{answered.id}")
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["id"] == answered.id
    assert (data["satisfaction"], data["satisfaction_label"]) == (1, "Pas bien")
    assert data["text"] == "-3 jours d'attente & <rien>", "text unchanged (no apostrophe in JSON)"
    assert data["reply"] == "=Nous avons ajouté un créneau le samedi."
    assert data["reply_signature"] == "Le service des cartes grises"
    assert len(data["published_at"]) == 10, "the day only"
    assert response.get_json()["links"]["collection"].endswith("/api/v1/experiences")
    for hidden in ("pending", "refused", "spam"):
        missing = client.get(f"/api/v1/experiences/{world.experiences[hidden].id}")
        assert missing.status_code == 404, hidden
        assert missing.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query,code", [
    ("organisation=Caisse%20A", "invalid_organisation"), ("organisation=", "invalid_organisation"),
    ("organisation=caisse-a&organisation=caisse-b", "invalid_organisation"), ("service=d%C3%A9marche",
                                                                              "invalid_service"),
    ("service=" + "a" * 121, "invalid_service"), ("published_from=2026-02-30", "invalid_published_from"),
    ("published_from=20260301", "invalid_published_from"), ("published_to=2026-W09-1", "invalid_published_to"),
    ("published_to=", "invalid_published_to"), ("published_to=%EF%BC%92026-03-01", "invalid_published_to"),
])
def test_malformed_filters_are_400_with_a_translated_message(client, query, code):
    response = client.get(f"/api/v1/experiences?{query}")
    assert response.status_code == 400, query
    error = response.get_json()["error"]
    assert error["code"] == code
    name = code.removeprefix("invalid_")
    assert f"({name})" in error["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_filters_belong_to_their_dataset(client, two_organisations):
    """Twin of the above: another resource has no such filter, and ignores the parameter as it ignores any other."""
    assert client.get("/api/v1/measures?organisation=Pas%20un%20slug").status_code == 200


def test_openapi_documents_the_filters_and_the_schema_of_an_experience(client):
    build_world()
    document = client.get("/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/experiences"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert set(parameters) == {"page", "per_page", "organisation", "service", "published_from", "published_to"}
    assert parameters["published_from"]["schema"]["format"] == "date"
    assert "/api/v1/experiences/{id}" in document["paths"]
    validator = Draft202012Validator({**document["components"]["schemas"]["ExperiencesList"],
                                      "$defs": {}, "components": document["components"]})
    body = client.get("/api/v1/experiences?per_page=100").get_json()
    assert len(body["data"]) == 2
    validator.validate(body)
    broken = {**body, "data": [{**body["data"][0], "satisfaction": 7}]}
    assert list(validator.iter_errors(broken)), "the schema refuses a satisfaction that is no JDMA code"
