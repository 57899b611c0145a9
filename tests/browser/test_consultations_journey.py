"""A majority-judgment ballot with the keyboard only (demo consultation « Simplifier les démarches de
déménagement », voting now): grade two proposals with Tab and the arrow keys, leave the third ungraded, review
(the ungraded one shows as « À rejeter »), confirm, then change the ballot the same way. Participant 8 has no
ballot in the demo."""

import pytest

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, switch_language, tab_to

pytestmark = pytest.mark.browser

VOTER = "participant8@atelier.example"


def stored_ballot(live_server, consultation_id: int) -> dict[int, int]:
    rows = live_db_rows(live_server, "SELECT c.proposal_id, c.value FROM ballot_choices c JOIN ballots b"
                        " ON b.id = c.ballot_id JOIN users u ON u.id = b.user_id"
                        " WHERE b.consultation_id = ? AND u.email = ?", (consultation_id, VOTER))
    return dict(rows)


def test_majority_judgment_ballot_with_the_keyboard_then_changed(page, live_server, axe):
    ((consultation_id,),) = live_db_rows(live_server, "SELECT id FROM consultations WHERE title LIKE ?",
                                         ("Simplifier les démarches de déménagement%",))
    ids = [row[0] for row in live_db_rows(live_server, "SELECT proposal_id FROM consultation_proposals WHERE "
                                          "consultation_id = ? ORDER BY position, proposal_id", (consultation_id,))]
    login(page, VOTER)
    page.goto(f"/consultations/{consultation_id}")
    tab_to(page, f"a[href$='/consultations/{consultation_id}/vote']")
    press_and_wait(page)
    assert "comptera comme « À rejeter »" in page.inner_text("main")
    assert blocking_violations(axe, page) == []

    # First proposal: Tab into its radio group (lands on « Excellent »), Space checks it.
    tab_to(page, f"input[name='p-{ids[0]}']")
    assert_visible_focus(page)
    page.keyboard.press("Space")
    # Second proposal: into its group, then two steps down: « Bien ».
    tab_to(page, f"input[name='p-{ids[1]}']")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    tab_to(page, "main form button[type=submit]")
    press_and_wait(page)
    review = page.inner_text("main")
    assert "Vérifiez votre vote" in review and "(aucune mention attribuée)" in review
    assert stored_ballot(live_server, consultation_id) == {}  # not stored before the confirmation
    tab_to(page, "button[value=confirm]")
    press_and_wait(page)
    assert "Votre vote est enregistré" in page.inner_text("body")
    assert stored_ballot(live_server, consultation_id) == {ids[0]: 6, ids[1]: 4}

    # Change it: the form shows the current ballot; the first proposal goes down one grade.
    tab_to(page, f"a[href$='/consultations/{consultation_id}/vote']")
    press_and_wait(page)
    assert page.is_checked(f"#p-{ids[0]}-6") and page.is_checked(f"#p-{ids[1]}-4")
    tab_to(page, f"input[name='p-{ids[0]}']")
    page.keyboard.press("ArrowDown")
    tab_to(page, "main form button[type=submit]")
    press_and_wait(page)
    tab_to(page, "button[value=confirm]")
    press_and_wait(page)
    assert stored_ballot(live_server, consultation_id) == {ids[0]: 5, ids[1]: 4}


def demo_consultation(live_server, title_prefix: str) -> tuple[int, list[int]]:
    ((consultation_id,),) = live_db_rows(live_server, "SELECT id FROM consultations WHERE title LIKE ?",
                                         (title_prefix + "%",))
    ids = [row[0] for row in live_db_rows(live_server, "SELECT proposal_id FROM consultation_proposals WHERE "
                                          "consultation_id = ? ORDER BY position, proposal_id", (consultation_id,))]
    return consultation_id, ids


def ballot_of(live_server, consultation_id: int, email: str) -> dict[int, int] | None:
    """The stored ballot of ``email`` ({proposal id: value}), or None when there is no ballot row at all."""
    ballots = live_db_rows(live_server, "SELECT b.id FROM ballots b JOIN users u ON u.id = b.user_id"
                           " WHERE b.consultation_id = ? AND u.email = ?", (consultation_id, email))
    if not ballots:
        return None
    return dict(live_db_rows(live_server, "SELECT proposal_id, value FROM ballot_choices WHERE ballot_id = ?",
                             (ballots[0][0],)))


def open_ballot_with_the_keyboard(page, consultation_id: int) -> None:
    page.goto(f"/consultations/{consultation_id}")
    tab_to(page, f"a[href$='/consultations/{consultation_id}/vote']")
    press_and_wait(page)
    assert page.url.endswith(f"/consultations/{consultation_id}/vote")


def review_then_confirm_with_the_keyboard(page) -> str:
    """From the ballot form: Tab to « Vérifier mon vote », Enter; on the review step, Tab to « Confirmer », Enter.
    Returns the text of the review step."""
    tab_to(page, "main form button[type=submit]")
    press_and_wait(page)
    review = page.inner_text("main")
    assert "Vérifiez votre vote" in review
    tab_to(page, "button[value=confirm]")
    assert_visible_focus(page)
    press_and_wait(page)
    assert "Votre vote est enregistré" in page.inner_text("body")
    return review


def axe_in_both_languages(axe, page) -> None:
    """No serious or critical violation on the current page in French, then in English (and back)."""
    assert blocking_violations(axe, page) == [], "fr"
    switch_language(page, "en")
    assert blocking_violations(axe, page) == [], "en"
    switch_language(page, "fr")


