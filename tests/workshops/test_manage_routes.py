"""Facilitators' workshop pages over HTTP, on SQLite and PostgreSQL: create and edit through the form,
publish, cancel, duplicate, the private link, the roster and its actions, on-behalf sign-ups, messages,
the CSV export and check-in; and refusals for everyone who does not run the organisation's workshops."""

import csv
import html
import io
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from app.catalog.models import Role
from app.clock import utcnow
from app.extensions import db
from app.mail.models import OutboxMessage
from app.workshops import queries, service, signup
from app.workshops.forms import QUESTION_SLOTS, to_local
from app.workshops.models import (
    QuestionKind,
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)
from tests.conftest import get_csrf, login, post_form
from tests.factories import make_life_event, make_member, make_organisation, make_service, make_user, make_workshop

# --- helpers -------------------------------------------------------------------------------------


def _person(**kwargs):
    """A user, committed: services start their own transactions, which would drop an unsaved one."""
    user = make_user(**kwargs)
    db.session.commit()
    return user


def _text(response) -> str:
    """The page as text, HTML entities decoded (so « l'atelier » matches whatever the escaping)."""
    return html.unescape(response.get_data(as_text=True))


def _local(dt) -> str:
    """A UTC datetime as the form's Paris wall-clock value."""
    return to_local(dt).strftime("%Y-%m-%dT%H:%M")


def _world():
    """Organisation A with its facilitator; organisation B with its own facilitator."""
    org = make_organisation(slug="org-a", name="Ville de Rennes")
    other = make_organisation(slug="org-b", name="Autre organisation")
    facilitator = make_member(org, Role.facilitator, email="anim@example.org", name="Camille Anim")
    db.session.commit()
    return org, other, facilitator


def _workshop_form(org=None, **overrides) -> dict:
    """What a facilitator types into the workshop form (start in ten days, 14:00 Paris time)."""
    start = to_local(utcnow() + timedelta(days=10)).replace(hour=14, minute=0, second=0, microsecond=0)
    data = {"title": "Refaire la demande de logement social", "expected_change": "Un formulaire plus court",
            "description_md": "Un **atelier** de deux heures.", "format": "in_person",
            "address": "Hôtel de ville, Rennes", "access_info": "", "meeting_link": "", "accessibility_info": "",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "capacity": "4", "signup_opens_at": "", "signup_closes_at": "", "visibility": "public"}
    if org is not None:
        data["organisation_id"] = str(org.id)
    data.update(_empty_question_rows())
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _empty_question_rows() -> dict:
    """A browser sends the selected option of every « Type de réponse » list, even in empty rows."""
    return {f"questions-{i}-kind": "short_text" for i in range(QUESTION_SLOTS)}


def _edit_form(workshop, **overrides) -> dict:
    """The edit form as the page pre-fills it (what a browser sends back unchanged)."""
    data = {**_empty_question_rows(), "title": workshop.title, "expected_change": workshop.expected_change,
            "description_md": workshop.description_md, "format": workshop.format.value,
            "address": workshop.address, "access_info": workshop.access_info, "meeting_link": workshop.meeting_link,
            "accessibility_info": workshop.accessibility_info, "starts_at": _local(workshop.starts_at),
            "ends_at": _local(workshop.ends_at), "capacity": str(workshop.capacity), "signup_opens_at": "",
            "signup_closes_at": "", "visibility": workshop.visibility.value}
    if any(q.is_accessibility for q in workshop.questions):
        data["ask_accessibility"] = "y"
    if workshop.has_categories:
        for i, c in enumerate(workshop.categories):
            data[f"quotas-{i}-name"], data[f"quotas-{i}-seats"] = c.name, str(c.seats)
    for i, q in enumerate(q for q in workshop.questions if not q.is_accessibility):
        data[f"questions-{i}-label"], data[f"questions-{i}-kind"] = q.label, q.kind.value
        data[f"questions-{i}-choices_text"] = q.choices_text
        if q.required:
            data[f"questions-{i}-required"] = "y"
    data.update(overrides)
    return data


def _mails(template: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def _count_workshops() -> int:
    return db.session.scalar(select(func.count(Workshop.id)))


class _Tables(HTMLParser):
    """Every table of a page as {caption: [[cell text, ...], ...]} (body rows only)."""

    def __init__(self):
        super().__init__()
        self.tables, self._caption, self._row, self._cell, self._in_caption, self._in_body = {}, "", None, None, \
            False, False

    def handle_starttag(self, tag, attrs):
        if tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "tbody":
            self._in_body = True
            self.tables[self._caption.strip()] = []
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._caption.strip()].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_caption:
            self._caption += data
        elif self._cell is not None:
            self._cell += data


def _tables(response) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    return parser.tables


