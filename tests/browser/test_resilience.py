"""Small screens, no JavaScript, no third party: the foundation works in all three."""

import contextlib
import re
import sqlite3

import pytest

from ..servers import text_body
from .conftest import create_board
from .helpers import horizontal_overflow, login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/", "/compte/inscription"])
def test_no_horizontal_scroll_at_320_px(new_context, path):
    """WCAG 1.4.10 reflow: at 320 CSS px (400 % zoom of 1280 px) nothing scrolls sideways."""
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    page.goto(path)
    page.wait_for_load_state("load")  # the self-hosted font is in, so widths are final
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth,"
                           " client: document.documentElement.clientWidth})")
    assert widths["scroll"] <= 320 + 1, f"{path} scrolls horizontally at 320 px: {widths}"


# Workshop and board pages at 320 px, by who sees them ({open}, {past}: conftest.DEMO_WORKSHOPS).
REFLOW_PAGES = {
    None: ["/ateliers/", "/ateliers/{open}", "/ateliers/passes"],
    "participant6@atelier.example": ["/ateliers/{open}/inscription", "/ateliers/mes-ateliers",
                                     "/ateliers/{past}/convocation"],
    "animatrice@atelier.example": ["/ateliers/gestion/", "/ateliers/gestion/{open}", "/ateliers/gestion/{past}",
                                   "/ateliers/gestion/nouveau", "/ateliers/gestion/{past}/pointage?q=a",
                                   "/tableaux/{board}", "/tableaux/{board}/presentation"],
}


def test_workshop_and_board_pages_do_not_scroll_sideways_at_320_px(new_context, demo_workshops, demo_board):
    """The same reflow check on the workshop pages (rosters included: their tables scroll inside
    themselves, never the page) and the live board once its script has rendered it."""
    values = {key: w["id"] for key, w in demo_workshops.items()} | {"board": demo_board["id"]}
    overflowing = {}
    for email, paths in REFLOW_PAGES.items():
        page = new_context(viewport={"width": 320, "height": 640}).new_page()
        if email:
            login(page, email)
        for path in paths:
            url = path.format_map(values)
            assert page.goto(url).status == 200, url
            if url == f"/tableaux/{demo_board['id']}":
                page.wait_for_selector("#connection-status:not([hidden])")
            if overflow := horizontal_overflow(page):
                overflowing[url] = overflow
        page.context.close()
    assert not overflowing, f"pages that scroll horizontally at 320 px: {overflowing}"


def test_the_presenter_view_reflows_with_a_wide_join_code_and_a_long_word(new_context, live_server):
    """The join code is drawn at random: one of wide letters once made the presenter page 330 px wide at 320."""
    board = create_board(live_server, "Dématérialisation des justificatifs")
    db_path = live_server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db_path)) as connection:  # set-up: the widest code the alphabet allows
        connection.execute("UPDATE boards SET join_code = 'WMWMWM' WHERE id = ?", (board["id"],))
        connection.commit()
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    login(page, "animatrice@atelier.example")
    assert page.goto(f"/tableaux/{board['id']}/presentation").status == 200
    page.evaluate("() => document.fonts.ready")  # widths with the self-hosted font, as people see them
    assert "WMWMWM" in page.locator(".presenter-code").inner_text()
    assert horizontal_overflow(page) is None


def test_register_and_login_work_without_javascript(new_context, live_server, live_smtp):
    """Every form is a plain HTML form: register, open the mailed link, sign in and out with JavaScript disabled."""
    page = new_context(java_script_enabled=False).new_page()
    email, password = "sans.javascript@example.org", "pas de javascript ici"
    page.goto("/compte/inscription")
    page.fill("#email", email)
    page.fill("#display_name", "Sans JavaScript")
    page.fill("#password", password)
    page.fill("#password_confirm", password)
    page.check("#accept_terms")
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    assert page.url == live_server.url + "/compte/inscription/courriel-envoye"
    assert page.locator("nav a[href$='/compte/connexion']").count() == 1  # signed in by no one
    link = re.search(re.escape(live_server.url) + r"/compte/verifier/\S+", text_body(live_smtp.wait_for(email)[-1]))
    page.goto(link.group(0))
    assert page.url == live_server.url + "/compte/connexion"
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    assert page.url == live_server.url + "/"
    # Signed in: the nav offers the account page and a sign-out button (a plain POST form).
    assert page.locator("nav a[href$='/compte/']").count() == 1
    assert page.locator("nav form[action$='/compte/deconnexion'] button").count() == 1
    assert page.locator(".flash-success").count() == 1
    with page.expect_navigation():
        page.locator("nav form[action$='/compte/deconnexion'] button").click()
    assert page.locator("nav a[href$='/compte/connexion']").count() == 1


def test_no_request_leaves_the_live_server(page, live_server):
    """Every resource (fonts included) is self-hosted: no request goes anywhere but the app."""
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    for path in ["/", "/compte/inscription", "/compte/connexion", "/demarches/", "/moments-de-vie/je-demenage",
                 "/organisations/dinum", "/demarches/passeport", "/accessibilite"]:
        page.goto(path)
        page.evaluate("() => document.fonts.ready.then(() => true)")
    assert any("/static/vendor/fonts/" in url for url in urls), "the self-hosted font was not loaded"
    outside = [url for url in urls if not url.startswith(live_server.url + "/")]
    assert not outside, f"requests outside {live_server.url}: {outside}"