def test_support_ballot_with_the_keyboard_then_changed(page, live_server, axe):
    voter = "participant7@atelier.example"
    consultation_id, ids = demo_consultation(live_server, "Améliorer le suivi des dossiers")
    assert len(ids) == 3
    login(page, voter)
    open_ballot_with_the_keyboard(page, consultation_id)
    axe_in_both_languages(axe, page)

    # Support the first and the third proposal: Tab to each checkbox, Space checks it.
    tab_to(page, f"#p-{ids[0]}")
    assert_visible_focus(page)
    page.keyboard.press("Space")
    tab_to(page, f"#p-{ids[2]}")
    page.keyboard.press("Space")
    assert page.is_checked(f"#p-{ids[0]}") and not page.is_checked(f"#p-{ids[1]}") and page.is_checked(f"#p-{ids[2]}")
    tab_to(page, "main form button[type=submit]")
    press_and_wait(page)
    assert blocking_violations(axe, page) == []  # the review step
    assert page.inner_text("main").count("Non soutenue") == 1
    assert ballot_of(live_server, consultation_id, voter) is None  # nothing stored before the confirmation
    tab_to(page, "button[value=confirm]")
    press_and_wait(page)
    assert "Votre vote est enregistré" in page.inner_text("body")
    assert ballot_of(live_server, consultation_id, voter) == {ids[0]: 1, ids[2]: 1}

    # Change it: the form shows the current ballot; drop the first, add the second.
    open_ballot_with_the_keyboard(page, consultation_id)
    assert "Vous avez déjà voté" in page.inner_text("main")
    assert page.is_checked(f"#p-{ids[0]}") and page.is_checked(f"#p-{ids[2]}")
    tab_to(page, f"#p-{ids[0]}")
    page.keyboard.press("Space")
    tab_to(page, f"#p-{ids[1]}")
    page.keyboard.press("Space")
    review = review_then_confirm_with_the_keyboard(page)
    assert review.count("Non soutenue") == 1
    assert ballot_of(live_server, consultation_id, voter) == {ids[1]: 1, ids[2]: 1}
    # And the person sees the change when coming back to the ballot.
    open_ballot_with_the_keyboard(page, consultation_id)
    assert not page.is_checked(f"#p-{ids[0]}")
    assert page.is_checked(f"#p-{ids[1]}") and page.is_checked(f"#p-{ids[2]}")


def test_dot_budget_ballot_with_the_keyboard_then_changed(page, live_server, axe):
    voter = "participant5@atelier.example"
    consultation_id, ids = demo_consultation(live_server, "Répartir 6 points entre les services numériques")
    login(page, voter)
    open_ballot_with_the_keyboard(page, consultation_id)
    assert "6 points" in page.inner_text("main")
    axe_in_both_languages(axe, page)

    # 4 points on the first proposal, 2 on the third: Tab into each number field and type.
    tab_to(page, f"#p-{ids[0]}")
    assert_visible_focus(page)
    page.keyboard.type("4")
    tab_to(page, f"#p-{ids[2]}")
    page.keyboard.type("2")
    review = review_then_confirm_with_the_keyboard(page)
    assert "Total : 6 points sur 6." in review
    assert ballot_of(live_server, consultation_id, voter) == {ids[0]: 4, ids[2]: 2}

    # Change it: the fields hold the current points; move 3 points from the first to the second.
    open_ballot_with_the_keyboard(page, consultation_id)
    assert page.input_value(f"#p-{ids[0]}") == "4" and page.input_value(f"#p-{ids[2]}") == "2"
    tab_to(page, f"#p-{ids[0]}")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    tab_to(page, f"#p-{ids[1]}")
    page.keyboard.type("3")
    review = review_then_confirm_with_the_keyboard(page)
    assert "Total : 6 points sur 6." in review
    assert ballot_of(live_server, consultation_id, voter) == {ids[0]: 1, ids[1]: 3, ids[2]: 2}
    open_ballot_with_the_keyboard(page, consultation_id)
    assert [page.input_value(f"#p-{pid}") for pid in ids] == ["1", "3", "2"]


def submit_over_budget(page, ids) -> None:
    """On the dots ballot (6 points, at most 4 each): 4 + 3 points, typed, then « Vérifier mon vote »."""
    tab_to(page, f"#p-{ids[0]}")
    page.keyboard.type("4")
    tab_to(page, f"#p-{ids[1]}")
    page.keyboard.type("3")
    tab_to(page, "main form button[type=submit]")
    press_and_wait(page)


def test_over_budget_dot_ballot_shows_the_error_summary_focused_and_stores_nothing(page, live_server, axe):
    voter = "participant4@atelier.example"
    consultation_id, ids = demo_consultation(live_server, "Répartir 6 points entre les services numériques")
    login(page, voter)
    open_ballot_with_the_keyboard(page, consultation_id)
    submit_over_budget(page, ids)
    summary = page.locator("#error-summary")
    assert "Vous avez réparti 7 points pour un budget de 6." in summary.inner_text()
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "error-summary"
    assert page.title().startswith("Erreur")
    # What was typed is still there to be corrected, and nothing was stored.
    assert page.input_value(f"#p-{ids[0]}") == "4" and page.input_value(f"#p-{ids[1]}") == "3"
    assert ballot_of(live_server, consultation_id, voter) is None
    assert blocking_violations(axe, page) == []

    # The same in English (the language switch leads back to the empty ballot).
    switch_language(page, "en")
    try:
        assert page.input_value(f"#p-{ids[0]}") == ""
        submit_over_budget(page, ids)
        assert page.locator("#error-summary").is_visible()
        assert page.evaluate("() => document.activeElement && document.activeElement.id") == "error-summary"
        assert blocking_violations(axe, page) == []
    finally:
        switch_language(page, "fr")
    assert ballot_of(live_server, consultation_id, voter) is None
