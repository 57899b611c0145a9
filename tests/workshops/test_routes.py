"""Public workshop pages over HTTP, on SQLite and PostgreSQL."""

import html as htmllib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.accounts import service as accounts
from app.accounts.models import User
from app.catalog.models import Role
from app.clock import utcnow
from app.extensions import db
from app.workshops import jobs, service, signup
from app.workshops.forms import to_local
from app.workshops.models import (
    QuestionKind,
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopEvaluation,
    WorkshopFormat,
)
from tests.conftest import get_csrf, login, post_form
from tests.factories import (
    make_life_event,
    make_member,
    make_organisation,
    make_service,
    make_user,
    make_workshop,
)
from tests.queries import count_queries, recorded_statements
from tests.workshops.helpers import move

MINE = "/ateliers/mes-ateliers"


# --- helpers -------------------------------------------------------------------------------------

def text(response) -> str:
    """The page as a reader sees it: entities decoded."""
    return htmllib.unescape(response.get_data(as_text=True))


def plain(page: str) -> str:
    """Only the words: tags removed, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def section(page: str, title_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{title_id}">(.*?)</section>', page, re.S)
    return match.group(1) if match else ""


def titles_on(page: str) -> list[str]:
    """Workshop card titles, in order."""
    return re.findall(r'class="h3"><a href="/ateliers/\d+">([^<]+)</a>', page)


def user_logged_in(client, **kwargs):
    user = make_user(**kwargs)
    db.session.commit()
    login(client, user.email)
    return user


def registration_of(workshop, user) -> Registration:
    db.session.expire_all()
    return db.session.scalar(select(Registration).where(Registration.workshop_id == workshop.id,
                                                        Registration.user_id == user.id))


def fill(workshop, n):
    """n other people sign up (confirmed first, then waitlisted)."""
    people = [make_user() for _ in range(n)]
    db.session.commit()
    return [signup.sign_up(db.session.get(Workshop, workshop.id), p) for p in people]


# --- finding workshops ---------------------------------------------------------------------------

def test_list_shows_upcoming_public_workshops_only(client):
    make_workshop(title="À venir", starts_in=timedelta(days=2))
    make_workshop(title="Plus tard", starts_in=timedelta(days=9))
    make_workshop(title="Passé", starts_in=-timedelta(days=2))
    make_workshop(title="Brouillon", published=False)
    make_workshop(title="Sur invitation", visibility=Visibility.invitation)
    page = text(client.get("/ateliers/"))
    assert titles_on(page) == ["À venir", "Plus tard"]
    assert "2 ateliers" in page


def test_list_filters_by_organisation(client):
    caf = make_organisation(name="CAF")
    make_workshop(caf, title="Atelier CAF")
    make_workshop(title="Atelier ailleurs")
    assert titles_on(text(client.get(f"/ateliers/?organisation={caf.id}"))) == ["Atelier CAF"]


def test_list_filters_by_life_event(client):
    moving = make_life_event(name_fr="Je déménage")
    make_workshop(title="Déménager", life_event_ids=[moving.id])
    make_workshop(title="Autre chose")
    assert titles_on(text(client.get(f"/ateliers/?moment={moving.id}"))) == ["Déménager"]


def test_list_filters_by_service(client):
    passport = make_service(name="Passeport")
    make_workshop(title="Passeport plus simple", service_ids=[passport.id])
    make_workshop(title="Autre démarche", service_ids=[make_service().id])
    assert titles_on(text(client.get(f"/ateliers/?demarche={passport.id}"))) == ["Passeport plus simple"]


def test_list_filters_by_format_and_ignores_unknown_values(client):
    make_workshop(title="En salle", format=WorkshopFormat.in_person)
    make_workshop(title="En visio", format=WorkshopFormat.online, starts_in=timedelta(days=8))
    make_workshop(title="Mixte", format=WorkshopFormat.hybrid, starts_in=timedelta(days=9))
    assert titles_on(text(client.get("/ateliers/?format=online"))) == ["En visio"]
    assert titles_on(text(client.get("/ateliers/?format=hybrid"))) == ["Mixte"]
    assert titles_on(text(client.get("/ateliers/?format=nope&organisation=abc&du=31/12"))) == [
        "En salle", "En visio", "Mixte"]


def test_list_filters_by_date_range_with_both_days_included(client):
    first = make_workshop(title="Le 10", starts_in=timedelta(days=10))
    make_workshop(title="Le 15", starts_in=timedelta(days=15))
    last = make_workshop(title="Le 20", starts_in=timedelta(days=20))
    day = {w.title: to_local(w.starts_at).date().isoformat() for w in (first, last)}
    assert titles_on(text(client.get(f"/ateliers/?du={day['Le 20']}"))) == ["Le 20"]
    assert titles_on(text(client.get(f"/ateliers/?au={day['Le 10']}"))) == ["Le 10"]
    assert titles_on(text(client.get(f"/ateliers/?du={day['Le 10']}&au={day['Le 20']}"))) == [
        "Le 10", "Le 15", "Le 20"]


def test_list_filters_workshops_with_seats_left(client):
    make_workshop(title="Places libres", capacity=2)
    full = make_workshop(title="Complet", capacity=1, starts_in=timedelta(days=8))
    fill(full, 2)
    page = text(client.get("/ateliers/"))
    assert titles_on(page) == ["Places libres", "Complet"]
    assert "2 places disponibles" in plain(page) and "Complet · 1 personne en attente" in plain(page)
    assert titles_on(text(client.get("/ateliers/?places=1"))) == ["Places libres"]


def test_list_with_seats_counts_an_expired_offer_as_free_only_when_nobody_waits(client):
    lapsed = make_workshop(title="Offre expirée", capacity=1)
    queued = make_workshop(title="Offre expirée, file d'attente", capacity=1, starts_in=timedelta(days=8))
    for workshop, n in ((lapsed, 2), (queued, 3)):
        regs = fill(workshop, n)
        signup.cancel_registration(regs[0], regs[0].user)
        db.session.execute(update(Registration).where(Registration.workshop_id == workshop.id,
                                                      Registration.status == RegistrationStatus.offered)
                           .values(offer_expires_at=utcnow() - timedelta(minutes=1)))
    # The seat of "Offre expirée" is free; the one of the other belongs to the next person in line.
    assert titles_on(text(client.get("/ateliers/?places=1"))) == ["Offre expirée"]


def test_list_is_paginated_and_keeps_the_filters(client, app):
    app.config["WORKSHOPS_PER_PAGE"] = 2
    org = make_organisation()
    for n in range(5):
        make_workshop(org, title=f"Atelier {n}", starts_in=timedelta(days=2 + n), format=WorkshopFormat.online)
    make_workshop(title="Autre format")
    page = text(client.get("/ateliers/?format=online"))
    assert titles_on(page) == ["Atelier 0", "Atelier 1"] and "Page 1 sur 3" in page
    assert "/ateliers/?format=online&page=2" in page
    page = text(client.get("/ateliers/?format=online&page=3"))
    assert titles_on(page) == ["Atelier 4"] and "Page 3 sur 3" in page
    assert titles_on(text(client.get("/ateliers/?format=online&page=9"))) == []


def _many(n, orgs, services, events, admin):
    for i in range(n):
        make_workshop(orgs[i % 3], creator=admin, title=f"Atelier {i}", starts_in=timedelta(days=1, hours=i),
                      service_ids=[services[i % 3].id], life_event_ids=[events[i % 2].id], capacity=1 + i % 2)


def test_list_page_issues_the_same_number_of_queries_for_3_and_60_workshops(client):
    orgs = [make_organisation() for _ in range(3)]
    services = [make_service(org) for org in orgs]
    events = [make_life_event(), make_life_event()]
    admin = make_user(admin=True)
    _many(3, orgs, services, events, admin)
    fill(db.session.scalars(select(Workshop).order_by(Workshop.id)).first(), 2)
    with_three = count_queries(client, "/ateliers/")
    filtered_three = count_queries(client, f"/ateliers/?places=1&moment={events[0].id}")
    _many(57, orgs, services, events, admin)
    assert "60 ateliers" in text(client.get("/ateliers/"))
    assert count_queries(client, "/ateliers/") == with_three
    assert count_queries(client, f"/ateliers/?places=1&moment={events[0].id}") == filtered_three


def test_past_workshops_page_shows_attendance(client):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    done = make_workshop(org, title="Atelier terminé", capacity=4)
    make_workshop(org, title="Atelier à venir")
    regs = fill(done, 3)
    move(done, timedelta(hours=1))  # check-in is open
    service.check_in(staff, regs[0])
    service.check_in(staff, regs[1])
    move(done, -timedelta(days=2))
    page = text(client.get("/ateliers/passes"))
    assert "Atelier terminé" in page and "Atelier à venir" not in page
    assert "2 / 3" in page and "67 %" in page
    assert "Atelier à venir" not in text(client.get("/ateliers/passes?page=2"))


# --- one workshop --------------------------------------------------------------------------------

def test_workshop_page_shows_seats_left_and_waiting_list(client):
    org = make_organisation(name="France Travail")
    workshop = make_workshop(org, title="Inscription simplifiée", capacity=3, expected_change="Moins de papiers")
    fill(workshop, 2)
    page = text(client.get(f"/ateliers/{workshop.id}"))
    assert "Inscription simplifiée" in page and "France Travail" in page and "Moins de papiers" in page
    assert "1 place libre sur 3" in page
    fill(workshop, 3)
    page = text(client.get(f"/ateliers/{workshop.id}"))
    assert "0 place libre sur 3, 2 personnes en attente" in page
    assert "M'inscrire sur la liste d'attente" in page


def test_workshop_page_shows_seats_per_category(client):
    workshop = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    people = [make_user() for _ in range(3)]
    db.session.commit()
    agents = workshop.categories[1].id
    for person in people[:2]:
        signup.sign_up(db.session.get(Workshop, workshop.id), person, category_id=agents)
    page = text(client.get(f"/ateliers/{workshop.id}"))
    assert "usagers : 2 places libres sur 2" in page
    assert "agents : 0 place libre sur 1, 1 personne en attente" in page


def test_meeting_link_shown_only_to_confirmed_participants(client):
    workshop = make_workshop(format=WorkshopFormat.online, address="", capacity=1,
                             meeting_link="https://visio.example/salle-secrete")
    url = f"/ateliers/{workshop.id}"
    assert "salle-secrete" not in text(client.get(url))
    confirmed, waiting = make_user(email="ok@example.org"), make_user(email="attente@example.org")
    db.session.commit()
    signup.sign_up(workshop, confirmed)
    signup.sign_up(db.session.get(Workshop, workshop.id), waiting)
    login(client, "attente@example.org")
    assert "salle-secrete" not in text(client.get(url))
    login(client, "ok@example.org")
    assert 'href="https://visio.example/salle-secrete"' in text(client.get(url))


def test_draft_and_invitation_only_pages_are_404_without_access(client):
    draft = make_workshop(published=False)
    private = make_workshop(title="Atelier privé", visibility=Visibility.invitation)
    assert client.get(f"/ateliers/{draft.id}").status_code == 404
    assert client.get(f"/ateliers/{private.id}").status_code == 404
    assert client.get(f"/ateliers/{private.id}?invitation=faux").status_code == 404
    assert client.get("/ateliers/999999").status_code == 404
    page = text(client.get(f"/ateliers/{private.id}?invitation={private.invite_token}"))
    assert "Atelier privé" in page
    assert f"/ateliers/{private.id}/inscription?invitation={private.invite_token}" in page


def test_sign_up_through_an_invitation_link(client):
    private = make_workshop(visibility=Visibility.invitation)
    me = user_logged_in(client)
    url = f"/ateliers/{private.id}/inscription"
    assert client.get(url).status_code == 404
    form_url = f"{url}?invitation={private.invite_token}"
    response = post_form(client, form_url, {}, follow_redirects=True)
    assert "votre place est confirmée" in text(response)
    assert registration_of(private, me).status is RegistrationStatus.confirmed
    # Once registered, the person keeps seeing the page without the link.
    assert client.get(f"/ateliers/{private.id}").status_code == 200


# --- signing up ----------------------------------------------------------------------------------

def _with_questions(**kwargs):
    return make_workshop(questions=[
        {"kind": QuestionKind.short_text, "label": "Votre commune", "required": True},
        {"kind": QuestionKind.single_choice, "label": "Créneau préféré", "choices_text": "Matin\nSoir"},
        {"kind": QuestionKind.consent, "label": "J'accepte d'être pris·e en photo"}], **kwargs)


def test_sign_up_needs_an_account(client):
    workshop = make_workshop()
    response = client.get(f"/ateliers/{workshop.id}/inscription")
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_sign_up_form_shows_the_questions(client):
    workshop = _with_questions()
    user_logged_in(client)
    page = text(client.get(f"/ateliers/{workshop.id}/inscription"))
    for label in ("Votre commune", "Créneau préféré", "Matin", "Soir", "J'accepte d'être pris·e en photo"):
        assert label in page


def test_sign_up_with_a_required_answer_missing_shows_the_error_summary(client):
    workshop = _with_questions()
    me = user_logged_in(client)
    response = post_form(client, f"/ateliers/{workshop.id}/inscription", {f"q_{workshop.questions[1].id}": "Soir"})
    page = text(response)
    assert response.status_code == 200
    assert 'class="error-summary"' in page and "Le formulaire contient 1 erreur" in page
    assert f'href="#q_{workshop.questions[0].id}">Votre commune : Répondez à cette question.' in page
    assert registration_of(workshop, me) is None


def test_sign_up_confirmed_flash_and_answers_stored(client):
    workshop = _with_questions(capacity=2)
    q_town, q_slot, q_photo = (q.id for q in workshop.questions)
    me = user_logged_in(client)
    response = post_form(client, f"/ateliers/{workshop.id}/inscription",
                         {f"q_{q_town}": "Rennes", f"q_{q_slot}": "Matin", f"q_{q_photo}": "y"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/ateliers/{workshop.id}?inscription=1")
    page = text(client.get(response.headers["Location"]))
    assert "C'est noté : votre place est confirmée" in page
    assert "Votre place est confirmée" in page and "Ma convocation" in page
    registration = registration_of(workshop, me)
    assert registration.status is RegistrationStatus.confirmed
    assert {a.question_id: a.value for a in registration.answers} == {q_town: "Rennes", q_slot: "Matin",
                                                                      q_photo: "yes"}


def test_sign_up_waitlisted_flash_points_to_the_position_the_page_shows(client):
    workshop = make_workshop(capacity=1)
    fill(workshop, 2)
    me = user_logged_in(client)
    page = text(client.get(f"/ateliers/{workshop.id}/inscription"))
    assert "L'atelier est complet : vous serez inscrit·e sur la liste d'attente" in page
    page = text(post_form(client, f"/ateliers/{workshop.id}/inscription", {}, follow_redirects=True))
    assert "vous êtes sur la liste d'attente ; votre position est indiquée ci-dessous" in page
    assert "Vous êtes en position 2." in page
    assert registration_of(workshop, me).status is RegistrationStatus.waitlisted


def test_the_sign_up_message_comes_from_the_registration_not_from_the_link(client):
    """The page after a sign-up says what came of it from the viewer's own registration: the same link opened
    by someone else, or after cancelling, says nothing."""
    workshop = make_workshop(capacity=1)
    outcome = f"/ateliers/{workshop.id}?inscription=1"
    assert "C'est noté" not in text(client.get(outcome))  # not logged in
    me = user_logged_in(client)
    assert "C'est noté" not in text(client.get(outcome))  # logged in, not registered
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    assert "C'est noté : votre place est confirmée" in text(client.get(outcome))
    assert "C'est noté" not in text(client.get(f"/ateliers/{workshop.id}"))  # only after the sign-up
    signup.cancel_registration(registration_of(workshop, me), me)
    assert "C'est noté" not in text(client.get(outcome))


def _signup_statements(client, workshop) -> list[str]:
    url = f"/ateliers/{workshop.id}/inscription"
    token = get_csrf(client, url)
    with recorded_statements() as statements:
        response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302
    return statements


@pytest.mark.both_databases("app.workshops.signup")
def test_sign_up_post_writes_the_registration_the_counter_and_the_mail(client):
    """The sign-up POST takes the one locked path (the seat pool's row lock, then ``_place``), on both backends:
    its writes are the registration, the pool's counter and the outbox row, nothing else."""
    workshop = make_workshop(capacity=1)
    fill(workshop, 1)
    me = user_logged_in(client)
    raw = _signup_statements(client, workshop)
    writes = sorted(" ".join(s.split()[:3]).upper() for s in raw
                    if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE"))
    assert writes == ["INSERT INTO OUTBOX_MESSAGES", "INSERT INTO REGISTRATIONS", "UPDATE WORKSHOP_CATEGORIES SET"]
    registration = registration_of(workshop, me)
    assert (registration.status, registration.waitlist_number) == (RegistrationStatus.waitlisted, 1)
    assert "Vous êtes en position 1." in text(client.get(f"/ateliers/{workshop.id}"))


def test_the_sign_up_page_says_it_in_the_persons_language_and_is_not_stored(client):
    workshop = make_workshop(capacity=1)
    person = make_user(locale="en")
    db.session.commit()
    login(client, person.email)
    response = post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/ateliers/{workshop.id}?inscription=1")
    assert response.headers["Cache-Control"] == "no-store"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "your seat is confirmed" in page
    db.session.expire_all()
    assert db.session.scalar(select(Registration.status)) is RegistrationStatus.confirmed


def _on_the_sign_up_form(client) -> tuple[User, str, str]:
    """A verified person logged in on an open workshop's sign-up form: (person, form URL, CSRF token)."""
    workshop = make_workshop(capacity=5)
    person = make_user()
    db.session.commit()
    login(client, person.email)
    url = f"/ateliers/{workshop.id}/inscription"
    return person, url, get_csrf(client, url)


def _registrations() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Registration.id)))


