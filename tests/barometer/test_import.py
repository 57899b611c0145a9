"""Importing figures published elsewhere: reading files in the format of procedure_indicators.csv (pure), the
all-or-nothing import on SQLite and PostgreSQL with its refusal twins (each error named by line and column), the
replacement of figures already there, the editors' limits, the upload -> preview -> confirm pages (and the Nu HTML
checker on them, in French and English), and the latest figures a service shows with their source and date."""

import re
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from flask import render_template
from flask_babel import force_locale
from sqlalchemy import func, select

from app.barometer import importing, manage
from app.barometer.importing import ImportInvalid
from app.barometer.models import PublishedFigure
from app.barometer.published import latest_published
from app.catalog.models import Role, Service
from app.errors import NotAllowed
from app.extensions import db
from tests.concurrency import run_together, threads_app_fixture
from tests.conftest import csrf_from, get_csrf, login, post_form
from tests.factories import make_member, make_organisation, make_service, make_user
from tests.htmlcheck import nu_checker

PUBLISHED_FILE = Path(__file__).resolve().parents[2] / "app" / "data" / "reference" / "procedure_indicators.csv"
HEADER = "procedure,edition_or_period,indicator,value,unit_or_scale,source"
EDITION = '"edition window, scanned 2026-07-24"'
SOURCE = "dashlord-observatoire results/115/jdma.json"
URL = "/barometre/gestion/import"
CONFIRM = "/barometre/gestion/import/confirmer"


def csv_bytes(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join([header, *rows]) + "\r\n").encode()


def row(indicator="satisfaction", value="8.7894", unit="note /10", ref="jdma:115", period=EDITION, source=SOURCE):
    return f"{ref},{period},{indicator},{value},{unit},{source}"


def errors_of(parsed_or_errors) -> list[tuple[int, str | None, str]]:
    errors = getattr(parsed_or_errors, "errors", parsed_or_errors)
    return [(e.line, e.column, e.code) for e in errors]


def count_figures() -> int:
    return db.session.scalar(select(func.count()).select_from(PublishedFigure))


# --- reading files (pure) ------------------------------------------------------------------------

def test_the_published_file_reads_whole_without_errors(app):
    parsed = importing.parse(PUBLISHED_FILE.read_bytes())
    assert parsed.errors == [] and parsed.lines == 6111
    # Every *_count line fills the count of its figure instead of being one.
    assert len(parsed.figures) == 6111 - 6 * 454
    satisfaction = next(f for f in parsed.figures if (f.ref, f.period, f.indicator) == (
        "jdma:115", "edition window, scanned 2026-07-24", "satisfaction"))
    assert (satisfaction.value, satisfaction.unit, satisfaction.count, satisfaction.published_on, satisfaction.source) \
        == (8.7894, "note /10", 6125, date(2026, 7, 24), SOURCE)
    assert (satisfaction.line, satisfaction.count_line) == (11, 12)
    uptime = next(f for f in parsed.figures if f.ref == "jdma:44" and f.indicator == "uptime")
    assert (uptime.value, uptime.unit, uptime.count) == (100.0, "percent", None)


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_with_or_without_bom(bom):
    parsed = importing.parse(csv_bytes(row(period='"dernière édition, scanned 2026-07-24"'), bom=bom))
    assert parsed.errors == [] and parsed.figures[0].period == "dernière édition, scanned 2026-07-24"


def test_a_figure_without_its_count_line_is_read_and_a_count_line_fills_its_figure():
    parsed = importing.parse(csv_bytes(row("contact_count", "345", "count"), row("contact", "5.2319"),
                                       row("comprehension", "8.8")))
    assert parsed.errors == []
    assert {f.indicator: (f.value, f.count) for f in parsed.figures} == {"contact": (5.2319, 345),
                                                                        "comprehension": (8.8, None)}


def test_period_without_a_scan_date_has_no_publication_date():
    parsed = importing.parse(csv_bytes(row(period="2025 annual report")))
    assert parsed.errors == [] and parsed.figures[0].published_on is None