def _csv(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM, so spreadsheets read the accents right"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


# --- home ----------------------------------------------------------------------------------------


def test_home_lists_own_organisations_workshops_drafts_included_upcoming_first(client):
    org, other, facilitator = _world()
    later = make_workshop(org, title="Atelier lointain", starts_in=timedelta(days=20))
    make_workshop(org, title="Atelier brouillon", starts_in=timedelta(days=5), published=False)
    make_workshop(org, title="Atelier passé", starts_in=timedelta(days=-10))
    make_workshop(other, title="Atelier d'une autre organisation")
    signup.sign_up(later, _person())
    login(client, facilitator.email)
    response = client.get("/ateliers/gestion/")
    assert response.status_code == 200
    page = _text(response)
    assert "Atelier d'une autre organisation" not in page
    upcoming = _tables(response)["Ateliers à venir, du plus proche au plus lointain"]
    assert [row[0] for row in upcoming] == ["Atelier brouillon", "Atelier lointain"]
    assert upcoming[0][3] == "Brouillon" and upcoming[1][3] == "Publié"
    assert upcoming[1][4] == "1 sur 2"
    assert [row[0] for row in _tables(response)["Ateliers passés, du plus récent au plus ancien"]] == ["Atelier passé"]
    assert 'href="/ateliers/gestion/nouveau"' in page


def test_nav_links_to_staff_pages_for_facilitators_only(client):
    _org, _other, facilitator = _world()
    _person(email="citoyen@example.org")
    login(client, facilitator.email)
    assert 'href="/ateliers/gestion/"' in client.get("/").get_data(as_text=True)
    client.post("/compte/deconnexion", data={"csrf_token": get_csrf(client, "/")})
    login(client, "citoyen@example.org")
    assert 'href="/ateliers/gestion/"' not in client.get("/").get_data(as_text=True)
    assert client.get("/ateliers/gestion/").status_code == 403


# --- create --------------------------------------------------------------------------------------


def test_create_workshop_with_quotas_and_questions(client):
    org, other, facilitator = _world()
    event = make_life_event(name_fr="Je cherche un logement")
    démarche = make_service(org, name="Demande de logement social")
    elsewhere = make_service(other, name="Carte de stationnement")
    login(client, facilitator.email)
    page = _text(client.get("/ateliers/gestion/nouveau"))
    assert "Ville de Rennes" in page and "Autre organisation" not in page  # only organisations one facilitates
    # Only their services too: a national catalogue holds hundreds.
    assert "Demande de logement social" in page and "Carte de stationnement" not in page
    refused = post_form(client, "/ateliers/gestion/nouveau", _workshop_form(org, service_ids=str(elsewhere.id)))
    assert refused.status_code in (200, 422) and db.session.scalar(select(Workshop)) is None
    data = _workshop_form(org, **{
        "quotas-0-name": "usagers", "quotas-0-seats": "3", "quotas-1-name": "agents", "quotas-1-seats": "1",
        "ask_accessibility": "y",
        "questions-0-label": "Quel est votre quartier ?", "questions-0-kind": "single_choice",
        "questions-0-choices_text": "Centre\r\nVillejean\r\nBlosne", "questions-0-required": "y",
        "questions-1-label": "J'accepte d'être pris·e en photo", "questions-1-kind": "consent",
        "service_ids": str(démarche.id), "life_event_ids": str(event.id)})
    response = post_form(client, "/ateliers/gestion/nouveau", data)
    assert response.status_code == 302, _text(response)[:3000]
    workshop = db.session.scalar(select(Workshop))
    assert response.headers["Location"] == f"/ateliers/gestion/{workshop.id}"
    assert workshop.status is WorkshopStatus.draft and workshop.organisation_id == org.id
    assert workshop.format is WorkshopFormat.in_person and workshop.visibility is Visibility.public
    assert _local(workshop.starts_at) == data["starts_at"]  # entered in Paris time, stored in UTC
    assert workshop.starts_at != to_local(workshop.starts_at)
    assert [(c.name, c.seats) for c in workshop.categories] == [("usagers", 3), ("agents", 1)]
    assert workshop.capacity == 4
    assert [(q.kind, q.is_accessibility, q.required) for q in workshop.questions] == [
        (QuestionKind.short_text, True, False), (QuestionKind.single_choice, False, True),
        (QuestionKind.consent, False, False)]
    assert workshop.questions[1].choices == ["Centre", "Villejean", "Blosne"]
    assert [s.id for s in workshop.services] == [démarche.id] and [e.id for e in workshop.life_events] == [event.id]
    roster = _text(client.get(response.headers["Location"]))
    assert "Refaire la demande de logement social" in roster and "Publier l'atelier" in roster


@pytest.mark.parametrize(("overrides", "message", "field_id"), [
    ({"quotas-0-name": "usagers", "quotas-0-seats": "3", "quotas-1-name": "agents", "quotas-1-seats": "2"},
     "La somme des places par catégorie doit être égale à la capacité.", "quotas"),
    ({"quotas-0-name": "usagers", "quotas-0-seats": ""},
     "Chaque catégorie doit avoir un nom et un nombre de places.", "quotas"),
    ({"title": ""}, "Donnez un titre à l'atelier.", "title"),
    ({"capacity": "0"}, "Entre 1 et 10 000 places.", "capacity"),
])
def test_create_refuses_invalid_form(client, overrides, message, field_id):
    org, _other, facilitator = _world()
    login(client, facilitator.email)
    response = post_form(client, "/ateliers/gestion/nouveau", _workshop_form(org, **overrides))
    assert response.status_code == 200
    page = _text(response)
    assert 'class="error-summary"' in page and f'href="#{field_id}"' in page and message in page
    assert _count_workshops() == 0


def test_create_refuses_end_before_start_on_the_end_field(client):
    org, _other, facilitator = _world()
    login(client, facilitator.email)
    data = _workshop_form(org)
    data["ends_at"] = data["starts_at"].replace("T14:00", "T13:00")
    response = post_form(client, "/ateliers/gestion/nouveau", data)
    page = _text(response)
    assert response.status_code == 200 and "La fin doit être après le début." in page
    assert 'href="#ends_at"' in page and re.search(r'id="ends_at"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*'
                                                    r'id="ends_at"', page)
    assert _count_workshops() == 0


def test_create_refuses_an_organisation_one_does_not_facilitate(client):
    _org, other, facilitator = _world()
    login(client, facilitator.email)
    response = post_form(client, "/ateliers/gestion/nouveau", _workshop_form(other))
    assert response.status_code == 200 and 'href="#organisation_id"' in _text(response)
    assert _count_workshops() == 0


# --- edit ----------------------------------------------------------------------------------------


def test_edit_form_is_prefilled_in_paris_time(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, title="Atelier à modifier", questions=[
        {"kind": QuestionKind.short_text, "label": "Besoins ?", "is_accessibility": True},
        {"kind": QuestionKind.multiple_choice, "label": "Vos démarches", "choices_text": "CAF\nImpôts",
         "required": True}], quotas=[("usagers", 1), ("agents", 1)])
    login(client, facilitator.email)
    page = _text(client.get(f"/ateliers/gestion/{workshop.id}/modifier"))
    assert 'value="Atelier à modifier"' in page
    assert f'value="{_local(workshop.starts_at)}"' in page
    assert re.search(r'id="ask_accessibility"[^>]*checked|checked[^>]*id="ask_accessibility"', page)
    assert 'value="Vos démarches"' in page and "CAF\nImpôts" in page
    assert 'value="usagers"' in page and 'value="agents"' in page


def test_editing_the_date_mails_registrants_with_an_ics(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1)
    confirmed, waiting = _person(email="a@example.org"), _person(email="b@example.org")
    signup.sign_up(workshop, confirmed)
    signup.sign_up(workshop, waiting)
    login(client, facilitator.email)
    new_start = workshop.starts_at + timedelta(days=1)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/modifier", _edit_form(
        workshop, starts_at=_local(new_start), ends_at=_local(new_start + timedelta(hours=2))))
    assert response.status_code == 302 and response.headers["Location"] == f"/ateliers/gestion/{workshop.id}"
    db.session.refresh(workshop)
    assert _local(workshop.starts_at) == _local(new_start)
    mails = _mails("workshop_changed")
    assert sorted(m.recipient for m in mails) == ["a@example.org", "b@example.org"]
    attachment = json.loads(mails[0].attachments)[0]
    assert attachment["filename"].endswith(".ics") and attachment["content_type"] == "text/calendar"


