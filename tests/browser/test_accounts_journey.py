"""The account journey with the keyboard only, in French and in English.

Every control is reached with Tab / Shift+Tab and operated with Enter / Space or by typing, as a
keyboard or switch user would: no clicks and no filling of elements the user has not tabbed to.
Only the verification link is opened directly, as it would be from a mail client.
"""

import re

import pytest

from ..servers import text_body
from .helpers import assert_visible_focus, html_lang, press_and_wait, tab_to

pytestmark = pytest.mark.browser

TEXTS = {
    "fr": {
        "skip": "Aller au contenu",
        "register": "Créer un compte",
        "error_title": "Erreur",
        "errors": "Le formulaire contient 5 erreurs",
        "check_mail": "Vérifiez votre boîte aux lettres électronique",
        "verified_flash": "Votre adresse électronique est vérifiée. Connectez-vous pour continuer.",
        "verified": "vérifiée",
        "mail_greeting": "Bonjour Lou Clavier,",
        "logout": "Se déconnecter",
        "logged_out": "Vous êtes déconnecté·e.",
        "login": "Se connecter",
        "logged_in": "Vous êtes connecté·e.",
        "account": "Mon compte",
        "home_title": "Améliorons ensemble les services publics",
    },
    "en": {
        "skip": "Skip to content",
        "register": "Create an account",
        "error_title": "Error",
        "errors": "The form contains 5 errors",
        "check_mail": "Check your mailbox",
        "verified_flash": "Your email address has been verified. Sign in to continue.",
        "verified": "verified",
        "mail_greeting": "Hello Lou Clavier,",
        "logout": "Sign out",
        "logged_out": "You are signed out.",
        "login": "Sign in",
        "logged_in": "You are signed in.",
        "account": "My account",
        "home_title": "Let’s improve public services together",
    },
}

PASSWORD = "une phrase de passe au clavier"  # noqa: S105 (test account)
REGISTER_FIELDS = ["email", "display_name", "password", "password_confirm", "accept_terms"]


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement.id")


def flash_text(page) -> str:
    return " ".join(page.locator(".flashes").all_inner_texts())


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_register_verify_logout_login_with_keyboard_only(new_context, live_server, live_smtp, lang):
    texts = TEXTS[lang]
    email = f"lou.clavier.{lang}@example.org"
    page = new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang]).new_page()
    page.goto("/")
    assert html_lang(page) == "fr"  # French first, whatever the browser asks for

    # The skip link is the first stop, visibly focused, and moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('skip-link')")
    assert_visible_focus(page)
    page.keyboard.press("Enter")
    assert focused_id(page) == "contenu"

    if lang == "en":
        # The language switch is a POST form in the header: back up to it with Shift+Tab.
        tab_to(page, "form.lang-switch button", backwards=True)
        assert_visible_focus(page)
        press_and_wait(page, "Enter")
        assert html_lang(page) == "en"
        page.keyboard.press("Tab")
        assert page.locator(".skip-link").inner_text() == texts["skip"]

    # Header navigation -> "Créer un compte" / "Create an account".
    tab_to(page, "nav a[href$='/compte/inscription']")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == texts["register"]
    assert_visible_focus(page)
    press_and_wait(page, "Enter")
    assert page.locator("h1").inner_text() == texts["register"]

    # Submit the empty form: an error summary links to every field in error.
    tab_to(page, "main form [type=submit]")
    assert_visible_focus(page)  # a button
    press_and_wait(page, "Enter")
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert summary.get_attribute("role") == "alert"
    assert summary.locator("h2").inner_text() == texts["errors"]
    assert page.title().startswith(texts["error_title"])
    targets = summary.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert targets == [f"#{name}" for name in REGISTER_FIELDS]
    for name in REGISTER_FIELDS:
        field = page.locator(f"#{name}")
        assert field.get_attribute("aria-invalid") == "true"
        assert f"{name}-error" in field.get_attribute("aria-describedby").split()
    # Following the first link of the summary puts the keyboard focus in the field.
    page.keyboard.press("Tab")  # from the top of the page
    tab_to(page, ".error-summary a[href='#email']")
    assert_visible_focus(page)
    page.keyboard.press("Enter")
    assert focused_id(page) == "email"

    # Fill in the form by typing, tick the terms with Space, submit with Enter.
    page.keyboard.type(email)
    tab_to(page, "#display_name")
    page.keyboard.type("Lou Clavier")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "#password_confirm")
    page.keyboard.type(PASSWORD)
    tab_to(page, "#accept_terms")
    assert_visible_focus(page)
    page.keyboard.press("Space")
    assert page.locator("#accept_terms").is_checked()
    tab_to(page, "main form [type=submit]")
    press_and_wait(page, "Enter")
    # The same page whether the address is new or known: no one is signed in, the mail says what follows.
    assert page.url.split("#")[0] == f"{live_server.url}/compte/inscription/courriel-envoye"
    assert page.locator("h1").inner_text() == texts["check_mail"]
    assert page.locator("nav a[href$='/compte/connexion']").count() == 1

    # The verification mail arrives over SMTP, in the chosen language, with the link in the text.
    message = live_smtp.wait_for(email)[-1]
    body = text_body(message)
    assert texts["mail_greeting"] in body
    link = re.search(re.escape(live_server.url) + r"/compte/verifier/\S+", body)
    assert link, body
    page.goto(link.group(0))
    assert page.url == f"{live_server.url}/compte/connexion"
    assert texts["verified_flash"] in flash_text(page)

    # Sign in with the password chosen at sign-up, which the link activated: keyboard only.
    page.keyboard.press("Tab")
    sign_in_by_keyboard(page, live_server, email, texts)
    tab_to(page, "nav a[href$='/compte/']")
    press_and_wait(page, "Enter")
    assert page.locator(".badge-ok").inner_text() == texts["verified"]

    # Log out with the button in the navigation.
    page.keyboard.press("Tab")
    tab_to(page, "nav form[action$='/compte/deconnexion'] button")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == texts["logout"]
    assert_visible_focus(page)
    press_and_wait(page, "Enter")
    assert texts["logged_out"] in flash_text(page)
    assert page.locator("nav a[href$='/compte/connexion']").count() == 1

    # Log in again, still with the keyboard only.
    tab_to(page, "nav a[href$='/compte/connexion']")
    press_and_wait(page, "Enter")
    sign_in_by_keyboard(page, live_server, email, texts)

    # The page speaks the account's language, and says so.
    assert html_lang(page) == lang
    assert page.locator("h1").inner_text() == texts["home_title"]
    assert page.locator("nav a[href$='/compte/']").inner_text().startswith(texts["account"])
    assert page.title().endswith("— Atelier")

    page.keyboard.press("Tab")
    tab_to(page, "nav form[action$='/compte/deconnexion'] button")
    press_and_wait(page, "Enter")
    assert texts["logged_out"] in flash_text(page)
    # Signing out keeps the language the person was reading in.
    assert html_lang(page) == lang, "after signing out, the site went back to French"


def sign_in_by_keyboard(page, live_server, email: str, texts: dict) -> None:
    """On the sign-in page: fill the form and send it with the keyboard only, landing on the home page."""
    tab_to(page, "#email")
    page.keyboard.type(email)
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "main form [type=submit]")
    press_and_wait(page, "Enter")
    assert page.url == f"{live_server.url}/"
    assert texts["logged_in"] in flash_text(page)
