"""Helpers shared by the browser tests: keyboard navigation, focus checks, login, language."""

# Demo accounts (app/demo/__init__.py); every one uses DEMO_PASSWORD.
DEMO_PASSWORD = "atelier-demo-2026"  # noqa: S105 (documented demo accounts, never in production)
ROLES = {
    "anonymous": None,
    "citizen": "citoyenne@atelier.example",
    "facilitator": "animatrice@atelier.example",
    "editor": "editeur@atelier.example",
    "admin": "admin@atelier.example",
}
MAX_TABS = 80
BLOCKING_IMPACTS = {"serious", "critical"}


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


def login(page, email: str, password: str = DEMO_PASSWORD, lang: str = "fr") -> None:
    """Log in through the form (set-up for tests that check something else than logging in), then read the site in
    ``lang``: the language is stored on the account, and another test on the same live server may have left the
    demo account in the other one."""
    page.goto("/compte/connexion")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("form[action$='/compte/connexion'] [type=submit]").click()
    if page.locator("form[action$='/compte/deconnexion']").count() != 1:
        errors = page.locator(".error-summary").all_inner_texts()
        raise AssertionError(f"{email} could not log in: {errors or page.locator('main').inner_text()[:500]}")
    switch_language(page, lang)


def type_datetime_local(page, value: str) -> None:
    """Type ``value`` ("2030-05-01T14:00") into the focused datetime-local field, as a keyboard user does:
    the digits of each part, one part after the other.

    Chromium orders the parts after its interface language (month first in en-US, day first in French,
    year first in some others) and may use a 12-hour clock (typing « 14 » then gives 2 PM). The order is
    read from the field's spin buttons in the accessibility tree, told apart by their ranges; the field
    must have been entered forwards (Tab), so that its first part has the focus.
    """
    date, clock = value.split("T")
    parts = dict(zip(("year", "month", "day"), date.split("-"), strict=True))
    parts |= dict(zip(("hour", "minute"), clock.split(":"), strict=True))
    cdp = page.context.new_cdp_session(page)
    try:
        focused = cdp.send("Runtime.evaluate", {"expression": "document.activeElement"})["result"]["objectId"]
        spinbuttons = cdp.send("Accessibility.queryAXTree", {"objectId": focused, "role": "spinbutton"})["nodes"]
    finally:
        cdp.detach()
    maxima = [next(p["value"]["value"] for p in node["properties"] if p["name"] == "valuemax")
              for node in spinbuttons]
    for index, top in enumerate(maxima):
        if index < 3:  # the date comes first
            name = {12: "month", 31: "day"}.get(top, "year")
        else:
            name = {59: "minute", 2: None}.get(top, "hour")  # 2: AM/PM, set by the 24-hour digits
        if name:
            page.keyboard.type(parts[name])
        if name == "year" and index < len(maxima) - 1:
            page.keyboard.press("ArrowRight")  # a year can have up to six digits: move on by hand
    typed = page.evaluate("() => document.activeElement.value")
    assert typed == value, f"typed {value!r} into the date field, which holds {typed!r} (parts: {maxima})"


def blocking_violations(axe, page) -> list[dict]:
    """axe-core's serious and critical violations on the page, ready to print.

    axe-core is injected unless the page has it already (``context.add_init_script(axe.axe_script)``
    puts it in every page of a context, which spares sending the script again for each page audited).
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe.axe_script)
    violations = page.evaluate("""() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(
        v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target)})))""")
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [", ".join(map(str, target)) for target in v["targets"]]}
        for v in violations if v["impact"] in BLOCKING_IMPACTS
    ]


def horizontal_overflow(page) -> dict | None:
    """The page's widths when it scrolls sideways (WCAG 1.4.10 reflow), else None."""
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth,"
                           " client: document.documentElement.clientWidth})")
    return widths if widths["scroll"] > widths["client"] + 1 else None
