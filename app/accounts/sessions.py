"""The account a request's session names, for a write that checks that account itself, in its own statement."""

from flask import session

from ..extensions import login_manager
from .models import session_account


def account_of_session() -> tuple[int, int] | None:
    """(user id, session version) named by this request's session, without loading the account.

    ``None`` when the session names no one, or when it would fail Flask-Login's session protection (its
    identifier of the client's address and browser no longer matches): the caller then takes the usual path,
    where Flask-Login loads the account and applies its rules. The account named may since have been deleted,
    left unverified or had its sessions revoked (a newer session version): the caller's statement must check.
    """
    named = session.get("_user_id")
    if not named:
        return None
    # What Flask-Login compares on every load (its own generator, so a customised one is honoured).
    if session.get("_id") != login_manager._session_identifier_generator():
        return None
    return session_account(named)
