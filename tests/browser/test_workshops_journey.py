"""Workshops with the keyboard only: a facilitator creates and publishes a workshop with a question and
one seat; a first citizen signs up, a second lands on the waiting list; the first cancels, the second
receives the offer over SMTP and confirms; the facilitator checks them in on a phone-sized screen.

As in the account journey, every control is reached with Tab / Shift+Tab and operated with Enter /
Space or by typing. Signing in uses the ``login`` helper (its keyboard journey is tested elsewhere), and
links from mails are opened directly, as a mail client would.
"""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from ..servers import text_body
from .conftest import csrf_token, http_login, live_db_execute
from .helpers import (
    active_matches,
    assert_visible_focus,
    blocking_violations,
    horizontal_overflow,
    html_lang,
    login,
    press_and_wait,
    tab_to,
    type_datetime_local,
)

pytestmark = pytest.mark.browser

FACILITATOR = "animatrice@atelier.example"  # DINUM
QUESTION = "Quelle démarche vous a posé le plus de difficultés ?"
CHOICES = ["Carte grise", "Impôts", "Autre"]

TEXTS = {
    "fr": {
        "sign_up_title": "Inscription à l'atelier",
        "sign_up_button": "M'inscrire",
        "waitlist_button": "M'inscrire sur la liste d'attente",
        "errors": "Le formulaire contient 1 erreur",
        "confirmed_flash": "C'est noté : votre place est confirmée.",
        "confirmed_badge": "Votre place est confirmée",
        "full_notice": "L'atelier est complet : vous serez inscrit·e sur la liste d'attente.",
        "waitlisted_flash": "vous êtes sur la liste d'attente ; votre position est indiquée ci-dessous.",
        "waitlisted_badge": "Liste d'attente",
        "position": "Vous êtes en position 1.",
        "cancelled_flash": "Votre inscription est annulée.",
        "confirmed_mail": "Votre place est confirmée : ",
        "offer_mail": "Une place vous est proposée : ",
        "offer_heading": "Places proposées à confirmer",
        "offer_confirmed_flash": "Votre place est confirmée. À bientôt !",
    },
    "en": {
        "sign_up_title": "Sign up for the workshop",
        "sign_up_button": "Sign me up",
        "waitlist_button": "Join the waiting list",
        "errors": "The form contains 1 error",
        "confirmed_flash": "your seat is confirmed",
        "confirmed_badge": "Your seat is confirmed",
        "full_notice": "The workshop is full",
        "waitlisted_flash": "you are on the waiting list; your position is shown below.",
        "waitlisted_badge": "Waiting list",
        "position": "You are in position 1.",
        "cancelled_flash": "Your registration has been cancelled.",
        "confirmed_mail": "Your seat is confirmed: ",
        "offer_mail": "You have been offered a seat: ",
        "offer_heading": "Seat offers to confirm",
        "offer_confirmed_flash": "Your seat is confirmed. See you soon!",
    },
}


def flash_text(page) -> str:
    return " ".join(page.locator(".flashes").all_inner_texts())


def focused_text(page) -> str:
    """The visible text of the focused control (the value of an <input type=submit>)."""
    return page.evaluate("() => { const el = document.activeElement;"
                         " return (el.tagName === 'INPUT' ? el.value : el.textContent).trim(); }")


def assert_no_blocking_violation(axe, page) -> None:
    violations = blocking_violations(axe, page)
    assert not violations, f"serious or critical axe violations on {page.url}: {violations}"


