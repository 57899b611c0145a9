"""Permission predicates and the ``requires`` decorator.

Every check is a named predicate taking the acting user (possibly anonymous) and, where relevant,
the object. Routes guard with ``requires``; templates call the same predicates. The predicates that read
organisations and memberships are in ``app/catalog/permissions.py``: this module imports no area.
"""

from functools import wraps

from flask import abort
from flask_login import current_user

from .extensions import login_manager


def is_authenticated(user) -> bool:
    return bool(user and user.is_authenticated)


def is_admin(user) -> bool:
    """Platform administrator: manages organisations, memberships and the catalogue."""
    return is_authenticated(user) and bool(user.is_admin)


def is_verified(user) -> bool:
    return is_authenticated(user) and user.is_verified


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
            if login and not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not predicate(current_user):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = predicate
        return wrapped

    return decorator
