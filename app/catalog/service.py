"""Catalogue use cases: browsing for everyone, editing for admins."""

import re
import unicodedata

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..errors import Conflict, NotAllowed, NotFound
from ..extensions import db
from ..permissions import can_manage_catalog
from .models import LifeEvent, Membership, Organisation, Role, Service


class SlugTaken(Conflict):
    code = "slug_taken"
    message = _l("Cet identifiant d'adresse est déjà utilisé.")


class AlreadyMember(Conflict):
    code = "already_member"
    message = _l("Cette personne a déjà ce rôle dans l'organisation.")


class UnknownUser(NotFound):
    code = "unknown_user"
    message = _l("Aucun compte n'existe avec cette adresse électronique.")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80] or "element"


# --- reading -----------------------------------------------------------------------------------

def list_life_events(with_services: bool = True) -> list[LifeEvent]:
    """Life events in order, with their services (one more query) unless only their names are needed."""
    stmt = select(LifeEvent).order_by(LifeEvent.position, LifeEvent.id)
    return list(db.session.scalars(stmt.options(selectinload(LifeEvent.services)) if with_services else stmt))


def service_names() -> list:
    """(id, name) of every service by name, for filters and choices: no service objects built."""
    return list(db.session.execute(select(Service.id, Service.name).order_by(Service.name)))


def list_organisations() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


def count_services_by_organisation() -> dict[int, int]:
    rows = db.session.execute(select(Service.organisation_id, func.count()).group_by(Service.organisation_id))
    return dict(rows.all())


def list_services(query: str = "", organisation_id: int | None = None, page: int = 1, per_page: int = 30):
    stmt = (select(Service).options(selectinload(Service.life_events)).order_by(Service.name))
    if query:
        stmt = stmt.where(Service.name.ilike(f"%{query.strip()}%"))
    if organisation_id:
        stmt = stmt.where(Service.organisation_id == organisation_id)
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def get_by_slug(model, slug: str):
    obj = db.session.scalar(select(model).where(model.slug == slug))
    if obj is None:
        raise NotFound()
    return obj


# --- editing (admins) --------------------------------------------------------------------------

def _require_admin(actor: User) -> None:
    if not can_manage_catalog(actor):
        raise NotAllowed()


def _commit_unique(obj):
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise SlugTaken() from exc
    return obj


def save_organisation(actor: User, organisation: Organisation | None, **fields) -> Organisation:
    """Create or update an organisation; slugs are unique."""
    _require_admin(actor)
    organisation = organisation or Organisation()
    for key, value in fields.items():
        setattr(organisation, key, value)
    db.session.add(organisation)
    return _commit_unique(organisation)


def save_service(actor: User, service: Service | None, life_event_ids: list[int], **fields) -> Service:
    """Create or update a service and its life events; slugs and external references are unique."""
    _require_admin(actor)
    service = service or Service()
    for key, value in fields.items():
        setattr(service, key, value)
    service.life_events = list(db.session.scalars(select(LifeEvent).where(LifeEvent.id.in_(life_event_ids))))
    db.session.add(service)
    return _commit_unique(service)


def save_life_event(actor: User, life_event: LifeEvent | None, service_ids: list[int], **fields) -> LifeEvent:
    """Create or update a life event and the services it leads to."""
    _require_admin(actor)
    life_event = life_event or LifeEvent()
    for key, value in fields.items():
        setattr(life_event, key, value)
    if life_event.id is None and not life_event.position:
        life_event.position = (db.session.scalar(select(func.max(LifeEvent.position))) or 0) + 1
    life_event.services = list(db.session.scalars(select(Service).where(Service.id.in_(service_ids))))
    db.session.add(life_event)
    return _commit_unique(life_event)


def add_member(actor: User, organisation: Organisation, email: str, role: Role) -> Membership:
    """Give an existing account a role in an organisation (once per role)."""
    _require_admin(actor)
    user = db.session.scalar(select(User).where(User.email == email.strip().lower(), User.deleted_at.is_(None)))
    if user is None:
        raise UnknownUser()
    membership = Membership(user=user, organisation=organisation, role=role)
    db.session.add(membership)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AlreadyMember() from exc
    return membership


def remove_member(actor: User, membership: Membership) -> None:
    """Withdraw a role."""
    _require_admin(actor)
    db.session.delete(membership)
    db.session.commit()


def list_members(organisation: Organisation) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).where(Membership.organisation_id == organisation.id)
        .options(selectinload(Membership.user)).order_by(Membership.role, Membership.id)))
