"""Locale and time-zone selection; French first, English second."""

from datetime import UTC, datetime

from flask import Flask, current_app, has_request_context, session
from flask_babel import get_locale
from flask_login import current_user

SESSION_KEY = "lang"


def select_locale() -> str:
    """Logged-in preference, then the visitor's chosen language, then French (the default)."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # jobs and commands choose with force_locale()
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get(SESSION_KEY)
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def localized(obj, field: str) -> str:
    """Pick ``<field>_<lang>`` on an object, falling back to French."""
    lang = current_language()
    value = getattr(obj, f"{field}_{lang}", None)
    return value or getattr(obj, f"{field}_fr")


def html_datetime(value: datetime) -> str:
    """A stored time (naive UTC) as a <time datetime> value: to the second, with a Z. HTML allows at most three
    digits of a second's fraction, where isoformat() writes six."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.filters["localized"] = localized
    app.jinja_env.filters["html_datetime"] = html_datetime