def test_header_missing_and_unknown_columns_are_named_on_line_1():
    parsed = importing.parse(csv_bytes(row(), header="procedure,edition_or_period,indicator,valeur,unit_or_scale,"
                                                     "source"))
    assert errors_of(parsed) == [(1, "valeur", "unknown_column"), (1, "value", "missing_column")]
    assert "Colonne manquante : value" in parsed.errors[1].text
    parsed = importing.parse(csv_bytes(row(), header=HEADER + ",indicator"))
    assert errors_of(parsed) == [(1, "indicator", "duplicate_column")]
    parsed = importing.parse(csv_bytes(row() + ",", header=HEADER + ","))
    assert errors_of(parsed) == [(1, None, "unnamed_column")]
    # A file separated by semicolons has one unknown column, and misses the others.
    parsed = importing.parse(csv_bytes("jdma:115;x", header=HEADER.replace(",", ";")))
    assert {e.code for e in parsed.errors} == {"unknown_column", "missing_column"} and parsed.figures == []


def test_columns_in_another_order_are_read_by_name():
    parsed = importing.parse(csv_bytes(f"8.1,jdma:115,{EDITION},note /10,{SOURCE},satisfaction",
                                       header="value,procedure,edition_or_period,unit_or_scale,source,indicator"))
    assert parsed.errors == [] and (parsed.figures[0].ref, parsed.figures[0].value) == ("jdma:115", 8.1)


@pytest.mark.parametrize("line,expected", [
    (row() + ",extra", (2, None, "cell_count")),
    ("jdma:115,x,satisfaction", (2, None, "cell_count")),
    (row("happiness"), (2, "indicator", "unknown_indicator")),
    (row("satisfaction", "0.79", "ratio 0-1"), (2, "unit_or_scale", "wrong_unit")),
    (row("uptime", "99.9", "0-1"), (2, "unit_or_scale", "wrong_unit")),
    (row("satisfaction", "huit"), (2, "value", "not_a_number")),
    (row("satisfaction", "nan"), (2, "value", "not_a_number")),
    (row("satisfaction", "inf"), (2, "value", "not_a_number")),
    (row("satisfaction", "10.5"), (2, "value", "out_of_range")),
    (row("satisfaction", "-0.1"), (2, "value", "out_of_range")),
    (row("contact_reachability", "1.2", "ratio 0-1"), (2, "value", "out_of_range")),
    (row("apdex", "1.01", "0-1"), (2, "value", "out_of_range")),
    (row("uptime", "100.1", "percent"), (2, "value", "out_of_range")),
    (row("response_time_total", "-5", "ms"), (2, "value", "out_of_range")),
    (row(ref=""), (2, "procedure", "required")),
    (row(source=""), (2, "source", "required")),
    (row(value=""), (2, "value", "required")),
    (row(period='"edition window, scanned 2026-02-30"'), (2, "edition_or_period", "bad_date")),
    (row(source="s" * 301), (2, "source", "too_long")),
    (row(period="p" * 121), (2, "edition_or_period", "too_long")),
])
def test_each_wrong_line_is_reported_with_its_line_and_column(app, line, expected):
    parsed = importing.parse(csv_bytes(line))
    assert errors_of(parsed) == [expected]
    assert parsed.figures == []


@pytest.mark.parametrize("value,unit,indicator", [
    ("0", "note /10", "satisfaction"), ("10", "note /10", "autonomy"), ("1", "ratio 0-1", "contact_reachability"),
    ("0", "0-1", "apdex"), ("100", "percent", "uptime"), ("12976", "ms", "response_time_total"),
    ("8,5", "note /10", "comprehension"), ("1e3", "ms", "response_time_total"), (" 7.5 ", " Note  /10 ", "contact"),
])
def test_values_at_the_ends_of_their_scales_and_written_otherwise_are_accepted(value, unit, indicator):
    parsed = importing.parse(csv_bytes(row(indicator, f'"{value}"', unit)))
    assert parsed.errors == [], parsed.errors


@pytest.mark.parametrize("line,expected", [
    (row("satisfaction_count", "12", "note /10"), (2, "unit_or_scale", "wrong_unit")),
    (row("satisfaction_count", "-3", "count"), (2, "value", "count_not_whole")),
    (row("satisfaction_count", "12.5", "count"), (2, "value", "count_not_whole")),
    (row("satisfaction_count", "", "count"), (2, "value", "required")),
])
def test_wrong_count_lines_are_reported_and_fill_no_count(line, expected):
    parsed = importing.parse(csv_bytes(line, row()))
    assert errors_of(parsed) == [expected]


def test_a_count_line_without_its_figure_line_is_an_error_but_not_the_reverse():
    parsed = importing.parse(csv_bytes(row("satisfaction_count", "6125", "count"),
                                       row("comprehension", "8.8"),
                                       row("autonomy_count", "12", "count",
                                           period='"last 3 months, scanned 2026-07-24"'),
                                       row("autonomy", "8.4")))
    assert errors_of(parsed) == [(2, "indicator", "count_without_figure"), (4, "indicator", "count_without_figure")]
    assert "« satisfaction »" in parsed.errors[0].text


