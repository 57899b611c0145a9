"""Published experiences and their replies in open data (issue 22, point 8): the ``experiences`` files (CSV and
JSON, valid against ``datapackage.json``), only what moderation published and nothing that identifies the
respondent, formula-safe CSV, validators that follow every change, a constant number of queries whatever the number
of rows, and the Atom feed of replies."""

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import frictionless
import pytest
from flask_babel import force_locale, gettext

from app.catalog import service as catalog
from app.clock import utcnow
from app.extensions import db
from app.feedback.models import ExperienceStatus, Source
from app.opendata.feedback_rows import EXPERIENCES, SATISFACTION_LABELS
from tests.conftest import get_csrf
from tests.factories import make_organisation, make_service, make_user
from tests.feedback.helpers import make_response
from tests.queries import statements_of_get

from .helpers import backdate, build_world, experience_of, grow_experiences

ATOM = "{http://www.w3.org/2005/Atom}"
FEED = "/donnees-ouvertes/reponses-aux-avis.atom"


def _fetch(client, url, **kwargs):
    response = client.get(url, **kwargs)
    response.get_data()
    return response


def _csv(client) -> list[dict]:
    response = _fetch(client, "/donnees-ouvertes/experiences.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _json(client) -> list[dict]:
    response = _fetch(client, "/donnees-ouvertes/experiences.json")
    assert response.status_code == 200
    return json.loads(response.get_data(as_text=True))


def _feed(client, url=FEED):
    response = _fetch(client, url)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    return response, ET.fromstring(response.get_data())  # noqa: S314 (our own feed, in a test)


def _published(service, text, published_at, **reply):
    """A published experience of ``service`` (published at ``published_at``), with ``reply`` fields set on it."""
    experience = experience_of(make_response(service, satisfaction=2, verbatim=text, consent=True,
                                             experience=ExperienceStatus.published))
    experience.published_at = published_at
    for name, value in reply.items():
        setattr(experience, name, value)
    db.session.commit()
    return experience


# --- what is published ----------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.feedback_rows")
def test_only_published_experiences_that_are_not_spam_with_their_replies(client):
    world = build_world()
    experiences = world.experiences
    rows = {int(row["id"]): row for row in _csv(client)}
    assert set(rows) == {experiences["answered"].id, experiences["unanswered"].id}, \
        "pending, refused and spam experiences are not published"
    answered = rows[experiences["answered"].id]
    service = experiences["answered"].response.service
    assert (answered["service_id"], answered["service_slug"], answered["service"]) == \
        (str(service.id), "carte-grise", "Carte grise")
    assert (answered["organisation_id"], answered["organisation_slug"], answered["organisation"]) == \
        (str(world.organisation.id), world.organisation.slug, "Caisse des démarches")
    assert (answered["satisfaction"], answered["satisfaction_label"]) == ("1", "Pas bien")
    assert answered["reply_signature"] == "Le service des cartes grises"
    assert answered["replied_at"].endswith("Z")
    assert answered["url"].endswith(f"/avis/experiences/carte-grise#experience-{experiences['answered'].id}")
    assert client.get(answered["url"]).status_code == 200
    unanswered = rows[experiences["unanswered"].id]
    assert (unanswered["satisfaction"], unanswered["satisfaction_label"]) == ("3", "Très bien")
    assert unanswered["reply"] == unanswered["reply_signature"] == unanswered["replied_at"] == "", \
        "no reply yet: empty cells"
    by_id = {row["id"]: row for row in _json(client)}
    assert by_id[experiences["answered"].id]["text"] == "-3 jours d'attente & <rien>", "JSON carries text unchanged"
    assert by_id[experiences["answered"].id]["reply"] == "=Nous avons ajouté un créneau le samedi."
    assert by_id[experiences["unanswered"].id]["reply"] is None
    assert by_id[experiences["unanswered"].id]["satisfaction"] == 3


def test_marking_the_response_as_spam_or_refusing_the_experience_takes_it_out(client):
    """Twin of the above: the same experience leaves the files once its response is spam, or it is refused."""
    world = build_world()
    answered, unanswered = world.experiences["answered"], world.experiences["unanswered"]
    answered.response.is_spam = True
    answered.response.spam_marked_at = utcnow()
    unanswered.status, unanswered.published_at, unanswered.refusal_reason = ExperienceStatus.refused, None, "Hors"
    db.session.commit()
    assert _csv(client) == [] and _json(client) == []


def test_nothing_identifies_the_respondent(client):
    organisation = make_organisation()
    service = make_service(organisation)
    # Responses without an experience first: the experience's own id then differs from its response's.
    for _ in range(3):
        make_response(service, satisfaction=2)
    answered_at = datetime(2026, 3, 4, 9, 17, 42)
    response = make_response(service, satisfaction=3, verbatim="Très clair.", consent=True,
                             email="temoin.avis@example.org", source=Source.qr,
                             created_at=answered_at, experience=ExperienceStatus.published)
    experience = experience_of(response)
    experience.published_at = answered_at + timedelta(minutes=3)
    db.session.commit()
    assert experience.id != response.id
    [row] = _json(client)
    assert row["id"] == experience.id
    assert row["published_at"] == "2026-03-04", "the day only, not the minute"
    names = set(row)
    assert not {n for n in names if any(w in n for w in ("response", "token", "key", "email", "contact", "source",
                                                         "created", "author", "user"))}, names
    body = "".join(_fetch(client, f"/donnees-ouvertes/experiences.{fmt}").get_data(as_text=True)
                   for fmt in ("csv", "json"))
    body += _fetch(client, f"/api/v1/experiences/{experience.id}").get_data(as_text=True)
    for secret in ("temoin.avis@example.org", response.token_hash, response.submission_key, '"qr"', ",qr,",
                   "09:17", "09:20", f'"response_id": {response.id}'):
        assert secret not in body, secret


def test_the_satisfaction_labels_are_the_questionnaires(client):
    """Read from the JDMA questionnaire the form asks (app/data/reference/jdma_form.csv), not typed again."""
    assert SATISFACTION_LABELS == {1: "Pas bien", 2: "Moyen", 3: "Très bien"}
    schema = {f["name"]: f for f in EXPERIENCES.table_schema()["fields"]}
    assert schema["satisfaction"]["constraints"]["enum"] == [1, 2, 3]
    assert "1 = Pas bien" in schema["satisfaction"]["description"]
    assert "sans l'heure" in schema["published_at"]["description"], "the day rule is stated in the schema"


def test_csv_cells_cannot_run_as_formulas(client):
    world = build_world()
    [answered] = [r for r in _csv(client) if int(r["id"]) == world.experiences["answered"].id]
    assert answered["text"] == "'-3 jours d'attente & <rien>"
    assert answered["reply"] == "'=Nous avons ajouté un créneau le samedi."


@pytest.mark.both_databases("app.opendata.feedback_rows")
def test_csv_file_is_valid_against_its_table_schema_and_a_broken_one_is_not(client, tmp_path):
    build_world()
    package = client.get("/donnees-ouvertes/datapackage.json").get_json()
    resource = next(r for r in package["resources"] if r["name"] == "experiences")
    text = _fetch(client, "/donnees-ouvertes/experiences.csv").get_data(as_text=True)

    def report(body: str):
        (tmp_path / "experiences.csv").write_text(body, encoding="utf-8")
        (tmp_path / "datapackage.json").write_text(
            json.dumps({**package, "resources": [{**resource, "path": "experiences.csv"}]}), encoding="utf-8")
        return frictionless.validate(str(tmp_path / "datapackage.json"))

    valid = report(text)
    assert valid.valid, valid.flatten(["rowNumber", "fieldName", "type", "note"])
    assert valid.tasks[0].stats["rows"] == 2
    header, row = text.splitlines()[:2]
    cells = next(csv.reader([row]))
    cells[header.split(",").index("satisfaction")] = "4"  # not a JDMA code
    broken = io.StringIO()
    csv.writer(broken, lineterminator="\r\n").writerows([header.split(","), cells])
    refused = report(broken.getvalue())
    assert not refused.valid
    assert {e.type for e in refused.tasks[0].errors} == {"constraint-error"}


# --- validators -------------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.feedback_rows")
def test_every_change_of_what_the_files_show_changes_their_etag(client):
    world = build_world()
    backdate()
    answered, unanswered = world.experiences["answered"], world.experiences["unanswered"]
    urls = ("/donnees-ouvertes/experiences.csv", "/api/v1/experiences", f"/api/v1/experiences/{unanswered.id}", FEED)

    def changes(change) -> None:
        before = {url: _fetch(client, url) for url in urls}
        change()
        db.session.commit()
        for url, old in before.items():
            again = _fetch(client, url, headers={"If-None-Match": old.headers["ETag"]})
            assert again.status_code == 200, (change.__doc__, url)
            # The date alone never keeps a copy: not every change moves one.
            assert _fetch(client, url, headers={"If-Modified-Since": old.headers["Last-Modified"]}
                          ).status_code == 200, (change.__doc__, url)

    def reply():
        """a reply"""
        unanswered.reply_text, unanswered.reply_signature, unanswered.replied_at = "Merci.", "L'équipe", utcnow()

    def correct():
        """a reply corrected, same length"""
        unanswered.reply_text, unanswered.reply_edited_at = "Merci!", utcnow()

    def spam():
        """a response marked as spam"""
        answered.response.is_spam, answered.response.spam_marked_at = True, utcnow()

    def rename():
        """the service renamed"""
        catalog.save_service(admin, unanswered.response.service, [], name="Carte grise (certificat)",
                             slug="certificat-immatriculation")

    admin = make_user(admin=True)
    db.session.commit()
    for change in (reply, correct, spam, rename):
        changes(change)
    assert _json(client)[0]["service_slug"] == "certificat-immatriculation"
    # Unchanged: the ETag still answers 304.
    etag = _fetch(client, "/donnees-ouvertes/experiences.csv").headers["ETag"]
    assert _fetch(client, "/donnees-ouvertes/experiences.csv", headers={"If-None-Match": etag}).status_code == 304


# --- bounded queries --------------------------------------------------------------------------------------

@pytest.mark.both_databases("app.opendata.feedback_rows")
def test_files_api_and_feed_issue_the_same_queries_with_10_and_200_rows(client):
    service = make_service(make_organisation(slug="grande-caisse"), slug="grande-demarche")
    grow_experiences(10, service)
    urls = ["/donnees-ouvertes/experiences.csv", "/donnees-ouvertes/experiences.json",
            "/api/v1/experiences?per_page=100", "/api/v1/experiences?service=grande-demarche&per_page=100",
            "/api/v1/experiences?organisation=grande-caisse&published_from=2020-01-01&per_page=100",
            FEED, f"{FEED}?organisation=grande-caisse"]

    def counts():
        out = {}
        for url in urls:
            response, statements = statements_of_get(client, url)
            assert response.status_code == 200, url
            out[url] = len(statements)
        return out

    few = counts()
    grow_experiences(190, service)
    many = counts()
    assert many == few
    assert max(few.values()) <= 4, few
    assert len(_csv(client)) == 200
    assert client.get("/api/v1/experiences?service=grande-demarche").get_json()["meta"]["total"] == 200


# --- the Atom feed of replies ---------------------------------------------------------------------------------

def test_feed_lists_the_replies_newest_first_as_valid_atom(client):
    world = build_world()
    service = world.experiences["answered"].response.service
    later = _published(service, "Le site plante à l'étape 2.", utcnow(), reply_text="Corrigé <b>hier</b> & testé.",
                       reply_signature="Mme Durand, cheffe de projet", replied_at=utcnow() + timedelta(minutes=5))
    response, root = _feed(client)
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{tag}").text
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Atelier"
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith(FEED)
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}id").text.rsplit(":", 1)[1] for e in entries] == \
        [str(later.id), str(world.experiences["answered"].id)], "replies only, newest first"
    for entry in entries:
        for tag in ("id", "title", "updated", "published"):
            assert entry.find(f"{ATOM}{tag}").text, tag
        assert entry.find(f"{ATOM}id").text.startswith("tag:")
        assert entry.find(f"{ATOM}updated").text.endswith("Z")
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
        assert entry.find(f"{ATOM}content").get("type") == "text"
        assert entry.find(f"{ATOM}author/{ATOM}name").text == "Caisse des démarches"
    assert entries[0].find(f"{ATOM}link").get("href").endswith(f"/avis/experiences/carte-grise#experience-{later.id}")
    assert root.find(f"{ATOM}link[@rel='alternate']").get("href").endswith("/avis/experiences")
    content = entries[0].find(f"{ATOM}content").text
    assert "Le site plante à l'étape 2." in content
    assert "Corrigé <b>hier</b> & testé." in content, "markup in the reply arrives as text (escaped)"
    assert "Mme Durand, cheffe de projet" in content
    assert entries[0].find(f"{ATOM}title").text == "Réponse de Caisse des démarches à un avis sur « Carte grise »"
    text = response.get_data(as_text=True)
    assert "<b>" not in text and "&lt;b&gt;" in text
    for never in ("Rapide.", "En attente de modération", "Refusé par la modération", "Achetez des montres",
                  "usager.avis@example.org"):
        assert never not in text, never
    etag = response.headers["ETag"]
    assert _fetch(client, FEED, headers={"If-None-Match": etag}).status_code == 304


