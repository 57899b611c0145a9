"""« Je donne mon avis » in a real browser, with the keyboard only, in French and in English.

1. An editor allows a website to show the form of one of the organisation's services and copies the iframe code from
   the « Diffuser » page; that code, in a page served by a second local server on another site (``localhost``, where
   Atelier is ``127.0.0.1``), shows the form, which a citizen answers to the end inside the iframe; the answer is
   stored as coming from the embed, and Atelier set no cookie. The same page on an origin nobody allowed gets no form:
   the browser refuses to frame it (CSP ``frame-ancestors``).
2. A citizen goes from the service's catalogue page to its form, answers step 1 only and leaves: the editors'
   overview and responses list count the answer.
3. A citizen answers a service's form to the end, leaves an e-mail and agrees to publication. An editor of the
   service's organisation keeps a list of irritants, filters the responses, tags that one, marks a junk response as
   spam, publishes the experience (once its author's hour is over) with a signed reply, and turns two verbatims into a
   proposal, which they complete, send and publish. The citizen is told of the reply by mail and reads it on the public
   experiences page; the proposal's public page says it was born of users' feedback.

Every control is reached with Tab / Shift+Tab and operated with Space, the arrow keys (a radio group), Enter or by
typing. Signing in uses the ``login`` helper (its keyboard journey is tested elsewhere).
"""

import contextlib
import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ..servers import text_body
from .conftest import live_db_execute, live_db_rows
from .helpers import MAX_TABS, html_lang, login, press_and_wait, tab_to

pytestmark = pytest.mark.browser

EDITOR = "editeur@atelier.example"  # an editor of the DINUM
EMBED_SERVICE = ("demarches-simplifiees", "Déposer un dossier sur Démarches simplifiées")  # a DINUM service
TRIAGE_SERVICE = ("vote-francais-etranger", "Voter depuis l'étranger")  # another DINUM service

TEXTS = {
    "fr": {
        "origin_allowed": "Le site {origin} peut maintenant intégrer le formulaire.",
        "give_feedback": "Je donne mon avis",
        "steps": ["Expérience générale", "Clarté", "Aides", "Aides : précisions", "Commentaire"],
        "progress": "Étape {n} sur 4",
        "thanks": "Merci pour votre avis !",
        "saved": "Vos réponses sont enregistrées.",
        "embed_verbatim": "Le dépôt du dossier s'est bien passé, mais la pièce jointe a été refusée deux fois.",
        "home": "Avis des usagers",
        "responses": ("{n} réponse", "{n} réponses"),
        "source_atelier": "Source : Site Atelier",
        "satisfaction_average": "Moyen",
        "experience_verbatim": "Le vote par internet a marché, mais le code reçu par SMS est arrivé après la "
                               "fermeture du scrutin.",
        "other_verbatim": "Je n'ai jamais reçu le code par SMS pour voter.",
        "junk_verbatim": "Montres de luxe à prix cassés : www.montres.example",
        "tag": "Code SMS en retard",
        "tag_added": "L'irritant « {label} » est ajouté.",
        "tags_saved": "Les irritants de la réponse sont enregistrés.",
        "spam_marked": "La réponse est marquée comme indésirable : elle n'est plus comptée.",
        "to_moderate": "À modérer",
        "published": "L'expérience est publiée. Vous pouvez maintenant y répondre.",
        "reply": "Merci : depuis mars, le code est envoyé une semaine avant le scrutin.",
        "reply_published": "La réponse est publiée.",
        "reply_heading": "Réponse de l'organisation",
        "mail_subject": "Réponse à votre avis sur « {service} »",
        "proposal_title": "Envoyer le code de vote avant l'ouverture du scrutin",
        "proposal_change": "Envoyer le code par SMS et par courriel une semaine avant le scrutin.",
        "draft_created": "Brouillon de proposition créé à partir de 2 avis",
        "draft_origin": "2 avis d'usagers laissés sur « Je donne mon avis »",
        "born_of": "Cette proposition est née de 2 avis d'usagers.",
    },
    "en": {
        "origin_allowed": "The website {origin} can now embed the form.",
        "give_feedback": "Give",  # the English of « Je donne mon avis » starts so, whichever of the two is kept
        "steps": ["Overall experience", "Clarity", "Help", "Help: more details", "Comment"],
        "progress": "Step {n} of 4",
        "thanks": "Thank you for your feedback!",
        "saved": "Your answers have been saved.",
        "embed_verbatim": "Filing went well, but the attachment was refused twice.",
        "home": "User feedback",
        "responses": ("{n} response", "{n} responses"),
        "source_atelier": "Source: Atelier website",
        "satisfaction_average": "Average",
        "experience_verbatim": "Online voting worked, but the text message with my code came after the polls closed.",
        "other_verbatim": "I never got the text message with my voting code.",
        "junk_verbatim": "Luxury watches at slashed prices: www.watches.example",
        "tag": "Late text message code",
        "tag_added": "The irritant “{label}” is added.",
        "tags_saved": "The response's irritants are saved.",
        "spam_marked": "The response is marked as spam: it is no longer counted.",
        "to_moderate": "To moderate",
        "published": "The experience is published. You can now reply to it.",
        "reply": "Thank you: since March, the code is sent a week before the vote.",
        "reply_published": "The reply is published.",
        "reply_heading": "The organisation’s answer",  # the msgid's translation already (decisions/_answer.html)
        "mail_subject": "Reply to your feedback on “{service}”",
        "proposal_title": "Send the voting code before the polls open",
        "proposal_change": "Send the code by text message and by e-mail a week before the vote.",
        "draft_created": "Draft proposal created from 2 pieces of feedback",
        "draft_origin": "2 pieces of user feedback left on “Je donne mon avis”",
        "born_of": "This proposal came from 2 pieces of user feedback.",
    },
}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}