def test_editing_after_people_answered_keeps_their_answers(client):
    """Moving the date must not trip the rule that answered questions cannot be replaced."""
    org, _other, facilitator = _world()
    workshop = make_workshop(org, questions=[{"kind": QuestionKind.short_text, "label": "Votre quartier ?"}])
    registration = signup.sign_up(workshop, _person(), answers={workshop.questions[0].id: "Villejean"})
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/modifier",
                         _edit_form(workshop, title="Nouveau titre"))
    assert response.status_code == 302, _text(response)[:3000]
    db.session.refresh(registration)
    assert [a.value for a in registration.answers] == ["Villejean"]
    # Changing the questions themselves is refused, on the questions field.
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/modifier",
                         _edit_form(workshop, **{"questions-0-label": "Autre question"}))
    page = _text(response)
    assert response.status_code == 200 and "les questions ne peuvent plus être modifiées" in page
    assert 'href="#questions"' in page
    db.session.refresh(workshop)
    assert workshop.title == "Nouveau titre" and workshop.questions[0].label == "Votre quartier ?"


def test_capacity_of_a_workshop_with_quotas_must_match_its_quotas(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/modifier",
                         _edit_form(workshop, capacity="5", title="Titre changé"))
    page = _text(response)
    assert response.status_code == 200
    assert "La somme des places par catégorie doit être égale à la capacité" in page and 'href="#capacity"' in page
    assert re.search(r'aria-invalid="true"[^>]*id="capacity"|id="capacity"[^>]*aria-invalid="true"', page)
    # Nothing was saved, not even the other fields; the page shows the saved title in its heading.
    assert "<p class=\"lead\">Atelier de test" in page
    db.session.refresh(workshop)
    assert workshop.capacity == 3 and workshop.title == "Atelier de test"


# --- publish, cancel, duplicate, private link ----------------------------------------------------