def test_the_same_service_period_and_indicator_twice_is_an_error_on_the_second_line():
    parsed = importing.parse(csv_bytes(row(), row("comprehension", "8.8"), row(value="9.1"),
                                       row(period='"last 3 months, scanned 2026-07-24"'),
                                       row("satisfaction_count", "3", "count"),
                                       row("satisfaction_count", "4", "count")))
    assert errors_of(parsed) == [(4, "indicator", "duplicate_line"), (7, "indicator", "duplicate_line")]
    assert "répète la ligne 2" in parsed.errors[0].text


def test_line_numbers_are_the_files_lines_blank_and_multi_line_ones_included():
    parsed = importing.parse(csv_bytes(row(), "", row("comprehension", period='"edition window,\nscanned 2026-07-24"'),
                                       row("autonomy", "11")))
    assert errors_of(parsed) == [(6, "value", "out_of_range")] and parsed.lines == 3


@pytest.mark.parametrize("data,error,text", [
    (b"", importing.FileEmpty, "Le fichier est vide"),
    (b"\xef\xbb\xbf \r\n\r\n", importing.FileEmpty, "Le fichier est vide"),
    (HEADER.encode() + b"\r\n", importing.NoRows, "ne contient que la ligne des en-têtes"),
    (csv_bytes(row(), row(period='"p\xe9riode"')).replace(b"\xc3\xa9", b"\xe9"), importing.NotUtf8,
     "n'est pas en UTF-8 (premier caractère illisible à la ligne 3)"),
    (csv_bytes(row()).decode().encode("utf-16"), importing.NotUtf8, "n'est pas en UTF-8"),
    (b"x" * (importing.MAX_BYTES + 1), importing.FileTooLarge, "Le fichier dépasse 1,5 Mo"),
    (csv_bytes(*[row(period=f"p{n}", source="s") for n in range(importing.MAX_LINES + 1)]), importing.TooManyLines,
     "Le fichier dépasse 20 000 lignes"),
    (csv_bytes(row(), row(period='"edition window') + '"x'), importing.ImportFileInvalid,
     "ne peut pas être lu comme un fichier CSV (ligne 3)"),
    (csv_bytes(row(), row(period='"edition window')), importing.ImportFileInvalid,
     "ne peut pas être lu comme un fichier CSV (ligne 3)"),
])
def test_files_that_cannot_be_read_are_refused_whole(app, data, error, text):
    with app.test_request_context(), pytest.raises(error) as raised:
        importing.parse(data)
    assert text in str(raised.value.message).replace("\u202f", " ")


def test_as_many_lines_as_the_limit_are_read(app):
    parsed = importing.parse(csv_bytes(*[row(period=f"p{n}", source="s") for n in range(importing.MAX_LINES)]))
    assert parsed.errors == [] and parsed.lines == importing.MAX_LINES


def test_the_period_kind_is_what_is_before_the_scan_date():
    assert importing.period_kind("last 3 months (updown.io), scanned 2026-08-22") == "last 3 months (updown.io)"
    assert importing.period_kind("edition window, scanned 2026-07-24") == "edition window"
    assert importing.period_kind("2025 annual report") == "2025 annual report"


# --- the import (database) -----------------------------------------------------------------------

class World:
    """Organisation A (its editor, a facilitator) with services jdma:115 and jdma:44; organisation B (its editor)
    with jdma:45; an admin and a citizen."""

    def __init__(self):
        self.org, self.other_org = make_organisation(slug="org-a", name="Organisation A"), make_organisation(
            slug="org-b", name="Organisation B")
        self.service = _service(self.org, "jdma:115", "Démarche 115")
        self.service_44 = _service(self.org, "jdma:44", "Démarche 44")
        self.other_service = _service(self.other_org, "jdma:45", "Démarche 45")
        self.editor = make_member(self.org, Role.editor, email="editor@example.org")
        self.facilitator = make_member(self.org, Role.facilitator, email="facilitator@example.org")
        self.other_editor = make_member(self.other_org, Role.editor, email="editor.b@example.org")
        self.admin = make_user(email="admin@example.org", admin=True)
        self.citizen = make_user(email="citizen@example.org")
        db.session.commit()