def test_a_session_that_fails_flask_logins_protection_is_logged_out_not_signed_up(client):
    _person, url, token = _on_the_sign_up_form(client)
    # Another browser presenting this session cookie: Flask-Login's "strong" protection ends the session.
    response = client.post(url, data={"csrf_token": token}, headers={"User-Agent": "Another browser/1.0"})
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    assert _registrations() == 0


def test_a_revoked_session_is_sent_to_log_in_not_signed_up(client):
    person, url, token = _on_the_sign_up_form(client)
    accounts.log_out_everywhere(db.session.get(User, person.id))  # e.g. from another device
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    assert _registrations() == 0


def test_sign_up_twice_says_already_registered(client):
    workshop = make_workshop()
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    response = client.get(f"/ateliers/{workshop.id}/inscription", follow_redirects=True)
    assert "Vous êtes déjà inscrit·e à cet atelier." in text(response)
    assert db.session.scalar(select(func.count(Registration.id)).where(Registration.user_id == me.id)) == 1


def test_posting_the_sign_up_twice_says_already_registered(client):
    """The POST does not pre-read the registration: the service refuses under the lock, same message."""
    workshop = make_workshop()
    me = user_logged_in(client)
    url = f"/ateliers/{workshop.id}/inscription"
    token = get_csrf(client, url)
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/ateliers/{workshop.id}")
    assert "Vous êtes déjà inscrit·e à cet atelier." in text(client.get(response.headers["Location"]))
    assert db.session.scalar(select(func.count(Registration.id)).where(Registration.user_id == me.id)) == 1


