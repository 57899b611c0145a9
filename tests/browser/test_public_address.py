"""A server started on another port with no BASE_URL: the public address follows the port, live boards
connect, and a board opened at an address the server does not accept says why instead of « Reconnexion… »."""

import re

import pytest
import requests
import socketio
from playwright.sync_api import expect

from ..servers import LiveServer
from .conftest import browser_contexts
from .helpers import login, switch_language
from .test_boards_live import FACILITATOR, new_board, wait_connected

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def port_only_server(live_smtp, tmp_path_factory):
    """serve.py on a free port (never 5000), told nothing but its port, as the README's quick start says."""
    server = LiveServer.on_sqlite(tmp_path_factory.mktemp("port-only-db"), live_smtp.port, ATELIER_RUN_JOBS="0")
    del server.env["BASE_URL"]
    server.env["ATELIER_PORT"] = str(server.port)
    with server.running():
        yield server


def test_the_public_address_follows_the_port(port_only_server):
    page = requests.get(port_only_server.url + "/compte/connexion", timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert re.search(rf"connect-src 'self' ws://127\.0\.0\.1:{port_only_server.port};", csp), csp
    client = socketio.Client(reconnection=False)
    # websocket-client sends Origin: <the server URL>, as a browser on the page would.
    client.connect(port_only_server.url, namespaces=["/boards"], transports=["websocket"], wait_timeout=10)
    try:
        assert client.connected
    finally:
        client.disconnect()


def test_a_board_connects_at_the_public_address(port_only_server, browser):
    board = new_board(port_only_server, "Port choisi")
    with browser_contexts(browser, port_only_server.url) as new_context:
        page = new_context().new_page()
        login(page, FACILITATOR)
        page.goto(f"/tableaux/{board['id']}")
        wait_connected(page)
        expect(page.locator("#connection-status")).to_have_text("Connecté·e")


@pytest.mark.parametrize(("lang", "expected"), [
    ("fr", "Connexion en direct refusée : cette page est ouverte à l'adresse {here}, mais le serveur n'accepte "
              "les connexions en direct que depuis {public}."),
    ("en", "Live connection refused: this page was opened at {here}, but the server only accepts live "
              "connections from {public}."),
])
def test_a_board_opened_at_another_address_says_why_it_cannot_connect(port_only_server, browser, lang, expected):
    board = new_board(port_only_server, "Autre adresse")
    here = f"http://localhost:{port_only_server.port}"  # the same server, under a name it was not told about
    with browser_contexts(browser, here) as new_context:
        page = new_context(locale=None).new_page()
        login(page, FACILITATOR)
        switch_language(page, lang)
        page.goto(f"/tableaux/{board['id']}")
        message = expected.format(here=here, public=port_only_server.url)
        expect(page.locator("#connection-status")).to_contain_text(message)
        expect(page.locator("#board-alert")).to_contain_text(message)  # announced, not only shown