def _service(organisation, ref, name):
    service = make_service(organisation, name=name)
    service.external_ref = ref
    db.session.flush()
    return service


@pytest.fixture
def world(app):
    return World()


@pytest.mark.both_databases("app.barometer.importing")
def test_admin_imports_the_whole_published_file_when_its_services_exist(app):
    data = PUBLISHED_FILE.read_bytes()
    refs = sorted({line.split(",", 1)[0] for line in data.decode().splitlines()[1:]})
    organisation = make_organisation()
    for ref in refs:
        _service(organisation, ref, f"Démarche {ref}")
    admin = make_user(admin=True)
    db.session.commit()
    preview = importing.preview_import(admin, data)
    assert preview.errors == [] and preview.parsed.lines == 6111
    assert (preview.added, preview.replaced, len(preview.services)) == (3387, 0, len(refs))
    result = importing.import_figures(admin, preview.parsed.text, stamp=preview.stamp,
                                      expected_digest=preview.digest)
    assert (result.added, result.replaced, result.services) == (3387, 0, len(refs))
    assert count_figures() == 3387
    service = db.session.scalar(select(Service).where(Service.external_ref == "jdma:115"))
    figure = db.session.scalar(select(PublishedFigure).where(
        PublishedFigure.service_id == service.id, PublishedFigure.indicator == "contact_reachability",
        PublishedFigure.period == "edition window, scanned 2026-07-24"))
    assert (figure.value, figure.unit, figure.count, figure.published_on, figure.source, figure.imported_by_id) == (
        0.7197, "ratio 0-1", 346, date(2026, 7, 24), SOURCE, admin.id)
    # The same file again replaces every figure and adds none.
    again = importing.preview_import(admin, data)
    assert (again.added, again.replaced) == (0, 3387)


@pytest.mark.both_databases("app.barometer.importing")
def test_an_editor_imports_their_organisations_services_and_replaces_figures(world):
    data = csv_bytes(row(), row("satisfaction_count", "6125", "count"),
                     row("uptime", "99.5", "percent", ref="jdma:44", period='"last 3 months (updown.io), scanned '
                                                                             '2026-08-22"'))
    preview = importing.preview_import(world.editor, data)
    assert preview.errors == [] and (preview.added, preview.replaced) == (2, 0)
    assert [(s.ref, s.added, s.replaced) for s in preview.services] == [("jdma:115", 1, 0), ("jdma:44", 1, 0)]
    importing.import_figures(world.editor, data, stamp=preview.stamp)
    first = db.session.scalar(select(PublishedFigure).where(PublishedFigure.indicator == "satisfaction"))
    first_id, first_at = first.id, first.imported_at
    # A new publication of the same period: replaced in place; another period's figure is added.
    data = csv_bytes(row(value="8.9"), row(period='"last 3 months, scanned 2026-07-24"', value="9.0"))
    preview = importing.preview_import(world.admin, data)
    assert (preview.added, preview.replaced) == (1, 1)
    result = importing.import_figures(world.admin, data, stamp=preview.stamp)
    assert (result.added, result.replaced) == (1, 1) and count_figures() == 3
    db.session.expire_all()
    replaced = db.session.get(PublishedFigure, first_id)
    assert (replaced.value, replaced.count, replaced.imported_by_id) == (8.9, None, world.admin.id)
    assert replaced.imported_at >= first_at


@pytest.mark.parametrize("line,expected", [
    (row(ref="jdma:999"), (2, "procedure", "unknown_service")),
    (row(ref="jdma:45"), (2, "procedure", "service_not_allowed")),
    (row(value="12"), (2, "value", "out_of_range")),
    (row("satisfaction_count", "3", "count"), (2, "indicator", "count_without_figure")),
])
@pytest.mark.both_databases("app.barometer.importing")
def test_one_wrong_line_writes_nothing(world, line, expected):
    data = csv_bytes(row("comprehension", "8.8"), row("uptime", "99.9", "percent", ref="jdma:44"), line)
    expected = (expected[0] + 2, *expected[1:])
    assert errors_of(importing.preview_import(world.editor, data).errors) == [expected]
    with pytest.raises(ImportInvalid) as raised:
        importing.import_figures(world.editor, data)
    assert errors_of(raised.value.errors) == [expected]
    assert count_figures() == 0