def test_sign_up_refused_when_closed_shows_the_reason(client):
    workshop = make_workshop(signup_opens_at=utcnow() + timedelta(days=1))
    me = user_logged_in(client)
    page = text(client.get(f"/ateliers/{workshop.id}"))
    assert "Les inscriptions ouvrent le" in page and f"/ateliers/{workshop.id}/inscription" not in page
    page = text(post_form(client, f"/ateliers/{workshop.id}/inscription", {}))
    assert "Les inscriptions à cet atelier ne sont pas ouvertes." in page
    assert registration_of(workshop, me) is None


def test_unverified_user_sees_the_verify_notice_and_cannot_sign_up(client):
    workshop = make_workshop()
    me = user_logged_in(client, verified=False)
    page = text(client.get(f"/ateliers/{workshop.id}"))
    assert "Vérifiez votre adresse électronique pour pouvoir vous inscrire." in page
    assert f"/ateliers/{workshop.id}/inscription" not in page
    response = post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    assert "Vérifiez d'abord votre adresse électronique" in text(response)
    assert registration_of(workshop, me) is None


def test_sign_up_with_a_category(client):
    workshop = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    agents = workshop.categories[1].id
    me = user_logged_in(client)
    page = text(client.get(f"/ateliers/{workshop.id}/inscription"))
    assert "Vous participez en tant que" in page and "usagers" in page and "agents" in page
    page = text(post_form(client, f"/ateliers/{workshop.id}/inscription", {}))
    assert "Choisissez une catégorie." in page
    post_form(client, f"/ateliers/{workshop.id}/inscription", {"category_id": str(agents)})
    assert registration_of(workshop, me).category_id == agents