def responses_heading(lang: str, n: int) -> str:
    """The responses list's heading for ``n`` responses (French: singular up to 1; English: 1 only)."""
    singular, plural = TEXTS[lang]["responses"]
    return (singular if (n <= 1 if lang == "fr" else n == 1) else plural).format(n=n)


# --- the keyboard, inside a page or an iframe -------------------------------------------------------------------------

def focused_in(frame, selector: str) -> bool:
    """The focus is in ``frame``'s document (a page's main frame or an iframe's), on an element matching
    ``selector``."""
    return frame.evaluate("s => document.hasFocus() && !!document.activeElement && document.activeElement.matches(s)",
                          selector)


def tab_in(page, frame, selector: str, max_presses: int = MAX_TABS) -> None:
    """Press Tab until the element matching ``selector`` in ``frame`` has the focus: the keys go to the page, and the
    browser moves the focus into the iframe and through it as a person's Tab key does."""
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if focused_in(frame, selector):
            return
    raise AssertionError(f"{selector!r} not reached after {max_presses} x Tab")


def choose(page, frame, name: str, value: str) -> None:
    """Tab into the radio group ``name``, then move to the option ``value`` with the arrow keys (which check it)."""
    tab_in(page, frame, f"input[type=radio][name='{name}']")
    option = f"input[name='{name}'][value='{value}']"
    for _ in range(12):
        if focused_in(frame, option):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    assert frame.locator(option).is_checked(), f"option {value} of {name} is not checked"


def tick(page, frame, selector: str) -> None:
    tab_in(page, frame, selector)
    page.keyboard.press("Space")
    assert frame.locator(selector).is_checked()


def send(page, frame) -> None:
    """Tab to the form's button and press Enter; wait for the next page in that frame."""
    tab_in(page, frame, "main form [type=submit]")
    with frame.expect_navigation():
        page.keyboard.press("Enter")


def step_heading(frame) -> str:
    return frame.locator("main h2").first.inner_text()


def answer_whole_form(page, frame, lang: str, verbatim: str, email: str = "") -> None:
    """The four steps of the questionnaire and the follow-up page of step 3, as a citizen answers them, agreeing to
    publish ``verbatim`` (and leaving ``email`` to be told of a reply)."""
    texts = TEXTS[lang]
    assert step_heading(frame) == texts["steps"][0]
    assert texts["progress"].format(n=1) in frame.locator(".feedback-progress").inner_text()
    choose(page, frame, "satisfaction", "3")
    send(page, frame)
    assert step_heading(frame) == texts["steps"][1]
    assert texts["progress"].format(n=2) in frame.locator(".feedback-progress").inner_text()
    choose(page, frame, "comprehension", "7")
    send(page, frame)
    assert step_heading(frame) == texts["steps"][2]
    tick(page, frame, "input[name=contact_tried][value='10']")  # by phone: the follow-up questions show
    send(page, frame)
    assert step_heading(frame) == texts["steps"][3]
    choose(page, frame, "contact_reached", "17")
    choose(page, frame, "contact_satisfaction", "22")
    send(page, frame)
    assert step_heading(frame) == texts["steps"][4]
    assert texts["progress"].format(n=4) in frame.locator(".feedback-progress").inner_text()
    tab_in(page, frame, "#verbatim")
    page.keyboard.type(verbatim)
    if email:
        tab_in(page, frame, "#contact_email")
        page.keyboard.type(email)
    tick(page, frame, "#consent")
    send(page, frame)
    assert frame.locator("main h1").inner_text() == texts["thanks"]
    assert texts["saved"] in frame.locator("main").inner_text()


