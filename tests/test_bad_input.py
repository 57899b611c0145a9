"""Bad input gets the usual answer, never a 500 (issue 18, points 1 and 2, over HTTP).

Numbers: every route of ``app.url_map`` is walked, with every method it has, as every role, with huge (2⁶³,
10³⁰), negative, zero and non-numeric values in each ``<int:>`` parameter of its path, in each query parameter
its view reads and in each form field it reads (the names a view reads are recorded while it runs). Text: bytes
that are not UTF-8 and lone surrogates, in the path, the query string, a form and a JSON body, get the translated
400 and write nothing.
"""

import contextlib
import json
import re
from pathlib import Path

import pytest
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound

from app.accounts.models import User
from app.catalog.models import Membership, Role
from app.extensions import db
from app.inputs import DB_INT_MAX, DB_INT_MIN, db_int, is_valid_text, parse_int
from tests.conftest import get_csrf, login
from tests.factories import make_user
from tests.test_permissions import EXPECTED, _world

ROLES = ("anonymous", "citizen", "facilitator", "editor", "admin")
HUGE = (str(2**63), str(10**30))
BAD_NUMBERS = (*HUGE, "-1", "abc", "0")  # in a path: zero last, the one value a rule matches
BAD_PARAMS = (HUGE[0], "-1", "abc")  # in a query string or a form
LOGOUTS = {"/compte/deconnexion", "/compte/deconnexion-partout"}
TITLES = {400: "Requête incorrecte", 404: "Page introuvable"}  # the error page's French titles
VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # <name>, <int:name>, <any(csv, json):name>


# --- the rules, one by one ------------------------------------------------------------------------------------------

def test_parse_int_takes_plain_decimals_within_bounds_only():
    assert parse_int("42") == 42 and parse_int("0", 0) == 0 and parse_int(7) == 7
    assert parse_int(str(DB_INT_MAX)) == DB_INT_MAX
    for raw in (None, "", str(DB_INT_MAX + 1), str(2**63), "1" + "0" * 5000, "-3", "abc", "1_000", " 4", "٤٢", "4.0",
                True):
        assert parse_int(raw) is None, raw
    assert parse_int("-3", minimum=-5) == -3
    assert db_int("0") == 0 and db_int(12) == 12
    with pytest.raises(ValueError):
        db_int(str(2**63))


def test_is_valid_text():
    assert is_valid_text("Idée : « déménager » 🏠") and is_valid_text("")
    for value in ("\ud800", "a\udfffb", "\udc80", None, b"abc", 12):
        assert not is_valid_text(value), repr(value)


def test_whole_numbers_from_requests_go_through_the_one_rule():
    """``type=int`` and ``coerce=int`` take a number of any size (and "١٢", "1_000"): requests' numbers are read
    with ``app.inputs`` (``int_arg``, ``parse_int``, ``db_int``), which bounds them."""
    root = Path(__file__).resolve().parent.parent / "app"
    found = [f"{path.relative_to(root)}:{number}" for path in root.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "coerce=int" in line or re.search(r"request\.\w+\.get\(.*type=int", line)]
    assert found == []


def test_every_integer_field_of_a_form_is_bounded():
    """An ``IntegerField`` takes a number of any size: each one carries a ``NumberRange`` the database holds."""
    import importlib

    from wtforms import Form, IntegerField
    from wtforms.validators import NumberRange

    root = Path(__file__).resolve().parent.parent / "app"
    for path in root.glob("*/forms.py"):
        importlib.import_module(f"app.{path.parent.name}.forms")
    forms, unbounded, seen = [Form], [], 0
    while forms:
        form = forms.pop()
        forms.extend(form.__subclasses__())
        for name, field in vars(form).items():
            if getattr(field, "field_class", None) and issubclass(field.field_class, IntegerField):
                seen += 1
                ranges = [v for v in field.kwargs.get("validators", ()) if isinstance(v, NumberRange)]
                if not any(v.min is not None and v.max is not None and v.min >= DB_INT_MIN and v.max <= DB_INT_MAX
                           for v in ranges):
                    unbounded.append(f"{form.__module__}.{form.__name__}.{name}")
    assert seen >= 8 and unbounded == []


# --- every route, every role ----------------------------------------------------------------------------------------

_read: set[str] = set()


class _Recording(ImmutableMultiDict):
    """Query and form data that note each name a view asks for, whether it was sent or not."""

    def __getitem__(self, key):
        _read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _read.add(key)
        return super().__contains__(key)

    def getlist(self, key, type=None):  # noqa: A002 - Werkzeug's name
        _read.add(key)
        return super().getlist(key, type)


