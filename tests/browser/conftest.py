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

from ..servers import LiveServer, SmtpSink
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
def live_smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def live_server(live_smtp, tmp_path_factory):
    db_path = tmp_path_factory.mktemp("live-db") / "atelier.db"
    server = LiveServer(f"sqlite:///{db_path}", live_smtp.port)
    server.prepare_database()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


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


@pytest.fixture
def new_context(browser, live_server):
    """Factory for fresh browser contexts (own cookies); all are closed at the end of the test."""
    contexts = []

    def _new(locale: str = "fr-FR", **kwargs):
        context = browser.new_context(base_url=live_server.url, locale=locale, **kwargs)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


CSRF_INPUT_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def http_register(base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Create an account over plain HTTP (set-up only: the browser tests check the pages)."""
    with requests.Session() as http:
        html = http.get(f"{base_url}/compte/inscription", timeout=10).text
        response = http.post(f"{base_url}/compte/inscription", timeout=10, allow_redirects=False, data={
            "csrf_token": CSRF_INPUT_RE.search(html).group(1), "email": email, "display_name": "Courriel Test",
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