def wait_for_mail(live_smtp, address: str, subject_start: str, timeout: float = 20.0):
    """The first mail to ``address`` whose subject starts with ``subject_start``, delivered over SMTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in live_smtp.to(address) if str(m["Subject"]).startswith(subject_start)]
        if found:
            return found[0]
        time.sleep(0.1)
    subjects = [str(m["Subject"]) for m in live_smtp.to(address)]
    raise AssertionError(f"no mail « {subject_start}… » to {address} within {timeout}s; received: {subjects}")


def signed_in_page(new_context, email: str, lang: str = "fr", **context_options):
    """A new browser context signed in as ``email``, reading the site in ``lang``: the language switch in
    the header is reached with the keyboard; the choice is stored on the account, so mails follow it."""
    page = new_context(**context_options).new_page()
    login(page, email)
    if html_lang(page) != lang:
        page.keyboard.press("Tab")
        tab_to(page, "form.lang-switch button")
        press_and_wait(page)
    assert html_lang(page) == lang
    return page


# --- (a) the facilitator creates and publishes a workshop -------------------------------------------

def create_workshop_with_keyboard(page, title: str) -> int:
    """From the home page, through the navigation: a workshop with one seat and a required single-choice
    question, created as a draft then published. Returns its id."""
    page.goto("/")
    tab_to(page, "nav a[href$='/ateliers/gestion/']")
    press_and_wait(page)
    tab_to(page, "main a[href$='/ateliers/gestion/nouveau']")
    assert_visible_focus(page)
    press_and_wait(page)
    assert page.locator("h1").inner_text() == "Nouvel atelier"

    # The organisation list offers only the facilitator's own organisation, already selected.
    assert page.locator("#organisation_id option").all_inner_texts() == [
        "Direction interministérielle du numérique (DINUM)"]
    tab_to(page, "#title")
    assert_visible_focus(page)
    page.keyboard.type(title)
    tab_to(page, "#expected_change")
    page.keyboard.type("Comprendre pourquoi le changement d'adresse échoue en ligne.")
    tab_to(page, "#format-0")  # the radio group: Space picks « En présentiel »
    page.keyboard.press("Space")
    assert page.locator("#format-0").is_checked()
    tab_to(page, "#address")
    page.keyboard.type("20 avenue de Ségur, 75007 Paris")
    tab_to(page, "#starts_at")
    type_datetime_local(page, "2030-05-01T14:00")
    tab_to(page, "#ends_at")
    type_datetime_local(page, "2030-05-01T16:00")
    tab_to(page, "#capacity")
    page.keyboard.type("1")

    # The accessibility question is offered by default; add a required single-choice question.
    assert page.locator("#ask_accessibility").is_checked()
    tab_to(page, "#questions-0-label")
    page.keyboard.type(QUESTION)
    tab_to(page, "#questions-0-kind")
    page.keyboard.type("Choix unique")  # a closed select picks the option whose text is typed
    assert page.locator("#questions-0-kind").input_value() == "single_choice"
    tab_to(page, "#questions-0-choices_text")
    page.keyboard.type("\n".join(CHOICES))  # one option per line: Enter in a text area
    tab_to(page, "#questions-0-required")
    page.keyboard.press("Space")
    assert page.locator("#questions-0-required").is_checked()

    tab_to(page, "main form [type=submit]")
    press_and_wait(page)
    assert "L'atelier est créé en brouillon." in flash_text(page), page.locator("main").inner_text()[:2000]
    match = re.search(r"/ateliers/gestion/(\d+)$", page.url)
    assert match, page.url
    assert page.locator("h1").inner_text() == title
    assert page.locator(".lead .badge").inner_text() == "Brouillon"

    tab_to(page, "form[action$='/publier'] button")
    assert focused_text(page) == "Publier l'atelier"
    assert_visible_focus(page)
    press_and_wait(page)
    assert "L'atelier est publié." in flash_text(page)
    assert page.locator(".lead .badge").inner_text() == "Publié"
    return int(match.group(1))


def create_workshop_over_http(base_url: str, title: str) -> int:
    """The same workshop as above, made through the same form over plain HTTP (set-up only)."""
    with http_login(base_url, FACILITATOR) as http:
        html = http.get(f"{base_url}/ateliers/gestion/nouveau", timeout=10).text
        organisation = re.search(r'<select[^>]*id="organisation_id"[^>]*>\s*<option[^>]*value="(\d+)"', html)
        response = http.post(f"{base_url}/ateliers/gestion/nouveau", timeout=10, allow_redirects=False, data={
            "csrf_token": csrf_token(html), "organisation_id": organisation.group(1), "title": title,
            "format": "in_person", "address": "20 avenue de Ségur, 75007 Paris", "starts_at": "2030-05-02T14:00",
            "ends_at": "2030-05-02T16:00", "capacity": "1", "visibility": "public", "ask_accessibility": "y",
            "questions-0-label": QUESTION, "questions-0-kind": "single_choice",
            "questions-0-choices_text": "\n".join(CHOICES), "questions-0-required": "y",
            **{f"questions-{n}-kind": "short_text" for n in range(1, 5)}})  # the unused rows, as a browser sends them
        assert response.status_code == 302, response.text[:3000]
        workshop_id = int(response.headers["Location"].rsplit("/", 1)[1])
        html = http.get(f"{base_url}/ateliers/gestion/{workshop_id}", timeout=10).text
        response = http.post(f"{base_url}/ateliers/gestion/{workshop_id}/publier", timeout=10,
                             allow_redirects=False, data={"csrf_token": csrf_token(html)})
        assert response.status_code == 302
    return workshop_id


# --- (b) sign-ups, waiting list, cancellation, offer ------------------------------------------------

def open_workshop_from_list(page, workshop_id: int, title: str) -> None:
    """Header « Ateliers » -> the workshop's card in the list -> its page."""
    page.keyboard.press("Tab")  # from the top of the page
    tab_to(page, "nav a[href$='/ateliers/']")
    press_and_wait(page)
    tab_to(page, f"main a[href$='/ateliers/{workshop_id}']")
    assert focused_text(page) == title
    press_and_wait(page)
    assert page.locator("h1").inner_text() == title