# --- cancelling and offers -----------------------------------------------------------------------

def test_cancel_registration_frees_the_seat_for_the_next_person(client):
    workshop = make_workshop(capacity=1)
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    [waiting] = fill(workshop, 1)
    response = post_form(client, f"/ateliers/{workshop.id}/desinscription", {}, csrf_url=MINE)
    assert response.status_code == 302 and response.headers["Location"].endswith(MINE)
    assert "Votre inscription est annulée." in text(client.get(MINE))
    assert registration_of(workshop, me).status is RegistrationStatus.cancelled
    db.session.expire_all()
    assert db.session.get(Registration, waiting.id).status is RegistrationStatus.offered


def test_cancel_needs_the_csrf_token_and_a_registration(client):
    workshop = make_workshop()
    other = make_workshop()
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    client.post(f"/ateliers/{workshop.id}/desinscription", data={})
    assert registration_of(workshop, me).status is RegistrationStatus.confirmed
    assert post_form(client, f"/ateliers/{other.id}/desinscription", {}, csrf_url=MINE).status_code == 404


def test_cancel_after_the_start_is_refused_with_a_message(client):
    workshop = make_workshop()
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    move(workshop, -timedelta(minutes=5))
    page = text(post_form(client, f"/ateliers/{workshop.id}/desinscription", {}, csrf_url=MINE,
                          follow_redirects=True))
    assert "L'atelier a commencé : l'inscription ne peut plus être annulée." in page
    assert registration_of(workshop, me).status is RegistrationStatus.confirmed


