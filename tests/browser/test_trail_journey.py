"""The trail in a real browser, with the keyboard only: the participant whose workshop idea became a measure
(app/demo/decisions.py ``seed_trail``) opens the notification « … est réalisée », reaches the implemented measure,
then follows its origin back — proposal, board idea, workshop, the workshop's report — and from the report forward
again to the measure. axe-core checks each page on the way."""

import re

import pytest

from app.demo.decisions import TRAIL_IDEA, TRAIL_MEASURE_TITLE, TRAIL_PROPOSAL_TITLE

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, switch_language, tab_to

pytestmark = pytest.mark.browser


def follow(page, selector: str) -> None:
    """Tab to a link, check its focus is visible, follow it with Enter."""
    tab_to(page, selector)
    assert_visible_focus(page)
    press_and_wait(page)


def test_a_participant_follows_the_trail_from_the_implemented_measure_back_to_the_workshop(page, live_server, axe):
    ((measure_id,),) = live_db_rows(live_server, "SELECT id FROM measures WHERE title = ?", (TRAIL_MEASURE_TITLE,))
    ((proposal_id,),) = live_db_rows(live_server, "SELECT id FROM proposals WHERE title = ?", (TRAIL_PROPOSAL_TITLE,))
    ((idea_id, workshop_id, email),) = live_db_rows(
        live_server, "SELECT i.id, b.workshop_id, u.email FROM ideas i JOIN boards b ON b.id = i.board_id"
        " JOIN board_participants p ON p.id = i.participant_id JOIN users u ON u.id = p.user_id WHERE i.text = ?",
        (TRAIL_IDEA,))
    login(page, email)
    page.goto("/notifications/")
    switch_language(page, "fr")  # the account's language is stored: another test may have left it in English
    assert f"La mesure « {TRAIL_MEASURE_TITLE} », issue de votre participation, est réalisée." in \
        page.inner_text("main")

    # The notification leads to the measure.
    follow(page, f"main a[href='/decisions/mesures/{measure_id}']")
    assert page.url.endswith(f"/decisions/mesures/{measure_id}")
    main = page.inner_text("main")
    assert "Réalisée" in main and "Origine de la mesure" in main and TRAIL_IDEA in main
    assert blocking_violations(axe, page) == []

    # Back up the trail: the proposal…
    follow(page, f"section.trail a[href='/propositions/{proposal_id}']")
    assert page.url.endswith(f"/propositions/{proposal_id}")
    trail = page.inner_text("section.trail")
    assert "Adoptée" in trail and TRAIL_MEASURE_TITLE in trail
    assert blocking_violations(axe, page) == []

    # … the board idea it came from…
    follow(page, f"section.trail a[href='/propositions/idees/{idea_id}']")
    assert re.search(rf"/propositions/idees/{idea_id}$", page.url)
    assert TRAIL_IDEA in page.inner_text("main")
    assert blocking_violations(axe, page) == []

    # … the workshop where it was posted…
    follow(page, f"section.trail a[href='/ateliers/{workshop_id}']")
    assert page.url.endswith(f"/ateliers/{workshop_id}")
    assert "Carte grise" in page.inner_text("h1")

    # … and its report, which leads forward again to the measure.
    follow(page, f"main a[href='/decisions/ateliers/{workshop_id}/bilan']")
    main = page.inner_text("main")
    assert TRAIL_PROPOSAL_TITLE in main and "Taux de présence" in main and "Réalisée, 100 %" in main
    assert blocking_violations(axe, page) == []
    follow(page, f"main a[href='/decisions/mesures/{measure_id}']")
    assert page.url.endswith(f"/decisions/mesures/{measure_id}")
