"""Catalogue rules: admins edit, everyone reads; slugs and roles unique."""

import pytest
from sqlalchemy import select

from app.catalog import service
from app.catalog.models import Membership, Organisation, OrganisationKind, Role
from app.errors import NotAllowed
from app.extensions import db
from tests.factories import make_life_event, make_member, make_organisation, make_service, make_user


def test_admin_creates_organisation(app):
    admin = make_user(admin=True)
    org = service.save_organisation(admin, None, name="Ville de Nantes", slug="ville-de-nantes",
                                    kind=OrganisationKind.local_authority, description="", url=None)
    assert org.id and service.get_by_slug(Organisation, "ville-de-nantes").name == "Ville de Nantes"


def test_non_admin_cannot_edit_catalogue(app):
    org = make_organisation()
    for user in (make_user(), make_member(org, Role.editor), make_member(org, Role.facilitator)):
        with pytest.raises(NotAllowed):
            service.save_organisation(user, None, name="X", slug="x", kind=OrganisationKind.other,
                                      description="", url=None)
    assert db.session.scalar(select(Organisation).where(Organisation.slug == "x")) is None


@pytest.mark.both_databases("app.catalog.service")
def test_slug_is_unique(app):
    admin = make_user(admin=True)
    make_organisation(slug="taken")
    db.session.commit()
    with pytest.raises(service.SlugTaken):
        service.save_organisation(admin, None, name="Y", slug="taken", kind=OrganisationKind.other,
                                  description="", url=None)


def test_service_links_life_events_both_ways(app):
    admin = make_user(admin=True)
    org = make_organisation()
    moving = make_life_event(slug="je-demenage-test")
    item = service.save_service(admin, None, [moving.id], name="Carte grise", slug="carte-grise-test",
                                organisation_id=org.id, description="", url=None, online=True, phone=False,
                                counter=False)
    assert [e.slug for e in item.life_events] == ["je-demenage-test"]
    db.session.refresh(moving)
    assert [s.slug for s in moving.services] == ["carte-grise-test"]
    event = service.save_life_event(admin, moving, [], name_fr="Je déménage", name_en="I move", slug=moving.slug,
                                    description_fr="", description_en="")
    assert event.services == []


@pytest.mark.both_databases("app.catalog.service")
def test_add_member_gives_role_once(app):
    admin = make_user(admin=True)
    org = make_organisation()
    person = make_user(email="agent@example.org")
    db.session.commit()
    membership = service.add_member(admin, org, "Agent@example.org", Role.facilitator)
    assert membership.user_id == person.id
    with pytest.raises(service.AlreadyMember):
        service.add_member(admin, org, "agent@example.org", Role.facilitator)
    service.add_member(admin, org, "agent@example.org", Role.editor)  # another role is fine
    assert db.session.scalar(select(db.func.count(Membership.id))) == 2


def test_add_member_refuses_unknown_account(app):
    admin = make_user(admin=True)
    org = make_organisation()
    with pytest.raises(service.UnknownUser):
        service.add_member(admin, org, "nobody@example.org", Role.editor)


def test_remove_member(app):
    admin = make_user(admin=True)
    org = make_organisation()
    member = make_member(org, Role.editor)
    db.session.commit()
    service.remove_member(admin, member.memberships[0])
    db.session.refresh(member)
    assert member.memberships == []


@pytest.mark.both_databases("app.catalog.service")
def test_list_services_filters_by_name(app):
    org = make_organisation()
    make_service(org, name="Demander un passeport")
    make_service(org, name="Carte d'identité")
    db.session.commit()
    page = service.list_services(query="passe")
    assert [s.name for s in page.items] == ["Demander un passeport"]