def test_publish_makes_a_draft_visible(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, published=False)
    outsider = make_client_for(client, _person())
    assert outsider.get(f"/ateliers/{workshop.id}").status_code == 404
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/publier", {}, csrf_url="/")
    assert response.status_code == 302
    db.session.refresh(workshop)
    assert workshop.status is WorkshopStatus.published
    assert "L'atelier est publié." in _text(client.get(response.headers["Location"]))
    assert outsider.get(f"/ateliers/{workshop.id}").status_code == 200


def test_cannot_publish_a_cancelled_workshop(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, published=False)
    service.cancel_workshop(facilitator, workshop, "Salle indisponible")
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/publier", {}, csrf_url="/",
                         follow_redirects=True)
    assert "Cet atelier est annulé." in _text(response)
    db.session.refresh(workshop)
    assert workshop.status is WorkshopStatus.cancelled


def test_cancel_with_reason_mails_every_registrant(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2)
    people = [_person(email=f"p{n}@example.org") for n in range(3)]
    for person in people:
        signup.sign_up(workshop, person)  # two confirmed, one waiting
    signup.register_on_behalf(facilitator, workshop, name="Josette Sansmail", phone="06 12 34 56 78")
    login(client, facilitator.email)
    page = _text(client.get(f"/ateliers/gestion/{workshop.id}/annuler"))
    assert "3 personnes inscrites (ou en attente) recevront un courriel" in page
    assert "Josette Sansmail — 06 12 34 56 78" in page  # to be called instead
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/annuler", {"reason": ""})
    assert response.status_code == 200 and "Indiquez le motif." in _text(response)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/annuler", {"reason": "Grève des transports"})
    assert response.status_code == 302
    db.session.refresh(workshop)
    assert workshop.status is WorkshopStatus.cancelled and workshop.cancel_reason == "Grève des transports"
    mails = _mails("workshop_cancelled")
    assert sorted(m.recipient for m in mails) == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert all("Grève des transports" in m.body_text for m in mails)
    # A second visit does not cancel (nor mail) twice.
    assert client.get(f"/ateliers/gestion/{workshop.id}/annuler").status_code == 302
    assert len(_mails("workshop_cancelled")) == 3


def test_duplicate_opens_the_copy_for_editing(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=3, quotas=[("usagers", 2), ("agents", 1)],
                             questions=[{"kind": QuestionKind.short_text, "label": "Votre quartier ?"}])
    signup.sign_up(workshop, _person(), category_id=workshop.categories[0].id)
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/dupliquer", {}, csrf_url="/")
    assert response.status_code == 302
    copy = db.session.scalar(select(Workshop).where(Workshop.id != workshop.id))
    assert response.headers["Location"] == f"/ateliers/gestion/{copy.id}/modifier"
    assert copy.status is WorkshopStatus.draft and copy.starts_at == workshop.starts_at + timedelta(days=7)
    assert [(c.name, c.seats) for c in copy.categories] == [("usagers", 2), ("agents", 1)]
    assert [q.label for q in copy.questions] == ["Votre quartier ?"]
    assert db.session.scalar(select(func.count(Registration.id)).where(Registration.workshop_id == copy.id)) == 0
    assert "Une copie en brouillon a été créée" in _text(client.get(response.headers["Location"]))


def test_regenerated_link_replaces_the_old_one(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, visibility=Visibility.invitation)
    old = workshop.invite_token
    outsider = make_client_for(client, _person())
    assert outsider.get(f"/ateliers/{workshop.id}").status_code == 404
    assert outsider.get(f"/ateliers/{workshop.id}?invitation={old}").status_code == 200
    login(client, facilitator.email)
    assert f"http://localhost/ateliers/{workshop.id}?invitation={old}" in _text(
        client.get(f"/ateliers/gestion/{workshop.id}"))
    response = post_form(client, f"/ateliers/gestion/{workshop.id}/nouveau-lien", {}, csrf_url="/")
    assert response.status_code == 302
    db.session.refresh(workshop)
    new = workshop.invite_token
    assert new != old
    assert f"?invitation={new}" in _text(client.get(f"/ateliers/gestion/{workshop.id}"))
    assert outsider.get(f"/ateliers/{workshop.id}?invitation={old}").status_code == 404
    assert outsider.get(f"/ateliers/{workshop.id}?invitation={new}").status_code == 200


def make_client_for(client, user):
    """A second browser, logged in as ``user``."""
    other = client.application.test_client()
    login(other, user.email)
    return other


# --- roster and its actions ----------------------------------------------------------------------


def test_roster_shows_waitlist_positions_per_category(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2, quotas=[("usagers", 1), ("agents", 1)])
    usagers, agents = (c.id for c in workshop.categories)
    for name, category in [("Alice", usagers), ("Bruno", usagers), ("Chloé", agents), ("Driss", usagers),
                           ("Emma", agents), ("Fanny", agents)]:
        signup.sign_up(workshop, _person(name=name), category_id=category)
    login(client, facilitator.email)
    tables = _tables(client.get(f"/ateliers/gestion/{workshop.id}"))
    assert [(row[0], row[2]) for row in tables["Personnes dont la place est confirmée"]] == [
        ("Alice", "usagers"), ("Chloé", "agents")]
    waiting = tables["Liste d'attente, dans l'ordre"]
    assert [(row[0], row[1], row[3]) for row in waiting] == [
        ("1", "Bruno", "usagers"), ("2", "Driss", "usagers"), ("1", "Emma", "agents"), ("2", "Fanny", "agents")]


