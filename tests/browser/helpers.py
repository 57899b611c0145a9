"""Helpers shared by the browser tests: keyboard navigation, focus checks, login, language."""

# Demo accounts (app/demo.py); every one uses DEMO_PASSWORD.
DEMO_PASSWORD = "atelier-demo-2026"  # noqa: S105 (documented demo accounts, never in production)
ROLES = {
    "anonymous": None,
    "citizen": "citoyenne@atelier.example",
    "facilitator": "animatrice@atelier.example",
    "editor": "editeur@atelier.example",
    "admin": "admin@atelier.example",
}
MAX_TABS = 80


def active_matches(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def tab_to(page, selector: str, backwards: bool = False, max_presses: int = MAX_TABS) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``selector``, as a keyboard user would.

    Bounded, so an element that cannot be reached by the keyboard fails the test instead of looping.
    """
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(max_presses):
        page.keyboard.press(key)
        if active_matches(page, selector):
            return
    focused = page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{selector!r} not reached after {max_presses} x {key}; focus is on {focused}")


def press_and_wait(page, key: str = "Enter") -> None:
    """Press a key that submits a form or follows a link, and wait for the new page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def focus_indicator(page) -> dict:
    """The computed focus styles of the focused element."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {tag: el.tagName, outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
                    boxShadow: style.boxShadow, focusVisible: el.matches(':focus-visible')};
        }"""
    )


def assert_visible_focus(page) -> None:
    style = focus_indicator(page)
    has_outline = style["outlineStyle"] != "none" and style["outlineWidth"] not in ("0px", "")
    has_shadow = style["boxShadow"] not in ("none", "")
    assert has_outline or has_shadow, f"focused element has no visible focus indicator: {style}"


def html_lang(page) -> str:
    return page.get_attribute("html", "lang")


def switch_language(page, lang: str) -> None:
    """Use the header's language form (a POST button) until the page is in ``lang``."""
    if html_lang(page) == lang:
        return
    with page.expect_navigation():
        page.locator("form.lang-switch button[type=submit]").click()
    assert html_lang(page) == lang


def login(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the form (set-up for tests that check something else than logging in)."""
    page.goto("/compte/connexion")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("form[action$='/compte/connexion'] [type=submit]").click()
    if page.locator("form[action$='/compte/deconnexion']").count() != 1:
        errors = page.locator(".error-summary").all_inner_texts()
        raise AssertionError(f"{email} could not log in: {errors or page.locator('main').inner_text()[:500]}")
