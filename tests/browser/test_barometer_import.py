"""Importing published figures in a real browser, with the keyboard: DINUM's editor sends a file with wrong lines
(the summary at the top links to each line's error, nothing is written), then a correct file for one of DINUM's
services (the preview counts what will be added), and confirms. axe-core finds no serious violation, and the Nu HTML
checker no error, on the form, the error report and the preview, in French and in English."""

import pytest

from tests.htmlcheck import nu_checker

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, switch_language, tab_to

pytestmark = pytest.mark.browser

EDITOR = "editeur@atelier.example"
HEADER = "procedure,edition_or_period,indicator,value,unit_or_scale,source"


def csv_file(*rows: str) -> dict:
    return {"name": "chiffres.csv", "mimeType": "text/csv", "buffer": "\r\n".join([HEADER, *rows, ""]).encode()}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_editor_imports_published_figures_with_the_keyboard(page, live_server, axe, lang):
    ((ref, service_id),) = live_db_rows(
        live_server, "SELECT s.external_ref, s.id FROM services s JOIN organisations o ON o.id = s.organisation_id"
        " WHERE o.slug = 'dinum' AND s.external_ref IS NOT NULL ORDER BY s.id LIMIT 1")
    period = f"test window {lang}, scanned 2026-08-22"
    documents = {}
    login(page, EDITOR)
    switch_language(page, lang)
    response = page.goto("/barometre/gestion/import")
    assert response.status == 200 and blocking_violations(axe, page) == []
    documents["form"] = page.content()

    # Wrong lines: the summary names them and links to each; nothing is written.
    page.set_input_files("#file", csv_file(f'{ref},"{period}",satisfaction,12,note /10,test',
                                           f'jdma:999999,"{period}",satisfaction,8,note /10,test'))
    tab_to(page, "#file")
    assert_visible_focus(page)
    tab_to(page, "main form[enctype] [type=submit]")
    press_and_wait(page)
    summary = page.locator("#import-errors")
    assert "2" in summary.locator("h2").inner_text() and "jdma:999999" in summary.inner_text()
    assert blocking_violations(axe, page) == []
    documents["errors"] = page.content()
    tab_to(page, "#import-errors a[href='#import-error-2']")
    assert_visible_focus(page)
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#import-error-2"
    assert live_db_rows(live_server, "SELECT id FROM barometer_published_figures WHERE period = ?", (period,)) == []

    # A correct file: the preview, then the confirmation.
    page.set_input_files("#file", csv_file(f'{ref},"{period}",satisfaction,8.5,note /10,test',
                                           f'{ref},"{period}",satisfaction_count,321,count,test'))
    tab_to(page, "main form[enctype] [type=submit]")
    press_and_wait(page)
    preview = page.locator(".import-preview")
    assert ref in preview.inner_text() and period in preview.inner_text()
    assert blocking_violations(axe, page) == []
    documents["preview"] = page.content()
    tab_to(page, "form[action$='/import/confirmer'] [type=submit]")
    assert_visible_focus(page)
    press_and_wait(page)
    assert page.url.endswith("/barometre/gestion/import")
    assert live_db_rows(live_server, "SELECT service_id, value, count FROM barometer_published_figures"
                        " WHERE period = ?", (period,)) == [(service_id, 8.5, 321)]
    switch_language(page, "fr")  # the language is stored on the demo account, which other tests use

    checker, reason = nu_checker()
    if checker is None:
        pytest.skip(f"axe passed; the HTML check did not run: {reason}")
    assert checker.check(documents) == []
