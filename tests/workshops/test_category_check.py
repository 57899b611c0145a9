"""Declared categories (issue 19, point 2): the forms show only the categories that exist, and the team can
confirm the category people declare, at sign-up review or at check-in, on SQLite and PostgreSQL.

Workshops here have an open category (« usagers », anyone may declare it) and a category to check
(« agents »): seats kept for people who really are agents.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.mail.models import OutboxMessage
from app.workshops import service, signup
from app.workshops.errors import CategoryNotChecked, CategoryNotConfirmed, CheckInNotOpen
from app.workshops.models import CategoryCheck, Registration, RegistrationStatus, Workshop, WorkshopCategory
from tests.conftest import login, post_form
from tests.factories import make_user, make_workshop
from tests.workshops.helpers import facilitator_of, move, reload, users
from tests.workshops.test_manage_routes import _csv, _edit_form, _tables, _text, _workshop_form, _world

CONFIRMED, IN_REVIEW = RegistrationStatus.confirmed, RegistrationStatus.in_review
OFFERED, WAITLISTED, CANCELLED = RegistrationStatus.offered, RegistrationStatus.waitlisted, RegistrationStatus.cancelled


# --- helpers -------------------------------------------------------------------------------------

def checked_workshop(when: CategoryCheck, org=None, usagers=1, agents=1, **kwargs):
    """A published workshop with an open category « usagers » and a category to check « agents »."""
    return make_workshop(org, capacity=usagers + agents, quotas=[("usagers", usagers), ("agents", agents, True)],
                         category_check=when, **kwargs)


def categories(workshop) -> tuple[WorkshopCategory, WorkshopCategory]:
    usagers, agents = reload(workshop).categories
    return usagers, agents


def mails(template: str) -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def open_check_in(workshop):
    """Put the workshop one hour ahead: check-in is open (it opens two hours before the start)."""
    move(workshop, timedelta(hours=1))


# --- the forms show only the categories that exist -------------------------------------------------

def test_the_create_form_starts_with_one_category_row_and_adds_rows_without_javascript(client):
    org, _other, facilitator = _world()
    login(client, facilitator.email)
    page = _text(client.get("/ateliers/gestion/nouveau"))
    assert 'name="quotas-0-name"' in page and 'name="quotas-1-name"' not in page
    assert 'name="add_quota"' in page and "Ajouter une catégorie" in page
    # « Ajouter une catégorie » sends the form back with one more row, keeping what was typed, saving nothing.
    response = post_form(client, "/ateliers/gestion/nouveau", _workshop_form(
        org, **{"quotas-0-name": "usagers", "quotas-0-seats": "3", "add_quota": "1"}))
    page = _text(response)
    assert response.status_code == 200 and 'class="error-summary"' not in page
    assert 'value="usagers"' in page and 'name="quotas-1-name"' in page and 'name="quotas-2-name"' not in page
    assert 'value="Refaire la demande de logement social"' in page
    assert db.session.scalar(select(func.count(Workshop.id))) == 0
    # The rows sent are the categories created.
    response = post_form(client, "/ateliers/gestion/nouveau", _workshop_form(org, **{
        "quotas-0-name": "usagers", "quotas-0-seats": "3", "quotas-1-name": "agents", "quotas-1-seats": "1",
        "quotas-1-requires_check": "y", "category_check": "at_review"}))
    assert response.status_code == 302, _text(response)[:3000]
    workshop = db.session.scalar(select(Workshop))
    assert [(c.name, c.seats, c.requires_check) for c in workshop.categories] == [
        ("usagers", 3, False), ("agents", 1, True)]
    assert workshop.category_check is CategoryCheck.at_review


def test_the_edit_form_shows_exactly_the_workshops_categories(client):
    org, _other, facilitator = _world()
    workshop = checked_workshop(CategoryCheck.at_check_in, org)
    plain = make_workshop(org)
    login(client, facilitator.email)
    page = _text(client.get(f"/ateliers/gestion/{workshop.id}/modifier"))
    assert 'name="quotas-0-name"' in page and 'name="quotas-1-name"' in page and 'name="quotas-2-name"' not in page
    assert re.search(r'id="quotas-1-requires_check"[^>]*checked|checked[^>]*id="quotas-1-requires_check"', page)
    assert not re.search(r'id="quotas-0-requires_check"[^>]*checked', page)
    assert re.search(r'value="at_check_in"[^>]*checked|checked[^>]*value="at_check_in"', page)
    assert 'name="add_quota"' not in page  # the number of categories is fixed at creation
    page = _text(client.get(f"/ateliers/gestion/{plain.id}/modifier"))
    assert 'name="quotas-0-name"' not in page and 'name="category_check"' not in page


def test_the_sign_up_form_offers_exactly_the_workshops_categories_and_says_which_are_checked(client):
    workshop = checked_workshop(CategoryCheck.at_check_in)
    user = make_user()
    db.session.commit()
    login(client, user.email)
    page = _text(client.get(f"/ateliers/{workshop.id}/inscription"))
    assert page.count('name="category_id"') == 2
    assert "Ces catégories sont vérifiées à l'accueil, le jour de l'atelier : « agents »." in page


def test_the_edit_form_changes_when_categories_are_checked(client):
    org, _other, facilitator = _world()
    workshop = make_workshop(org, capacity=2, quotas=[("usagers", 1), ("agents", 1)])
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}/modifier"
    # Checking categories without saying which one is refused, on the field.
    response = post_form(client, url, _edit_form(workshop, category_check="at_review"))
    page = _text(response)
    assert response.status_code == 200 and 'href="#category_check"' in page
    assert "cochez au moins une catégorie à vérifier" in page
    response = post_form(client, url, _edit_form(workshop, category_check="at_review",
                                                 **{"quotas-1-requires_check": "y"}))
    assert response.status_code == 302, _text(response)[:3000]
    workshop = reload(workshop)
    assert workshop.category_check is CategoryCheck.at_review
    assert [c.requires_check for c in workshop.categories] == [False, True]


# --- at sign-up review -----------------------------------------------------------------------------

def test_at_review_a_seat_in_a_category_to_check_waits_for_the_team(app):
    workshop = checked_workshop(CategoryCheck.at_review, agents=1)
    usagers, agents = categories(workshop)
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    assert r_alice.status is IN_REVIEW and r_alice.confirmed_at is None
    assert reload(agents).seats_taken == 1  # the seat is held for her while the team checks
    assert mails("registration_confirmed") == []
    r_bob = signup.sign_up(reload(workshop), bob, category_id=agents.id)
    assert r_bob.status is WAITLISTED and r_bob.waitlist_number == 1
    # The open category is not checked: confirmed at once.
    assert signup.sign_up(reload(workshop), carol, category_id=usagers.id).status is CONFIRMED

    staff = facilitator_of(workshop)
    r_alice = signup.confirm_category(staff, reload(r_alice))
    assert r_alice.status is CONFIRMED and r_alice.confirmed_at is not None
    assert r_alice.category_confirmed_at is not None and r_alice.category_confirmed_by_id == staff.id
    assert reload(agents).seats_taken == 1
    assert mails("registration_confirmed") == [carol.email, alice.email]


def test_at_review_moving_a_person_to_the_open_category_passes_the_kept_seat_on(app):
    workshop = checked_workshop(CategoryCheck.at_review, usagers=2, agents=1)
    usagers, agents = categories(workshop)
    alice, bob = users(2)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=agents.id)
    staff = facilitator_of(workshop)
    moved = signup.move_to_category(staff, reload(r_alice), usagers.id)
    assert (moved.category_id, moved.status, moved.category_confirmed_at) == (usagers.id, CONFIRMED, None)
    assert mails("registration_confirmed") == [alice.email]
    # The agents' seat she held goes to the next agent, as an offer; confirming it waits for the review too.
    r_bob = reload(r_bob)
    assert r_bob.status is OFFERED and mails("seat_offered") == [bob.email]
    assert (reload(usagers).seats_taken, reload(agents).seats_taken) == (1, 1)
    assert signup.confirm_offer(r_bob, bob).status is IN_REVIEW
    assert reload(agents).seats_taken == 1


def test_moving_to_a_full_open_category_puts_the_person_on_its_waiting_list(app):
    workshop = checked_workshop(CategoryCheck.at_review, usagers=1, agents=1)
    usagers, agents = categories(workshop)
    alice, bob = users(2)
    signup.sign_up(reload(workshop), bob, category_id=usagers.id)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    moved = signup.move_to_category(facilitator_of(workshop), reload(r_alice), usagers.id)
    assert (moved.category_id, moved.status, moved.waitlist_number) == (usagers.id, WAITLISTED, 1)
    assert mails("registration_waitlisted") == [alice.email]
    assert (reload(usagers).seats_taken, reload(agents).seats_taken) == (1, 0)  # her agents' seat is free again
    assert (reload(usagers).next_waitlist_number, reload(agents).next_waitlist_number) == (2, 1)


def test_refusing_a_declared_category_cancels_and_passes_the_seat_on(app):
    workshop = checked_workshop(CategoryCheck.at_review, agents=1)
    _usagers, agents = categories(workshop)
    alice, bob = users(2)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=agents.id)
    signup.cancel_registration(reload(r_alice), facilitator_of(workshop), "Vous n'êtes pas agent d'accueil.")
    assert reload(r_alice).status is CANCELLED
    assert mails("registration_cancelled_by_staff") == [alice.email]
    assert reload(r_bob).status is OFFERED and reload(agents).seats_taken == 1


def test_a_seat_given_by_hand_in_a_category_to_check_is_in_review(app):
    workshop = checked_workshop(CategoryCheck.at_review, agents=1)
    _usagers, agents = categories(workshop)
    alice, bob = users(2)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=agents.id)
    staff = facilitator_of(workshop)
    signup.cancel_registration(reload(r_alice), alice)  # the seat is offered to bob
    signup.cancel_registration(reload(r_bob), bob)  # ...who declines: nobody waits, the seat is free
    carol, dan = users(2)
    signup.register_on_behalf(staff, reload(workshop), name="Carole", phone="0600000000", category_id=agents.id)
    assert db.session.scalar(select(Registration.status).where(Registration.guest_name == "Carole")) is IN_REVIEW
    r_dan = signup.sign_up(reload(workshop), dan, category_id=agents.id)
    assert r_dan.status is WAITLISTED
    signup.cancel_registration(db.session.scalar(select(Registration).where(Registration.guest_name == "Carole")),
                                staff)
    assert reload(r_dan).status is OFFERED


def test_category_decisions_are_refused_where_they_do_not_apply(app):
    workshop = checked_workshop(CategoryCheck.at_review, usagers=2, agents=2)
    usagers, agents = categories(workshop)
    alice, bob, citizen = users(3)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=usagers.id)
    staff = facilitator_of(workshop)
    with pytest.raises(NotAllowed):
        signup.confirm_category(citizen, reload(r_alice))
    with pytest.raises(NotAllowed):
        signup.move_to_category(alice, reload(r_alice), usagers.id)
    with pytest.raises(CategoryNotChecked):  # « usagers » is open: nothing to confirm
        signup.confirm_category(staff, reload(r_bob))
    with pytest.raises(InvalidInput) as refused:  # nobody is moved into a category to check
        signup.move_to_category(staff, reload(r_bob), agents.id)
    assert refused.value.code == "checked_category"
    with pytest.raises(InvalidInput) as refused:
        signup.move_to_category(staff, reload(r_alice), agents.id)
    assert refused.value.code == "same_category"
    other = make_workshop(capacity=1)  # another workshop's category
    with pytest.raises(InvalidInput) as refused:
        signup.move_to_category(staff, reload(r_alice), other.categories[0].id)
    assert refused.value.code == "checked_category"
    assert reload(r_alice).status is IN_REVIEW and reload(r_alice).category_id == agents.id
    assert (reload(usagers).seats_taken, reload(agents).seats_taken) == (1, 1)
    signup.cancel_registration(reload(r_alice), alice)
    with pytest.raises(InvalidInput) as refused:  # a cancelled registration has nothing left to decide
        signup.confirm_category(staff, reload(r_alice))
    assert refused.value.code == "registration_cancelled"


def test_people_in_review_keep_their_review_until_the_team_decides(app):
    workshop = checked_workshop(CategoryCheck.at_review)
    _usagers, agents = categories(workshop)
    [alice] = users(1)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    staff = facilitator_of(workshop)
    for change in ({"category_check": CategoryCheck.at_check_in},
                   {"quotas": [("usagers", 1, True), ("agents", 1, False)], "capacity": 2}):
        with pytest.raises(InvalidInput) as refused:
            service.update_workshop(staff, reload(workshop), **change)
        assert refused.value.code == "reviews_pending"
    assert reload(workshop).category_check is CategoryCheck.at_review and reload(agents).requires_check
    signup.confirm_category(staff, reload(r_alice))
    service.update_workshop(staff, reload(workshop), category_check=CategoryCheck.at_check_in)
    assert reload(workshop).category_check is CategoryCheck.at_check_in


def test_checking_categories_needs_a_category_to_check(app):
    admin = make_user(admin=True)
    db.session.commit()
    with pytest.raises(InvalidInput) as refused:
        make_workshop(capacity=2, quotas=[("usagers", 1), ("agents", 1)], category_check=CategoryCheck.at_review,
                      creator=admin)
    assert refused.value.code == "category_check"
    with pytest.raises(InvalidInput):
        make_workshop(capacity=2, category_check=CategoryCheck.at_check_in, creator=admin)


def test_duplicating_a_workshop_keeps_its_category_check(app):
    workshop = checked_workshop(CategoryCheck.at_check_in)
    copy = service.duplicate_workshop(facilitator_of(workshop), reload(workshop))
    assert copy.category_check is CategoryCheck.at_check_in
    assert [c.requires_check for c in copy.categories] == [False, True]


# --- at check-in -----------------------------------------------------------------------------------

def test_at_check_in_the_seat_is_confirmed_and_check_in_waits_for_the_category(app):
    workshop = checked_workshop(CategoryCheck.at_check_in, usagers=1, agents=1)
    usagers, agents = categories(workshop)
    alice, bob = users(2)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=usagers.id)
    assert r_alice.status is CONFIRMED and mails("registration_confirmed") == [alice.email, bob.email]
    assert reload(r_alice).check_in_waits_for_category and not reload(r_bob).check_in_waits_for_category
    staff = facilitator_of(workshop)
    open_check_in(workshop)
    with pytest.raises(CategoryNotConfirmed):
        service.check_in(staff, reload(r_alice))
    assert reload(r_alice).checked_in_at is None
    assert service.check_in(staff, reload(r_bob)).checked_in_at is not None
    # At the desk: the category is confirmed and the person checked in, in one step.
    r_alice = signup.confirm_category(staff, reload(r_alice), check_in=True)
    assert r_alice.category_confirmed_at is not None and r_alice.checked_in_at is not None


def test_at_check_in_an_unconfirmed_category_can_be_changed_to_the_open_one(app):
    workshop = checked_workshop(CategoryCheck.at_check_in, usagers=2, agents=1)
    usagers, agents = categories(workshop)
    [alice] = users(1)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    staff = facilitator_of(workshop)
    open_check_in(workshop)
    moved = signup.move_to_category(staff, reload(r_alice), usagers.id)
    assert (moved.category_id, moved.status) == (usagers.id, CONFIRMED)
    assert (reload(usagers).seats_taken, reload(agents).seats_taken) == (1, 0)
    assert service.check_in(staff, reload(moved)).checked_in_at is not None


def test_confirming_with_check_in_before_check_in_opens_changes_nothing(app):
    workshop = checked_workshop(CategoryCheck.at_check_in)
    _usagers, agents = categories(workshop)
    [alice] = users(1)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    with pytest.raises(CheckInNotOpen):
        signup.confirm_category(facilitator_of(workshop), reload(r_alice), check_in=True)
    r_alice = reload(r_alice)
    assert r_alice.category_confirmed_at is None and r_alice.checked_in_at is None


# --- what the team and the participants see ----------------------------------------------------------

def test_the_roster_and_the_export_show_declared_categories_and_their_confirmation(client):
    org, _other, facilitator = _world()
    workshop = checked_workshop(CategoryCheck.at_check_in, org, usagers=2, agents=2)
    usagers, agents = categories(workshop)
    alice, bob, carol = users(3)
    for person, category in ((alice, agents), (bob, usagers), (carol, agents)):
        signup.sign_up(reload(workshop), person, category_id=category.id)
    r_carol = db.session.scalar(select(Registration).where(Registration.user_id == carol.id))
    signup.confirm_category(facilitator, r_carol)
    login(client, facilitator.email)
    rows = _tables(client.get(f"/ateliers/gestion/{workshop.id}"))["Personnes dont la place est confirmée"]
    by_name = {row[0]: row for row in rows}
    assert by_name[alice.display_name][2] == "agents à vérifier"
    assert by_name[bob.display_name][2] == "usagers"
    assert by_name[carol.display_name][2] == "agents confirmée"
    assert "Confirmer la catégorie" in by_name[alice.display_name][5]
    assert "Confirmer la catégorie" not in by_name[carol.display_name][5]
    header, *lines = _csv(client.get(f"/ateliers/gestion/{workshop.id}/inscrits.csv"))
    assert header[3:5] == ["Catégorie", "Catégorie confirmée"]
    assert {line[0]: line[3:5] for line in lines} == {alice.display_name: ["agents", "Non"],
                                                      bob.display_name: ["usagers", ""],
                                                      carol.display_name: ["agents", "Oui"]}


def test_the_roster_lists_seats_in_review_with_the_decisions(client):
    org, _other, facilitator = _world()
    workshop = checked_workshop(CategoryCheck.at_review, org, usagers=2, agents=2)
    usagers, agents = categories(workshop)
    alice, bob = users(2)
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    r_bob = signup.sign_up(reload(workshop), bob, category_id=agents.id)
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}"
    page = _text(client.get(url))
    rows = _tables(client.get(url))["Personnes dont la catégorie déclarée est à vérifier"]
    assert [row[0] for row in rows] == [alice.display_name, bob.display_name]
    assert "Confirmer la catégorie" in rows[0][3] and "Passer en « usagers »" in rows[0][3]
    assert "Refuser l'inscription" in rows[0][3] and "Passer en « agents »" not in page
    response = post_form(client, f"/ateliers/gestion/inscriptions/{r_alice.id}/categorie/confirmer",
                         {"back": "roster", "q": ""}, csrf_url=url)
    assert response.status_code == 302 and response.headers["Location"] == url
    assert "La catégorie « agents » de " in _text(client.get(url))
    assert reload(r_alice).status is CONFIRMED
    response = post_form(client, f"/ateliers/gestion/inscriptions/{r_bob.id}/categorie/changer",
                         {"back": "roster", "q": "", "category_id": str(usagers.id)}, csrf_url=url,
                         follow_redirects=True)
    assert f"{bob.display_name} passe en « usagers », place confirmée." in _text(response)
    assert (reload(r_bob).category_id, reload(r_bob).status) == (usagers.id, CONFIRMED)


def test_the_check_in_page_confirms_the_declared_category_then_checks_in(client):
    org, _other, facilitator = _world()
    workshop = checked_workshop(CategoryCheck.at_check_in, org, usagers=2, agents=2, starts_in=timedelta(hours=1))
    usagers, agents = categories(workshop)
    [alice] = users(1, name="Alice Agent")
    r_alice = signup.sign_up(reload(workshop), alice, category_id=agents.id)
    login(client, facilitator.email)
    url = f"/ateliers/gestion/{workshop.id}/pointage"
    page = _text(client.get(url, query_string={"q": "alice"}))
    assert "Alice Agent" in page and "catégorie à vérifier" in page
    assert "Catégorie « agents » confirmée : présent·e" in page and "Passer en « usagers »" in page
    assert f'action="/ateliers/gestion/inscriptions/{r_alice.id}/pointer"' not in page
    # Marking her present directly is refused: the category comes first.
    response = post_form(client, f"/ateliers/gestion/inscriptions/{r_alice.id}/pointer", {"present": "1", "q": ""},
                         csrf_url=url, follow_redirects=True)
    assert "Confirmez d'abord la catégorie déclarée" in _text(response)
    response = post_form(client, f"/ateliers/gestion/inscriptions/{r_alice.id}/categorie/confirmer",
                         {"back": "check_in", "q": "alice", "present": "1"}, csrf_url=url)
    assert response.headers["Location"] == f"{url}?q=alice"
    page = _text(client.get(response.headers["Location"]))
    assert "Alice Agent est pointé·e présent·e." in page and "catégorie confirmée" in page
    assert reload(r_alice).checked_in_at is not None and reload(r_alice).category_confirmed_at is not None


def test_participants_are_told_their_category_will_be_checked(client):
    workshop = checked_workshop(CategoryCheck.at_review, usagers=1, agents=1)
    reviewed = checked_workshop(CategoryCheck.at_check_in, usagers=1, agents=1)
    user = make_user()
    db.session.commit()
    login(client, user.email)
    page = _text(client.get(f"/ateliers/{workshop.id}/inscription"))
    assert "L'équipe vérifie ces catégories avant de confirmer la place : « agents »." in page
    response = post_form(client, f"/ateliers/{workshop.id}/inscription",
                         {"category_id": str(categories(workshop)[1].id)}, follow_redirects=True)
    page = _text(response)
    assert "une place vous est réservée. L'équipe vérifie la catégorie que vous avez déclarée" in page
    assert "Catégorie en cours de vérification" in page
    assert client.get(f"/ateliers/{workshop.id}/convocation").status_code == 404  # no seat confirmed yet
    assert "Catégorie en cours de vérification" in _text(client.get("/ateliers/mes-ateliers"))
    post_form(client, f"/ateliers/{reviewed.id}/inscription", {"category_id": str(categories(reviewed)[1].id)})
    ticket = _text(client.get(f"/ateliers/{reviewed.id}/convocation"))
    assert "Vous participez en tant que « agents » : cette catégorie sera vérifiée à l'accueil." in ticket