def open_sign_up_form(page, workshop_id: int, lang: str, button: str) -> None:
    texts = TEXTS[lang]
    tab_to(page, f"main a[href$='/ateliers/{workshop_id}/inscription']")
    assert focused_text(page) == texts[button]
    assert_visible_focus(page)
    press_and_wait(page)
    assert html_lang(page) == lang
    assert page.locator("h1").inner_text() == texts["sign_up_title"]


def answer_question(page, choice_index: int) -> None:
    """Tab into the question's radio group and pick an answer with the arrow keys and Space."""
    question = page.locator("fieldset", has=page.locator("legend", has_text=QUESTION))
    first = question.locator("input[type=radio]").first.get_attribute("id")
    if not active_matches(page, f"#{first}"):
        tab_to(page, f"#{first}")
    assert_visible_focus(page)
    for _ in range(choice_index):
        page.keyboard.press("ArrowDown")  # moves to the next option and selects it
    page.keyboard.press("Space")
    assert question.locator("input[type=radio]").nth(choice_index).is_checked()


def my_workshops(page) -> None:
    """Header « Mes ateliers »."""
    page.keyboard.press("Tab")
    tab_to(page, "nav a[href$='/ateliers/mes-ateliers']")
    press_and_wait(page)


def sign_up_wait_cancel_and_confirm(new_context, live_server, live_smtp, axe, *, workshop_id: int, title: str,
                                    lang: str, first: str, second: str):
    """Citizen A takes the only seat (answering the question), citizen B lands on the waiting list in
    position 1, A cancels from « Mes ateliers », B gets the offer by mail and confirms it.
    Returns B's page (on the workshop page, confirmed)."""
    texts = TEXTS[lang]

    # A finds the workshop and signs up; sending the form without the required answer first shows
    # an error summary whose link leads the keyboard to the question.
    a = signed_in_page(new_context, first, lang)
    open_workshop_from_list(a, workshop_id, title)
    if lang == "fr":  # the date typed by the facilitator, in Paris time
        assert "mercredi 1 mai 2030, 14:00 – 16:00" in a.locator(".workshop-facts").inner_text()
    open_sign_up_form(a, workshop_id, lang, "sign_up_button")
    question = a.locator("fieldset", has=a.locator("legend", has_text=QUESTION))
    assert question.locator("label").all_inner_texts() == CHOICES
    assert question.locator("legend .required").count() == 1
    tab_to(a, "main form [type=submit]")
    assert focused_text(a) == texts["sign_up_button"]
    press_and_wait(a)
    summary = a.locator(".error-summary")
    assert summary.locator("h2").inner_text() == texts["errors"]
    a.keyboard.press("Tab")
    tab_to(a, ".error-summary a")
    a.keyboard.press("Enter")  # follows the link to the question's group: the next Tab enters it
    a.keyboard.press("Tab")
    assert a.evaluate("() => document.activeElement.closest('fieldset').id") == \
        summary.locator("a").get_attribute("href").removeprefix("#")
    answer_question(a, 1)
    tab_to(a, "main form [type=submit]")
    press_and_wait(a)
    assert texts["confirmed_flash"] in flash_text(a)
    assert a.locator(".my-registration .badge").inner_text() == texts["confirmed_badge"]
    confirmation = wait_for_mail(live_smtp, first, texts["confirmed_mail"] + title)
    assert any(part.get_content_type() == "text/calendar" for part in confirmation.iter_attachments())

    # B: the workshop is full, the sign-up says so and puts B on the waiting list, in position 1.
    b = signed_in_page(new_context, second, lang)
    open_workshop_from_list(b, workshop_id, title)
    open_sign_up_form(b, workshop_id, lang, "waitlist_button")
    assert texts["full_notice"] in b.locator("main .notice").inner_text()
    answer_question(b, 0)
    tab_to(b, "main form [type=submit]")
    press_and_wait(b)
    assert texts["waitlisted_flash"] in flash_text(b)
    assert b.locator(".my-registration .badge").inner_text() == texts["waitlisted_badge"]
    assert texts["position"] in b.locator(".my-registration").inner_text()
    assert_no_blocking_violation(axe, b)  # the waiting-list state of the workshop page

    # A frees the seat from « Mes ateliers ».
    my_workshops(a)
    tab_to(a, f"form[action$='/ateliers/{workshop_id}/desinscription'] button")
    assert title in focused_text(a)  # the button names the workshop it cancels
    assert_visible_focus(a)
    press_and_wait(a)
    assert texts["cancelled_flash"] in flash_text(a)
    assert a.locator(f"main a[href$='/ateliers/{workshop_id}']").count() == 0

    # The seat is offered to B by mail, with a link to « Mes ateliers ».
    offer = wait_for_mail(live_smtp, second, texts["offer_mail"] + title)
    body = text_body(offer)
    link = re.search(re.escape(live_server.url) + r"/ateliers/mes-ateliers\b", body)
    assert link, body
    b.goto(link.group(0))
    assert b.locator("#offered-title").inner_text() == texts["offer_heading"]
    assert_no_blocking_violation(axe, b)  # « Mes ateliers » with a seat to confirm
    b.keyboard.press("Tab")
    tab_to(b, f"form[action$='/ateliers/{workshop_id}/confirmer'] button")
    assert title in focused_text(b)
    assert_visible_focus(b)
    press_and_wait(b)
    assert texts["offer_confirmed_flash"] in flash_text(b)
    assert b.locator("#offered-title").count() == 0

    # B's workshop page shows the confirmed seat.
    tab_to(b, f"main a[href$='/ateliers/{workshop_id}']")
    press_and_wait(b)
    assert b.locator(".my-registration .badge").inner_text() == texts["confirmed_badge"]
    return b


