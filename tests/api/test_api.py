"""The read-only JSON API: pagination, details, errors, conditional requests, CORS, no personal data, and a
bounded number of queries whatever the data size."""


import pytest

from app.opendata.datasets import DATASETS
from tests.opendata.helpers import FORMULA_TITLE, SECRET_EMAIL, SECRET_NAME, build_world, grow
from tests.queries import count_queries


def test_list_is_paginated_with_links_and_meta(client):
    world = build_world()
    public = sorted(row["id"] for row in client.get("/donnees-ouvertes/proposals.json").get_json())
    assert len(public) > 3 and {p.id for p in world.public} <= set(public)
    first = client.get("/api/v1/proposals?per_page=3")
    assert first.status_code == 200
    body = first.get_json()
    pages = -(-len(public) // 3)
    assert body["meta"] == {"page": 1, "per_page": 3, "total": len(public), "pages": pages}
    assert body["links"]["prev"] is None
    assert body["links"]["next"].endswith("/api/v1/proposals?page=2&per_page=3")
    assert body["links"]["last"].endswith(f"/api/v1/proposals?page={pages}&per_page=3")
    seen = [row["id"] for row in body["data"]]
    page = body
    while page["links"]["next"]:
        page = client.get(page["links"]["next"]).get_json()
        seen += [row["id"] for row in page["data"]]
    assert seen == public, "every public proposal once, in id order"
    assert page["links"]["prev"].endswith(f"page={pages - 1}&per_page=3")
    assert body["data"][0]["title"] == FORMULA_TITLE, "JSON carries text unchanged"
    assert body["data"][0]["url"].endswith(f"/propositions/{public[0]}")
    beyond = client.get("/api/v1/proposals?page=50&per_page=3").get_json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == len(public)


def test_every_resource_lists_and_details(client):
    build_world()
    index = client.get("/api/v1/").get_json()
    assert [r["name"] for r in index["data"]] == [d.name for d in DATASETS]
    for dataset in DATASETS:
        listing = client.get(f"/api/v1/{dataset.name}?per_page=100")
        assert listing.status_code == 200, dataset.name
        rows = listing.get_json()["data"]
        assert rows, f"{dataset.name}: empty in the test world"
        assert list(rows[0]) == dataset.field_names
        if dataset.has_detail:
            detail = client.get(f"/api/v1/{dataset.name}/{rows[-1]['id']}")
            assert detail.status_code == 200
            assert detail.get_json()["data"] == rows[-1]


def test_hidden_proposal_is_404_like_an_unknown_one(client):
    world = build_world()
    hidden = world.private[0]
    for url in (f"/api/v1/proposals/{hidden.id}", "/api/v1/proposals/999999", "/api/v1/proposals/99999999999"):
        response = client.get(url)
        assert response.status_code == 404, url
        error = response.get_json()["error"]
        assert error["code"] == "not_found"
        # Past 2³¹ - 1 no id can exist: the URL matches no route, and the message is the site's own 404.
        assert error["message"] == ("La page demandée n'existe pas ou a été déplacée." if url.endswith("99999999999")
                                    else "Aucun élément de cette ressource ne porte cet identifiant.")


@pytest.mark.parametrize("query,code", [
    ("page=0", "invalid_page"), ("page=-1", "invalid_page"), ("page=abc", "invalid_page"), ("page=1.5", "invalid_page"),
    ("page=100001", "invalid_page"), ("per_page=0", "invalid_per_page"), ("per_page=101", "invalid_per_page"),
    ("per_page=", "invalid_per_page"),
])
def test_bad_page_numbers_are_400_with_a_translated_message(client, query, code):
    response = client.get(f"/api/v1/measures?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert "entier entre 1 et" in error["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_good_page_numbers_are_accepted(client):
    """Twin of the refusals above: the bounds themselves are valid."""
    for query in ("page=1", "page=100000", "per_page=1", "per_page=100"):
        assert client.get(f"/api/v1/measures?{query}").status_code == 200, query


def test_unknown_resource_and_list_only_details_are_404(client):
    for url in ("/api/v1/users", "/api/v1/ballots/1", "/api/v1/consultation-results/1", "/api/v1/proposals/abc"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.is_json and response.get_json()["error"]["code"] in ("unknown_resource", "not_found")


def test_only_get_is_allowed(client):
    response = client.post("/api/v1/proposals")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" not in response.headers["Allow"]


def test_list_and_detail_answer_304_until_the_data_changes(client):
    world = build_world()
    for url in ("/api/v1/measures", f"/api/v1/measures/{world.measure.id}", "/api/v1/openapi.json", "/api/v1/"):
        first = client.get(url)
        etag = first.headers["ETag"]
        assert not etag.startswith("W/")
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, url
        assert again.get_data() == b""
        assert again.headers["Access-Control-Allow-Origin"] == "*"
    listing = client.get("/api/v1/measures")
    assert listing.headers["Last-Modified"]
    assert client.get("/api/v1/measures", headers={"If-Modified-Since": listing.headers["Last-Modified"]}
                      ).status_code == 304
    assert client.get("/api/v1/measures?per_page=5").headers["ETag"] != listing.headers["ETag"], \
        "each page has its own validator"
    from app.decisions import measures

    measures.edit_measure(world.measure, world.editor, title="Formulaire unique, partout", description="")
    changed = client.get("/api/v1/measures", headers={"If-None-Match": listing.headers["ETag"]})
    assert changed.status_code == 200
    assert changed.get_json()["data"][0]["title"] == "Formulaire unique, partout"


def test_cors_is_open_for_reading_without_credentials(client):
    response = client.get("/api/v1/proposals", headers={"Origin": "https://reuse.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert "Set-Cookie" not in response.headers
    preflight = client.options("/api/v1/proposals", headers={
        "Origin": "https://reuse.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_cors_stays_closed_on_the_rest_of_the_site(client):
    assert "Access-Control-Allow-Origin" not in client.get("/propositions/").headers


def test_api_has_no_personal_data(client):
    world = build_world()
    text = "".join(client.get(f"/api/v1/{d.name}?per_page=100").get_data(as_text=True) for d in DATASETS)
    for person in (world.author, world.editor, *world.voters):
        assert person.email not in text and person.display_name not in text
    assert SECRET_NAME not in text and SECRET_EMAIL not in text


def test_api_does_not_depend_on_who_is_signed_in(client, login_as):
    world = build_world()
    anonymous = client.get("/api/v1/proposals?per_page=100")
    login_as(world.editor)
    signed_in = client.get("/api/v1/proposals?per_page=100")
    assert signed_in.get_json() == anonymous.get_json()
    assert signed_in.headers["ETag"] == anonymous.headers["ETag"]


# --- bounded queries ------------------------------------------------------------------------------------

def test_api_lists_issue_the_same_queries_with_10_and_1000_rows(client):
    build_world()
    grow(10)
    urls = [f"/api/v1/{d.name}?per_page=100" for d in DATASETS]
    few = {url: count_queries(client, url) for url in urls}
    grow(990)
    many = {url: count_queries(client, url) for url in urls}
    assert many == few
    assert max(few.values()) <= 4, few
    assert client.get("/api/v1/measures?per_page=100").get_json()["meta"]["total"] == 1001


def test_error_messages_follow_accept_language(app, client):
    from flask_babel import force_locale

    from app.errors import ERROR_TEXTS

    with app.test_request_context(), force_locale("en"):
        english = str(ERROR_TEXTS[405])
    with app.test_request_context(), force_locale("fr"):
        french = str(ERROR_TEXTS[405])
    assert english != french, "the English catalogue translates this message"
    response = client.post("/api/v1/proposals", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert response.get_json()["error"]["message"] == english
    assert response.headers["Content-Language"] == "en"
    assert "Accept-Language" in response.headers["Vary"]
    assert client.post("/api/v1/proposals").get_json()["error"]["message"] == french
    assert client.post("/api/v1/proposals", headers={"Accept-Language": "de"}).get_json()["error"]["message"] == french
    # The rest of the site keeps its own choice (session, account), whatever the header says.
    assert 'lang="fr"' in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
