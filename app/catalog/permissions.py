"""Permission predicates that depend on organisations and memberships (the catalogue's models).

The generic ones (signed in, admin, verified, ``requires``) are in ``app/permissions.py``, which imports no area;
these read the catalogue, so they live in its area and every area above imports them from here."""

from ..extensions import db
from ..permissions import is_admin, is_authenticated
from .models import Organisation, Role


def has_org_role(user, organisation, role) -> bool:
    """Member of ``organisation`` with ``role`` (a ``Role``)."""
    if not is_authenticated(user) or organisation is None:
        return False
    return any(m.organisation_id == organisation.id and m.role == role for m in user.memberships)


def is_staff(user) -> bool:
    """Member of any organisation, in any role."""
    return is_authenticated(user) and bool(user.memberships)


def can_facilitate(user, organisation) -> bool:
    """Runs workshops and boards of ``organisation``: its facilitators, and platform admins."""
    return is_admin(user) or has_org_role(user, organisation, Role.facilitator)


def facilitated_organisations(user) -> list:
    """Organisations whose workshops this person may create (all of them for admins)."""
    if is_admin(user):
        return list(db.session.scalars(db.select(Organisation).order_by(Organisation.name)))
    return sorted({m.organisation for m in user.memberships if m.role is Role.facilitator} if is_authenticated(user)
                  else set(), key=lambda o: o.name)


def is_facilitator(user) -> bool:
    return bool(facilitated_organisations(user)) if is_authenticated(user) else False
