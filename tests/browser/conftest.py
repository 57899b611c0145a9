"""Browser fixtures: a live Atelier (serve.py under gevent, as `make run` starts it), a real SMTP sink
and Debian's chromium driven by Playwright.

The live server runs in a subprocess on a fresh SQLite file, migrated from zero and loaded with the
demo data, so the pytest process itself never imports gevent.
"""

import re

import pytest
import requests

from ..servers import LiveServer, SmtpSink
from ..system import find_chromium
from .helpers import DEMO_PASSWORD, ROLES

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
    server.start()
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
        pytest.skip("chromium not found (Debian package: chromium)")
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


def http_login(session: requests.Session, base_url: str, email: str) -> None:
    """Log in over plain HTTP (for setting up data, not for what the tests check)."""
    html = session.get(f"{base_url}/compte/connexion", timeout=10).text
    token = CSRF_INPUT_RE.search(html).group(1)
    response = session.post(f"{base_url}/compte/connexion", timeout=10, allow_redirects=False,
                            data={"csrf_token": token, "email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.text[:2000]


@pytest.fixture(scope="session")
def outbox_message_id(live_server):
    """The id of a message in the outbox: a password-reset request for the citizen queues one."""
    with requests.Session() as http:
        html = http.get(f"{live_server.url}/compte/mot-de-passe-oublie", timeout=10).text
        token = CSRF_INPUT_RE.search(html).group(1)
        response = http.post(f"{live_server.url}/compte/mot-de-passe-oublie", timeout=10,
                             data={"csrf_token": token, "email": ROLES["citizen"]}, allow_redirects=False)
        assert response.status_code == 302
    with requests.Session() as http:
        http_login(http, live_server.url, ROLES["admin"])
        listing = http.get(f"{live_server.url}/admin/courriels/", timeout=10).text
    ids = re.findall(r'href="/admin/courriels/(\d+)"', listing)
    assert ids, "the outbox lists no message after a password-reset request"
    return int(ids[0])