def test_roster_shows_answers_offers_and_lapsed_offers(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1, questions=[
        {"kind": QuestionKind.multiple_choice, "label": "Vos démarches", "choices_text": "CAF\nImpôts"}])
    question = workshop.questions[0].id
    first, second, third = (_person(name=n) for n in ("Alice", "Bruno", "Chloé"))
    reg_first = signup.sign_up(workshop, first, answers={question: ["CAF", "Impôts"]})
    signup.sign_up(workshop, second)
    signup.sign_up(workshop, third)
    signup.cancel_registration(reg_first, first)  # Bruno is offered the seat
    login(client, facilitator.email)
    response = client.get(f"/ateliers/gestion/{workshop.id}")
    tables = _tables(response)
    offered = tables["Personnes à qui une place est proposée"]
    assert offered[0][0] == "Bruno" and offered[0][2]  # with its deadline
    assert tables["Réponses des personnes inscrites aux questions d'inscription"][0][0] == "Bruno"
    # Bruno's offer runs out: read at once as lapsed, before any job has passed the seat on.
    db.session.execute(Registration.__table__.update().where(Registration.user_id == second.id)
                       .values(offer_expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    tables = _tables(client.get(f"/ateliers/gestion/{workshop.id}"))
    cancelled = {row[0]: row[1] for row in tables["Inscriptions annulées"]}
    assert cancelled["Bruno"] == "offre expirée" and cancelled["Alice"] == "—"
    assert "Personnes à qui une place est proposée" not in tables


def test_answers_are_shown_per_person(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, questions=[
        {"kind": QuestionKind.multiple_choice, "label": "Vos démarches", "choices_text": "CAF\nImpôts"},
        {"kind": QuestionKind.consent, "label": "Photo ?"}])
    q1, q2 = (q.id for q in workshop.questions)
    signup.sign_up(workshop, _person(name="Alice"), answers={q1: ["CAF", "Impôts"], q2: True})
    login(client, facilitator.email)
    rows = _tables(client.get(f"/ateliers/gestion/{workshop.id}"))[
        "Réponses des personnes inscrites aux questions d'inscription"]
    assert rows == [["Alice", "CAF, Impôts", "Oui"]]


def test_promote_by_hand_needs_a_free_seat(client):
    """Refused while the workshop is full; works once the capacity is raised (a draft: nobody is offered
    the new seat automatically, so it stays free for the facilitator to give)."""
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1, published=False)
    signup.register_on_behalf(facilitator, workshop, name="Alice", phone="0600000001")
    waiting = signup.register_on_behalf(facilitator, workshop, name="Bruno", phone="0600000002")
    assert waiting.status is RegistrationStatus.waitlisted
    login(client, facilitator.email)
    url = f"/ateliers/gestion/inscriptions/{waiting.id}/promouvoir"
    assert f'action="{url}"' not in client.get(f"/ateliers/gestion/{workshop.id}").get_data(as_text=True)
    response = post_form(client, url, {}, csrf_url="/", follow_redirects=True)
    assert "Aucune place n'est libre dans cette catégorie." in _text(response)
    db.session.refresh(waiting)
    assert waiting.status is RegistrationStatus.waitlisted
    assert post_form(client, f"/ateliers/gestion/{workshop.id}/modifier",
                     _edit_form(workshop, capacity="2")).status_code == 302
    assert f'action="{url}"' in client.get(f"/ateliers/gestion/{workshop.id}").get_data(as_text=True)
    response = post_form(client, url, {}, csrf_url="/", follow_redirects=True)
    assert "La place de Bruno est confirmée." in _text(response)
    db.session.refresh(waiting)
    assert waiting.status is RegistrationStatus.confirmed


def test_raising_capacity_of_a_published_workshop_offers_the_seat_to_the_next_person(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1)
    signup.sign_up(workshop, _person())
    waiting = signup.sign_up(workshop, _person(email="next@example.org"))
    login(client, facilitator.email)
    assert post_form(client, f"/ateliers/gestion/{workshop.id}/modifier",
                     _edit_form(workshop, capacity="2")).status_code == 302
    db.session.refresh(waiting)
    assert waiting.status is RegistrationStatus.offered
    assert [m.recipient for m in _mails("seat_offered")] == ["next@example.org"]
    # The seat is held by the offer: promoting someone by hand is refused.
    response = post_form(client, f"/ateliers/gestion/inscriptions/{waiting.id}/promouvoir", {}, csrf_url="/",
                         follow_redirects=True)
    assert "Cette personne n'est pas sur la liste d'attente." in _text(response)


def test_staff_cancel_with_message_offers_the_seat_to_the_next_person(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1)
    leaving = signup.sign_up(workshop, _person(email="leaving@example.org", name="Alice"))
    nxt = signup.sign_up(workshop, _person(email="next@example.org"))
    login(client, facilitator.email)
    url = f"/ateliers/gestion/inscriptions/{leaving.id}/annuler"
    assert "Annuler l'inscription de Alice" in _text(client.get(url))
    response = post_form(client, url, {"message": "Vous êtes inscrite deux fois, sous un autre nom."})
    assert response.status_code == 302 and response.headers["Location"] == f"/ateliers/gestion/{workshop.id}"
    db.session.refresh(leaving)
    db.session.refresh(nxt)
    assert leaving.status is RegistrationStatus.cancelled
    assert leaving.cancel_message == "Vous êtes inscrite deux fois, sous un autre nom."
    assert nxt.status is RegistrationStatus.offered and nxt.offer_expires_at is not None
    staff_mail, = _mails("registration_cancelled_by_staff")
    assert staff_mail.recipient == "leaving@example.org" and "sous un autre nom" in staff_mail.body_text
    assert [m.recipient for m in _mails("seat_offered")] == ["next@example.org"]
    # Already cancelled: back to the roster, nothing more happens.
    assert client.get(url).status_code == 302


def test_register_on_behalf_without_email_shows_in_roster_and_csv(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2, quotas=[("usagers", 1), ("agents", 1)], questions=[
        {"kind": QuestionKind.short_text, "label": "Besoins d'accessibilité ?", "is_accessibility": True}])
    usagers = workshop.categories[0].id
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}/inscrire"
    page = _text(client.get(url))
    assert 'id="guest_phone"' in page and "La personne participe en tant que" in page and "usagers" in page
    response = post_form(client, url, {"guest_name": "", "guest_phone": "", "category_id": str(usagers)})
    assert response.status_code == 200 and "Indiquez le nom de la personne." in _text(response)
    question = f"q_{workshop.questions[0].id}"
    response = post_form(client, url, {"guest_name": "Josette Martin", "guest_phone": "02 99 00 00 00",
                                       "category_id": str(usagers), question: "Fauteuil roulant"})
    assert response.status_code == 302
    registration = db.session.scalar(select(Registration))
    assert registration.user_id is None and registration.status is RegistrationStatus.confirmed
    assert registration.registered_by_id == facilitator.id
    flashed = _text(client.get(response.headers["Location"]))
    assert f"Code de présence : {registration.code}" in flashed
    row = _tables(client.get(f"/ateliers/gestion/{workshop.id}"))["Personnes dont la place est confirmée"][0]
    assert row[0].startswith("Josette Martin") and row[1] == "02 99 00 00 00" and row[3] == registration.code
    header, line = _csv(client.get(f"/ateliers/gestion/{workshop.id}/inscrits.csv"))
    assert header[:9] == ["Nom", "Adresse électronique", "Téléphone", "Catégorie", "Catégorie confirmée", "Statut",
                          "Position sur la liste d'attente", "Code de présence", "Présent·e"]
    # « usagers » is not a category the team checks: nothing to confirm.
    assert line[:9] == ["Josette Martin", "", "02 99 00 00 00", "usagers", "", "Confirmée", "", registration.code,
                        "Non"]
    assert line[9] == "Fauteuil roulant"
    # The same category is now full: the next person goes to its waiting list.
    response = post_form(client, url, {"guest_name": "Paul Durand", "guest_phone": "0299000001",
                                       "category_id": str(usagers)}, follow_redirects=True)
    assert "Paul Durand est sur la liste d'attente, en position 1" in _text(response)


