"""Importing measures from CSV in a real browser, with the keyboard: DINUM's editor sends a file with a wrong row
(the per-row report is shown, nothing is written), then a correct Windows-1252 file (the preview lists what will
be created), and confirms. axe-core finds no serious violation on the form, the report and the preview, in French
and in English."""

import pytest

from .conftest import live_db_rows
from .helpers import assert_visible_focus, blocking_violations, login, press_and_wait, switch_language, tab_to

pytestmark = pytest.mark.browser

EDITOR = "editeur@atelier.example"
HEADER = "mesure;statut;avancement;raison_abandon;description;propositions;jalon;date_prevue;date_realisee"


def csv_file(*rows: str, encoding="utf-8") -> dict:
    return {"name": "mesures.csv", "mimeType": "text/csv",
            "buffer": "\r\n".join([HEADER, *rows, ""]).encode(encoding)}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_editor_imports_measures_from_csv_with_the_keyboard(page, live_server, axe, lang):
    ((dinum_id,),) = live_db_rows(live_server, "SELECT id FROM organisations WHERE slug = 'dinum'")
    title = f"Préfecture sans papier ({lang})"
    login(page, EDITOR)
    page.goto(f"/decisions/organisations/{dinum_id}/a-repondre")
    switch_language(page, lang)
    tab_to(page, "a[href$='/mesures/import']")
    press_and_wait(page)
    assert blocking_violations(axe, page) == []

    # A wrong row: the report names the row and the column; nothing is written.
    page.set_input_files("#file", csv_file(f"{title};Abandonnée;;;;;;;"))
    tab_to(page, "#file")
    assert_visible_focus(page)
    tab_to(page, "main form[enctype] [type=submit]")
    press_and_wait(page)
    report = page.locator("#import-errors")
    assert "raison_abandon" in report.inner_text() and "2" in report.locator("td").first.inner_text()
    assert blocking_violations(axe, page) == []
    assert live_db_rows(live_server, "SELECT id FROM measures WHERE title = ?", (title,)) == []

    # A correct file from a French spreadsheet: the preview, then the confirmation.
    page.set_input_files("#file", csv_file(f"{title};En cours;30;;;;Marché;15/01/2027;",
                                           f"{title};;;;;;Mise en service;01/06/2027;", encoding="cp1252"))
    tab_to(page, "main form[enctype] [type=submit]")
    press_and_wait(page)
    preview = page.locator(".import-preview")
    assert title in preview.inner_text() and "Mise en service" in preview.inner_text()
    assert blocking_violations(axe, page) == []
    tab_to(page, "form[action$='/import/confirmer'] [type=submit]")
    assert_visible_focus(page)
    press_and_wait(page)
    assert page.url.endswith(f"/decisions/organisations/{dinum_id}/a-repondre")
    ((measure_id,),) = live_db_rows(live_server, "SELECT id FROM measures WHERE title = ?", (title,))
    assert len(live_db_rows(live_server, "SELECT id FROM measure_milestones WHERE measure_id = ?",
                            (measure_id,))) == 2