def test_confirm_offer_over_http(client):
    workshop = make_workshop(capacity=1, title="Atelier convoité")
    [first] = fill(workshop, 1)
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    signup.cancel_registration(first, first.user)
    mine = text(client.get(MINE))
    offered = section(mine, "offered-title")
    assert "Atelier convoité" in offered and "À confirmer avant le" in offered
    assert "Confirmer ma place pour « Atelier convoité »" in offered
    page = text(post_form(client, f"/ateliers/{workshop.id}/confirmer", {}, csrf_url=MINE, follow_redirects=True))
    assert "Votre place est confirmée. À bientôt !" in page
    assert registration_of(workshop, me).status is RegistrationStatus.confirmed
    assert "Atelier convoité" in section(page, "upcoming-title")


def test_confirm_expired_offer_says_so(client):
    workshop = make_workshop(capacity=1)
    [first] = fill(workshop, 1)
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    [third] = fill(workshop, 1)
    signup.cancel_registration(first, first.user)
    db.session.execute(update(Registration).where(Registration.user_id == me.id)
                       .values(offer_expires_at=utcnow() - timedelta(seconds=1)))
    assert section(text(client.get(MINE)), "offered-title") == ""
    page = text(post_form(client, f"/ateliers/{workshop.id}/confirmer", {}, csrf_url=MINE, follow_redirects=True))
    assert "Le délai pour confirmer cette place est dépassé." in page
    assert registration_of(workshop, me).status is RegistrationStatus.cancelled
    db.session.expire_all()
    assert db.session.get(Registration, third.id).status is RegistrationStatus.offered