def test_message_goes_to_confirmed_participants_only(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2)
    signup.sign_up(workshop, _person(email="confirmed@example.org"))
    signup.register_on_behalf(facilitator, workshop, name="Josette", phone="0600000000")
    signup.sign_up(workshop, _person(email="waiting@example.org"))
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}/message"
    page = _text(client.get(url))
    assert "à 1 personne dont la place est confirmée" in page and "Josette — 0600000000" in page
    response = post_form(client, url, {"subject": "", "body": ""})
    assert response.status_code == 200 and "Indiquez un objet." in _text(response)
    response = post_form(client, url, {"subject": "Salle changée", "body": "Rendez-vous salle 2."},
                         follow_redirects=True)
    assert "Message envoyé à 1 personne." in _text(response)
    mail, = _mails("participants_message")
    assert mail.recipient == "confirmed@example.org" and mail.subject == "Salle changée"
    assert "Rendez-vous salle 2." in mail.body_text


# --- CSV export ----------------------------------------------------------------------------------


def test_csv_export_is_formula_safe(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1, questions=[{"kind": QuestionKind.short_text, "label": "Remarque"}],
                             starts_in=timedelta(hours=1))  # check-in is open
    question = workshop.questions[0].id
    evil = _person(email="evil@example.org", name='=HYPERLINK("http://evil.example","clic")')
    present = signup.sign_up(workshop, evil, answers={question: "@SUM(A1:A9)"})
    waiting = signup.sign_up(workshop, _person(email="w@example.org", name="Wanda"), answers={question: "-2+3"})
    service.check_in(facilitator, present)
    login(client, facilitator.email)
    response = client.get(f"/ateliers/gestion/{workshop.id}/inscrits.csv")
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    header, first, second = _csv(response)
    assert header[-1] == "Remarque"
    assert first[0] == "'=HYPERLINK(\"http://evil.example\",\"clic\")"
    assert first[1] == "evil@example.org" and first[5] == "Confirmée" and first[8] == "Oui"
    assert first[-1] == "'@SUM(A1:A9)"
    assert second[0] == "Wanda" and second[5] == "Liste d'attente" and second[6] == "1"
    assert second[7] == waiting.code and second[-1] == "'-2+3"


