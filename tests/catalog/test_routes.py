"""Catalogue pages: public browsing and admin editing over HTTP."""

import pytest
from sqlalchemy import select

from app.catalog.models import LifeEvent, Organisation, Service
from app.demo import seed
from app.extensions import db
from tests.conftest import login, post_form
from tests.factories import make_life_event, make_organisation, make_service, make_user


def test_life_event_page_lists_its_services(client):
    event = make_life_event(slug="je-demenage", name_fr="Je déménage", name_en="I am moving")
    make_service(make_organisation(name="ANTS"), name="Carte grise", life_events=[event])
    db.session.commit()
    html = client.get("/moments-de-vie/je-demenage").get_data(as_text=True)
    assert "Je déménage" in html and "Carte grise" in html and "ANTS" in html
    assert "Je déménage" in client.get("/moments-de-vie/").get_data(as_text=True)


def test_life_event_shows_english_name_in_english(client):
    make_life_event(slug="je-demenage", name_fr="Je déménage", name_en="I am moving")
    db.session.commit()
    post_form(client, "/langue", {"lang": "en", "next": "/"}, csrf_url="/")
    assert "I am moving" in client.get("/moments-de-vie/je-demenage").get_data(as_text=True)


def test_organisation_and_service_pages(client):
    org = make_organisation(slug="ants", name="Agence nationale des titres sécurisés")
    make_service(org, slug="passeport", name="Faire une demande de passeport")
    db.session.commit()
    assert "Faire une demande de passeport" in client.get("/organisations/ants").get_data(as_text=True)
    html = client.get("/demarches/passeport").get_data(as_text=True)
    assert "Agence nationale des titres sécurisés" in html
    assert client.get("/demarches/nope").status_code == 404


@pytest.mark.both_databases("app.catalog.service")
def test_service_list_is_paginated_and_searchable(client):
    org = make_organisation()
    for n in range(35):
        make_service(org, name=f"Démarche {n:02d}")
    db.session.commit()
    html = client.get("/demarches/").get_data(as_text=True)
    assert "35 démarches trouvées" in html and "Page 1 sur 2" in html
    html = client.get("/demarches/?page=2").get_data(as_text=True)
    assert "Démarche 34" in html
    html = client.get("/demarches/?q=Démarche 07").get_data(as_text=True)
    assert "1 démarche trouvée" in html


def test_admin_creates_organisation_through_the_form(client):
    make_user(email="root@example.org", admin=True)
    db.session.commit()
    login(client, "root@example.org")
    response = post_form(client, "/admin/organisations/nouvelle", {
        "name": "Ville de Rennes", "slug": "ville-de-rennes", "kind": "local_authority", "description": "",
        "url": ""})
    assert response.status_code == 302
    org = db.session.scalar(select(Organisation).where(Organisation.slug == "ville-de-rennes"))
    assert org.name == "Ville de Rennes"


@pytest.mark.both_databases("app.catalog.service")
def test_admin_form_reports_bad_slug_and_duplicate(client):
    make_user(email="root@example.org", admin=True)
    make_organisation(slug="pris")
    db.session.commit()
    login(client, "root@example.org")
    html = post_form(client, "/admin/organisations/nouvelle", {
        "name": "X", "slug": "Pas Bon!", "kind": "other"}).get_data(as_text=True)
    assert "Utilisez seulement des lettres minuscules" in html and 'class="error-summary"' in html
    html = post_form(client, "/admin/organisations/nouvelle", {
        "name": "X", "slug": "pris", "kind": "other"}).get_data(as_text=True)
    assert "Cet identifiant d&#39;adresse est déjà utilisé" in html


def test_admin_edits_service_and_life_event(client):
    make_user(email="root@example.org", admin=True)
    org = make_organisation()
    event = make_life_event(slug="je-vote")
    make_service(org, slug="vote")
    db.session.commit()
    login(client, "root@example.org")
    response = post_form(client, "/admin/demarches/vote/modifier", {
        "name": "Voter par procuration", "slug": "vote", "organisation_id": org.id, "description": "",
        "url": "https://www.maprocuration.gouv.fr/", "online": "y", "life_event_ids": [event.id]})
    assert response.status_code == 302
    item = db.session.scalar(select(Service).where(Service.slug == "vote"))
    assert item.name == "Voter par procuration" and [e.slug for e in item.life_events] == ["je-vote"]
    response = post_form(client, "/admin/moments-de-vie/je-vote/modifier", {
        "name_fr": "Je vote", "name_en": "I vote", "slug": "je-vote", "service_ids": []})
    assert response.status_code == 302
    assert db.session.scalar(select(LifeEvent).where(LifeEvent.slug == "je-vote")).name_en == "I vote"


def test_admin_manages_members(client):
    make_user(email="root@example.org", admin=True)
    make_user(email="agent@example.org", name="Agent Smith")
    org = make_organisation(slug="dinum")
    db.session.commit()
    login(client, "root@example.org")
    response = post_form(client, "/admin/organisations/dinum/membres", {"email": "agent@example.org",
                                                                         "role": "facilitator"})
    assert response.status_code == 302
    html = client.get("/admin/organisations/dinum/membres").get_data(as_text=True)
    assert "Agent Smith" in html
    html = post_form(client, "/admin/organisations/dinum/membres", {"email": "ghost@example.org",
                                                                     "role": "editor"}).get_data(as_text=True)
    assert "Aucun compte n&#39;existe avec cette adresse" in html
    db.session.refresh(org)
    membership_id = org.memberships[0].id
    response = post_form(client, f"/admin/membres/{membership_id}/retirer", {}, csrf_url="/admin/")
    assert response.status_code == 302
    db.session.refresh(org)
    assert org.memberships == []


def test_demo_seed_is_idempotent_and_has_ten_life_events(app):
    from flask import current_app

    assert seed(current_app.config["DEMO_DATA_DIR"]) is True
    counts = [db.session.scalar(select(db.func.count(m.id))) for m in (LifeEvent, Service, Organisation)]
    assert seed(current_app.config["DEMO_DATA_DIR"]) is False
    assert [db.session.scalar(select(db.func.count(m.id))) for m in (LifeEvent, Service, Organisation)] == counts
    assert counts[0] >= 10
    for event in db.session.scalars(select(LifeEvent)):
        assert len(event.services) >= 2, event.slug
    # Built from ../shared/data: the life events of life_events.csv and the URLs of procedures.csv.
    assert db.session.scalar(select(LifeEvent).where(LifeEvent.slug == "je-demenage")).name_fr == \
        "Je déménage en France"
    assert db.session.scalar(select(Service).where(Service.slug == "compte-ameli")).external_ref.startswith("jdma:")