def test_unknown_and_forbidden_services_are_named_on_each_of_their_lines(app, world):
    data = csv_bytes(row(ref="jdma:999"), row(ref="jdma:45"), row("comprehension", "8.8", ref="jdma:45"), row())
    with app.test_request_context():
        errors = importing.preview_import(world.editor, data).errors
        assert errors_of(errors) == [(2, "procedure", "unknown_service"), (3, "procedure", "service_not_allowed"),
                                     (4, "procedure", "service_not_allowed")]
        assert errors[0].text == "Aucune démarche d'Atelier n'a la référence « jdma:999 »."
        assert "« Démarche 45 »" in errors[1].text and "Organisation B" in errors[1].text
    # The other organisation's editor and admins may import it.
    assert importing.preview_import(world.other_editor, csv_bytes(row(ref="jdma:45"))).errors == []
    assert errors_of(importing.preview_import(world.admin, data).errors) == [(2, "procedure", "unknown_service")]


@pytest.mark.parametrize("who", ["citizen", "facilitator"])
def test_only_editors_and_admins_import(world, who):
    data = csv_bytes(row())
    assert not importing.can_import_figures(getattr(world, who))
    with pytest.raises(NotAllowed):
        importing.preview_import(getattr(world, who), data)
    with pytest.raises(NotAllowed):
        importing.import_figures(getattr(world, who), data)
    assert count_figures() == 0


def test_a_text_other_than_the_previewed_one_is_refused(world):
    preview = importing.preview_import(world.editor, csv_bytes(row()))
    with pytest.raises(importing.ImportChanged):
        importing.import_figures(world.editor, csv_bytes(row(value="9.9")), stamp=preview.stamp,
                                 expected_digest=preview.digest)
    assert count_figures() == 0
    importing.import_figures(world.editor, csv_bytes(row()), stamp=preview.stamp, expected_digest=preview.digest)
    assert count_figures() == 1


def test_a_preview_outdated_by_another_import_is_refused(world):
    data = csv_bytes(row())
    preview = importing.preview_import(world.editor, data)
    importing.import_figures(world.editor, data, stamp=preview.stamp)
    # The same preview confirmed twice (a double click, a second tab): refused.
    with pytest.raises(importing.ImportOutdated):
        importing.import_figures(world.editor, data, stamp=preview.stamp)
    # A figure replaced by someone else since: refused too.
    preview = importing.preview_import(world.editor, data)
    importing.import_figures(world.admin, csv_bytes(row(value="9.5")))
    with pytest.raises(importing.ImportOutdated):
        importing.import_figures(world.editor, data, stamp=preview.stamp)
    # Figures of other services do not matter.
    preview = importing.preview_import(world.editor, data)
    importing.import_figures(world.other_editor, csv_bytes(row(ref="jdma:45")))
    assert importing.import_figures(world.editor, data, stamp=preview.stamp).replaced == 1
    assert count_figures() == 2


# --- pages ---------------------------------------------------------------------------------------

def upload(client, data: bytes, filename="chiffres.csv", csrf_url=URL):
    """POST the file as a browser does (the body built here: werkzeug's test client spools a body over 500 KB to a
    temporary file it never closes)."""
    token = get_csrf(client, csrf_url)
    boundary = "atelier-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(URL, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def payload_of(html: str) -> str:
    found = re.search(r'name="payload" value="([^"]+)"', html)
    assert found, "no confirmation form"
    return found.group(1)