def _fill(rule: str, view_args: dict, name: str | None = None, value: str | None = None) -> str:
    return VARIABLE.sub(lambda m: value if m.group(2) == name else str(view_args[m.group(2)]), rule)


def _int_arguments(rule: str) -> list[str]:
    return [m.group(2) for m in VARIABLE.finditer(rule) if m.group(1) == "int"]


def _usual_answer(response) -> bool:
    """A 400 or 404 is the app's page (or the API's JSON error), not Werkzeug's English one."""
    if response.status_code not in TITLES:
        return True
    if response.is_json:
        error = (response.get_json() or {}).get("error") or {}
        return bool(error.get("code")) and bool(error.get("message"))
    return TITLES[response.status_code] in response.get_data(as_text=True)


class _Walk:
    """One role's client walking the routes; ``failures`` lists every 500 and every 400/404 without its page."""

    def __init__(self, app, role, user):
        self.role, self.user = role, user
        self.client = app.test_client()
        self.failures: list[str] = []
        self.names_read: set[str] = set()
        self._login()

    def _login(self):
        if self.user is not None:
            db.session.refresh(self.user)
            login(self.client, self.user.email)
        self.token = get_csrf(self.client, "/")

    def send(self, method, url, params=None, expected=None) -> set[str]:
        """The answer must not be a 500; returns the query and form names the view read."""
        _read.clear()
        data = {"csrf_token": self.token, **(params or {})} if method == "POST" else None
        response = self.client.open(url, method=method, query_string=params, data=data)
        what = f"{self.role} {method} {url} {params or ''}"
        if response.status_code >= 500 or not _usual_answer(response):
            self.failures.append(f"{what}: {response.status_code} {response.get_data(as_text=True)[:200]!r}")
        elif expected is not None and response.status_code != expected:
            self.failures.append(f"{what}: {response.status_code}, expected {expected}")
        return set(_read) - {"csrf_token"}

    def rule(self, rule, view_args, path_values):
        url = _fill(rule.rule, view_args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            names = self.send(method, url)
            self.names_read |= names
            for name in _int_arguments(rule.rule):
                for bad in path_values:
                    self.send(method, _fill(rule.rule, view_args, name, bad), expected=None if bad == "0" else 404)
            self.params(method, url, sorted(names))
        if rule.rule in LOGOUTS and self.user is not None:
            self._login()

    def params(self, method, url, names):
        """Each bad value in each name the view read, the names mixed (request k sends BAD_PARAMS[(i + k) % n] in
        name i): a form checks every field, and a list reads every filter. A name the view no longer read (it stopped
        at another's error: the API's page before per_page) is sent again alone."""
        for k in range(len(BAD_PARAMS) if names else 0):
            params = {name: BAD_PARAMS[(i + k) % len(BAD_PARAMS)] for i, name in enumerate(names)}
            for name in sorted(set(names) - self.send(method, url, params)):
                self.send(method, url, {name: params[name]})


@pytest.mark.both_databases()
def test_no_route_answers_500_to_bad_numbers_as_any_role(app, monkeypatch):
    """Every rule, every method, as anonymous, citizen, member (facilitator and editor of the organisation) and
    admin. Numbers past the bound, signed or not numbers match no rule: that is the router's answer, before anyone
    is known, checked for every value directly and through the whole app as anonymous; zero reaches the view (no
    such row) and is sent as every role."""
    users, values = _world()
    member = users["facilitator"]
    db.session.add(Membership(user=member, organisation=member.memberships[0].organisation, role=Role.editor))
    db.session.commit()
    adapter = app.url_map.bind("localhost")
    samples = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        if rule.rule in EXPECTED:
            method, sample, _outcomes = EXPECTED[rule.rule]
            samples.append((rule, adapter.match(sample.format(**values).split("?")[0], method=method)[1]))
        else:  # a route new since test_permissions' table (which fails for it): walked with made-up values
            samples.append((rule, {name: 1 if name in _int_arguments(rule.rule) else "x" for name in rule.arguments}))
    unmatched = []
    for rule, view_args in samples:
        for name in _int_arguments(rule.rule):
            for bad in BAD_NUMBERS[:-1]:
                url = _fill(rule.rule, view_args, name, bad)
                for method in rule.methods:
                    with contextlib.suppress(NotFound, MethodNotAllowed):
                        adapter.match(url, method=method)
                        unmatched.append(f"{method} {url}")
    assert unmatched == [], "URLs with numbers no id can have that still reach a view"

    monkeypatch.setattr(app, "request_class", type("RecordingRequest", (app.request_class,),
                                                   {"parameter_storage_class": _Recording}))
    failures, names_read = [], set()
    # Admin last: its POSTs with real ids change the most (cancel a workshop, remove a member).
    for role, user, path_values in (("anonymous", None, BAD_NUMBERS), ("citizen", users["citizen"], ("0",)),
                                    ("member", member, ("0",)), ("admin", users["admin"], ("0",))):
        walk = _Walk(app, role, user)
        for rule, view_args in samples:
            walk.rule(rule, view_args, path_values)
        failures += walk.failures
        names_read |= walk.names_read
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
    # The walk reached the numbers the issue names (and the recorder works).
    assert {"page", "per_page", "organisation", "moment", "demarche", "atelier", "fusion"} <= names_read


# --- text that is not valid Unicode ---------------------------------------------------------------------------------

INVALID = "caractères non valides"


@pytest.mark.both_databases("app.proposals.search")
def test_bytes_that_are_not_utf8_in_a_query_or_path_get_the_translated_400(client):
    # Percent-escaped: Werkzeug keeps them as the literal text "%ED%A0%80" (this was a 200 before).
    for url in ("/propositions/?q=%ED%A0%80", "/ateliers/?du=%FF", "/consultations/?q=caf%E9"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert INVALID in response.get_data(as_text=True) and "Requête incorrecte" in response.get_data(as_text=True)
    # Raw bytes, as gevent's server passes them on: Werkzeug raised UnicodeDecodeError, and again while showing the
    # error page (its language switch links back with the query string): a bare 500 before.
    response = client.get("/propositions/", environ_overrides={"QUERY_STRING": "q=\xed\xb2\x80\xff"})
    assert response.status_code == 400 and INVALID in response.get_data(as_text=True)
    assert 'name="next" value="/propositions/"' in response.get_data(as_text=True)
    # In the path (gevent passes the bytes; Werkzeug's own server and test client send U+FFFD instead): was a 404.
    response = client.get("/", environ_overrides={"PATH_INFO": "/rapports/organisations/a\xed\xa0\x80"})
    assert response.status_code == 400 and INVALID in response.get_data(as_text=True)
    # The API answers in JSON, in the reader's language.
    response = client.get("/api/v1/proposals?page=%FF", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_text" and response.get_json()["error"]["message"]
    assert response.headers["Content-Language"] == "en"
    # What is valid UTF-8 still works, escaped or not.
    assert client.get("/propositions/?q=d%C3%A9m%C3%A9nagement").status_code == 200


def test_text_that_is_not_valid_unicode_in_a_form_is_refused_and_nothing_written(client, login_as):
    user = make_user(email="texte@example.org", name="Ana")
    db.session.commit()
    login_as(user)
    token = get_csrf(client, "/compte/")
    form = "application/x-www-form-urlencoded"

    def name():
        db.session.expire_all()
        return db.session.get(User, user.id).display_name

    # Percent-escaped bytes that are not UTF-8: the literal "An%ED%A0%80a" was saved before.
    response = client.post("/compte/", data=f"display_name=An%ED%A0%80a&csrf_token={token}", content_type=form)
    assert response.status_code == 400 and INVALID in response.get_data(as_text=True)
    assert name() == "Ana"
    # Raw bytes: Werkzeug drops the whole form, so the CSRF check refuses it first (its own translated 400).
    response = client.post("/compte/", data=b"display_name=An\xffa&csrf_token=" + token.encode(), content_type=form)
    assert response.status_code == 400 and "Requête incorrecte" in response.get_data(as_text=True)
    assert name() == "Ana"
    # Every Flask-WTF form also takes a JSON body: a "\ud800" escape went to the database, a 500 on both.
    headers = {"X-CSRFToken": token}
    response = client.post("/compte/", data=json.dumps({"display_name": "An\ud800a"}), content_type="application/json",
                           headers=headers)
    assert response.status_code == 400 and INVALID in response.get_data(as_text=True)
    assert name() == "Ana"
    # A NUL character in JSON, refused as in a form (PostgreSQL text cannot hold it), and nesting too deep to parse.
    response = client.post("/compte/", data=json.dumps({"display_name": "An\x00a"}), content_type="application/json",
                           headers=headers)
    assert response.status_code == 400 and "caractère nul" in response.get_data(as_text=True)
    response = client.post("/compte/", data="[" * 100_000, content_type="application/json", headers=headers)
    assert response.status_code == 400 and "Requête incorrecte" in response.get_data(as_text=True)
    assert name() == "Ana"
    # The same form, valid, is saved: escaped, raw UTF-8 and JSON alike.
    response = client.post("/compte/", data=f"display_name=An%C3%A9a&csrf_token={token}", content_type=form)
    assert response.status_code in (200, 302) and name() == "Anéa"
    response = client.post("/compte/", data=json.dumps({"display_name": "Anna"}), content_type="application/json",
                           headers=headers)
    assert response.status_code in (200, 302) and name() == "Anna"
