"""Permission predicates and the ``requires`` decorator.

Every check is a named predicate taking the acting user (possibly anonymous) and, where relevant,
the object. Routes guard with ``requires``; templates call the same predicates.
"""

from functools import wraps

from flask import abort
from flask_login import current_user


def is_authenticated(user) -> bool:
    return bool(user and user.is_authenticated)


def is_admin(user) -> bool:
    """Platform administrator: manages organisations, memberships and the catalogue."""
    return is_authenticated(user) and bool(user.is_admin)


def is_verified(user) -> bool:
    return is_authenticated(user) and user.is_verified


def has_org_role(user, organisation, role) -> bool:
    """Member of ``organisation`` with ``role`` (a ``catalog.models.Role``)."""
    if not is_authenticated(user) or organisation is None:
        return False
    return any(m.organisation_id == organisation.id and m.role == role for m in user.memberships)


def is_staff(user) -> bool:
    """Member of any organisation, in any role."""
    return is_authenticated(user) and bool(user.memberships)


def can_facilitate(user, organisation) -> bool:
    """Runs workshops and boards of ``organisation``: its facilitators, and platform admins."""
    from .catalog.models import Role

    return is_admin(user) or has_org_role(user, organisation, Role.facilitator)


def facilitated_organisations(user) -> list:
    """Organisations whose workshops this person may create (all of them for admins)."""
    from .catalog.models import Organisation, Role
    from .extensions import db

    if is_admin(user):
        return list(db.session.scalars(db.select(Organisation).order_by(Organisation.name)))
    return sorted({m.organisation for m in user.memberships if m.role is Role.facilitator} if is_authenticated(user)
                  else set(), key=lambda o: o.name)


def is_facilitator(user) -> bool:
    return bool(facilitated_organisations(user)) if is_authenticated(user) else False


def can_manage_catalog(user) -> bool:
    return is_admin(user)


def can_read_outbox(user) -> bool:
    return is_admin(user)


def requires(predicate, *, login: bool = True):
    """Route decorator: 401→login for anonymous users when ``login``, 403 when the predicate fails.

    ``predicate`` takes the current user only; object-level checks happen in the route after loading.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            from .extensions import login_manager

            if login and not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not predicate(current_user):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = predicate
        return wrapped

    return decorator