def test_editor_uploads_previews_then_confirms(client, world):
    login(client, world.editor.email)
    page = client.get(URL).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and "response_time_total" in page
    response = upload(client, csv_bytes(row(), row("satisfaction_count", "6125", "count"), "",
                                        row("uptime", "99.5", "percent", ref="jdma:44")))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and count_figures() == 0
    assert "<li>3 lignes lues</li>" in html and "<li>2 chiffres à ajouter</li>" in html
    assert "<li>2 démarches</li>" in html
    assert "Démarche 115" in html and "Démarche 44" in html and "edition window, scanned 2026-07-24" in html
    token = payload_of(html)
    response = client.post(CONFIRM, data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    assert count_figures() == 2
    assert "Chiffres importés — ajoutés : 2 ; remplacés : 0." in client.get(URL).get_data(as_text=True)
    # Confirming the same preview again imports nothing more.
    response = client.post(CONFIRM, data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 409 and "depuis l&#39;aperçu" in response.get_data(as_text=True)
    assert count_figures() == 2


def test_the_whole_published_file_goes_through_preview_and_confirmation(client, app):
    data = PUBLISHED_FILE.read_bytes()
    organisation = make_organisation()
    for ref in sorted({line.split(",", 1)[0] for line in data.decode().splitlines()[1:]}):
        _service(organisation, ref, f"Démarche {ref}")
    admin = make_user(admin=True, email="root@example.org")
    db.session.commit()
    login(client, admin.email)
    html = upload(client, data).get_data(as_text=True)
    token = payload_of(html)
    assert "6111 lignes lues" in html.replace("\u202f", "").replace("\xa0", "")
    assert len(token) < app.config["MAX_FORM_MEMORY_SIZE"] - 4096
    response = client.post(CONFIRM, data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 302 and count_figures() == 3387


def test_bad_file_gets_a_line_numbered_report_linked_from_the_summary_and_no_confirmation(client, world):
    login(client, world.editor.email)
    response = upload(client, csv_bytes(row(), row("happiness"), row("contact", "<b>12</b>"), row(ref="jdma:45")))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-errors"' in html and "3 erreurs" in html
    assert html.index('id="import-errors"') < html.index('id="upload-title"')
    assert re.search(r'<a href="#import-error-2">Ligne 4, value : « &lt;b&gt;12&lt;/b&gt; » n&#39;est pas un nombre',
                     html)
    assert re.search(r'<tr id="import-error-1" tabindex="-1"><td>3</td><td><code>indicator</code></td><td>Indicateur '
                     r'inconnu : « happiness »', html)
    assert re.search(r"<td>5</td><td><code>procedure</code></td><td>Vous ne pouvez pas importer", html)
    assert "<b>12" not in html and 'name="payload"' not in html and count_figures() == 0


@pytest.mark.parametrize("data,message", [
    (b"", "Le fichier est vide"),
    (b"\xff\xfe\x00", "n&#39;est pas en UTF-8"),
    (b"x" * (importing.MAX_BYTES + 1), "Le fichier dépasse 1,5 Mo"),
])
def test_unreadable_or_too_large_uploads_are_refused_with_a_clear_error(client, world, data, message):
    login(client, world.editor.email)
    response = upload(client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html and message in html
    assert 'href="#file"' in html and 'name="payload"' not in html and count_figures() == 0


def test_upload_without_a_file_is_refused(client, world):
    login(client, world.editor.email)
    response = post_form(client, URL, {})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#file"' in html and "Choisissez le fichier CSV" in html


def test_a_forged_tampered_or_borrowed_preview_is_refused(client, world):
    login(client, world.editor.email)
    html = upload(client, csv_bytes(row())).get_data(as_text=True)
    token, csrf = payload_of(html), csrf_from(html)
    with client.application.app_context():
        other_text = manage.sign_import(world.editor.id, "0", importing.digest("x"), HEADER + "\r\n" + row() + "\r\n")
        for_admin = manage.sign_import(world.admin.id, "0", "0", HEADER + "\r\n" + row() + "\r\n")
    for forged in (token[:-4] + "AAAA", token[:20] + token[21:], "", for_admin):
        response = client.post(CONFIRM, data={"csrf_token": csrf, "payload": forged})
        assert response.status_code == 422 and "L&#39;aperçu a expiré" in response.get_data(as_text=True)
    # Signed, but its text is not the one its digest names: the file changed.
    response = client.post(CONFIRM, data={"csrf_token": csrf, "payload": other_text})
    assert response.status_code == 422 and "n&#39;est pas celui de l&#39;aperçu" in response.get_data(as_text=True)
    # Without the CSRF token, neither step.
    assert client.post(CONFIRM, data={"payload": token}).status_code == 400
    assert client.post(URL, data={"file": (BytesIO(csv_bytes(row())), "c.csv")},
                       content_type="multipart/form-data").status_code == 400
    assert count_figures() == 0
    assert client.post(CONFIRM, data={"csrf_token": csrf, "payload": token}).status_code == 302
    assert count_figures() == 1


def test_the_confirmation_lists_the_lines_again_when_a_permission_changed_since_the_preview(client, world):
    login(client, world.editor.email)
    html = upload(client, csv_bytes(row())).get_data(as_text=True)
    db.session.execute(db.update(Service).where(Service.id == world.service.id)
                       .values(organisation_id=world.other_org.id))
    db.session.commit()
    response = client.post(CONFIRM, data={"csrf_token": csrf_from(html), "payload": payload_of(html)})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-errors"' in page and "Vous ne pouvez pas importer" in page
    assert count_figures() == 0


def test_import_pages_are_for_editors_and_admins(client, world):
    data = csv_bytes(row())
    assert "/compte/connexion" in client.get(URL).headers["Location"]
    login(client, world.editor.email)
    token = payload_of(upload(client, data).get_data(as_text=True))
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    for user in (world.citizen, world.facilitator):
        login(client, user.email)
        assert client.get(URL).status_code == 403
        assert upload(client, data, csrf_url="/").status_code == 403
        assert client.post(CONFIRM, data={"csrf_token": get_csrf(client, "/"), "payload": token}).status_code == 403
        post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    assert count_figures() == 0
    for user in (world.other_editor, world.admin):
        login(client, user.email)
        assert client.get(URL).status_code == 200
        post_form(client, "/compte/deconnexion", {}, csrf_url="/")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_form_preview_and_error_pages_are_valid_html(client, world, lang):
    checker, reason = nu_checker()
    login(client, world.editor.email)
    if lang == "en":
        post_form(client, "/langue", {"lang": "en", "next": "/"}, csrf_url="/")
    documents = {"form": client.get(URL).get_data(as_text=True),
                 "preview": upload(client, csv_bytes(row(), row("satisfaction_count", "6125", "count")))
                 .get_data(as_text=True),
                 "line errors": upload(client, csv_bytes(*[row(value=str(n)) for n in range(11, 23)]))
                 .get_data(as_text=True),
                 "file error": upload(client, b"").get_data(as_text=True),
                 "no file": post_form(client, URL, {}).get_data(as_text=True)}
    assert all(f'<html lang="{lang}">' in html for html in documents.values())
    # The section a service's barometer page includes, in a page of its own.
    _figure(world.service, "satisfaction", 8.8, "edition window, scanned 2026-08-22", count=6125)
    _figure(world.service, "uptime", 99.9, "last 3 months (updown.io), scanned 2026-08-22", unit="percent")
    db.session.commit()
    section = _render(client.application, latest_published(world.service.id), lang)
    assert "<table" in section
    documents["published"] = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>t</title>'
                              f"</head><body><main><h1>t</h1>{section}</main></body></html>")
    if checker is None:
        pytest.skip(reason)
    assert checker.check(documents) == []


# --- what a service shows ------------------------------------------------------------------------

def _figure(service, indicator, value, period, unit="note /10", count=None, source=SOURCE):
    found = importing.published_on(period)
    figure = PublishedFigure(service_id=service.id, period=period, published_on=found or None, indicator=indicator,
                             value=value, unit=unit, count=count, source=source)
    db.session.add(figure)
    return figure


def test_a_service_shows_the_latest_figures_of_each_period_kind(world):
    s = world.service
    _figure(s, "satisfaction", 8.1, "edition window, scanned 2026-05-18", count=5000)
    _figure(s, "comprehension", 8.0, "edition window, scanned 2026-05-18")
    _figure(s, "autonomy", 8.4, "edition window, scanned 2026-07-24", count=300)
    _figure(s, "satisfaction", 8.8, "edition window, scanned 2026-07-24", count=6125)
    _figure(s, "satisfaction", 9.0, "last 3 months, scanned 2026-07-24", count=5035)
    _figure(s, "apdex", 0.998, "last 3 months (updown.io), scanned 2026-08-22", unit="0-1")
    _figure(s, "uptime", 99.983, "last 3 months (updown.io), scanned 2026-08-22", unit="percent")
    _figure(s, "satisfaction", 7.0, "2025 annual report")
    _figure(world.service_44, "satisfaction", 5.0, "edition window, scanned 2026-08-22")
    db.session.commit()
    shown = [(f.period, f.indicator) for f in latest_published(s.id)]
    assert shown == [("edition window, scanned 2026-07-24", "satisfaction"),
                     ("edition window, scanned 2026-07-24", "autonomy"),
                     ("last 3 months, scanned 2026-07-24", "satisfaction"),
                     ("last 3 months (updown.io), scanned 2026-08-22", "uptime"),
                     ("last 3 months (updown.io), scanned 2026-08-22", "apdex"),
                     ("2025 annual report", "satisfaction")]
    assert latest_published(world.other_service.id) == []


def _render(app, published, lang="fr"):
    with app.test_request_context(), force_locale(lang):
        return render_template("barometer/_published.html", published=published)


def test_the_published_section_shows_values_in_their_units_with_source_and_date(app, world):
    s = world.service
    period = "edition window, scanned 2026-08-22"
    _figure(s, "satisfaction", 8.7894, period, count=6125)
    _figure(s, "contact_reachability", 0.7197, period, unit="ratio 0-1", count=346)
    _figure(s, "autonomy", 8.456, period, count=5978)
    updown = "last 3 months (updown.io), scanned 2026-08-22"
    _figure(s, "uptime", 99.983, updown, unit="percent", source="updown.json")
    _figure(s, "apdex", 0.998, updown, unit="0-1", source="updown.json")
    _figure(s, "response_time_total", 528, updown, unit="ms", source="updown.json")
    db.session.commit()
    html = " ".join(_render(app, latest_published(s.id)).replace("\u202f", " ").replace("\xa0", " ").split())
    assert "Chiffres publiés ailleurs" in html and "ne sont pas mélangés aux chiffres d'Atelier" in html
    assert "<caption>Période de l&#39;édition de l&#39;observatoire</caption>" in html
    assert '<th scope="row">Satisfaction</th><td>8,8 / 10</td><td>6 125</td>' in html
    assert '<th scope="row">Aide joignable</th><td>72,0 %</td><td>346</td>' in html
    assert '<th scope="row">Autonomie</th><td>84,6 %</td>' in html
    assert '<th scope="row">Disponibilité</th><td>99,983 %</td>' in html
    assert "<td>0,998</td>" in html and "<td>528 ms</td>" in html
    assert f"Publié le 22 août 2026, source : {SOURCE}" in html and "source : updown.json" in html
    english = " ".join(_render(app, latest_published(s.id), "en").replace("\xa0", " ").split())
    assert "<td>8.8 / 10</td>" in english and "<td>6,125</td>" in english and "August 22, 2026" in english
    assert _render(app, []).strip() == ""


# --- two imports at once (real threads, SQLite and PostgreSQL) -----------------------------------

N = 4
CONCURRENT = csv_bytes(row(), row("satisfaction_count", "6125", "count"), row("comprehension", "8.8"),
                       row("uptime", "99.9", "percent", ref="jdma:44"))
threads_app = threads_app_fixture(N, name="threads_app")


@pytest.mark.both_databases("app.barometer.importing")
def test_one_preview_confirmed_at_once_from_several_tabs_imports_once_and_refuses_the_others(threads_app):
    world = World()
    clients = [threads_app.test_client() for _ in range(N)]
    for client in clients:
        login(client, world.editor.email)
    html = upload(clients[0], CONCURRENT).get_data(as_text=True)
    token = payload_of(html)
    tokens = [get_csrf(client, URL) for client in clients]

    def job_for(i):
        def job(barrier):
            barrier.wait()
            response = clients[i].post(CONFIRM, data={"csrf_token": tokens[i], "payload": token})
            return response.status_code, response.get_data(as_text=True)
        return job

    results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    assert errors == []
    assert sorted(status for status, _html in results) == [302] + [409] * (N - 1)
    for status, page in results:
        if status == 409:  # the import page, with the refusal in its error summary
            assert 'id="error-summary"' in page and "rien n&#39;a été importé" in page
            assert "depuis l&#39;aperçu" in page or "au même moment" in page
    db.session.rollback()
    keys = db.session.execute(select(PublishedFigure.service_id, PublishedFigure.period, PublishedFigure.indicator)
                              ).all()
    assert len(keys) == len(set(keys)) == 3


@pytest.mark.both_databases("app.barometer.importing")
def test_two_imports_of_one_file_at_once_leave_one_row_per_figure(threads_app):
    world = World()
    user_ids = [world.editor.id, world.admin.id]

    def job_for(i):
        def job(barrier):
            from app.accounts.models import User

            user = db.session.get(User, user_ids[i % 2])
            user.memberships  # noqa: B018 - loaded before the race, as a request loads the signed-in user
            db.session.rollback()
            barrier.wait()
            return importing.import_figures(user, CONCURRENT)
        return job

    results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    # Whoever comes second either replaces what the first wrote (it saw it) or, inserting the same figures at the
    # same moment, is refused whole by the unique constraint: never a second row, never another error.
    assert all(isinstance(exc, importing.ImportConflict) for _i, exc in errors), errors
    assert len([r for r in results if r is not None]) >= 1
    db.session.rollback()
    keys = db.session.execute(select(PublishedFigure.service_id, PublishedFigure.period, PublishedFigure.indicator)
                              ).all()
    assert len(keys) == len(set(keys)) == 3
    assert db.session.scalar(select(PublishedFigure.count).where(PublishedFigure.indicator == "satisfaction")) == 6125