@pytest.mark.parametrize(("role", "status"), [
    ("facilitator", 200), ("admin", 200), ("facilitator_other", 403), ("editor", 403), ("citizen", 403)])
def test_csv_export_only_for_the_organisations_facilitators_and_admins(client, role, status):
    org, other, facilitator = _world()
    users = {"facilitator": facilitator, "admin": _person(admin=True),
             "facilitator_other": make_member(other, Role.facilitator),
             "editor": make_member(org, Role.editor), "citizen": _person()}
    workshop = make_workshop(org)
    signup.sign_up(workshop, users["citizen"])
    login(client, users[role].email)
    response = client.get(f"/ateliers/gestion/{workshop.id}/inscrits.csv")
    assert response.status_code == status
    assert (users["citizen"].email in response.get_data(as_text=True)) is (status == 200)


# --- check-in ------------------------------------------------------------------------------------


@pytest.mark.both_databases("app.workshops.queries")
def test_check_in_by_code_and_by_name_then_undo(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2, starts_in=timedelta(hours=1))
    alice = signup.sign_up(workshop, _person(name="Alice Dupont"))
    guest = signup.register_on_behalf(facilitator, workshop, name="Bernard Martin", phone="0600000000")
    signup.sign_up(workshop, _person(name="Alice Waiting"))  # waitlisted: not on the check-in list
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}/pointage"
    page = _text(client.get(url))
    assert 'type="search"' in page and "Présent·es : 0 sur 2 inscrit·es" in page
    by_code = _text(client.get(url, query_string={"q": alice.code.lower()}))  # as typed, or read from the QR code
    assert "Alice Dupont" in by_code and "Bernard Martin" not in by_code
    by_name = _text(client.get(url, query_string={"q": "alice"}))
    assert "Alice Dupont" in by_name and "Alice Waiting" not in by_name
    assert "Bernard Martin" in _text(client.get(url, query_string={"q": "martin"}))
    assert "Aucune personne confirmée ne correspond" in _text(client.get(url, query_string={"q": "zzz"}))

    mark = f"/ateliers/gestion/inscriptions/{alice.id}/pointer"
    response = post_form(client, mark, {"present": "1", "q": "alice"}, csrf_url=url)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/ateliers/gestion/{workshop.id}/pointage?q=alice"
    db.session.refresh(alice)
    assert alice.checked_in_at is not None
    page = _text(client.get(response.headers["Location"]))
    assert "Alice Dupont est pointé·e présent·e." in page and "Présent·es : 1 sur 2 inscrit·es" in page
    assert "Annuler le pointage" in page
    post_form(client, f"/ateliers/gestion/inscriptions/{guest.id}/pointer", {"present": "1", "q": ""}, csrf_url=url)
    assert queries.attendance(workshop)["present"] == 2

    response = post_form(client, mark, {"present": "0", "q": "alice"}, csrf_url=url, follow_redirects=True)
    assert "Pointage annulé pour Alice Dupont." in _text(response)
    db.session.refresh(alice)
    assert alice.checked_in_at is None
    assert queries.attendance(workshop) == {"confirmed": 2, "present": 1, "no_shows": 1, "rate": 50}


def test_only_confirmed_people_can_be_checked_in(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=1)
    signup.sign_up(workshop, _person())
    waiting = signup.sign_up(workshop, _person())
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/inscriptions/{waiting.id}/pointer", {"present": "1"},
                         csrf_url="/", follow_redirects=True)
    assert "Seules les personnes inscrites peuvent être pointées." in _text(response)
    db.session.refresh(waiting)
    assert waiting.checked_in_at is None


def test_check_in_refuses_a_bad_present_value(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org)
    registration = signup.sign_up(workshop, _person())
    login(client, facilitator.email)
    response = post_form(client, f"/ateliers/gestion/inscriptions/{registration.id}/pointer", {"present": "yes"},
                         csrf_url="/", follow_redirects=True)
    assert "Le formulaire a expiré" in _text(response)
    db.session.refresh(registration)
    assert registration.checked_in_at is None


# --- permissions: every staff endpoint -----------------------------------------------------------