def test_my_workshops_groups_registrations(client):
    me = user_logged_in(client, email="moi@example.org")
    upcoming = make_workshop(title="Atelier confirmé", capacity=2)
    full = make_workshop(title="Atelier complet", capacity=1)
    offered = make_workshop(title="Atelier proposé", capacity=1)
    past = make_workshop(title="Atelier passé", capacity=2)
    org = past.organisation
    staff = make_member(org, Role.facilitator)
    db.session.commit()
    signup.sign_up(upcoming, me)
    fill(full, 1)
    signup.sign_up(db.session.get(Workshop, full.id), me)
    [holder] = fill(offered, 1)
    signup.sign_up(db.session.get(Workshop, offered.id), me)
    signup.cancel_registration(holder, holder.user)
    attended = signup.sign_up(past, me)
    move(past, timedelta(hours=1))  # check-in is open
    service.check_in(staff, db.session.get(Registration, attended.id))
    move(past, -timedelta(days=1))
    page = text(client.get(MINE))
    assert "Atelier proposé" in section(page, "offered-title")
    assert "Confirmer ma place pour « Atelier proposé »" in section(page, "offered-title")
    assert "Atelier confirmé" in section(page, "upcoming-title")
    assert "Ma convocation" in section(page, "upcoming-title")
    assert "Atelier complet" in section(page, "waiting-title")
    assert "Atelier passé" in section(page, "past-title") and "Donner mon avis" in section(page, "past-title")
    for title_id, title in (("offered-title", "Atelier confirmé"), ("upcoming-title", "Atelier proposé"),
                            ("waiting-title", "Atelier passé"), ("past-title", "Atelier complet")):
        assert title not in section(page, title_id)


