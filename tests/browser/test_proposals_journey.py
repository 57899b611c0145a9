"""Proposals in a real browser: a citizen sees similar proposals while typing a title, then on the review
step, and submits; a facilitator promotes a board idea and the idea's page links to the proposal."""

import re

import pytest

from .helpers import blocking_violations, login

pytestmark = pytest.mark.browser


def test_citizen_sees_similar_proposals_while_typing_and_submits(new_context, live_server, axe):
    context = new_context()
    context.add_init_script(axe.axe_script)
    page = context.new_page()
    login(page, "participant8@atelier.example")
    page.goto("/propositions/nouvelle")
    page.locator("#title").press_sequentially("Déménagement et carte grise", delay=20)
    live = page.locator("#similar-live")
    live.locator("a", has_text="carte grise").first.wait_for()
    assert "Mettre à jour la carte grise automatiquement" in live.inner_text()
    assert live.get_attribute("aria-live") == "polite"
    page.select_option("#service_id",
                       label="Changer l'adresse de sa carte grise (Agence nationale des titres sécurisés)")
    page.fill("#problem", "Après un déménagement, il faut refaire la carte grise soi-même.")
    page.fill("#change", "Une mise à jour automatique de la carte grise.")
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    # The review step (the same one a browser without JavaScript gets) lists look-alikes before storing.
    review = page.locator("#review")
    assert "Vérifiez avant d'envoyer" in review.inner_text()
    assert review.locator("a", has_text="carte grise").count() >= 1
    assert blocking_violations(axe, page) == []
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    assert re.search(r"/propositions/\d+$", page.url)
    assert page.locator("h1").inner_text() == "Déménagement et carte grise"
    assert blocking_violations(axe, page) == []


def test_facilitator_promotes_a_board_idea_and_the_idea_page_links_to_it(new_context, live_server, demo_board):
    page = new_context().new_page()
    login(page, "animatrice@atelier.example")
    page.goto(f"/propositions/tableaux/{demo_board['id']}")
    with page.expect_navigation():
        page.locator("form[action$='/promouvoir'] button").first.click()
    match = re.search(r"/propositions/(\d+)/modifier$", page.url)
    assert match, page.url
    proposal_id = match.group(1)
    page.fill("#change", "Déclarer son changement d'adresse une seule fois.")
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    with page.expect_navigation():
        page.locator(f"form[action$='/propositions/{proposal_id}/soumettre'] button").click()
    # The board page now shows the link, and the idea page leads to the proposal.
    page.goto(f"/propositions/tableaux/{demo_board['id']}")
    idea_link = page.locator(f"a[href$='/propositions/{proposal_id}']").first
    assert idea_link.is_visible()
    page.goto(f"/propositions/{proposal_id}")
    with page.expect_navigation():
        page.locator("a[href*='/propositions/idees/']").first.click()
    assert page.locator(f"main a[href$='/propositions/{proposal_id}']").count() == 1
