"""What the app accepts from outside as numbers and text, in one place.

Numbers: every id is a 32-bit INTEGER column on PostgreSQL (SQLite holds 64 bits, Python any size), and a larger
number sent to the database fails there (``OverflowError``, "integer out of range"): a 500. So every whole number
read from a URL, a query string or a form is bounded here first, and one past the bound is no number at all (no
route matches: 404; an absent filter; an invalid form field).

Text: a string that is not valid Unicode (a lone UTF-16 surrogate such as ``"\\ud800"``, which JSON escapes can
carry; bytes that are not UTF-8) cannot be encoded, stored or even shown. ``is_valid_text`` is the test, for
HTTP (the request hook below and ``security.refuse_invalid_text``) and socket payloads alike.
"""

import enum
import re
from datetime import date
from urllib.parse import unquote_to_bytes

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from wtforms.validators import ValidationError

DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1
PAGE_MAX = 100_000  # a page number of a list on a page; also bounds how many pages a cache can be asked to keep

_DECIMAL = re.compile(r"-?[0-9]{1,10}")  # ASCII digits only: int() also takes "١٢", "1_000" and 4,000 digits


def parse_int(raw, minimum: int = 1, maximum: int = DB_INT_MAX) -> int | None:
    """``raw`` (a string from a request, or an int) as an integer when it is a plain decimal number within
    ``[minimum, maximum]``; None otherwise (absent, not a number, out of range)."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        value = raw
    else:
        raw = str(raw)
        if not _DECIMAL.fullmatch(raw):
            return None
        value = int(raw)
    return value if minimum <= value <= maximum else None


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = DB_INT_MAX) -> int | None:
    """A whole number from the query string, or ``default`` when it is absent, not a number or out of
    ``[minimum, maximum]``: a number no row can have, or a page past any list, is read as no number."""
    value = parse_int(request.args.get(name), minimum, maximum)
    return default if value is None else value


def db_int(value) -> int:
    """WTForms ``coerce`` for a choice that is an id (or 0 for « none »): a whole number an INTEGER column holds.
    Anything else raises ``ValueError``, which the field reports as an invalid choice."""
    number = parse_int(value, DB_INT_MIN, DB_INT_MAX)
    if number is None:
        raise ValueError(value)
    return number


class IdConverter(IntegerConverter):
    """The app's ``<int:...>`` URL converter: ASCII digits, at most ``DB_INT_MAX`` (every such parameter is an id).
    A larger number matches no route: 404, as for an id that does not exist."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):  # noqa: A002 - Werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def form_date(field) -> date | None:
    """A form field's day (``AAAA-MM-JJ``), None when empty; anything else is the field's translated error."""
    value = (field.data or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(_l("Indiquez une date au format AAAA-MM-JJ, par exemple 2026-01-31.")) from None


def enum_member(kind: type[enum.Enum], value):
    """The member of ``kind`` whose value is ``value`` (a query argument, a payload field), or None."""
    try:
        return kind(value)
    except (ValueError, TypeError):
        return None


def is_valid_text(value) -> bool:
    """True when ``value`` is a string of valid Unicode: no lone UTF-16 surrogate (``"\\ud800"``), which UTF-8,
    PostgreSQL and the browser cannot carry. Not a check for NUL characters (valid Unicode, refused apart)."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _sent_bytes_are_utf8() -> bool:
    """The path, the query string and an urlencoded form body, as sent (percent-escapes decoded), are UTF-8.

    Werkzeug hides what was not: it replaces bad bytes in the path with U+FFFD, keeps bad percent-escapes of a
    query or form as the literal text ``%ED%A0%80``, drops a whole form holding raw bad bytes, and raises
    ``UnicodeDecodeError`` on a query string holding raw ones (a WSGI server such as gevent passes them on).
    """
    environ = request.environ
    try:
        path = environ.get("PATH_INFO", "").encode("latin-1")  # WSGI: the bytes sent, as latin-1 characters
        query = environ.get("QUERY_STRING", "").encode("latin-1")
    except UnicodeEncodeError:
        return False
    if not (is_valid_utf8(path) and is_valid_utf8(unquote_to_bytes(query))):
        return False
    if request.mimetype == "application/x-www-form-urlencoded":
        # Kept (cache=True): the form is then parsed from these bytes, once, by whoever reads it first.
        return is_valid_utf8(unquote_to_bytes(request.get_data(cache=True)))
    return True


def request_texts():
    """Every text of the request a view may read: the path, the names and values of the query string and of the
    form, and every string (key or value) of a JSON body, which Flask-WTF forms also take as their data."""
    yield request.path
    for data in (request.args, request.form):
        for key, values in data.lists():
            yield key
            yield from values
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nested deeper than Python parses; get_json only catches ValueError
            raise BadRequest() from None
        stack = [body]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                yield item
            elif isinstance(item, dict):
                stack.extend(item.items())
            elif isinstance(item, list | tuple):
                stack.extend(item)


def request_has_invalid_text() -> bool:
    """The request carried text that is not valid Unicode: bytes seen by ``init_app``'s hook, or a text Werkzeug
    or the JSON parser decoded to something ``is_valid_text`` refuses (a ``"\\ud800"`` escape in JSON)."""
    return bool(g.get("invalid_text")) or not all(is_valid_text(text) for text in request_texts())


def init_app(app: Flask) -> None:
    """Before any URL rule is added and before the CSRF check: the bounded ``int`` converter, and the hook that
    sees the request's bytes before anything parses them."""
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def note_invalid_bytes():
        """Only notes it: ``security.refuse_invalid_text`` answers, after the API has chosen its language. The query
        string is dropped, so nothing on the way (the 400 page's language switch links back with it) decodes it."""
        if not _sent_bytes_are_utf8():
            g.invalid_text = True
            request.query_string = b""
