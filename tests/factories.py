"""Plain functions that add objects and flush (the test commits when it needs to)."""

import itertools

from app.accounts.models import User
from app.accounts.passwords import hash_password
from app.catalog.models import LifeEvent, Membership, Organisation, OrganisationKind, Role, Service
from app.clock import utcnow
from app.extensions import db

PASSWORD = "correct horse battery"  # noqa: S105
_seq = itertools.count(1)
_hash_cache: dict[str, str] = {}


def _hash(password: str) -> str:
    if password not in _hash_cache:
        _hash_cache[password] = hash_password(password)
    return _hash_cache[password]


def make_user(email=None, name=None, password=PASSWORD, verified=True, admin=False, locale="fr") -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@example.org", display_name=name or f"Personne {n}",
                password_hash=_hash(password), email_verified_at=utcnow() if verified else None,
                is_admin=admin, locale=locale, terms_accepted_at=utcnow())
    db.session.add(user)
    db.session.flush()
    return user


def make_organisation(slug=None, name=None) -> Organisation:
    n = next(_seq)
    org = Organisation(slug=slug or f"org-{n}", name=name or f"Organisation {n}",
                       kind=OrganisationKind.agency, description="")
    db.session.add(org)
    db.session.flush()
    return org


def make_service(organisation=None, slug=None, name=None, life_events=()) -> Service:
    n = next(_seq)
    service = Service(slug=slug or f"service-{n}", name=name or f"Démarche {n}",
                      organisation=organisation or make_organisation(), description="", online=True)
    service.life_events = list(life_events)
    db.session.add(service)
    db.session.flush()
    return service


def make_life_event(slug=None, name_fr=None, name_en=None) -> LifeEvent:
    n = next(_seq)
    event = LifeEvent(slug=slug or f"moment-{n}", name_fr=name_fr or f"Je fais la chose {n}", name_en=name_en,
                      description_fr="", position=n)
    db.session.add(event)
    db.session.flush()
    return event


def make_member(organisation, role: Role, **user_kwargs) -> User:
    user = make_user(**user_kwargs)
    db.session.add(Membership(user=user, organisation=organisation, role=role))
    db.session.flush()
    db.session.refresh(user)
    return user


def make_workshop(organisation=None, *, capacity=2, quotas=(), questions=(), starts_in=None, duration=None,
                  published=True, visibility=None, creator=None, **fields):
    """A workshop through the service (so its seat pools exist), published unless told otherwise."""
    from datetime import timedelta

    from app.workshops import service
    from app.workshops.models import Visibility, WorkshopFormat

    organisation = organisation or make_organisation()
    creator = creator or make_user(admin=True)
    starts_at = utcnow() + (starts_in if starts_in is not None else timedelta(days=7))
    defaults = {"title": "Atelier de test", "description_md": "", "expected_change": "", "address": "1 rue de Test",
                "format": WorkshopFormat.in_person, "starts_at": starts_at,
                "ends_at": starts_at + (duration or timedelta(hours=2)),
                "visibility": visibility or Visibility.public}
    db.session.commit()
    workshop = service.create_workshop(creator, organisation, capacity=capacity, quotas=list(quotas),
                                       questions=list(questions), **{**defaults, **fields})
    if published:
        service.publish_workshop(creator, workshop)
    return workshop
