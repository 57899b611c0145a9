"""Browser fixtures: a live Atelier (serve.py under gevent, as `make run` starts it), a real SMTP sink
and Debian's chromium driven by Playwright.

The live server runs in a subprocess on a fresh SQLite file, migrated from zero and loaded with the
demo data, so the pytest process itself never imports gevent.
"""

import contextlib
import re
import sqlite3

import pytest
import requests

from ..servers import LiveServer
from ..system import find_chromium
from .helpers import DEMO_PASSWORD

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def live_smtp(smtp_server):
    """The SMTP sink the live servers send to: the session's (tests/conftest.py)."""
    return smtp_server


@pytest.fixture(scope="session")
def live_server(live_smtp, tmp_path_factory):
    with LiveServer.on_sqlite(tmp_path_factory.mktemp("live-db"), live_smtp.port).running() as server:
        yield server


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance):
    executable = find_chromium()
    if not executable:
        # Never skip silently: `make test` checks for chromium first; this names the package too.
        pytest.fail("chromium not found (Debian package: chromium)")
    browser = playwright_instance.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@contextlib.contextmanager
def browser_contexts(browser, base_url: str):
    """A factory of fresh browser contexts on ``base_url`` (own cookies, 10 s timeouts), all closed at the end."""
    contexts = []

    def _new(locale: str | None = "fr-FR", **kwargs):
        context = browser.new_context(base_url=base_url, locale=locale, **kwargs)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    try:
        yield _new
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def new_context(browser, live_server):
    """Factory for fresh browser contexts (own cookies); all are closed at the end of the test."""
    with browser_contexts(browser, live_server.url) as new:
        yield new


@pytest.fixture
def page(new_context):
    return new_context().new_page()


CSRF_INPUT_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    return CSRF_INPUT_RE.search(html).group(1)


def live_db_rows(live_server, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the live server's SQLite database (set-up only: finding the ids of demo objects)."""
    db_path = live_server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        return connection.execute(sql, params).fetchall()


def live_db_execute(live_server, sql: str, params: tuple = ()) -> None:
    """Change the live server's SQLite database (set-up only: e.g. bring a workshop's day closer)."""
    db_path = live_server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        connection.execute(sql, params)
        connection.commit()


def http_login(base_url: str, email: str, password: str = DEMO_PASSWORD) -> requests.Session:
    """A plain HTTP session signed in as ``email`` (set-up only: the browser tests check the pages)."""
    http = requests.Session()
    html = http.get(f"{base_url}/compte/connexion", timeout=10).text
    response = http.post(f"{base_url}/compte/connexion", timeout=10, allow_redirects=False,
                         data={"csrf_token": csrf_token(html), "email": email, "password": password})
    assert response.status_code == 302 and "/compte/connexion" not in response.headers["Location"], \
        f"{email} could not sign in over HTTP"
    return http


def http_register(base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Create an account over plain HTTP (set-up only: the browser tests check the pages)."""
    with requests.Session() as http:
        html = http.get(f"{base_url}/compte/inscription", timeout=10).text
        response = http.post(f"{base_url}/compte/inscription", timeout=10, allow_redirects=False, data={
            "csrf_token": csrf_token(html), "email": email, "display_name": "Courriel Test",
            "password": password, "password_confirm": password, "accept_terms": "y"})
    assert response.status_code == 302, response.text[:2000]


@pytest.fixture(scope="session")
def outbox_message_id(live_server):
    """The id of a message in the outbox: registering an account queues a verification mail."""
    http_register(live_server.url, "boite.envoi@example.org")
    db_path = live_server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        (message_id,) = connection.execute("SELECT max(id) FROM outbox_messages").fetchone()
    assert message_id, "no message in the outbox after a registration"
    return message_id


# The demo workshops (app/demo/__init__.py), found by the start of their title.
DEMO_WORKSHOPS = {
    "open": "Je déménage",  # hybrid, questions, Camille (citoyenne@) confirmed
    "full": "Je deviens parent",  # CNAF, quotas, full: an offered seat and a waiting list
    "panel": "Panel d'agents",  # CNAF, invitation only
    "cancelled": "Impôts",
    "draft": "Je pars à la retraite",
    "past": "Carte grise",  # attendance and evaluations; participant6@ attended and has not answered
}


@pytest.fixture(scope="session")
def demo_workshops(live_server) -> dict[str, dict]:
    """key -> {"id", "invitation"} for each demo workshop of DEMO_WORKSHOPS: the first one of that title, since the
    demo was loaded before the server started and the tests sharing it may have created namesakes since."""
    rows = live_db_rows(live_server, "SELECT id, title, invite_token FROM workshops ORDER BY id")
    found = {}
    for key, prefix in DEMO_WORKSHOPS.items():
        matches = [(id_, token) for id_, title, token in rows if title.startswith(prefix)]
        assert matches, f"no demo workshop {prefix!r}"
        found[key] = {"id": matches[0][0], "invitation": matches[0][1]}
    return found


@pytest.fixture(scope="session")
def demo_board(live_server) -> dict:
    """A live board of the DINUM organisation, made by its facilitator through the pages (plain HTTP),
    open to guests, with one idea posted through the no-JavaScript form."""
    return create_board(live_server, "Irritants du changement d'adresse")


def create_board(live_server, title: str) -> dict:
    """The set-up behind ``demo_board``, for tests that need a board of their own."""
    with http_login(live_server.url, "animatrice@atelier.example") as http:
        html = http.get(f"{live_server.url}/tableaux/nouveau", timeout=10).text
        dinum = re.search(r'<option[^>]*value="(\d+)"[^>]*>Direction interministérielle du numérique', html)
        response = http.post(f"{live_server.url}/tableaux/nouveau", timeout=10, allow_redirects=False, data={
            "csrf_token": csrf_token(html), "title": title,
            "organisation_id": dinum.group(1), "workshop_id": "0", "template": "irritants", "allow_guests": "y"})
        assert response.status_code == 302, response.text[:2000]
        board_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        html = http.get(f"{live_server.url}/tableaux/{board_id}", timeout=10).text
        column = re.search(r'<select[^>]*name="column_id"[^>]*>\s*<option[^>]*value="(\d+)"', html).group(1)
        response = http.post(f"{live_server.url}/tableaux/{board_id}/idees", timeout=10, allow_redirects=False,
                             data={"csrf_token": csrf_token(html), "column_id": column,
                                   "text": "Il faut donner la même adresse à cinq organismes."})
        assert response.status_code == 302, response.text[:2000]
    ((code,),) = live_db_rows(live_server, "SELECT join_code FROM boards WHERE id = ?", (board_id,))
    return {"id": board_id, "code": code}