def stored_response(live_server, verbatim: str) -> dict:
    """The response whose free text is ``verbatim``: its service, source, steps and answers."""
    rows = live_db_rows(live_server, """
        SELECT r.id, s.slug, r.source, r.steps_done, r.publish_consent FROM feedback_responses r
        JOIN services s ON s.id = r.service_id JOIN feedback_answers a ON a.response_id = r.id
        WHERE a.field_code = 'verbatim' AND a.answer_text = ?""", (verbatim,))
    assert len(rows) == 1, rows
    response_id, slug, source, steps_done, consent = rows[0]
    answers = live_db_rows(live_server, "SELECT field_code, answer_item_id FROM feedback_answers "
                                        "WHERE response_id = ? AND field_code != 'verbatim'", (response_id,))
    return {"id": response_id, "service": slug, "source": source, "steps_done": steps_done, "consent": bool(consent),
            "answers": sorted(answers)}


# --- a second website, on another origin ------------------------------------------------------------------------------

class _HostPage(BaseHTTPRequestHandler):
    """Serves its server's one page, whatever the path: the service's own website, with Atelier's iframe code."""

    def do_GET(self):  # noqa: N802 (http.server's hook name)
        body = self.server.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass


@contextlib.contextmanager
def host_site():
    """A second web server (a thread of this process) serving one page, set later as its ``page``; its ``origin`` is
    named ``localhost``, so that it is another site than Atelier's ``127.0.0.1``: the browser then sends no Atelier
    cookie into the iframe, as on a service's real website."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostPage)
    server.page = ""
    server.origin = f"http://localhost:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def host_page(lang: str, snippet: str) -> str:
    title = "Déposer un dossier" if lang == "fr" else "File an application"
    return (f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>\n'
            f'<body><h1>{title}</h1><p><a href="#avis">{title}</a></p>\n{snippet}\n</body></html>\n')


def allow_origin(page, slug: str, origin: str, lang: str) -> str:
    """On the service's « Diffuser » page, the editor allows ``origin`` (by keyboard) and reads the iframe code to
    copy."""
    page.goto(f"/avis/gestion/{slug}/diffuser")
    tab_to(page, "#origin")
    page.keyboard.type(origin)
    press_and_wait(page)
    assert TEXTS[lang]["origin_allowed"].format(origin=origin) in flash_text(page)
    assert page.locator(".share-origins code", has_text=origin).count() == 1
    return page.locator("#code-iframe").input_value()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_citizen_answers_through_the_iframe_on_an_allowed_site_only(new_context, live_server, lang):
    slug, name = EMBED_SERVICE
    locale = LOCALES[lang]
    with host_site() as allowed_site, host_site() as other_site:
        editor = new_context(locale).new_page()
        login(editor, EDITOR, lang=lang)
        snippet = allow_origin(editor, slug, allowed_site.origin, lang)
        assert f"{live_server.url}/avis/{slug}/integre" in snippet
        allowed_site.page = other_site.page = host_page(lang, snippet)  # the code the editor copied

        # On the allowed site: the form shows in the iframe, in the page's language, and is answered to the end.
        citizen_context = new_context(locale)
        page = citizen_context.new_page()
        page.goto(allowed_site.origin)
        iframe = page.locator("iframe")
        frame = iframe.element_handle().content_frame()
        frame.wait_for_load_state()
        assert html_lang(frame) == lang
        assert name in frame.locator("main .lead").inner_text()
        answer_whole_form(page, frame, lang, TEXTS[lang]["embed_verbatim"])
        assert frame.url.startswith(f"{live_server.url}/avis/{slug}/integre/")
        assert citizen_context.cookies(live_server.url) == []  # the embed sets no cookie

        stored = stored_response(live_server, TEXTS[lang]["embed_verbatim"])
        assert stored["service"] == slug
        assert stored["source"] == "embed"
        assert stored["steps_done"] == 4
        assert stored["consent"] is True
        assert stored["answers"] == [("comprehension", 7), ("contact_reached", 17), ("contact_satisfaction", 22),
                                     ("contact_tried", 10), ("satisfaction", 3)]

        # The same page on a site nobody allowed: the browser does not show the form in the frame.
        page = citizen_context.new_page()
        page.goto(other_site.origin)
        frame = page.locator("iframe").element_handle().content_frame()
        frame.wait_for_load_state()
        assert not frame.url.startswith(live_server.url)
        assert frame.locator("form").count() == 0
        assert name not in frame.locator("body").inner_text()


# --- the editors' pages -----------------------------------------------------------------------------------------------

def flash_text(page) -> str:
    """The message the page announces about the action that led to it (a status region, read by screen readers)."""
    flashes = page.locator(".flashes")
    assert flashes.get_attribute("role") == "status"
    return flashes.inner_text()


def follow(page, selector: str) -> None:
    """Tab to a link or a button and press Enter; wait for the next page."""
    tab_to(page, selector)
    press_and_wait(page)


def keyboard_language(page, lang: str) -> None:
    """The header's language button, reached with Tab and pressed with Enter, when the page is in the other one."""
    if html_lang(page) != lang:
        follow(page, "form.lang-switch button[type=submit]")
    assert html_lang(page) == lang


