"""« Données ouvertes »: every file valid against its schema, public data only, no personal data, formula-safe
CSV, conditional requests, results recomputable from the anonymised ballots, and the Atom feed."""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from email.utils import format_datetime
from itertools import groupby

import frictionless
import pytest

from app.consultations import results as pure
from app.consultations.models import Ballot
from app.decisions import measures
from app.decisions.models import MeasureStatus
from app.extensions import db
from app.opendata.datasets import DATASETS
from tests.conftest import get_csrf
from tests.factories import make_user
from tests.queries import statements_of_get

from .helpers import FORMULA_TITLE, SECRET_EMAIL, SECRET_NAME, backdate, build_world, grow

ATOM = "{http://www.w3.org/2005/Atom}"


def _csv_rows(client, name) -> list[dict]:
    response = client.get(f"/donnees-ouvertes/{name}.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _json_rows(client, name) -> list[dict]:
    response = client.get(f"/donnees-ouvertes/{name}.json")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


@pytest.mark.both_databases("app.opendata.workshop_rows")
def test_every_csv_file_is_valid_against_the_datapackage(client, tmp_path):
    build_world()
    package = client.get("/donnees-ouvertes/datapackage.json").get_json()
    assert [r["name"] for r in package["resources"]] == [d.name for d in DATASETS]
    assert package["licenses"][0]["name"] == "etalab-2.0"
    for resource in package["resources"]:
        response = client.get(f"/donnees-ouvertes/{resource['name']}.csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        body = response.get_data()
        assert not body.startswith(b"\xef\xbb\xbf"), "UTF-8 without BOM, as documented"
        assert body.count(b"\r\n") >= 2, f"{resource['name']}: no data row to validate"
        (tmp_path / f"{resource['name']}.csv").write_bytes(body)
        resource["path"] = f"{resource['name']}.csv"
    (tmp_path / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert [task.stats["rows"] for task in report.tasks] == [
        len(_csv_rows(client, d.name)) for d in DATASETS]


def test_validation_catches_a_file_that_breaks_its_schema(client, tmp_path):
    """The check above can fail: a CSV whose progress is 150 (schema: 0 to 100) is reported."""
    build_world()
    package = client.get("/donnees-ouvertes/datapackage.json").get_json()
    resource = next(r for r in package["resources"] if r["name"] == "measures")
    text = client.get("/donnees-ouvertes/measures.csv").get_data(as_text=True)
    header, row = text.splitlines()[:2]
    cells = next(csv.reader([row]))
    cells[header.split(",").index("progress")] = "150"
    broken = io.StringIO()
    csv.writer(broken, lineterminator="\r\n").writerows([header.split(","), cells])
    (tmp_path / "measures.csv").write_text(broken.getvalue(), encoding="utf-8")
    resource["path"] = "measures.csv"
    (tmp_path / "datapackage.json").write_text(json.dumps({**package, "resources": [resource]}), encoding="utf-8")
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert not report.valid
    assert {e.type for e in report.tasks[0].errors} == {"constraint-error"}


@pytest.mark.both_databases("app.opendata.workshop_rows")
def test_json_files_carry_the_same_rows_with_text_unchanged(client):
    world = build_world()
    for dataset in DATASETS:
        assert len(_json_rows(client, dataset.name)) == len(_csv_rows(client, dataset.name)), dataset.name
    proposals = {row["id"]: row for row in _json_rows(client, "proposals")}
    assert proposals[world.public[0].id]["title"] == FORMULA_TITLE
    assert proposals[world.public[0].id]["support_count"] == 0
    assert proposals[world.public[1].id]["state"] == "answered"


def test_json_files_hold_no_byte_that_reads_as_markup(client):
    """The text as typed once parsed, but ``<``, ``>`` and ``&`` written as escapes (app/jsonsafe.py)."""
    world = build_world()
    typed = '<script>alert(1)</script> & <a href="javascript:alert(2)">ici</a>'
    world.public[0].title = typed
    db.session.commit()
    response = client.get("/donnees-ouvertes/proposals.json")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert not set(b"<>&") & set(response.get_data())
    assert {row["id"]: row for row in json.loads(response.get_data())}[world.public[0].id]["title"] == typed


def test_only_public_data_is_published(client):
    world = build_world()
    proposal_ids = {int(r["id"]) for r in _csv_rows(client, "proposals")}
    assert {p.id for p in world.public} <= proposal_ids
    assert not proposal_ids & {p.id for p in world.private}, "hidden, draft, withdrawn or unmoderated proposals"
    answer_ids = {int(r["id"]) for r in _csv_rows(client, "answers")}
    assert answer_ids == {world.answer.id}, "the answer to a hidden proposal is not published"
    workshops = {int(r["id"]): r for r in _csv_rows(client, "workshops")}
    assert set(workshops) == {world.workshops["past"].id, world.workshops["few"].id}
    past, few = workshops[world.workshops["past"].id], workshops[world.workshops["few"].id]
    assert (past["seats"], past["attended"], past["attendance_rate"]) == ("10", "6", "0.75")
    assert (past["evaluations"], past["evaluation_overall_average"], past["evaluation_felt_heard_rate"]) == \
        ("5", "3.0", "0.6")
    assert (few["evaluations"], few["evaluation_overall_average"], few["evaluation_felt_heard_rate"]) == ("2", "", "")
    closed_ids = {str(c.id) for c in world.closed}
    assert {r["id"] for r in _csv_rows(client, "consultations")} == closed_ids
    assert {r["consultation_id"] for r in _csv_rows(client, "consultation-results")} == closed_ids
    assert {r["consultation_id"] for r in _csv_rows(client, "ballots")} == closed_ids
    links = _csv_rows(client, "measure-proposals")
    assert [(int(r["measure_id"]), int(r["proposal_id"])) for r in links] == [(world.measure.id, world.public[1].id)]
    assert len(_csv_rows(client, "milestones")) == 2
    assert [r["progress"] for r in _csv_rows(client, "measure-updates")] == ["20", "50"]


def test_no_personal_data_in_any_file(client):
    world = build_world()
    ballots = db.session.scalars(db.select(Ballot)).all()
    bodies = [client.get(f"/donnees-ouvertes/{d.name}.{fmt}").get_data(as_text=True)
              for d in DATASETS for fmt in ("csv", "json")]
    bodies.append(client.get("/donnees-ouvertes/flux.atom").get_data(as_text=True))
    everything = "\n".join(bodies)
    people = [world.author, world.editor, *world.voters]
    for person in people:
        assert person.email not in everything
        assert person.display_name not in everything
    assert SECRET_NAME not in everything and SECRET_EMAIL not in everything
    assert "@example.org" not in everything
    assert "a dit" not in everything, "evaluation comments are not published"
    names = {f.name for d in DATASETS for f in d.fields}
    assert not {n for n in names if any(w in n for w in ("user", "author", "email", "editor", "voter", "name"))}
    # Ballots are named by their random public id, never by the voter's account id.
    ballot_ids = {r["ballot_id"] for r in _csv_rows(client, "ballots")}
    assert ballot_ids == {b.public_id for b in ballots if b.consultation_id in {c.id for c in world.closed}}
    assert not ballot_ids & {str(p.id) for p in people}


def test_csv_cells_cannot_run_as_formulas(client):
    world = build_world()
    proposals = {int(r["id"]): r for r in _csv_rows(client, "proposals")}
    assert proposals[world.public[0].id]["title"] == "'" + FORMULA_TITLE
    assert proposals[world.public[0].id]["problem"] == "'-5 démarches"
    assert _csv_rows(client, "answers")[0]["body"] == "'=SOMME(A1:A9) sera fait"
    assert _csv_rows(client, "measures")[0]["description"] == "'@début"
    assert _csv_rows(client, "measure-updates")[1]["body"].startswith("'+ moitié")
    # Numbers stay numbers (no apostrophe), so the files still validate as typed.
    assert proposals[world.public[1].id]["support_count"] == "0"


@pytest.mark.both_databases("app.opendata.dataset")
def test_downloads_answer_304_while_unchanged_and_200_once_changed(client):
    world = build_world()
    first = client.get("/donnees-ouvertes/measure-updates.csv")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/"), "a strong ETag"
    assert first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get("/donnees-ouvertes/measure-updates.csv", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    since = client.get("/donnees-ouvertes/measure-updates.csv",
                       headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    # JSON and CSV of the same data are different files: different validators.
    assert client.get("/donnees-ouvertes/measure-updates.json").headers["ETag"] != etag
    measures.post_update(world.measure, world.editor, body="Fini.", status=MeasureStatus.implemented, progress=100)
    changed = client.get("/donnees-ouvertes/measure-updates.csv", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert "Fini." in changed.get_data(as_text=True)


def test_a_new_support_changes_the_proposals_etag(client):
    """support_count changes do not touch updated_at: the fingerprint still sees them."""
    from app.proposals import service as proposals

    world = build_world()
    etag = client.get("/donnees-ouvertes/proposals.csv").headers["ETag"]
    supporter = make_user()
    db.session.commit()
    proposals.support(world.public[0], supporter)
    assert client.get("/donnees-ouvertes/proposals.csv", headers={"If-None-Match": etag}).status_code == 200


def test_an_old_if_modified_since_gets_the_file(client):
    build_world()
    old = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert client.get("/donnees-ouvertes/answers.csv", headers={"If-Modified-Since": old}).status_code == 200


def test_unknown_file_is_404(client):
    assert client.get("/donnees-ouvertes/users.csv").status_code == 404
    assert client.get("/donnees-ouvertes/proposals.xlsx").status_code == 404


def _recompute(consultations, results_rows, ballot_rows):
    """Every consultation's results, recomputed from the published files with the pure functions only."""
    out = {}
    for consultation in consultations:
        cid = consultation["id"]
        counted = sorted(int(r["proposal_id"]) for r in results_rows
                         if r["consultation_id"] == cid and r["counted"] == "true")
        mine = [r for r in ballot_rows if r["consultation_id"] == cid]
        ballots = []
        for _ballot_id, rows in groupby(mine, key=lambda r: r["ballot_id"]):
            choices = {int(r["proposal_id"]): int(r["value"]) for r in rows if r["proposal_id"]}
            ballots.append(set(choices) if consultation["method"] == "support" else choices)
        value = int(consultation["selection_value"]) if consultation["selection_value"] else None
        out[cid] = pure.compute(consultation["method"], counted, ballots, consultation["selection_rule"], value)
    return out


def test_anyone_can_recompute_every_published_result_from_the_files(client):
    world = build_world()
    consultations = _csv_rows(client, "consultations")
    results_rows = _csv_rows(client, "consultation-results")
    recomputed = _recompute(consultations, results_rows, _csv_rows(client, "ballots"))
    assert set(recomputed) == {str(c.id) for c in world.closed}
    for consultation in consultations:
        tally = recomputed[consultation["id"]]
        assert tally.ballots_cast == int(consultation["ballots_cast"])
        mine = [r for r in results_rows if r["consultation_id"] == consultation["id"] and r["counted"] == "true"]
        published = sorted((int(r["proposal_id"]), int(r["rank"]), int(r["score"]), int(r["backers"]),
                            r["selected"] == "true",
                            tuple(int(r[f"grade_{g}"]) for g in range(pure.NUM_GRADES)) if r["grade_0"] else ())
                           for r in mine)
        assert published == sorted((row.proposal_id, row.rank, row.score, row.backers, row.selected, row.profile)
                                   for row in tally.rows)
    # Majority judgment: two proposals share the median « À rejeter » and the tie-break ranks them apart.
    majority = [r for r in results_rows if r["consultation_id"] == str(world.closed[0].id) and r["counted"] == "true"]
    assert len({r["score"] for r in majority}) < len(majority) == len({r["rank"] for r in majority})
    # The votes were not trivial: a ranking with a selection, a withdrawn proposal, an empty ballot.
    assert any(r["selected"] == "true" for r in results_rows)
    assert any(r["counted"] == "false" for r in results_rows)
    assert any(r["proposal_id"] == "" for r in _csv_rows(client, "ballots"))


def test_recomputing_from_a_tampered_ballot_file_disagrees(client):
    """The check above can fail: dropping one ballot row changes a recomputed result."""
    build_world()
    consultations = _csv_rows(client, "consultations")
    results_rows = _csv_rows(client, "consultation-results")
    ballots = _csv_rows(client, "ballots")
    honest = _recompute(consultations, results_rows, ballots)
    tampered = _recompute(consultations, results_rows, [r for r in ballots if r["proposal_id"]][1:])
    assert any(honest[k].rows != tampered[k].rows or honest[k].ballots_cast != tampered[k].ballots_cast
               for k in honest)


def test_atom_feed_lists_answers_and_measure_updates(client):
    world = build_world()
    response = client.get("/donnees-ouvertes/flux.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own feed, in a test)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}").text
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith("/donnees-ouvertes/flux.atom")
    entries = root.findall(f"{ATOM}entry")
    kinds = sorted(e.find(f"{ATOM}category").get("term") for e in entries)
    assert kinds == ["answer", "measure_update", "measure_update"]
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:") for i in ids)
    for entry in entries:
        assert entry.find(f"{ATOM}updated").text.endswith("Z")
        assert entry.find(f"{ATOM}link").get("href").startswith("http")
    summaries = [e.find(f"{ATOM}summary").text for e in entries]
    assert "+ moitié <b>faite</b> & fière" in summaries, "markup in user text arrives as text (escaped)"
    answer = next(e for e in entries if e.find(f"{ATOM}category").get("term") == "answer")
    assert answer.find(f"{ATOM}link").get("href").endswith(f"/propositions/{world.answer.proposal_id}")
    assert "Hors sujet" not in response.get_data(as_text=True), "no answer to a hidden proposal"
    etag = response.headers["ETag"]
    assert client.get("/donnees-ouvertes/flux.atom", headers={"If-None-Match": etag}).status_code == 304


def test_page_lists_every_file_with_its_licence(client):
    response = client.get("/donnees-ouvertes/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for dataset in DATASETS:
        assert f'href="/donnees-ouvertes/{dataset.name}.csv"' in html
        assert f'href="/donnees-ouvertes/{dataset.name}.json"' in html
        assert str(dataset.title) in html
    assert "Licence Ouverte / Open Licence version 2.0" in html
    assert 'href="/donnees-ouvertes/datapackage.json"' in html
    assert "<script" not in html.split("<main", 1)[1], "no script on the page"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_footer_links_to_open_data(client):
    assert 'href="/donnees-ouvertes/"' in client.get("/").get_data(as_text=True)


def _statements(client, url) -> tuple[int, bytes]:
    response, statements = statements_of_get(client, url)
    return len(statements), response.get_data()


@pytest.mark.both_databases("app.opendata.dataset")
def test_whole_files_are_streamed_with_the_same_queries_at_any_size(client):
    build_world()
    grow(10)
    few = {d.name: _statements(client, f"/donnees-ouvertes/{d.name}.csv")[0] for d in DATASETS}
    grow(1500)
    many = {}
    for dataset in DATASETS:
        many[dataset.name], body = _statements(client, f"/donnees-ouvertes/{dataset.name}.csv")
    assert many == few
    assert body.count(b"\r\n") > 1
    response = client.get("/donnees-ouvertes/measures.csv")
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) > 1, "sent a few hundred lines at a time, not built whole in memory"
    assert sum(chunk.count(b"\r\n") if isinstance(chunk, bytes) else chunk.count("\r\n") for chunk in chunks) == \
        1 + 1 + 10 + 1500


# --- validators: what a client holding a copy is told ------------------------------------------------------

def _fetch(client, url, **kwargs):
    """The response, read whole (a streamed file left unread would outlive its request context)."""
    response = client.get(url, **kwargs)
    response.get_data()
    return response

def test_a_weak_etag_from_a_compressing_proxy_still_gets_its_304(client):
    """nginx's gzip turns our strong ETag into W/"…"; If-None-Match compares weakly (RFC 9110 §13.1.2)."""
    build_world()
    for url in ("/donnees-ouvertes/measures.csv", "/donnees-ouvertes/flux.atom", "/donnees-ouvertes/datapackage.json"):
        etag = _fetch(client, url).headers["ETag"]
        assert _fetch(client, url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304, url
        assert _fetch(client, url, headers={"If-None-Match": 'W/"autre"'}).status_code == 200, url


def test_files_are_open_to_scripts_of_other_sites_304s_and_preflights_included(client):
    build_world()
    first = _fetch(client, "/donnees-ouvertes/measures.json", headers={"Origin": "https://reuse.example"})
    assert "ETag" in first.headers["Access-Control-Expose-Headers"], "else a script cannot read the ETag"
    again = _fetch(client, "/donnees-ouvertes/measures.json",
                       headers={"Origin": "https://reuse.example", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Access-Control-Allow-Origin"] == "*", "a script reading its own 304 needs CORS too"
    preflight = client.options("/donnees-ouvertes/measures.json", headers={
        "Origin": "https://reuse.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in first.headers
    assert "Access-Control-Allow-Origin" not in _fetch(client, "/donnees-ouvertes/").headers, "the page is not data"


def test_hiding_a_proposal_outdates_every_copy_that_shows_it(client):
    """Hiding moves no updated_at: the validators still change, so no copy keeps moderated content."""
    from app.proposals import moderation

    world = build_world()
    backdate()
    urls = ["/donnees-ouvertes/proposals.csv", "/donnees-ouvertes/answers.csv", "/donnees-ouvertes/flux.atom",
            "/donnees-ouvertes/measure-proposals.csv", f"/api/v1/answers/{world.answer.id}"]
    before = {url: _fetch(client, url).headers for url in urls}
    moderation.hide_proposal(world.public[1], world.editor, "Propos injurieux")
    for url in urls:
        etag, modified = before[url]["ETag"], before[url]["Last-Modified"]
        assert _fetch(client, url, headers={"If-None-Match": etag}).status_code in (200, 404), url
        assert _fetch(client, url, headers={"If-Modified-Since": modified}).status_code in (200, 404), url
    assert "Un seul formulaire" not in _fetch(client, "/donnees-ouvertes/proposals.csv").get_data(as_text=True)


def test_if_modified_since_alone_never_keeps_a_copy_whose_rows_changed_without_a_date(client):
    """A milestone done « last week » and a new support move no date forward: no 304 on the date alone for these
    files (their ETag still answers 304)."""
    from app.proposals import service as proposals

    world = build_world()
    backdate()
    milestones = _fetch(client, "/donnees-ouvertes/milestones.csv")
    listing = _fetch(client, "/donnees-ouvertes/proposals.json")
    api = _fetch(client, "/api/v1/milestones")
    planned = next(m for m in world.measure.milestones if m.done_on is None)
    measures.complete_milestone(planned, world.editor, done_on=date(2026, 1, 2))
    supporter = make_user()
    db.session.commit()
    proposals.support(world.public[0], supporter)
    for response, url in ((milestones, "/donnees-ouvertes/milestones.csv"),
                          (listing, "/donnees-ouvertes/proposals.json"), (api, "/api/v1/milestones")):
        assert _fetch(client, url, headers={"If-Modified-Since": response.headers["Last-Modified"]}).status_code == 200
        assert _fetch(client, url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 200
        current = _fetch(client, url).headers["ETag"]
        assert _fetch(client, url, headers={"If-None-Match": current}).status_code == 304


def test_dated_files_still_answer_304_to_if_modified_since(client):
    """Twin of the above: where every change moves a date, the date alone revalidates."""
    build_world()
    backdate()
    for url in ("/donnees-ouvertes/measures.csv", "/donnees-ouvertes/answers.csv", "/api/v1/measures"):
        modified = _fetch(client, url).headers["Last-Modified"]
        assert _fetch(client, url, headers={"If-Modified-Since": modified}).status_code == 304, url


@pytest.mark.both_databases("app.opendata.dataset")
def test_renaming_an_organisation_changes_the_files_that_name_it(client):
    from app.catalog import service as catalog

    world = build_world()
    admin = make_user(admin=True)
    db.session.commit()
    names = ("proposals", "answers", "measures", "workshops", "consultations")
    before = {n: _fetch(client, f"/donnees-ouvertes/{n}.csv").headers["ETag"] for n in names}
    untouched = _fetch(client, "/donnees-ouvertes/milestones.csv").headers["ETag"]
    catalog.save_organisation(admin, world.organisation, name="Caisse renommée")
    for name in names:
        response = _fetch(client, f"/donnees-ouvertes/{name}.csv", headers={"If-None-Match": before[name]})
        assert response.status_code == 200, name
        assert "Caisse renommée" in response.get_data(as_text=True)
    assert _fetch(client, "/donnees-ouvertes/milestones.csv", headers={"If-None-Match": untouched}).status_code == 304


def _update_titles(client) -> list[str]:
    response = client.get("/donnees-ouvertes/flux.atom")
    assert response.status_code == 200
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own feed, in a test)
    return [e.find(f"{ATOM}title").text for e in root.findall(f"{ATOM}entry")
            if e.find(f"{ATOM}category").get("term") == "measure_update"]


def test_feed_titles_write_the_progress_the_way_the_language_does(client):
    build_world()
    titles = _update_titles(client)
    assert titles and all(re.search(r" \(\d+ %\)$", t) for t in titles), titles
    client.post("/langue", data={"lang": "en", "csrf_token": get_csrf(client, "/")})
    titles = _update_titles(client)
    assert titles and all(re.search(r"\d%\)$", t) for t in titles), titles


def test_feed_changes_when_a_measure_is_renamed_and_stays_valid_xml_with_control_characters(client):
    world = build_world()
    etag = _fetch(client, "/donnees-ouvertes/flux.atom").headers["ETag"]
    measures.edit_measure(world.measure, world.editor, title="Formulaire unique renommé", description="",
                          proposal_ids=[world.public[1].id])
    renamed = _fetch(client, "/donnees-ouvertes/flux.atom", headers={"If-None-Match": etag})
    assert renamed.status_code == 200, "the entry titles name the measure"
    etag = renamed.headers["ETag"]
    measures.post_update(world.measure, world.editor, body="Collé\x0bd'un traitement\x1b de texte\x0c.",
                         status=MeasureStatus.in_progress, progress=60)
    response = _fetch(client, "/donnees-ouvertes/flux.atom", headers={"If-None-Match": etag})
    assert response.status_code == 200
    root = ET.fromstring(response.get_data())  # noqa: S314 (our own feed, in a test)
    summaries = [e.find(f"{ATOM}summary").text for e in root.findall(f"{ATOM}entry")]
    assert "Colléd'un traitement de texte." in summaries
    assert any("Formulaire unique renommé" in e.find(f"{ATOM}title").text for e in root.findall(f"{ATOM}entry"))


def test_a_cheaper_count_counts_the_rows_the_file_has(client):
    """A dataset may count its rows without its joins; with hidden, draft and withdrawn proposals about, and
    proposals with and without a service or life event, both counts agree (and the API's total says the same)."""
    build_world()
    with_count = [d for d in DATASETS if d.count_statement is not None]
    assert with_count, "no dataset counts without its joins: this test checks nothing"
    for dataset in with_count:
        rows = _csv_rows(client, dataset.name)
        with client.application.test_request_context():
            assert dataset.count() == len(rows) == len(list(dataset.iter_rows())), dataset.name
        assert client.get(f"/api/v1/{dataset.name}").get_json()["meta"]["total"] == len(rows)
