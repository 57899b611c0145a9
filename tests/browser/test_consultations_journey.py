"""A majority-judgment ballot with the keyboard only (demo consultation « Simplifier les démarches de
déménagement », voting now): grade two proposals with Tab and the arrow keys, leave the third ungraded, review
(the ungraded one shows as « À rejeter »), confirm, then change the ballot the same way. Participant 8 has no
ballot in the demo."""

import pytest

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, tab_to

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
