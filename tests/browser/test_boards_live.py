"""Live boards in the browser: a facilitator and a participant, each in their own browser context, on a
board served by serve.py (gevent), as `make run` starts it.

These tests use a server of their own (module scope, fresh SQLite with the demo data): the last one kills
it with SIGKILL and starts it again on the same port and database, and the accessibility test switches the
demo accounts' language, which would leak into other tests on the shared server.

Every check of "exactly once" is made in both pages and in the database (rows counted by text, through the
live SQLite file).
"""

import contextlib
import re
import sqlite3
import time
import uuid

import pytest
from playwright.sync_api import expect

from ..servers import LiveServer
from .conftest import browser_contexts, csrf_token, http_login
from .helpers import (
    active_matches,
    assert_visible_focus,
    blocking_violations,
    html_lang,
    login,
    switch_language,
    tab_to,
)

pytestmark = pytest.mark.browser

FACILITATOR = "animatrice@atelier.example"
RECONNECT_TIMEOUT = 20_000  # ms: socket.io-client's backoff tops out at 5 s (± 50 %) between attempts
PENDING_FR = "en attente d'envoi"
BUDGET_SPENT_FR = "Vous avez déjà placé toutes vos gommettes."


# --- a server of our own ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def board_server(live_smtp, tmp_path_factory):
    directory = tmp_path_factory.mktemp("boards-live-db")
    with LiveServer.on_sqlite(directory, live_smtp.port, ATELIER_RUN_JOBS="0").running() as server:
        yield server


@pytest.fixture
def new_board_context(browser, board_server):
    """Factory for fresh browser contexts on our server; all are closed at the end of the test."""
    with browser_contexts(browser, board_server.url) as new:
        yield new


def db_rows(server: LiveServer, sql: str, params: tuple = ()) -> list[tuple]:
    db_path = server.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        return connection.execute(sql, params).fetchall()


