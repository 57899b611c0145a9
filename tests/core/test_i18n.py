"""French first, English second: both catalogs complete and in sync with the source, pages and mails translated."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from app.accounts import service as accounts
from app.extensions import db
from app.mail.models import OutboxMessage
from app.mail.service import queue_mail

from ..conftest import csrf_from

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
LOCALES = ("fr", "en")


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str):
    with po_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def entries(catalog):
    """Every message but the header."""
    return [message for message in catalog if message.id]


def label(message) -> str:
    return message.id[0] if message.pluralizable else message.id


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs():
    """Pages need the .mo files (git-ignored; `make test` builds them): compile any missing or stale one."""
    for locale in LOCALES:
        po, mo = po_path(locale), po_path(locale).with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with mo.open("wb") as handle:
                write_mo(handle, load(locale))


# -- The catalogs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_untranslated_or_fuzzy_entry(locale):
    catalog = load(locale)
    assert not catalog.fuzzy, f"the {locale} catalog header is fuzzy: pybabel compile would skip it"
    untranslated = [label(m) for m in entries(catalog)
                    if not m.string or (m.pluralizable and not all(m.string))]
    fuzzy = [label(m) for m in entries(catalog) if m.fuzzy]
    assert not (untranslated or fuzzy), f"{locale} catalog: untranslated {untranslated}, fuzzy {fuzzy}"


def test_french_catalog_is_its_own_source():
    """French is the source language: msgstr == msgid (scripts/i18n_fill_source.py keeps it so)."""
    wrong = []
    for message in entries(load("fr")):
        if message.pluralizable:
            singular, plural = message.id
            if message.string[0] != singular or any(form != plural for form in message.string[1:]):
                wrong.append(singular)
        elif message.string != message.id:
            wrong.append(message.id)
    assert not wrong, f"French msgstr differs from its msgid (run `make i18n-update`): {wrong}"


def _makefile_keywords() -> list[str]:
    """The extra -k keywords of `make i18n-extract`, so this test extracts exactly as the Makefile does."""
    makefile = (ROOT / "Makefile").read_text()
    line = next((line for line in makefile.splitlines() if "pybabel extract" in line), None)
    assert line, "no `pybabel extract` line in the Makefile"
    return re.findall(r"-k\s+(\S+)", line)


def test_catalogs_contain_every_string_of_the_source(tmp_path):
    pot = tmp_path / "messages.pot"
    # Same ignore list as the Makefile: babel's default would skip templates/_macros (names starting "_").
    command = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
               "--ignore-dirs", ".* __pycache__ node_modules .venv",
               "--no-location", "--sort-output", "--project", "Atelier", "-o", str(pot)]
    for keyword in _makefile_keywords():
        command += ["-k", keyword]
    subprocess.run([*command, "."], cwd=ROOT, check=True, capture_output=True, timeout=120)
    with pot.open("rb") as handle:
        extracted = {message.id for message in entries(read_po(handle))}
    assert extracted, "extraction found no string at all"
    for locale in LOCALES:
        known = {message.id for message in entries(load(locale))}
        missing = sorted(str(msgid) for msgid in extracted - known)
        assert not missing, (f"strings missing from the {locale} catalog "
                             f"(run `make i18n-update`, then translate): {missing}")


PLACEHOLDER_RE = re.compile(
    r"%(?:\((?P<name>\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]"
    r"|%"  # a lone percent sign: it breaks `str % values` (Jinja formats every _() string)
)


def placeholders(text: str) -> tuple[Counter, list[str]]:
    """Named placeholders (any order) and positional ones (in order), ``%%`` and stray ``%`` included."""
    named, positional = Counter(), []
    for match in PLACEHOLDER_RE.finditer(text):
        if match.group("name"):
            named[match.group(0)] += 1
        else:
            positional.append(match.group(0))
    return named, positional


def test_english_placeholders_match_the_french():
    catalog = load("en")
    mismatched = []
    for message in entries(catalog):
        if message.pluralizable:
            sources = [message.id[0]] + [message.id[1]] * (len(message.string) - 1)
            pairs = zip(sources, message.string, strict=True)
        else:
            pairs = [(message.id, message.string)]
        for source, translation in pairs:
            if placeholders(source) != placeholders(translation):
                mismatched.append(f"{source!r} -> {translation!r}")
    assert not mismatched, "placeholders differ:\n" + "\n".join(mismatched)


# -- Pages and mails ----------------------------------------------------------------------------------------

FR_HEADING = "Améliorons ensemble les services publics"
EN_HEADING = "Let’s improve public services together"


def fetch(app, send):
    """One request in its own app context, as in production.

    The ``app`` fixture keeps an app context open for the whole test and Flask reuses it for requests, so
    ``g`` (where Flask-Babel caches the chosen locale) would otherwise outlive a request and pin the first
    language seen. Harmless if the test client already isolates each request.
    """
    with app.app_context():
        return send()


def test_site_is_french_by_default_and_english_once_chosen(app, client):
    html = fetch(app, lambda: client.get("/")).get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert FR_HEADING in html
    assert EN_HEADING not in html

    token = csrf_from(html)
    response = fetch(app, lambda: client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": token}))
    assert response.status_code == 302
    assert response.location == "/"
    html = fetch(app, lambda: client.get(response.location)).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert EN_HEADING in html
    assert FR_HEADING not in html

    # The choice sticks for the rest of the visit.
    html = fetch(app, lambda: client.get("/conditions-d-utilisation")).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Terms of use</h1>" in html


@pytest.mark.parametrize(("locale", "subject", "greeting", "footer"), [
    ("fr", "Vérifiez votre adresse électronique", "Bonjour Rita,",
     "Atelier, le laboratoire de co-création des services publics."),
    ("en", "Verify your email address", "Hello Rita,", "Atelier, the co-creation lab for public services."),
])
def test_verification_mail_is_written_in_the_recipients_language(app, locale, subject, greeting, footer):
    accounts.register(f"rita-{locale}@example.org", "Rita", "a long enough password", locale=locale)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == f"rita-{locale}@example.org"))
    assert message.locale == locale
    assert message.subject == subject
    for body in (message.body_text, message.body_html):
        assert greeting in body
        assert footer in body
    assert f'<html lang="{locale}">' in message.body_html


def test_mail_language_follows_the_recipient_not_the_current_page(app):
    """A French-speaking page (e.g. an admin acting) still mails an English-speaking user in English."""
    user = type("Recipient", (), {"display_name": "Sam"})()
    with app.test_request_context("/"):
        message = queue_mail("sam@example.org", "reset_password", "en", user=user, link="http://l", minutes=60)
    assert message.subject == "Choose a new password"
    assert "This link is valid for 60 minutes and can only be used once:" in message.body_text
    assert "Choisissez" not in message.body_text + message.body_html
    db.session.rollback()