# (endpoint, method, URL with {workshop} / {registration}); POSTs carry a valid CSRF token.
STAFF_ENDPOINTS = [
    ("manage_workshop", "GET", "/ateliers/gestion/{workshop}"),
    ("edit_workshop", "GET", "/ateliers/gestion/{workshop}/modifier"),
    ("edit_workshop", "POST", "/ateliers/gestion/{workshop}/modifier"),
    ("publish_workshop", "POST", "/ateliers/gestion/{workshop}/publier"),
    ("cancel_workshop", "GET", "/ateliers/gestion/{workshop}/annuler"),
    ("cancel_workshop", "POST", "/ateliers/gestion/{workshop}/annuler"),
    ("duplicate_workshop", "POST", "/ateliers/gestion/{workshop}/dupliquer"),
    ("regenerate_link", "POST", "/ateliers/gestion/{workshop}/nouveau-lien"),
    ("register_on_behalf", "GET", "/ateliers/gestion/{workshop}/inscrire"),
    ("register_on_behalf", "POST", "/ateliers/gestion/{workshop}/inscrire"),
    ("message_participants", "GET", "/ateliers/gestion/{workshop}/message"),
    ("message_participants", "POST", "/ateliers/gestion/{workshop}/message"),
    ("export_roster", "GET", "/ateliers/gestion/{workshop}/inscrits.csv"),
    ("check_in", "GET", "/ateliers/gestion/{workshop}/pointage?q=a"),
    ("promote_registration", "POST", "/ateliers/gestion/inscriptions/{registration}/promouvoir"),
    ("staff_cancel_registration", "GET", "/ateliers/gestion/inscriptions/{registration}/annuler"),
    ("staff_cancel_registration", "POST", "/ateliers/gestion/inscriptions/{registration}/annuler"),
    ("mark_present", "POST", "/ateliers/gestion/inscriptions/{registration}/pointer"),
    ("confirm_category", "POST", "/ateliers/gestion/inscriptions/{registration}/categorie/confirmer"),
    ("move_registration", "POST", "/ateliers/gestion/inscriptions/{registration}/categorie/changer"),
]


def test_staff_endpoint_list_is_complete(app):
    """Every rule under /ateliers/gestion/ that acts on one workshop or registration is in the table."""
    rules = {(r.endpoint.split(".")[1], m) for r in app.url_map.iter_rules()
             if r.rule.startswith("/ateliers/gestion/") and r.arguments
             and not r.rule.startswith("/ateliers/gestion/sujets/")  # a topic's, not a workshop's: test_outcomes.py
             for m in r.methods - {"HEAD", "OPTIONS"}}
    assert rules == {(endpoint, method) for endpoint, method, _url in STAFF_ENDPOINTS}


@pytest.mark.parametrize(("endpoint", "method", "url"), STAFF_ENDPOINTS,
                         ids=[f"{m}-{e}" for e, m, _u in STAFF_ENDPOINTS])
def test_staff_endpoints_refuse_everyone_but_the_organisations_facilitators(app, endpoint, method, url):
    org, other, facilitator = _world()
    users = {"facilitator_other": make_member(other, Role.facilitator), "editor": make_member(org, Role.editor),
             "citizen": _person()}
    workshop = make_workshop(org, capacity=1)
    signup.sign_up(workshop, _person())
    registration = signup.sign_up(workshop, users["citizen"])  # waitlisted, so every action could apply
    url = url.format(workshop=workshop.id, registration=registration.id)
    data = {"reason": "x", "subject": "x", "body": "x", "message": "x", "present": "1", "guest_name": "x",
            "guest_phone": "0600000000", **_edit_form(workshop, title="Piraté")}
    before = len(db.session.scalars(select(OutboxMessage)).all())

    def call(client):
        if method == "GET":
            return client.get(url)
        return client.post(url, data={**data, "csrf_token": get_csrf(client, "/")})

    anonymous = app.test_client()
    response = call(anonymous)
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    for role, user in users.items():
        client = app.test_client()
        login(client, user.email)
        assert call(client).status_code == 403, role
    db.session.refresh(workshop)
    db.session.refresh(registration)
    assert workshop.title == "Atelier de test" and workshop.status is WorkshopStatus.published
    assert registration.status is RegistrationStatus.waitlisted and registration.checked_in_at is None
    assert _count_workshops() == 1
    assert len(db.session.scalars(select(OutboxMessage)).all()) == before
    # The organisation's facilitator and an admin are let in.
    for user in (facilitator, _person(admin=True)):
        client = app.test_client()
        login(client, user.email)
        assert call(client).status_code in (200, 302)


@pytest.mark.parametrize("url", ["/ateliers/gestion/", "/ateliers/gestion/nouveau"])
def test_staff_home_and_create_are_for_facilitators(app, url):
    org, _other, facilitator = _world()
    editor = make_member(org, Role.editor)
    citizen = _person()
    db.session.commit()
    response = app.test_client().get(url)
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    for user, status in ((citizen, 403), (editor, 403), (facilitator, 200), (_person(admin=True), 200)):
        client = app.test_client()
        login(client, user.email)
        assert client.get(url).status_code == status, user.email


def test_unknown_workshop_or_registration_is_404(client):
    _org, _other, facilitator = _world()
    login(client, facilitator.email)
    assert client.get("/ateliers/gestion/999").status_code == 404
    assert client.get("/ateliers/gestion/inscriptions/999/annuler").status_code == 404