def test_feed_follows_the_language_and_stays_valid_xml_with_control_characters(client):
    world = build_world()
    service = world.experiences["answered"].response.service
    _published(service, "Collé\x0bd'un traitement\x1b de texte.", utcnow(), reply_text="Vu\x0c.",
               replied_at=utcnow() + timedelta(minutes=1))
    _, root = _feed(client)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    content = root.find(f"{ATOM}entry/{ATOM}content").text
    assert "Colléd'un traitement de texte." in content and "Vu." in content
    client.post("/langue", data={"lang": "en", "csrf_token": get_csrf(client, "/")})
    _, root = _feed(client)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    with client.application.test_request_context(), force_locale("en"):
        english = gettext("Réponse de %(organisation)s à un avis sur « %(service)s »",
                          organisation="Caisse des démarches", service="Carte grise")
    assert root.find(f"{ATOM}entry/{ATOM}title").text == english, "in the reader's language (once translated)"


def test_feed_of_one_organisation_or_one_service(client):
    world = build_world()
    other = make_service(make_organisation(slug="autre-caisse"), slug="autre-demarche")
    theirs = _published(other, "Ailleurs.", utcnow(), reply_text="Réponse d'ailleurs.", replied_at=utcnow())

    def ids(url):
        return [e.find(f"{ATOM}id").text.rsplit(":", 1)[1] for e in _feed(client, url)[1].findall(f"{ATOM}entry")]

    mine = str(world.experiences["answered"].id)
    assert set(ids(FEED)) == {mine, str(theirs.id)}
    assert ids(f"{FEED}?organisation={world.organisation.slug}") == [mine]
    assert ids(f"{FEED}?service=autre-demarche") == [str(theirs.id)]
    assert ids(f"{FEED}?organisation=autre-caisse&service=carte-grise") == []
    assert ids(f"{FEED}?organisation=inconnue") == []
    response, root = _feed(client, f"{FEED}?service=autre-demarche")
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith(f"{FEED}?service=autre-demarche")
    assert root.find(f"{ATOM}link[@rel='alternate']").get("href").endswith("/avis/experiences/autre-demarche")
    assert root.find(f"{ATOM}id").text != _feed(client)[1].find(f"{ATOM}id").text, "each feed has its own id"
    assert response.headers["ETag"] != _fetch(client, FEED).headers["ETag"]
    for bad in ("?service=Carte%20grise", "?organisation=", "?service=a&service=b", "?organisation=%3Cx%3E"):
        assert _fetch(client, f"{FEED}{bad}").status_code == 400, bad
