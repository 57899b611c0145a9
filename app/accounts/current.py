"""The person behind the current request, as the model object the use cases take.

Flask-Login's ``current_user`` is a proxy: a service may store what it is given (a relationship, ``login_user``),
so routes and socket handlers hand services the object itself. One helper for every area, instead of a copy in
each routes module."""

from flask_login import current_user


def acting_user():
    """The signed-in account (or Flask-Login's anonymous user), unwrapped from the proxy."""
    return current_user._get_current_object()


def signed_in_user():
    """The signed-in account, or None for a visitor who is not signed in (guests of a live board)."""
    return current_user._get_current_object() if current_user and current_user.is_authenticated else None