def wait_for_db(server: LiveServer, sql: str, params: tuple, expected: list[tuple], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (rows := db_rows(server, sql, params)) != expected:
        assert time.monotonic() < deadline, f"{sql} {params}: {rows}, expected {expected}"
        time.sleep(0.05)


def db_idea_count(server: LiveServer, board_id: int, text: str) -> int:
    ((count,),) = db_rows(server, "SELECT count(*) FROM ideas WHERE board_id = ? AND text = ?", (board_id, text))
    return count


def new_board(server: LiveServer, title: str) -> dict:
    """A DINUM board made by its facilitator through the creation form (plain HTTP: set-up only)."""
    with http_login(server.url, FACILITATOR) as http:
        html = http.get(f"{server.url}/tableaux/nouveau", timeout=10).text
        dinum = re.search(r'<option[^>]*value="(\d+)"[^>]*>Direction interministérielle du numérique', html)
        response = http.post(f"{server.url}/tableaux/nouveau", timeout=10, allow_redirects=False, data={
            "csrf_token": csrf_token(html), "title": title, "organisation_id": dinum.group(1),
            "workshop_id": "0", "template": "irritants", "allow_guests": "y"})
        assert response.status_code == 302, response.text[:2000]
    board_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    ((code,),) = db_rows(server, "SELECT join_code FROM boards WHERE id = ?", (board_id,))
    columns = [c for (c,) in db_rows(server, "SELECT id FROM board_columns WHERE board_id = ? ORDER BY position",
                                     (board_id,))]
    return {"id": board_id, "code": code, "columns": columns}


# --- pages --------------------------------------------------------------------------------------------

def wait_connected(page) -> None:
    """board.js shows the status once the socket has joined the board and rendered its state."""
    expect(page.locator("#connection-status")).to_be_visible()


def open_as_facilitator(context, board: dict):
    page = context.new_page()
    login(page, FACILITATOR)
    page.goto(f"/tableaux/{board['id']}")
    wait_connected(page)
    return page


def open_as_participant(context, board: dict, email: str, page=None):
    """Sign in and join with the code, as a participant with an account does: the code link opens a confirmation
    page (nothing joins on a GET), its button joins."""
    page = page or context.new_page()
    login(page, email)
    page.goto(f"/tableaux/rejoindre/{board['code']}")
    assert page.url.endswith(f"/tableaux/rejoindre/{board['code']}"), page.url
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()  # « Rejoindre le tableau », in the account's language
    assert page.url.endswith(f"/tableaux/{board['id']}"), page.url
    wait_connected(page)
    return page


def set_phase(facilitator, phase: str, *others) -> None:
    """With the live controls; wait until every page shows the new phase."""
    facilitator.select_option("#phase-select", phase)
    facilitator.locator("[data-action=set-phase]").click()
    for page in (facilitator, *others):
        expect(page.locator("#board-phase")).to_have_attribute("data-phase", phase)


def post(page, text: str, column_id: int | None = None) -> None:
    """Post through the idea form (the live client takes the submit)."""
    if column_id is not None:
        page.select_option("#column_id", str(column_id))
    page.fill("#text", text)
    page.locator("#idea-form [type=submit]").click()


def published(page, text: str):
    """The acknowledged ideas (they carry their id) showing exactly ``text``."""
    return page.locator(f"li.idea[data-idea-id]:has(> .idea-text:text-is({text!r}))")


def pending(page, text: str):
    """Ideas waiting to be sent (they carry only their client id)."""
    return page.locator(f"li.idea[data-client-id]:has(> .idea-text:text-is({text!r}))")


def assert_once_everywhere(server: LiveServer, board_id: int, texts: list[str], *pages,
                           timeout: float = 10_000) -> list[str]:
    """Each of ``texts`` acknowledged, shown once on every page and stored once. Returns the markers it posted.

    A duplicate would come after the first copy. Rather than give it a fixed time to show up, each page then posts
    a marker idea, and the check waits until every marker is acknowledged and shown on every page: every page
    applies the board's changes in the order of their seq, so a duplicate stored before the markers shows before
    them."""
    for text in texts:
        for page in pages:
            expect(published(page, text)).to_have_count(1, timeout=timeout)
            expect(pending(page, text)).to_have_count(0, timeout=timeout)
    markers = [unique("Témoin") for _ in pages]
    for page, marker in zip(pages, markers, strict=True):
        post(page, marker)
    for sender, marker in zip(pages, markers, strict=True):
        expect(pending(sender, marker)).to_have_count(0, timeout=timeout)
        for page in pages:
            expect(published(page, marker)).to_have_count(1, timeout=timeout)
    for text in texts:
        for page in pages:
            assert published(page, text).count() == 1, f"{text!r} not shown exactly once on {page.url}"
            assert page.locator(".idea-text", has_text=text).count() == 1, f"{text!r} shown twice on {page.url}"
        assert db_idea_count(server, board_id, text) == 1, f"{text!r}: not exactly one row in the database"
    return markers


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


# --- tests --------------------------------------------------------------------------------------------

def test_an_idea_posted_in_one_page_appears_in_the_other(board_server, new_board_context):
    board = new_board(board_server, "Temps réel")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant = open_as_participant(new_board_context(), board, "participant1@atelier.example")
    set_phase(facilitator, "brainstorm", participant)

    from_participant, from_facilitator = unique("Un seul formulaire"), unique("Un rappel par SMS")
    post(participant, from_participant, board["columns"][1])
    post(facilitator, from_facilitator, board["columns"][0])
    assert_once_everywhere(board_server, board["id"], [from_participant, from_facilitator], facilitator, participant)
    second = facilitator.locator(f'[data-column-id="{board["columns"][1]}"]')
    expect(second.locator(".idea-text", has_text=from_participant)).to_have_count(1)
    # Nobody reloaded: the pages are the ones opened above.
    assert facilitator.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_ideas_posted_offline_are_delivered_once_when_back_online(board_server, new_board_context):
    board = new_board(board_server, "Hors ligne")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant_context = new_board_context()
    participant = open_as_participant(participant_context, board, "participant2@atelier.example")
    set_phase(facilitator, "brainstorm", participant)

    participant_context.set_offline(True)
    expect(participant.locator("#connection-status")).not_to_have_text("Connecté·e", timeout=RECONNECT_TIMEOUT)
    texts = [unique(f"Idée hors ligne {n}") for n in range(3)]
    for text in texts:
        post(participant, text)
    for text in texts:
        expect(pending(participant, text)).to_have_count(1)
        expect(pending(participant, text).locator(".idea-meta")).to_contain_text(PENDING_FR)
        assert db_idea_count(board_server, board["id"], text) == 0
    stored = participant.evaluate(f"() => JSON.parse(localStorage.getItem('atelier-board-{board['id']}-pending'))")
    assert sorted(change["payload"]["text"] for change in stored) == sorted(texts)

    participant_context.set_offline(False)
    expect(participant.locator("#connection-status")).to_have_text("Connecté·e", timeout=RECONNECT_TIMEOUT)
    assert_once_everywhere(board_server, board["id"], texts, participant, facilitator, timeout=RECONNECT_TIMEOUT)
    assert participant.evaluate(f"() => localStorage.getItem('atelier-board-{board['id']}-pending')") == "[]"


def test_an_edit_being_typed_survives_ideas_arriving(board_server, new_board_context):
    """Re-rendering the board for incoming events must not throw away what someone is typing."""
    board = new_board(board_server, "Modification")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant = open_as_participant(new_board_context(), board, "participant8@atelier.example")
    set_phase(facilitator, "brainstorm", participant)
    mine = unique("Mon idée")
    post(participant, mine)
    expect(published(participant, mine)).to_have_count(1)
    idea_id = published(participant, mine).get_attribute("data-idea-id")
    participant.locator(f'button[data-key="edit{idea_id}"]').click()
    editor = participant.locator(f"#edit-{idea_id}")
    expect(editor).to_be_focused()
    participant.keyboard.press("End")
    participant.keyboard.type(", complétée")

    other = unique("Une idée qui arrive pendant la saisie")
    post(facilitator, other)
    expect(published(participant, other)).to_have_count(1)
    expect(editor).to_have_value(f"{mine}, complétée")
    expect(editor).to_be_focused()
    participant.locator(f"#idea-{idea_id} button", has_text="Enregistrer").click()
    for page in (participant, facilitator):
        expect(published(page, f"{mine}, complétée")).to_have_count(1)


def test_hidden_ideas_never_reach_the_participant(board_server, new_board_context):
    board = new_board(board_server, "Idées cachées")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant_page = new_board_context().new_page()
    frames: list[str | bytes] = []
    participant_page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    participant = open_as_participant(None, board, "participant3@atelier.example", page=participant_page)
    set_phase(facilitator, "brainstorm", participant)

    facilitator.check("#setting-hide_ideas")
    wait_for_db(board_server, "SELECT hide_ideas FROM boards WHERE id = ?", (board["id"],), [(1,)])
    # ASCII only: Socket.IO's JSON escapes other characters, which a plain search in the frames could miss.
    secret = f"secret-{uuid.uuid4().hex}"
    post(facilitator, secret, board["columns"][0])
    expect(published(facilitator, secret)).to_have_count(1)
    # The participant learns that an idea exists, without its text.
    first = participant.locator(f'[data-column-id="{board["columns"][0]}"] .hidden-count')
    expect(first).to_be_visible()
    expect(first).to_contain_text("1 idée cachée")
    assert secret not in participant.content()
    # The page as rendered by the server, after a reload, does not hold it either.
    participant.reload()
    wait_connected(participant)
    expect(first).to_contain_text("1 idée cachée")
    assert secret not in participant.content()
    received = [f if isinstance(f, str) else f.decode("utf-8", "replace") for f in frames]
    assert any("idea_placeholder" in f for f in received), "the placeholder event was not seen in the frames"
    assert not [f for f in received if secret in f], "the hidden text reached the participant's websocket"

    facilitator.uncheck("#setting-hide_ideas")  # the reveal
    expect(published(participant, secret)).to_have_count(1)
    expect(first).to_be_hidden()


def test_the_dot_budget_is_enforced(board_server, new_board_context):
    board = new_board(board_server, "Gommettes")
    email = "participant4@atelier.example"
    facilitator = open_as_facilitator(new_board_context(), board)
    participant = open_as_participant(new_board_context(), board, email)
    set_phase(facilitator, "brainstorm", participant)
    idea = unique("Prendre rendez-vous en ligne")
    post(facilitator, idea, board["columns"][0])
    expect(published(participant, idea)).to_have_count(1)
    idea_id = published(participant, idea).get_attribute("data-idea-id")

    facilitator.fill("#setting-dot_budget", "2")
    facilitator.locator("#setting-dot_budget").press("Tab")  # commits the field: its change event
    wait_for_db(board_server, "SELECT dot_budget FROM boards WHERE id = ?", (board["id"],), [(2,)])
    expect(participant.locator("#dots-left")).to_have_text("2")
    set_phase(facilitator, "voting", participant)

    vote = f'button[data-key="vote+{idea_id}"]'
    tab_to(participant, vote, max_presses=150)
    for left in ("1", "0"):
        participant.keyboard.press("Enter")
        expect(participant.locator("#dots-left")).to_have_text(left)
        assert active_matches(participant, vote), "the focus left the vote button"
    participant.keyboard.press("Enter")  # a third dot: refused
    alert = participant.locator("#board-alert[role=alert]")
    expect(alert).to_have_text(BUDGET_SPENT_FR)
    box = alert.bounding_box()  # shown to everyone, not only read out: not a 1-pixel visually hidden box
    assert box and box["width"] > 10 and box["height"] > 10, box
    expect(participant.locator("#dots-left")).to_have_text("0")
    # Every vote answered, the refused one too: nothing is left to send again, so the database holds the end state.
    participant.wait_for_function(f"() => localStorage.getItem('atelier-board-{board['id']}-pending') === '[]'")
    ((dots, used),) = db_rows(board_server, """
        SELECT coalesce(sum(d.count), 0), p.dots_used FROM board_participants p JOIN users u ON u.id = p.user_id
        LEFT JOIN board_dots d ON d.participant_id = p.id WHERE p.board_id = ? AND u.email = ?""",
                              (board["id"], email))
    assert (dots, used) == (2, 2)
    ((votes,),) = db_rows(board_server, "SELECT votes FROM ideas WHERE id = ?", (int(idea_id),))
    assert votes == 2


def test_posting_and_moving_with_the_keyboard_only(board_server, new_board_context):
    board = new_board(board_server, "Clavier")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant = open_as_participant(new_board_context(), board, "participant5@atelier.example")
    set_phase(facilitator, "brainstorm", participant)
    first_column, second_column = board["columns"][:2]

    text = unique("Un numéro unique pour tout")
    participant.locator("body").focus()
    tab_to(participant, "#text", max_presses=150)
    assert_visible_focus(participant)
    participant.keyboard.type(text)
    tab_to(participant, "#idea-form [type=submit]")
    assert_visible_focus(participant)
    participant.keyboard.press("Enter")
    expect(published(participant, text)).to_have_count(1)
    assert active_matches(participant, "#text"), "the focus left the idea field after posting"
    assert participant.input_value("#text") == ""
    assert participant.evaluate("() => performance.getEntriesByType('navigation').length") == 1

    expect(published(facilitator, text)).to_have_count(1)
    idea_id = published(facilitator, text).get_attribute("data-idea-id")
    in_column = f'[data-column-id="{{}}"] li.idea[data-idea-id="{idea_id}"]'
    expect(facilitator.locator(in_column.format(first_column))).to_have_count(1)
    menu = f'select[data-key="movesel{idea_id}"]'
    tab_to(facilitator, menu, max_presses=150)
    assert_visible_focus(facilitator)
    facilitator.keyboard.press("ArrowDown")  # the next column
    assert facilitator.input_value(menu) == str(second_column)
    # Meanwhile someone posts: the board re-renders, and keeps the column chosen and the focus.
    meanwhile = unique("Une autre idée")
    post(participant, meanwhile)
    expect(published(facilitator, meanwhile)).to_have_count(1)
    assert facilitator.input_value(menu) == str(second_column), "the choice in the move menu was reset"
    assert active_matches(facilitator, menu), "the focus left the move menu"
    facilitator.keyboard.press("Tab")
    assert active_matches(facilitator, f'button[data-key="move{idea_id}"]'), "Tab does not lead to « Déplacer »"
    assert_visible_focus(facilitator)
    facilitator.keyboard.press("Enter")
    for page in (participant, facilitator):
        expect(page.locator(in_column.format(second_column))).to_have_count(1)
        expect(page.locator(in_column.format(first_column))).to_have_count(0)
    ((column,),) = db_rows(board_server, "SELECT column_id FROM ideas WHERE id = ?", (int(idea_id),))
    assert column == second_column


def test_board_and_presenter_pages_pass_axe(board_server, new_board_context, axe):
    board = new_board(board_server, "Accessibilité du tableau")
    facilitator_context, participant_context = new_board_context(), new_board_context()
    for context in (facilitator_context, participant_context):
        context.add_init_script(axe.axe_script)
    facilitator = open_as_facilitator(facilitator_context, board)
    participant = open_as_participant(participant_context, board, "participant6@atelier.example")
    set_phase(facilitator, "brainstorm", participant)
    texts = [unique("Idée de l'animatrice"), unique("Idée de la participante")]
    post(facilitator, texts[0], board["columns"][0])
    post(participant, texts[1], board["columns"][1])
    markers = assert_once_everywhere(board_server, board["id"], texts, facilitator, participant)
    facilitator.locator(f"li.idea:has(.idea-text:text-is({texts[1]!r})) button", has_text="Mettre en avant").click()
    facilitator.locator("[data-action=timer-start]").click()
    presenter = facilitator_context.new_page()

    failures = {}
    try:
        for lang in ("fr", "en"):
            for page in (facilitator, participant):
                switch_language(page, lang)
                wait_connected(page)
                expect(page.locator("li.idea[data-idea-id]")).to_have_count(len(texts) + len(markers))
                failures[f"board as {'facilitator' if page is facilitator else 'participant'} ({lang})"] = \
                    blocking_violations(axe, page)
            presenter.goto(f"/tableaux/{board['id']}/presentation")
            assert html_lang(presenter) == lang
            expect(presenter.locator("#focused-idea")).to_have_text(texts[1])
            expect(presenter.locator("#board-timer")).not_to_be_empty()
            failures[f"presenter ({lang})"] = blocking_violations(axe, presenter)
    finally:
        for page in (facilitator, participant):  # the accounts keep their language: back to French
            switch_language(page, "fr")
    failures = {where: found for where, found in failures.items() if found}
    assert not failures, failures


def test_posts_made_while_the_server_is_down_are_delivered_once(board_server, new_board_context):
    """SIGKILL, then the same server started again on the same port and database while the pages wait:
    socket.io-client reconnects by itself, resyncs from its last seq and resends what was not acknowledged."""
    board = new_board(board_server, "Redémarrage")
    facilitator = open_as_facilitator(new_board_context(), board)
    participant = open_as_participant(new_board_context(), board, "participant7@atelier.example")
    set_phase(facilitator, "brainstorm", participant)
    before = unique("Avant la panne")
    post(participant, before)
    assert_once_everywhere(board_server, board["id"], [before], participant, facilitator)

    board_server.kill()
    expect(participant.locator("#connection-status")).not_to_have_text("Connecté·e")
    texts = [unique(f"Pendant la panne {n}") for n in range(3)]
    for text in texts:
        post(participant, text)
    from_facilitator = unique("Pendant la panne, côté animation")
    post(facilitator, from_facilitator)
    for text in texts:
        expect(pending(participant, text)).to_have_count(1)
    expect(pending(facilitator, from_facilitator)).to_have_count(1)

    board_server.start()
    expect(participant.locator("#connection-status")).to_have_text("Connecté·e", timeout=RECONNECT_TIMEOUT)
    expect(facilitator.locator("#connection-status")).to_have_text("Connecté·e", timeout=RECONNECT_TIMEOUT)
    assert_once_everywhere(board_server, board["id"], [before, *texts, from_facilitator], participant, facilitator,
                           timeout=RECONNECT_TIMEOUT)
    assert participant.evaluate("() => performance.getEntriesByType('navigation').length") == 1
