"""Small screens, no JavaScript, no third party: the foundation works in all three."""

import pytest

from .helpers import ROLES, html_lang

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


def test_login_works_without_javascript(new_context, live_server):
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/compte/connexion")
    page.fill("#email", ROLES["facilitator"])
    page.fill("#password", "atelier-demo-2026")
    with page.expect_navigation():
        page.locator("form[action$='/compte/connexion'] [type=submit]").click()
    assert page.url == live_server.url + "/"
    # Logged in: the nav now offers the account page and a logout button (a plain POST form).
    assert page.locator("nav a[href='/compte/']").count() == 1
    assert page.locator("form[action$='/compte/deconnexion'] button").count() == 1
    assert page.locator(".flash-success").count() == 1
    assert html_lang(page) in ("fr", "en")


def test_no_request_leaves_the_live_server(new_context, live_server):
    """Every resource (fonts included) is self-hosted: no request goes anywhere but the app."""
    page = new_context().new_page()
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    for path in ["/", "/compte/inscription", "/compte/connexion", "/demarches/", "/moments-de-vie/je-demenage",
                 "/organisations/dinum", "/demarches/passeport", "/accessibilite"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert any("/static/vendor/fonts/" in url for url in urls), "the self-hosted font was not loaded"
    outside = [url for url in urls if not url.startswith(live_server.url + "/")]
    assert not outside, f"requests outside {live_server.url}: {outside}"
