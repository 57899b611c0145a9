"""The public « Je donne mon avis » pages over HTTP: a response answered step by step without an account, corrected
through its own link within the hour (410 after), refusals on their fields, no cookie but the session's CSRF token
and language, nothing of the person stored, the honeypot and the rate limit keyed on a hash of the address."""

import re
from datetime import timedelta
from html import unescape

import pytest
import redis
from flask_babel import force_locale, gettext
from sqlalchemy import func, select, update

from app.clock import utcnow
from app.extensions import db
from app.feedback import service
from app.feedback.models import Experience, FeedbackAnswer, FeedbackContact, FeedbackResponse, Source
from tests.conftest import csrf_from, get_csrf, make_app, prepared_db
from tests.factories import make_service

SESSION_COOKIE = "atelier_session"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def answers() -> list[tuple[str, int, str]]:
    return [(a.field_code, a.answer_item_id, a.answer_text)
            for a in db.session.scalars(select(FeedbackAnswer).order_by(FeedbackAnswer.id))]


def text(response) -> str:
    return response.get_data(as_text=True)


class Visitor:
    """A browser without JavaScript: reads each page, sends its form with the page's hidden fields."""

    def __init__(self, client):
        self.client = client
        self.cookies: list[str] = []

    def _seen(self, response):
        # Cookies set; not the deletion of one the browser does not have (Flask-Login's strong session protection
        # sends "atelier_remember=; Max-Age=0" to any anonymous session that holds something, the CSRF token here).
        self.cookies += [c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie") if "Max-Age=0" not in c]
        return response

    def get(self, url, **kwargs):
        return self._seen(self.client.get(url, **kwargs))

    def send(self, url, data: dict, page_url: str | None = None, **kwargs):
        """POST ``data`` with the hidden fields of the form shown at ``page_url`` (default ``url``)."""
        page = text(self.get(page_url or url))
        hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
        return self._seen(self.client.post(url, data={**hidden, **data}, **kwargs))


@pytest.fixture
def svc(app):
    svc = make_service(slug="passeport", name="Passeport")
    db.session.commit()
    return svc


def start(visitor, data=None, query=""):
    response = visitor.send(f"/avis/passeport{query}", {"satisfaction": "3"} if data is None else data)
    return response


def token_of(location: str) -> str:
    return re.search(r"/avis/reponse/([A-Za-z0-9_-]{43})", location).group(1)


# --- the journey ----------------------------------------------------------------------------------------------------

def test_a_citizen_answers_every_step_without_an_account(client, svc):
    visitor = Visitor(client)
    page = visitor.get("/avis/passeport")
    assert page.status_code == 200
    html = text(page)
    assert "<h1>Je donne mon avis</h1>" in html and "Étape 1 sur 4" in html
    assert "De façon générale, comment ça s’est passé ?" in html

    first = start(visitor, {"satisfaction": "2"})
    assert first.status_code == 302
    token = token_of(first.location)
    assert first.location == f"/avis/reponse/{token}/etape/2"
    second = visitor.send(first.location, {"comprehension": "7"})
    assert second.location == f"/avis/reponse/{token}/etape/3"
    third = visitor.send(second.location, {"contact_tried": ["10", "16"]})
    assert third.location == f"/avis/reponse/{token}/etape/3/suite"
    follow = text(visitor.get(third.location))
    assert "Quels autres types d'aide avez-vous utilisés ?" in unescape(follow)
    assert "avez-vous réussi à joindre l'administration" in unescape(follow)
    fourth = visitor.send(third.location, {"contact_tried_verbatim": "Un ami", "contact_reached": "17",
                                           "contact_satisfaction": "22"})
    assert fourth.location == f"/avis/reponse/{token}/etape/4"
    done = visitor.send(fourth.location, {"verbatim": "Rendez-vous trop loin.", "contact_email": "cam@exemple.fr",
                                          "consent": "y"})
    assert done.location == f"/avis/reponse/{token}/merci"

    thanks = text(visitor.get(done.location))
    assert "Merci pour votre avis !" in thanks
    assert f'<a href="http://localhost/avis/reponse/{token}">' in thanks  # the link to finish or correct it
    assert re.search(r'<time datetime="[0-9T:-]+Z">[0-9]{2}:[0-9]{2}</time>', thanks)

    response = db.session.scalar(select(FeedbackResponse))
    assert (response.source, response.steps_done, response.publish_consent) == (Source.link, 4, True)
    assert answers() == [("satisfaction", 2, "Moyen"), ("comprehension", 7, "4"),
                         ("contact_tried", 10, "Par téléphone avec l’administration"),
                         ("contact_tried", 16, "Autres, précisez"), ("contact_tried_verbatim", 0, "Un ami"),
                         ("contact_reached", 17, "Oui"), ("contact_satisfaction", 22, "Bonne"),
                         ("verbatim", 0, "Rendez-vous trop loin.")]
    assert db.session.scalar(select(FeedbackContact.email)) == "cam@exemple.fr"
    assert db.session.scalar(select(Experience.text)) == "Rendez-vous trop loin."


def test_a_person_who_stops_after_the_first_step_is_counted(client, svc):
    start(Visitor(client), {"satisfaction": "1"})
    assert db.session.scalar(select(FeedbackResponse.steps_done)) == 1
    assert answers() == [("satisfaction", 1, "Pas bien")]


def test_no_follow_up_page_when_no_conditional_question_applies(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    step3 = f"/avis/reponse/{token}/etape/3"
    assert visitor.send(step3, {"contact_tried": "17"}).location == f"/avis/reponse/{token}/etape/4"
    # Opened anyway, the follow-up page leads on.
    assert visitor.get(step3 + "/suite").location == f"/avis/reponse/{token}/etape/4"


def test_only_the_follow_up_questions_whose_condition_holds_are_asked(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    step3 = f"/avis/reponse/{token}/etape/3"
    visitor.send(step3, {"contact_tried": ["16"]})
    page = unescape(text(visitor.get(step3 + "/suite")))
    assert "Quels autres types d'aide avez-vous utilisés ?" in page
    assert "réussi à joindre" not in page and "qualité de l'aide" not in page
    # A question the page does not ask is not read, even when sent: never stored.
    stored = visitor.send(step3 + "/suite", {"contact_tried_verbatim": "Forum", "contact_reached": "17"})
    assert stored.status_code == 302
    assert [a[0] for a in answers()] == ["satisfaction", "contact_tried", "contact_tried_verbatim"]


def test_the_first_step_sent_twice_makes_one_response_and_leads_to_the_same_link(client, svc):
    visitor = Visitor(client)
    page = text(visitor.get("/avis/passeport"))
    hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
    first = client.post("/avis/passeport", data={**hidden, "satisfaction": "3"})
    again = client.post("/avis/passeport", data={**hidden, "satisfaction": "3"})
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    assert count(FeedbackResponse) == 1 and count(FeedbackAnswer) == 1


def test_each_display_of_the_first_step_has_its_own_key(client, svc):
    keys = {re.search(r'name="submission_key" type="hidden" value="([^"]+)"', text(client.get("/avis/passeport")))
            .group(1) for _ in range(3)}
    assert len(keys) == 3


def test_a_resent_step_stores_its_answers_once(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    step3 = f"/avis/reponse/{token}/etape/3"
    for _ in range(3):
        assert visitor.send(step3, {"contact_tried": ["9", "11"]}).status_code == 302
    assert [a[:2] for a in answers()] == [("satisfaction", 3), ("contact_tried", 9), ("contact_tried", 11)]


@pytest.mark.parametrize(("query", "source"), [("", Source.link), ("?source=qr", Source.qr),
                                               ("?source=button", Source.button), ("?source=ATELIER", Source.atelier),
                                               ("?source=embed", Source.link), ("?source=%3Cscript%3E", Source.link)])
def test_the_source_comes_from_the_link(client, svc, query, source):
    start(Visitor(client), query=query)
    assert db.session.scalar(select(FeedbackResponse.source)) is source


def test_a_source_forged_in_the_form_counts_as_a_link(client, svc):
    start(Visitor(client), {"satisfaction": "3", "source": "embed"}, query="?source=qr")
    assert db.session.scalar(select(FeedbackResponse.source)) is Source.link


def test_the_service_page_links_to_its_form_as_atelier(client, svc):
    html = text(client.get("/demarches/passeport"))
    assert 'href="/avis/passeport?source=atelier"' in html
    assert "Je donne mon avis" in html


def test_an_unknown_service_has_no_form(client, svc):
    assert client.get("/avis/pas-une-demarche").status_code == 404


# --- correcting within the hour, and after -------------------------------------------------------------------------

def test_the_link_shows_the_answers_and_corrects_a_step(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor, {"satisfaction": "3"}).location)
    overview = text(visitor.get(f"/avis/reponse/{token}"))
    assert "Très bien" in overview and "Pas de réponse" in overview
    assert f'href="/avis/reponse/{token}/etape/1"' in overview
    step1 = text(visitor.get(f"/avis/reponse/{token}/etape/1"))
    assert '<input checked id="satisfaction-2" name="satisfaction" type="radio" value="3">' in step1  # as answered
    assert "submission_key" not in step1  # the response exists: no new one is started from here
    assert visitor.send(f"/avis/reponse/{token}/etape/1", {"satisfaction": "1"}).status_code == 302
    assert answers() == [("satisfaction", 1, "Pas bien")]
    assert count(FeedbackResponse) == 1


def close(response_id=None):
    db.session.execute(update(FeedbackResponse).values(editable_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


@pytest.mark.parametrize("path", ["", "/etape/2", "/etape/3/suite", "/merci"])
def test_after_the_hour_the_link_answers_410_and_changes_nothing(client, svc, path):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    close()
    url = f"/avis/reponse/{token}{path}"
    page = visitor.get(url)
    assert page.status_code == 410
    assert "Cette réponse ne peut plus être modifiée" in text(page)
    if path.startswith("/etape"):
        posted = client.post(url, data={"csrf_token": get_csrf(client, "/avis/passeport"), "comprehension": "6",
                                        "contact_reached": "17"})
        assert posted.status_code == 410
    assert answers() == [("satisfaction", 3, "Très bien")]


def test_a_step_sent_after_the_hour_is_refused_with_the_410_page(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    step2 = f"/avis/reponse/{token}/etape/2"
    page = text(visitor.get(step2))  # shown while the link was open
    close()
    posted = client.post(step2, data={"csrf_token": csrf_from(page), "comprehension": "6"})
    assert posted.status_code == 410
    assert count(FeedbackAnswer) == 1


@pytest.mark.parametrize("path", ["", "/etape/2", "/etape/3/suite", "/merci"])
def test_an_unknown_token_is_404(client, svc, path):
    token = service.link_token("x" * 32)  # well formed, but no response was made with it
    assert client.get(f"/avis/reponse/{token}{path}").status_code == 404
    assert client.get(f"/avis/reponse/pas-un-jeton{path}").status_code == 404


@pytest.mark.parametrize("step", [0, 5, 99])
def test_a_step_out_of_the_questionnaire_is_404(client, svc, step):
    token = token_of(start(Visitor(client)).location)
    assert client.get(f"/avis/reponse/{token}/etape/{step}").status_code == 404


# --- refusals -------------------------------------------------------------------------------------------------------

def test_a_first_step_without_answer_is_refused_on_its_field_and_nothing_is_stored(client, svc):
    refused = start(Visitor(client), {})
    assert refused.status_code == 422
    html = text(refused)
    assert 'class="error-summary"' in html and "Le formulaire contient 1 erreur" in html
    assert '<a href="#satisfaction">' in html
    assert 'class="field-error" id="satisfaction-error"' in html
    assert 'aria-describedby="satisfaction-hint satisfaction-error"' in html
    assert "<title>Erreur — " in html
    assert count(FeedbackResponse) == 0


def test_a_first_step_without_its_key_is_refused_with_a_new_key_and_nothing_is_stored(client, svc):
    page = text(client.get("/avis/passeport"))
    old_key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"', page).group(1)
    refused = client.post("/avis/passeport", data={"csrf_token": csrf_from(page), "satisfaction": "3",
                                                   "submission_key": "trop-court"})
    assert refused.status_code == 422
    html = text(refused)
    assert "Le formulaire a expiré. Vérifiez vos réponses et envoyez-le à nouveau." in html
    new_key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"', html).group(1)
    assert new_key not in (old_key, "trop-court")
    assert 'id="satisfaction-2"' in html and "<input checked" in html  # the answer is kept on the page
    assert count(FeedbackResponse) == 0


@pytest.mark.parametrize(("step", "data", "message"), [
    (1, {"satisfaction": "7"}, "Cette réponse ne fait pas partie des choix proposés."),
    (2, {"comprehension": "1"}, "Cette réponse ne fait pas partie des choix proposés."),
    (3, {"contact_tried": ["9", "17"]}, "« Je n&#39;ai pas eu besoin d&#39;aide » se coche seul"),
    (4, {"contact_email": "pas-une-adresse"}, "Saisissez une adresse électronique valide"),
    (4, {"verbatim": "x" * 5001}, "Ce texte est trop long (5000 caractères au plus)."),
])
def test_bad_answers_come_back_on_their_field_and_nothing_is_half_written(client, svc, step, data, message):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    before = answers()
    refused = visitor.send(f"/avis/reponse/{token}/etape/{step}", {"verbatim": "Texte", **data})
    assert refused.status_code == 422
    assert message in text(refused)
    assert answers() == before and count(FeedbackContact) == count(Experience) == 0


def test_errors_are_in_the_readers_language(client, svc):
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    page = client.get("/avis/passeport")
    assert '<html lang="en">' in text(page)
    refused = start(Visitor(client), {})
    html = text(refused)
    assert "The form contains 1 error" in html
    with force_locale("en"):
        expected = gettext("Choisissez une réponse à cette question.")
        question = gettext("De façon générale, comment ça s’est passé ?")
    assert expected in unescape(html) and question in unescape(html)


@pytest.mark.parametrize("path", ["/avis/passeport", "/etape/2", "/etape/3/suite"])
def test_a_post_without_its_csrf_token_is_refused_and_writes_nothing(client, svc, path):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    visitor.send(f"/avis/reponse/{token}/etape/3", {"contact_tried": "9"})
    url = path if path.startswith("/avis") else f"/avis/reponse/{token}{path}"
    before = answers()
    refused = client.post(url, data={"satisfaction": "1", "comprehension": "5", "contact_reached": "18",
                                     "submission_key": "n" * 32})
    assert refused.status_code == 400
    assert answers() == before and count(FeedbackResponse) == 1


def test_a_filled_honeypot_stores_nothing_and_thanks_as_usual(client, svc):
    refused = start(Visitor(client), {"satisfaction": "3", "website": "https://spam.example"})
    assert refused.status_code == 200
    assert "Merci pour votre avis !" in text(refused)
    assert "/avis/reponse/" not in text(refused)
    assert count(FeedbackResponse) == 0


def test_a_filled_honeypot_on_a_later_step_changes_nothing(client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    page = visitor.send(f"/avis/reponse/{token}/etape/2", {"comprehension": "8", "website": "x"})
    assert page.status_code == 200 and "Merci pour votre avis !" in text(page)
    assert answers() == [("satisfaction", 3, "Très bien")]


# --- nothing of the person ------------------------------------------------------------------------------------------

def test_no_cookie_but_the_sessions_with_only_the_csrf_token_and_the_language(app, client, svc):
    visitor = Visitor(client)
    visitor.client.post("/langue", data={"lang": "en", "next": "/avis/passeport",
                                         "csrf_token": get_csrf(client, "/avis/passeport")})
    token = token_of(start(visitor).location)
    for step, data in ((2, {"comprehension": "5"}), (3, {"contact_tried": "9"})):
        visitor.send(f"/avis/reponse/{token}/etape/{step}", data)
    visitor.send(f"/avis/reponse/{token}/etape/3/suite", {"contact_reached": "17"})
    visitor.send(f"/avis/reponse/{token}/etape/4", {"verbatim": "Bien", "contact_email": "a@exemple.fr"})
    visitor.get(f"/avis/reponse/{token}/merci")
    visitor.get(f"/avis/reponse/{token}")
    assert set(visitor.cookies) == {SESSION_COOKIE}
    session = app.session_interface.get_signing_serializer(app).loads(client.get_cookie(SESSION_COOKIE).value)
    assert set(session) == {"csrf_token", "lang"}


def test_the_form_sets_no_cookie_when_the_language_is_not_chosen(app, client, svc):
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    visitor.send(f"/avis/reponse/{token}/etape/2", {"comprehension": "5"})
    session = app.session_interface.get_signing_serializer(app).loads(client.get_cookie(SESSION_COOKIE).value)
    assert set(session) == {"csrf_token"}
    assert set(visitor.cookies) == {SESSION_COOKIE}


def test_neither_the_address_nor_the_browser_is_stored(app, client, svc):
    address, agent = "203.0.113.77", "NavigateurDeTest/9.9 (unique-agent-string)"
    client.environ_base.update({"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent})
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    visitor.send(f"/avis/reponse/{token}/etape/4", {"verbatim": "Texte", "contact_email": "a@exemple.fr",
                                                    "consent": "y"})
    dumped = []
    for table in ("feedback_responses", "feedback_answers", "feedback_contacts", "feedback_experiences"):
        model_table = db.metadata.tables[table]
        dumped += [str(value) for row in db.session.execute(select(model_table)) for value in row]
    assert dumped and not [v for v in dumped if address in v or "NavigateurDeTest" in v or "203.0.113" in v]


def test_the_pages_work_without_javascript(client, svc):
    html = text(client.get("/avis/passeport"))
    assert "<script" not in html
    visitor = Visitor(client)
    token = token_of(start(visitor).location)
    step3 = text(visitor.get(f"/avis/reponse/{token}/etape/3"))
    # Radio groups and checkboxes are fieldsets with the question as legend, each option a labelled input.
    assert re.search(r'<fieldset [^>]*id="contact_tried"[^>]*>\s*<legend>Durant votre parcours', step3)
    assert '<input id="contact_tried-8" name="contact_tried" type="checkbox" value="17">' in step3
    assert '<label for="contact_tried-8">Je n\'ai pas eu besoin d\'aide</label>' in step3
    assert "<script" not in step3


# --- the rate limit -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_form_is_rate_limited_per_address_across_its_pages(request, backend, redis_url):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, FEEDBACK_RATE_LIMIT="3 per hour",
                   RATELIMIT_STORAGE_URI=redis_url)
    address = "198.51.100.23"
    with prepared_db(app, backend):
        make_service(slug="passeport")
        db.session.commit()
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        visitor = Visitor(client)
        token = token_of(start(visitor).location)
        step2 = f"/avis/reponse/{token}/etape/2"
        statuses = [visitor.send(step2, {"comprehension": "5"}).status_code for _ in range(3)]
        assert statuses == [302, 302, 429]  # the first step counted too: one budget for every page of the form
        assert client.get(step2).status_code == 200  # reading is not limited
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "198.51.100.24"
        assert start(Visitor(other)).status_code == 302
        # The limiter's storage holds a keyed hash of the address, never the address itself.
        keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
        assert keys and not [key for key in keys if address in key or "198.51.100" in key]
        with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
            from app.feedback.routes import address_key

            hashed = address_key()
        assert any(hashed in key for key in keys)