def overview_count(page, service_name: str) -> int:
    """The « Réponses » column of the service's row on the editors' overview (/avis/gestion)."""
    row = page.locator("main tbody tr").filter(has=page.locator("th", has_text=service_name))
    return int(row.locator("td").nth(1).inner_text())


def listed_count(page, lang: str) -> int:
    """The number of responses the responses list's heading announces (in the page's plural form)."""
    heading = page.locator("#results-title").inner_text()
    number = int(heading.split(" ", 1)[0])
    assert heading == responses_heading(lang, number)
    return number


def http_answer(live_server, slug: str, satisfaction: int, verbatim: str) -> int:
    """Another person's answer, sent over plain HTTP (set-up): step 1, then the comment of step 4. Its id."""
    def hidden(page: str) -> dict:
        return dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))

    with requests.Session() as http:
        url = f"{live_server.url}/avis/{slug}"
        response = http.post(url, data={**hidden(http.get(url, timeout=10).text), "satisfaction": str(satisfaction)},
                             timeout=10, allow_redirects=False)
        assert response.status_code == 302, response.text[:2000]
        token = re.search(r"/avis/reponse/([^/]+)/etape/", response.headers["Location"]).group(1)
        url = f"{live_server.url}/avis/reponse/{token}/etape/4"
        response = http.post(url, data={**hidden(http.get(url, timeout=10).text), "verbatim": verbatim},
                             timeout=10, allow_redirects=False)
        assert response.status_code == 302, response.text[:2000]
    return stored_response(live_server, verbatim)["id"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_citizen_who_stops_after_step_one_is_counted(new_context, live_server, lang):
    slug, name = EMBED_SERVICE
    editor = new_context(LOCALES[lang]).new_page()
    login(editor, EDITOR, lang=lang)
    editor.goto("/avis/gestion")
    assert editor.locator("h1").inner_text() == TEXTS[lang]["home"]
    counted_before = overview_count(editor, name)
    follow(editor, f"main a[href$='/avis/gestion/{slug}/reponses']")
    listed_before = listed_count(editor, lang)
    assert listed_before == counted_before

    # The citizen goes from the service's page in the catalogue to its form, answers step 1, and leaves.
    citizen = new_context(LOCALES[lang]).new_page()
    citizen.goto(f"/demarches/{slug}")
    keyboard_language(citizen, lang)
    follow(citizen, f"main a[href*='/avis/{slug}?source=atelier']")
    assert TEXTS[lang]["give_feedback"] in citizen.locator("main h1").inner_text()
    main = citizen.main_frame
    assert step_heading(main) == TEXTS[lang]["steps"][0]
    choose(citizen, main, "satisfaction", "2")
    send(citizen, main)
    assert step_heading(main) == TEXTS[lang]["steps"][1]
    assert TEXTS[lang]["progress"].format(n=2) in citizen.locator(".feedback-progress").inner_text()
    token = re.search(r"/avis/reponse/([^/]+)/etape/2$", citizen.url).group(1)
    citizen.close()

    # The editors count it: on the overview and in the list, where it comes first.
    editor.reload()
    assert listed_count(editor, lang) == listed_before + 1
    newest = editor.locator("main .cards > li").first
    assert TEXTS[lang]["source_atelier"] in newest.inner_text()
    assert TEXTS[lang]["satisfaction_average"] in newest.locator("dl").inner_text()
    assert newest.locator("blockquote").count() == 0
    editor.goto("/avis/gestion")
    assert overview_count(editor, name) == counted_before + 1
    rows = live_db_rows(live_server, "SELECT s.slug, r.steps_done, r.source FROM feedback_responses r "
                                     "JOIN services s ON s.id = r.service_id WHERE r.token_hash = ?",
                        (hashlib.sha256(token.encode()).hexdigest(),))
    assert rows == [(slug, 1, "atelier")]


def pick_option(page, selector: str, value: str, max_presses: int = 30) -> None:
    """Tab to a closed <select> and move through its options with the down arrow until ``value`` is chosen."""
    tab_to(page, selector)
    select = page.locator(selector)
    for _ in range(max_presses):
        if select.input_value() == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"option {value!r} of {selector!r} not reached with the arrow keys")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_editor_triages_replies_and_makes_a_proposal_and_the_citizen_reads_the_reply(
        new_context, live_server, live_smtp, lang):
    slug, name = TRIAGE_SERVICE
    texts = TEXTS[lang]
    email = f"avis.{lang}@example.org"

    # A citizen answers the whole form on Atelier, leaves an e-mail and agrees to publication.
    citizen = new_context(LOCALES[lang]).new_page()
    citizen.goto(f"/avis/{slug}")
    keyboard_language(citizen, lang)
    answer_whole_form(citizen, citizen.main_frame, lang, texts["experience_verbatim"], email)
    citizen.close()
    answered = stored_response(live_server, texts["experience_verbatim"])["id"]
    # Two other people (set-up, over HTTP): the same trouble told again, and a junk message.
    other = http_answer(live_server, slug, 1, texts["other_verbatim"])
    junk = http_answer(live_server, slug, 3, texts["junk_verbatim"])
    # An hour later, its author can no longer correct the text: it may be moderated.
    live_db_execute(live_server, "UPDATE feedback_responses SET editable_until = '2000-01-01 00:00:00.000000' "
                                 "WHERE id = ?", (answered,))
    ((experience_id,),) = live_db_rows(live_server, "SELECT id FROM feedback_experiences WHERE response_id = ?",
                                       (answered,))

    editor = new_context(LOCALES[lang]).new_page()
    main = editor.main_frame
    login(editor, EDITOR, lang=lang)
    editor.goto("/avis/gestion")

    # The service's list of irritants gets one more.
    follow(editor, f"main a[href$='/avis/gestion/{slug}/irritants']")
    tab_to(editor, "#label")
    editor.keyboard.type(texts["tag"])
    press_and_wait(editor)
    assert texts["tag_added"].format(label=texts["tag"]) in flash_text(editor)
    ((tag_id,),) = live_db_rows(live_server, "SELECT t.id FROM feedback_tags t JOIN services s ON s.id = t.service_id "
                                             "WHERE s.slug = ? AND t.label = ?", (slug, texts["tag"]))

    # The responses with a comment; the citizen's gets the irritant, and the filters stay.
    follow(editor, ".staff-actions a[href$='/reponses']")
    total = listed_count(editor, lang)
    tick(editor, main, "#texte")
    follow(editor, "form.filters button[type=submit]")
    with_text = listed_count(editor, lang)
    assert 3 <= with_text <= total
    cards = editor.locator("main .cards > li")
    assert cards.count() == cards.locator("blockquote").count() == min(with_text, 20)
    tick(editor, main, f"#reponse-{answered} input[type=checkbox][value='{tag_id}']")
    follow(editor, f"#reponse-{answered} form[action$='/irritants'] [type=submit]")
    assert texts["tags_saved"] in flash_text(editor)
    assert editor.locator("#texte").is_checked()
    assert editor.locator(f"#reponse-{answered} input[type=checkbox][value='{tag_id}']").is_checked()
    # The responses of that irritant: the citizen's only.
    pick_option(editor, "#irritant", str(tag_id))
    follow(editor, "form.filters button[type=submit]")
    assert listed_count(editor, lang) == 1
    assert editor.locator(f"#reponse-{answered}").count() == 1

    # Without filters, the junk message is marked as spam: it is no longer counted.
    follow(editor, f"form.filters a[href$='/avis/gestion/{slug}/reponses']")
    listed = listed_count(editor, lang)
    follow(editor, f"#reponse-{junk} form[action$='/indesirable'] [type=submit]")
    assert texts["spam_marked"] in flash_text(editor)
    assert listed_count(editor, lang) == listed - 1
    assert editor.locator(f"#reponse-{junk}").count() == 0

    # The citizen's experience is published, then answered with a signed reply.
    follow(editor, f".staff-actions a[href$='/avis/gestion/{slug}/experiences']")
    assert editor.locator("main h2").first.inner_text().startswith(texts["to_moderate"])
    follow(editor, f"main a[href$='/gestion/experiences/{experience_id}']")
    follow(editor, f"form[action$='/experiences/{experience_id}/publier'] [type=submit]")
    assert texts["published"] in flash_text(editor)
    tab_to(editor, "#text")
    editor.keyboard.type(texts["reply"])
    signature = editor.locator("#signature").input_value()
    assert signature == "Étienne Éditeur, Direction interministérielle du numérique (DINUM)"
    follow(editor, "#reply-submit")
    assert texts["reply_published"] in flash_text(editor)

    # Two verbatims become a proposal, which the editor completes and sends.
    follow(editor, f".staff-actions a[href$='/avis/gestion/{slug}/suites']")
    tick(editor, main, f"#response-{answered}")
    tick(editor, main, f"#response-{other}")
    choose(editor, main, "action", "new_proposal")
    tab_to(editor, "#title")
    editor.keyboard.type(texts["proposal_title"])
    follow(editor, "main form [type=submit]")
    assert texts["draft_created"] in flash_text(editor)
    proposal_id = re.search(r"/propositions/(\d+)$", editor.url).group(1)
    assert editor.locator("main h1").inner_text() == texts["proposal_title"]
    assert texts["draft_origin"] in editor.locator("main").inner_text()
    follow(editor, f"main a[href$='/propositions/{proposal_id}/modifier']")
    tab_to(editor, "#change")
    editor.keyboard.type(texts["proposal_change"])
    follow(editor, "main form [type=submit]")
    follow(editor, f"form[action$='/propositions/{proposal_id}/soumettre'] [type=submit]")
    # The DINUM reads proposals before publishing them (demo data): the editor, one of its moderators, publishes it.
    follow(editor, f"form[action$='/propositions/{proposal_id}/publier'] [type=submit]")

    # The citizen is told of the reply by mail, and reads it on the public experiences page.
    mail = live_smtp.wait_for(email)[-1]
    assert mail["Subject"] == texts["mail_subject"].format(service=name)
    assert texts["reply"] in text_body(mail)
    reader = new_context(LOCALES[lang]).new_page()
    reader.goto("/avis/experiences")
    keyboard_language(reader, lang)
    item = reader.locator(f"#experience-{experience_id}")
    assert texts["experience_verbatim"] in item.locator("blockquote").inner_text()
    reply = item.locator("section.answer")
    assert reply.get_by_role("heading").inner_text() == texts["reply_heading"]
    assert texts["reply"] in reply.inner_text()
    assert signature in reply.locator(".signature").inner_text()
    # The proposal's public page says where it came from.
    reader.goto(f"/propositions/{proposal_id}")
    assert reader.locator("main h1").inner_text() == texts["proposal_title"]
    assert reader.locator(".trail-born").inner_text() == texts["born_of"]

    # What is stored proves the same: the tag, the spam, the published reply, the e-mail erased once used, and the
    # proposal's two origins.
    assert live_db_rows(live_server, "SELECT tag_id FROM feedback_response_tags WHERE response_id = ?",
                        (answered,)) == [(tag_id,)]
    assert live_db_rows(live_server, "SELECT is_spam FROM feedback_responses WHERE id = ?", (junk,)) == [(1,)]
    assert live_db_rows(live_server, "SELECT status, reply_text, reply_signature FROM feedback_experiences "
                                     "WHERE id = ?", (experience_id,)) == [("published", texts["reply"], signature)]
    assert live_db_rows(live_server, "SELECT count(*) FROM feedback_contacts WHERE response_id = ?",
                        (answered,)) == [(0,)]
    assert live_db_rows(live_server, "SELECT kind, response_id FROM proposal_origins WHERE proposal_id = ? "
                                     "ORDER BY response_id", (proposal_id,)) == [("feedback", answered),
                                                                                 ("feedback", other)]