# --- the journeys ---------------------------------------------------------------------------------

def test_workshop_journey_with_keyboard_only(new_context, live_server, live_smtp, axe):
    title = "Carte grise au clavier : un atelier pour tout comprendre"

    # (a) The facilitator creates the workshop with a question and one seat, and publishes it.
    facilitator = signed_in_page(new_context, FACILITATOR)
    workshop_id = create_workshop_with_keyboard(facilitator, title)
    facilitator.context.close()

    # (b) Two citizens, one seat.
    b = sign_up_wait_cancel_and_confirm(new_context, live_server, live_smtp, axe, workshop_id=workshop_id,
                                        title=title, lang="fr", first="participant1@atelier.example",
                                        second="participant2@atelier.example")
    # B's convocation gives the check-in code.
    tab_to(b, f"main a[href$='/ateliers/{workshop_id}/convocation']")
    press_and_wait(b)
    code = b.locator(".ticket-code strong").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4,12}", code), code

    # (c) On the day, the facilitator checks B in on a phone: check-in opens shortly before the start.
    starts = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    live_db_execute(live_server, "UPDATE workshops SET starts_at = ?, ends_at = ? WHERE id = ?",
                    (f"{starts:%Y-%m-%d %H:%M:%S.%f}", f"{starts + timedelta(hours=2):%Y-%m-%d %H:%M:%S.%f}",
                     workshop_id))
    phone = signed_in_page(new_context, FACILITATOR, viewport={"width": 390, "height": 844}, is_mobile=True,
                           has_touch=True)
    phone.goto(f"/ateliers/gestion/{workshop_id}/pointage")
    count = phone.locator(".check-in-count")
    assert count.inner_text() == "Présent·es : 0 sur 1 inscrit·es"
    phone.keyboard.press("Tab")
    tab_to(phone, "#q")
    assert_visible_focus(phone)
    phone.keyboard.type(code)
    press_and_wait(phone)  # Enter in the search field sends it
    results = phone.locator(".check-in-list li")
    assert results.count() == 1
    assert results.locator(".check-in-name").inner_text() == "Bastien"
    tab_to(phone, ".check-in-list form button")
    assert focused_text(phone).startswith("Présent·e")
    assert_visible_focus(phone)
    press_and_wait(phone)
    assert "Bastien est pointé·e présent·e." in flash_text(phone)
    assert count.inner_text() == "Présent·es : 1 sur 1 inscrit·es"
    assert results.locator(".badge-ok").inner_text() == "Présent·e"
    overflow = horizontal_overflow(phone)
    assert not overflow, f"the check-in page scrolls sideways at 390 px: {overflow}"
    assert_no_blocking_violation(axe, phone)

    # Back to the roster, still on the phone: B is marked present there too, and the page does not scroll
    # sideways (the roster's tables scroll inside themselves).
    tab_to(phone, f"main a[href$='/ateliers/gestion/{workshop_id}']")
    press_and_wait(phone)
    row = phone.locator("table.roster-table tr", has_text="Bastien").first
    assert row.locator(".badge-ok").inner_text() == "Présent·e"
    assert row.locator("code").inner_text() == code
    overflow = horizontal_overflow(phone)
    assert not overflow, f"the roster scrolls sideways at 390 px: {overflow}"


def test_sign_up_waiting_list_and_offer_in_english(new_context, live_server, live_smtp, axe):
    """Part (b) again for readers of the English site: the pages, the flashes and the mails."""
    title = "Vehicle registration by keyboard: an English-speaking session"
    workshop_id = create_workshop_over_http(live_server.url, title)
    sign_up_wait_cancel_and_confirm(new_context, live_server, live_smtp, axe, workshop_id=workshop_id, title=title,
                                    lang="en", first="participant3@atelier.example",
                                    second="participant4@atelier.example")
