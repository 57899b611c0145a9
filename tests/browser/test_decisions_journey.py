"""Decisions in a real browser, with the keyboard only: DINUM's editor opens the proposals awaiting an answer,
answers the first one (a refusal without a reason is caught first), then creates a measure from it and
publishes a progress update; the public pages show both."""

import re

import pytest

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, switch_language, tab_to

pytestmark = pytest.mark.browser

EDITOR = "editeur@atelier.example"


def test_editor_answers_then_creates_and_updates_a_measure_with_the_keyboard(page, live_server, axe):
    ((dinum_id,),) = live_db_rows(live_server, "SELECT id FROM organisations WHERE slug = 'dinum'")
    login(page, EDITOR)
    page.goto(f"/decisions/organisations/{dinum_id}/a-repondre")
    switch_language(page, "fr")  # the account's language is stored: another test may have left it in English
    assert blocking_violations(axe, page) == []
    tab_to(page, "main td a[href$='/reponse']")
    assert_visible_focus(page)
    answer_url = page.evaluate("() => document.activeElement.getAttribute('href')")
    proposal_id = int(re.search(r"/propositions/(\d+)/reponse", answer_url).group(1))
    press_and_wait(page)

    # « Non adoptée » without a reason: the error summary names the missing reason.
    tab_to(page, "input[name=kind][value=adopted]")  # Tab enters the radio group on its first option
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("input[name=kind][value=not_adopted]").is_checked()
    tab_to(page, "#body")
    page.keyboard.type("Nous ne pouvons pas le faire.")
    tab_to(page, "main form [type=submit]")
    press_and_wait(page)
    summary = page.locator("#error-summary")
    assert "Raison" in summary.inner_text()
    assert blocking_violations(axe, page) == []

    # Changed to « Adoptée » (arrow keys move within the radio group).
    tab_to(page, "input[name=kind]:checked")
    page.keyboard.press("ArrowUp")
    assert page.locator("input[name=kind][value=partly_adopted]").is_checked()
    page.keyboard.press("ArrowUp")
    assert page.locator("input[name=kind][value=adopted]").is_checked()
    tab_to(page, "main form [type=submit]")
    press_and_wait(page)
    assert page.url.endswith(f"/propositions/{proposal_id}")
    answer = page.locator("section.answer")
    assert "Adoptée" in answer.inner_text() and "Nous ne pouvons pas le faire." in answer.inner_text()
    assert blocking_violations(axe, page) == []

    # A measure from this proposal.
    page.goto(f"/decisions/organisations/{dinum_id}/a-repondre")
    tab_to(page, "a[href$='/mesures/nouvelle']")
    press_and_wait(page)
    tab_to(page, "#title")
    page.keyboard.type("Mesure saisie au clavier")
    tab_to(page, f"input[name=proposal_ids][value='{proposal_id}']")
    page.keyboard.press("Space")
    tab_to(page, "main form [type=submit]")
    press_and_wait(page)
    assert re.search(r"/decisions/mesures/\d+/avancement$", page.url)
    assert blocking_violations(axe, page) == []
    tab_to(page, "#status")
    page.keyboard.press("ArrowDown")  # « En cours »
    tab_to(page, "#progress")
    page.keyboard.press("Control+A")
    page.keyboard.type("25")
    tab_to(page, "#body")
    page.keyboard.type("Travaux lancés.")
    tab_to(page, "main form [type=submit]")
    press_and_wait(page)
    assert re.search(r"/decisions/mesures/\d+$", page.url)
    main = page.locator("main").inner_text()
    assert "Mesure saisie au clavier" in main and "En cours" in main and "Travaux lancés." in main
    assert page.locator("progress").get_attribute("value") == "25"
    assert blocking_violations(axe, page) == []