def test_my_workshops_needs_an_account(client):
    assert client.get(MINE).status_code == 302


# --- on the day and after ------------------------------------------------------------------------

def test_convocation_shows_the_code_and_an_inline_qr_code(client):
    workshop = make_workshop(title="Atelier du jour")
    me = user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    code = registration_of(workshop, me).code
    page = text(client.get(f"/ateliers/{workshop.id}/convocation"))
    assert f"<strong>{code}</strong>" in page
    assert re.search(r'<div role="img" aria-label="[^"]*' + code + r'"><svg ', page)


def test_convocation_only_for_confirmed_registrations(client):
    workshop = make_workshop(capacity=1)
    other = make_workshop()
    fill(workshop, 1)
    user_logged_in(client)
    post_form(client, f"/ateliers/{workshop.id}/inscription", {})  # waitlisted
    assert client.get(f"/ateliers/{workshop.id}/convocation").status_code == 404
    assert client.get(f"/ateliers/{other.id}/convocation").status_code == 404


def _attended_by_me(client, n_others=0):
    workshop = make_workshop(capacity=10)
    me = user_logged_in(client)
    staff = make_member(workshop.organisation, Role.facilitator)
    db.session.commit()
    regs = [signup.sign_up(workshop, me), *fill(workshop, n_others)]
    move(workshop, timedelta(hours=1))  # check-in is open
    for registration in regs:
        service.check_in(staff, registration)
    move(workshop, -timedelta(hours=3))
    return workshop, me, regs


def test_evaluation_form_after_the_workshop(client):
    workshop, me, _regs = _attended_by_me(client)
    show = text(client.get(f"/ateliers/{workshop.id}"))
    assert "Donner mon avis sur l'atelier" in show
    page = text(client.get(f"/ateliers/{workshop.id}/evaluation"))
    assert "Vous êtes-vous senti·e écouté·e ?" in page and "Reviendriez-vous à un autre atelier ?" in page
    response = post_form(client, f"/ateliers/{workshop.id}/evaluation",
                         {"overall": "4", "felt_heard": "yes", "would_return": "maybe", "comment": "Bien"})
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "Merci pour votre avis !" in page and "Merci, vous avez donné votre avis." in page
    [evaluation] = db.session.scalars(select(WorkshopEvaluation)).all()
    assert (evaluation.overall, evaluation.felt_heard, evaluation.would_return) == (4, "yes", "maybe")
    assert registration_of(workshop, me).has_evaluated
    # A second answer is refused (the form page itself now sends people back to the workshop).
    page = text(post_form(client, f"/ateliers/{workshop.id}/evaluation",
                          {"overall": "1", "felt_heard": "no", "would_return": "no"},
                          csrf_url="/ateliers/mes-ateliers", follow_redirects=True))
    assert "Vous avez déjà donné votre avis sur cet atelier." in page
    assert db.session.scalar(select(func.count(WorkshopEvaluation.id))) == 1


def test_evaluation_form_reports_missing_answers(client):
    workshop, me, _regs = _attended_by_me(client)
    page = text(post_form(client, f"/ateliers/{workshop.id}/evaluation", {"overall": "4"}))
    assert "Le formulaire contient 2 erreurs" in page
    assert not registration_of(workshop, me).has_evaluated


def test_evaluation_refused_to_people_who_did_not_attend(client):
    workshop = make_workshop(capacity=3)
    me = user_logged_in(client)
    signup.sign_up(workshop, me)
    move(workshop, -timedelta(hours=3))
    assert "Donner mon avis" not in text(client.get(f"/ateliers/{workshop.id}"))
    assert "Seules les personnes présentes" in text(client.get(f"/ateliers/{workshop.id}/evaluation",
                                                               follow_redirects=True))
    page = text(post_form(client, f"/ateliers/{workshop.id}/evaluation",
                          {"overall": "5", "felt_heard": "yes", "would_return": "yes"},
                          csrf_url="/ateliers/mes-ateliers", follow_redirects=True))
    assert "Seules les personnes présentes peuvent évaluer l'atelier" in page
    assert db.session.scalar(select(func.count(WorkshopEvaluation.id))) == 0


@pytest.mark.parametrize("answers", [4, 5])
def test_workshop_page_shows_evaluation_results_from_five_answers(client, answers):
    workshop, _me, regs = _attended_by_me(client, n_others=answers - 1)
    jobs.record_attendance()
    scores = [5, 4, 4, 3, 5][:answers]
    for registration, score in zip(regs, scores, strict=True):
        db.session.expire_all()
        service.submit_evaluation(db.session.get(Registration, registration.id), registration.user, overall=score,
                                  felt_heard="yes" if score > 3 else "no", would_return="no")
    page = plain(text(client.get(f"/ateliers/{workshop.id}")))
    assert f"{answers} / {answers} (100 %)" in page
    if answers < 5:
        assert "Publiés à partir de 5 réponses." in page and "Note moyenne" not in page
    else:
        assert "Note moyenne 4,2 sur 5 (5 avis)" in page  # a French decimal comma
        assert "Se sont senti·es écouté·es 80 %" in page and "Reviendraient 0 %" in page


# --- on catalogue pages --------------------------------------------------------------------------

def test_workshops_appear_on_organisation_life_event_and_service_pages(client):
    org = make_organisation(slug="caf-35", name="CAF d'Ille-et-Vilaine")
    moving = make_life_event(slug="je-demenage")
    housing = make_service(org, slug="apl", name="Aide au logement", life_events=[moving])
    make_workshop(org, title="Refaire la demande d'APL", service_ids=[housing.id], life_event_ids=[moving.id])
    make_workshop(org, title="Brouillon caché", published=False, service_ids=[housing.id])
    make_workshop(org, title="Invitation cachée", visibility=Visibility.invitation, life_event_ids=[moving.id])
    for url in ("/organisations/caf-35", "/moments-de-vie/je-demenage", "/demarches/apl"):
        page = text(client.get(url))
        assert "Ateliers à venir" in page, url
        assert "Refaire la demande d'APL" in page, url
        assert "Brouillon caché" not in page and "Invitation cachée" not in page, url
    other = make_service(org, slug="autre")
    db.session.commit()
    assert other.slug and "Aucun atelier n'est prévu pour l'instant." in text(client.get("/demarches/autre"))
