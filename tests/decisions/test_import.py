"""Importing measures and milestones from CSV: reading files as French spreadsheets write them (pure), the
all-or-nothing import on SQLite and PostgreSQL with its refusal twins, and the upload -> preview -> confirm
pages."""

import re
from datetime import date
from io import BytesIO

import pytest
from sqlalchemy import func, select, update

from app.clock import utcnow
from app.decisions import importing, measures, service
from app.decisions.models import Measure, MeasureProposal, MeasureStatus, Milestone
from app.errors import NotAllowed
from app.extensions import db
from app.notifications.models import Notification
from app.proposals.models import Proposal, ProposalState
from tests.conftest import csrf_from, get_csrf, login, post_form
from tests.decisions.helpers import World, make_proposal

HEADER = "mesure;statut;avancement;raison_abandon;description;propositions;jalon;date_prevue;date_realisee"


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8", bom: bool = False) -> bytes:
    data = "\r\n".join([header, *rows]) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + data.encode(encoding)


def errors_of(parsed) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.column, e.code) for e in parsed.errors]


# --- reading files (pure) ------------------------------------------------------------------------

def test_rows_with_the_same_title_make_one_measure_with_its_milestones():
    parsed = importing.parse(csv_bytes(
        "Adresse unique;En cours;40 %;;Tous **prévenus**.;12 14;Marché public;15/01/2027;20/01/2027",
        "  adresse   UNIQUE ;;;;;14, 15;Mise en service;2027-06-01;",
        "Guichet fermé;Abandonnée;10;La loi a changé.;;;;;",
        "Carte grise en ligne;réalisée;;;;;;;"))
    assert parsed.errors == [] and (parsed.delimiter, parsed.encoding, parsed.rows) == (";", "utf-8", 4)
    first, abandoned, done = parsed.measures
    assert (first.line, first.title, first.status, first.progress) == (2, "Adresse unique", MeasureStatus.in_progress,
                                                                       40)
    assert first.description == "Tous **prévenus**." and first.proposal_ids == [12, 14, 15]
    assert [(m.line, m.title, m.planned_on, m.done_on) for m in first.milestones] == [
        (2, "Marché public", date(2027, 1, 15), date(2027, 1, 20)), (3, "Mise en service", date(2027, 6, 1), None)]
    assert (abandoned.status, abandoned.progress, abandoned.abandon_reason) == (MeasureStatus.abandoned, 10,
                                                                                "La loi a changé.")
    # Said done without a figure: done entirely.
    assert (done.status, done.progress, done.milestones) == (MeasureStatus.implemented, 100, [])
    assert parsed.milestone_count == 2


@pytest.mark.parametrize("cell,expected", [
    ("40", 40), ("40 %", 40), ("40%", 40), ("40\u00a0%", 40), ("40\u202f%", 40), ("40,5", 41), ("40,5 %", 41),
    ("40.4%", 40), ("100,00 %", 100), ("0,2", 0), ("99,5", 100),
])
def test_progress_as_french_spreadsheets_write_it_is_read_and_rounded(cell, expected):
    """« 40 % » with the no-break spaces of LibreOffice and Excel, decimal commas, rounded half up."""
    parsed = importing.parse(csv_bytes(f"Mesure;En cours;{cell};;;;;;"))
    assert parsed.errors == [] and parsed.measures[0].progress == expected


@pytest.mark.parametrize("cell,code", [("100,5", "progress_out_of_range"), ("-0,5", "progress_out_of_range"),
                                       ("40,5,1", "progress_not_a_number"), ("quarante", "progress_not_a_number"),
                                       ("1 000", "progress_not_a_number")])
def test_progress_outside_0_to_100_or_not_a_number_is_refused(cell, code):
    """Refusal twin: rounding never brings a value from outside 0..100 in."""
    assert errors_of(importing.parse(csv_bytes(f"Mesure;En cours;{cell};;;;;;"))) == [(2, "avancement", code)]


def test_a_file_exported_with_app_csvsafe_reads_back_without_its_apostrophes():
    """csvsafe escapes every text starting with = + - @ (« - point », « -5 » too): the import takes them all off."""
    from app.csvsafe import safe_cell

    description, reason = "- premier point\n- second point", "-5 % de budget"
    data = csv_bytes(";".join(['"' + str(safe_cell(v)).replace('"', '""') + '"' for v in (
        "+ de guichets", "Abandonnée", "", reason, description, "", "", "", "")]))
    parsed = importing.parse(data)
    assert parsed.errors == []
    measure = parsed.measures[0]
    assert (measure.title, measure.abandon_reason, measure.description) == ("+ de guichets", reason, description)


def test_comma_separated_file_with_quoted_cells_is_read():
    header = HEADER.replace(";", ",")
    parsed = importing.parse(csv_bytes('"Adresse, unique",Prévue,0,,"Une ligne\npuis une autre","3, 4",,,',
                                       header=header))
    assert parsed.delimiter == "," and parsed.errors == []
    assert (parsed.measures[0].title, parsed.measures[0].description, parsed.measures[0].proposal_ids) == (
        "Adresse, unique", "Une ligne\npuis une autre", [3, 4])


def test_a_header_without_separator_is_read_as_semicolon():
    parsed = importing.parse(b"mesure\r\nUne mesure\r\n")
    assert parsed.delimiter == ";" and [m.title for m in parsed.measures] == ["Une mesure"]


@pytest.mark.parametrize("encoding,bom,expected", [("utf-8", True, "utf-8-sig"), ("utf-8", False, "utf-8"),
                                                   ("cp1252", False, "cp1252")])
def test_utf8_with_or_without_bom_and_windows_1252(encoding, bom, expected):
    data = csv_bytes("Préfecture « zéro papier » — œuvre;Prévue;;;;;Étape n°1;01/02/2027;",
                     header="Mesure;Statut;Avancement;Raison de l'abandon;Description;Propositions;Jalon;"
                            "Date prévue;Date réalisée", encoding=encoding, bom=bom)
    parsed = importing.parse(data)
    assert parsed.encoding == expected and parsed.errors == []
    assert parsed.measures[0].title == "Préfecture « zéro papier » — œuvre"
    assert parsed.measures[0].milestones[0].title == "Étape n°1"


def test_french_headers_are_matched_without_case_accents_or_punctuation_and_unknown_ones_ignored():
    parsed = importing.parse(csv_bytes("Une mesure;en cours;25;03/03/2027;Jalon;À faire",
                                       header="MESURE ; État ; Avancement (%) ; Date prévue ; jalon ; Commentaire"))
    assert parsed.errors == [] and parsed.ignored_columns == ["Commentaire"]
    measure = parsed.measures[0]
    assert (measure.status, measure.progress, measure.milestones[0].planned_on) == (MeasureStatus.in_progress, 25,
                                                                                    date(2027, 3, 3))


def test_formula_cells_are_refused_and_text_escaped_with_an_apostrophe_is_kept():
    parsed = importing.parse(csv_bytes('"=HYPERLINK(""http://evil"";""clic"")";;;;;;;;',
                                       "Mesure;;;;@SUM(A1);;;;",
                                       "Autre;;;;-cmd|' /C calc'!A0;;;;",
                                       "'=1+1 est un titre;;;;\"- une liste\n- à puces\";;;;"))
    assert errors_of(parsed) == [(2, "mesure", "formula"), (3, "description", "formula"),
                                 (4, "description", "formula")]
    assert [m.title for m in parsed.measures] == ["Mesure", "Autre", "=1+1 est un titre"]
    assert parsed.measures[2].description == "- une liste\n- à puces"


@pytest.mark.parametrize("data,error", [
    (b"", importing.FileEmpty), (b"\r\n \r\n", importing.FileEmpty),
    (HEADER.encode() + b"\r\n;;;;;;;;\r\n", importing.NoRows),
    (b"titre_inconnu;statut\r\nUne mesure;Prevue\r\n", importing.MissingColumns),
    (b"mesure;jalon\r\nUne mesure;Un jalon\r\n", importing.MissingColumns),
    (b"mesure;statut;Statut\r\nUne mesure;;\r\n", importing.DuplicateColumn),
    ("mesure\r\nUne mesure\r\n".encode("utf-16"), importing.Unreadable),
    (b"PK\x03\x04\x00\x00mesure", importing.Unreadable),
    (b"mesure\r\nUne \x81 mesure\r\n", importing.Unreadable),  # neither UTF-8 nor Windows-1252
])
def test_files_that_cannot_be_read_are_refused_whole(data, error):
    with pytest.raises(error):
        importing.parse(data)


def test_missing_columns_are_named(app):
    with pytest.raises(importing.MissingColumns) as raised:
        importing.parse(b"titre_inconnu;statut\r\nUne mesure;Prevue\r\n")
    assert "Colonne manquante : mesure" in str(raised.value.message)


def test_too_large_file_and_too_many_rows_are_refused_with_a_clear_error(app):
    with pytest.raises(importing.FileTooLarge) as raised:
        importing.parse(csv_bytes(*["Mesure;;;;" + "x" * 1000 + ";;;;"] * 300))
    assert f"{importing.MAX_BYTES // 1024} Ko" in str(raised.value.message)
    with pytest.raises(importing.TooManyRows):
        importing.parse(csv_bytes(*[f"Mesure {n}" for n in range(importing.MAX_ROWS + 1)], header="mesure"))
    assert len(importing.parse(csv_bytes(*[f"M {n}" for n in range(importing.MAX_ROWS)], header="mesure"))
               .measures) == importing.MAX_ROWS


@pytest.mark.parametrize("value", ["31/02/2027", "2027/13/01", "demain", "01/01/27", "15/13/2027", "0001-01-01"])
def test_bad_dates_are_reported_on_their_row_and_column(value):
    parsed = importing.parse(csv_bytes("Mesure;;;;;;Jalon;01/01/2027;", f"Mesure;;;;;;Autre jalon;{value};",
                                       f"Mesure;;;;;;Troisième;01/01/2027;{value}"))
    assert errors_of(parsed) == [(3, "date_prevue", "bad_date"), (4, "date_realisee", "bad_date")]


@pytest.mark.parametrize("value", ["01/02/2027", "1/2/2027", "01.02.2027", "2027-02-01", "01/02/2027 00:00"])
def test_french_and_iso_dates_are_accepted(value):
    assert importing.parse(csv_bytes(f"Mesure;;;;;;Jalon;{value};")).measures[0].milestones[0].planned_on == \
        date(2027, 2, 1)


def test_row_errors_are_listed_with_row_column_and_code():
    parsed = importing.parse(csv_bytes(
        "Mesure A;En pause;;;;;;;",  # 2: unknown status
        "Mesure B;Abandonnée;;;;;;;",  # 3: abandoned without a reason
        "Mesure C;;101;;;;;;",  # 4: progress out of range
        "Mesure D;;-5;;;;;;",  # 5
        "Mesure E;;beaucoup;;;;;;",  # 6
        "Mesure F;;;;;12 abc;;;",  # 7: not a proposal number
        ";;;;;;Jalon orphelin;01/01/2027;",  # 8: no measure title
        "Mesure G;;;;;;Jalon sans date;;",  # 9
        "Mesure H;;;;;;;01/01/2027;",  # 10: a date without a milestone
        "Mesure I;Prévue;;Pas abandonnée;;;;;",  # 11: a reason for a measure not abandoned
        "Mesure A;Réalisée;;;;;;;",  # 12: unknown status again, then contradicts nothing (row 2 set none)
        "Mesure C;;50;;;;;;",  # 13: fine (row 4 set no valid value)
        "Mesure C;;60;;;;;;",  # 14: contradicts row 13
        "Mesure J;;;;;;;;;extra",  # 15: more cells than headers
        ("X" * 201) + ";;;;;;;;",  # 16: too long
    ))
    assert errors_of(parsed) == [
        (2, "statut", "unknown_status"), (3, "raison_abandon", "abandon_reason_required"),
        (4, "avancement", "progress_out_of_range"), (5, "avancement", "progress_out_of_range"),
        (6, "avancement", "progress_not_a_number"), (7, "propositions", "proposal_not_a_number"),
        (8, "mesure", "title_required"), (9, "date_prevue", "date_required"), (10, "jalon", "milestone_title_required"),
        (11, "raison_abandon", "reason_not_abandoned"), (14, "avancement", "conflicting_value"),
        (15, None, "extra_cell"), (16, "mesure", "too_long")]


def test_limits_are_those_of_the_measure_forms():
    assert (importing.TITLE_MAX, importing.BODY_MAX, importing.REASON_MAX) == (measures.TITLE_MAX, service.BODY_MAX,
                                                                               service.REASON_MAX)


def test_row_numbers_are_spreadsheet_rows_blank_rows_included():
    parsed = importing.parse(csv_bytes(";;;;;;;;", "Mesure;Inconnu;;;;;;;"))
    assert errors_of(parsed) == [(3, "statut", "unknown_status")]


# --- import service (SQLite and PostgreSQL) ------------------------------------------------------

@pytest.fixture
def world(app):
    return World()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.both_databases("app.decisions.measures")
def test_editor_imports_measures_milestones_and_their_proposals(world):
    first, second = make_proposal(world, title="Première"), make_proposal(world, ProposalState.selected,
                                                                           title="Seconde")
    data = csv_bytes(f"Adresse unique;En cours;40;;Tous **prévenus**.;{first.id};Marché;15/01/2027;20/01/2027",
                     f"Adresse unique;;;;;{second.id};Mise en service;01/06/2027;",
                     "Guichet fermé;Abandonnée;10;La loi a changé.;;;;;", encoding="cp1252")
    preview = measures.preview_measure_import(world.organisation, world.editor, data)
    assert preview.errors == [] and set(preview.proposals) == {first.id, second.id} and count(Measure) == 0
    created = measures.import_measures(world.organisation, world.editor, data, stamp=preview.stamp)
    adresse, guichet = (db.session.get(Measure, m.id, populate_existing=True) for m in created)
    assert (adresse.title, adresse.status, adresse.progress, adresse.description_md) == (
        "Adresse unique", MeasureStatus.in_progress, 40, "Tous **prévenus**.")
    assert adresse.organisation_id == world.organisation.id and adresse.created_by_id == world.editor.id
    assert [p.id for p in adresse.proposals] == [first.id, second.id]
    assert [(m.title, m.planned_on, m.done_on) for m in adresse.milestones] == [
        ("Marché", date(2027, 1, 15), date(2027, 1, 20)), ("Mise en service", date(2027, 6, 1), None)]
    assert (guichet.status, guichet.abandon_reason, guichet.milestones) == (MeasureStatus.abandoned,
                                                                            "La loi a changé.", [])
    assert [m.id for m in measures.measures_of_proposal(first.id)] == [adresse.id]
    # The author of the proposals is told, once per measure fed by them, as when a measure is created by hand.
    told = db.session.scalars(select(Notification.url).where(Notification.user_id == world.author.id,
                                                             Notification.kind == "measure_created")).all()
    assert told == [f"/decisions/mesures/{adresse.id}"]


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_import(world, who):
    data = csv_bytes("Mesure;;;;;;;;")
    with pytest.raises(NotAllowed):
        measures.preview_measure_import(world.organisation, getattr(world, who), data)
    with pytest.raises(NotAllowed):
        measures.import_measures(world.organisation, getattr(world, who), data)
    assert count(Measure) == 0
    assert len(measures.import_measures(world.organisation, world.admin, data)) == 1


@pytest.mark.parametrize("case", ["missing", "other_organisation", "draft", "withdrawn", "hidden"])
def test_proposals_must_be_public_proposals_of_the_organisation(world, case):
    if case == "missing":
        proposal_id = 999999
    elif case == "hidden":
        proposal_id = make_proposal(world).id
        db.session.execute(update(Proposal).where(Proposal.id == proposal_id).values(hidden_at=utcnow()))
        db.session.commit()
    elif case == "other_organisation":
        proposal_id = make_proposal(world, organisation=world.other_organisation).id
    else:
        proposal_id = make_proposal(world, ProposalState[case]).id
    good = make_proposal(world, title="Bonne")
    data = csv_bytes(f"Mesure A;;;;;{good.id};;;", "Mesure B;;;;;;;;", f"Mesure B;;;;;{proposal_id};;;")
    preview = measures.preview_measure_import(world.organisation, world.editor, data)
    assert [(e.line, e.column, e.code) for e in preview.errors] == [(4, "propositions", "proposal_not_linkable")]
    with pytest.raises(measures.ImportInvalid) as raised:
        measures.import_measures(world.organisation, world.editor, data)
    assert [e.line for e in raised.value.errors] == [4]
    assert count(Measure) == 0 and count(MeasureProposal) == 0


@pytest.mark.both_databases("app.decisions.measures")
def test_nothing_is_written_when_one_line_is_bad(world):
    rows = [f"Mesure {n};En cours;{n};;;;Jalon {n};01/01/2027;" for n in range(1, 30)]
    data = csv_bytes(*rows, "Mesure 30;En cours;30;;;;Jalon;31/02/2027;")
    with pytest.raises(measures.ImportInvalid) as raised:
        measures.import_measures(world.organisation, world.editor, data)
    assert [(e.line, e.column) for e in raised.value.errors] == [(31, "date_prevue")]
    assert count(Measure) == 0 and count(Milestone) == 0


def test_files_that_cannot_be_read_write_nothing(world):
    for data in (b"", csv_bytes(";;;;;;;;"), b"nom;prenom\r\nA;B\r\n"):
        with pytest.raises(importing.ImportFileInvalid):
            measures.import_measures(world.organisation, world.editor, data)
    assert count(Measure) == 0


def test_proposals_are_checked_again_at_import(world):
    proposal = make_proposal(world)
    data = csv_bytes(f"Mesure;;;;;{proposal.id};;;")
    preview = measures.preview_measure_import(world.organisation, world.editor, data)
    assert preview.errors == []
    # Withdrawn between the preview and the confirmation.
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.withdrawn))
    db.session.commit()
    with pytest.raises(measures.ImportInvalid):
        measures.import_measures(world.organisation, world.editor, data, stamp=preview.stamp)
    assert count(Measure) == 0


def test_confirmation_is_refused_once_measures_were_created_since_the_preview(world):
    data = csv_bytes("Mesure;;;;;;;;")
    preview = measures.preview_measure_import(world.organisation, world.editor, data)
    measures.import_measures(world.organisation, world.editor, data, stamp=preview.stamp)
    # The same preview confirmed twice (a double click, a second tab) does not import twice.
    with pytest.raises(measures.ImportOutdated):
        measures.import_measures(world.organisation, world.editor, data, stamp=preview.stamp)
    assert count(Measure) == 1
    # Measures of another organisation do not matter.
    preview = measures.preview_measure_import(world.organisation, world.editor, data)
    measures.create_measure(world.other_organisation, world.other_editor, title="Ailleurs")
    assert len(measures.import_measures(world.organisation, world.editor, data, stamp=preview.stamp)) == 1


# --- pages ---------------------------------------------------------------------------------------

def upload(client, url, data: bytes, filename="mesures.csv", csrf_url=None):
    """POST the file as a browser does. The body is built here: werkzeug's test client spools a body over 500 KB
    to a temporary file it never closes (an unraisable ResourceWarning under filterwarnings=error)."""
    token = get_csrf(client, csrf_url or url)
    boundary = "atelier-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def payload_of(html: str) -> str:
    found = re.search(r'name="payload" value="([^"]+)"', html)
    assert found, "no confirmation form"
    return found.group(1)


def import_url(world, organisation=None) -> str:
    return f"/decisions/organisations/{(organisation or world.organisation).id}/mesures/import"


def test_editor_uploads_previews_then_confirms(client, world):
    proposal = make_proposal(world, title="Déclarer une seule fois")
    login(client, world.editor.email)
    assert import_url(world) in client.get(f"/decisions/organisations/{world.organisation.id}/a-repondre") \
        .get_data(as_text=True)
    page = client.get(import_url(world)).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and "/decisions/mesures/modele-import.csv" in page
    response = upload(client, import_url(world), csv_bytes(
        f"Préfecture sans papier;En cours;40;;;{proposal.id};Marché;15/01/2027;",
        "Préfecture sans papier;;;;;;Mise en service;01/06/2027;", encoding="cp1252"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and count(Measure) == 0
    assert "Préfecture sans papier" in html and "Déclarer une seule fois" in html and "Mise en service" in html
    assert "1 mesure sera créée" in html and "avec 2 jalons." in html
    token = payload_of(html)
    response = client.post(f"{import_url(world)}/confirmer", data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/decisions/organisations/{world.organisation.id}/a-repondre")
    measure = db.session.scalar(select(Measure))
    assert measure.title == "Préfecture sans papier" and len(measure.milestones) == 2
    assert [p.id for p in measure.proposals] == [proposal.id]
    assert "1 mesure importée." in client.get(response.headers["Location"]).get_data(as_text=True)
    # Confirming the same preview again imports nothing more.
    response = client.post(f"{import_url(world)}/confirmer", data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 409 and "depuis l&#39;aperçu" in response.get_data(as_text=True)
    assert count(Measure) == 1


def test_confirmation_lists_the_rows_again_when_a_proposal_changed_since_the_preview(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    html = upload(client, import_url(world), csv_bytes(f"Mesure;;;;;{proposal.id};;;")).get_data(as_text=True)
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.withdrawn))
    response = client.post(f"{import_url(world)}/confirmer",
                           data={"csrf_token": csrf_from(html), "payload": payload_of(html)})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-errors"' in page
    assert re.search(rf"<td>2</td><td><code>propositions</code></td><td>La proposition n° {proposal.id} n&#39;existe "
                     r"pas ou n&#39;est pas une proposition publique", page)
    assert 'name="payload"' not in page and count(Measure) == 0


def test_the_preview_escapes_what_the_file_says(client, world):
    login(client, world.editor.email)
    html = upload(client, import_url(world), csv_bytes("<i>M</i>;;;;;;<i>J</i>;01/01/2027;",
                                                       header=HEADER + ";<b>x</b>")).get_data(as_text=True)
    assert "&lt;i&gt;M&lt;/i&gt;" in html and "&lt;i&gt;J&lt;/i&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<i>" not in html and "<b>x" not in html


def test_bad_csv_gets_a_per_line_report_and_no_confirmation(client, world):
    login(client, world.editor.email)
    response = upload(client, import_url(world), csv_bytes("Mesure A;;;;;;;;", "Mesure B;Abandonnée;;;;;;;",
                                                           "Mesure C;;;;;;Jalon;31/02/2027;",
                                                           "Mesure D;;;;;<b>12</b>;;;"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="import-errors"' in html and "4 erreurs" in html
    # The cell quoted in the message is escaped like any user text.
    assert "« &lt;b&gt;12&lt; » n&#39;est pas un numéro" in html and "<b>12" not in html
    assert re.search(r"<td>3</td><td><code>raison_abandon</code></td><td>Indiquez pourquoi la mesure est "
                     r"abandonnée", html)
    assert re.search(r"<td>4</td><td><code>date_prevue</code></td><td>Date non reconnue", html)
    assert 'name="payload"' not in html and count(Measure) == 0


@pytest.mark.parametrize("data,message", [
    (b"", "Le fichier est vide"),
    (b"nom;prenom\r\nA;B\r\n", "Colonne manquante : mesure"),
    (b"x" * (importing.MAX_BYTES + 1), f"Le fichier dépasse {importing.MAX_BYTES // 1024} Ko"),
])
def test_unreadable_or_too_large_uploads_are_refused_with_a_clear_error(client, world, data, message):
    login(client, world.editor.email)
    response = upload(client, import_url(world), data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html and message in html
    assert 'name="payload"' not in html and count(Measure) == 0


def test_the_largest_file_that_does_not_compress_goes_through_preview_and_confirmation(client, world):
    import random

    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éèàçùâêîôûëïüœÉÈÀÇ.!?'()[]{}#&$*/<>"
    rng, rows, size = random.Random(6), [], len(HEADER) + 2
    while True:
        row = f"Mesure {len(rows)};;;;{''.join(rng.choice(alphabet) for _ in range(5000))};;;;"
        if size + len(row.encode()) + 2 > importing.MAX_BYTES:
            break
        rows.append(row)
        size += len(row.encode()) + 2
    data = csv_bytes(*rows)
    assert importing.MAX_BYTES - 8000 < len(data) <= importing.MAX_BYTES
    login(client, world.editor.email)
    html = upload(client, import_url(world), data).get_data(as_text=True)
    token = payload_of(html)
    assert len(token) < client.application.config["MAX_FORM_MEMORY_SIZE"] - 4096
    response = client.post(f"{import_url(world)}/confirmer", data={"csrf_token": csrf_from(html), "payload": token})
    assert response.status_code == 302 and count(Measure) == len(rows)


def test_a_windows_1252_file_just_under_the_limit_is_confirmed_though_longer_in_utf_8(client, world):
    """The confirmation reads the text the preview decoded: re-encoded in UTF-8 (« é » 2 bytes, « ’ » 3), this
    file is over the limit, and was refused at confirmation after a clean preview."""
    text = "Démarche réglée à l’échéance, déjà prévue : ça évite l’attente. " * 60
    rows = []
    while len(csv_bytes(*rows, f"Mesure {len(rows)};;;;{text};;;;", encoding="cp1252")) <= importing.MAX_BYTES:
        rows.append(f"Mesure {len(rows)};;;;{text};;;;")
    data = csv_bytes(*rows, encoding="cp1252")
    assert len(data) > importing.MAX_BYTES - 5000 and len(data.decode("cp1252").encode()) > importing.MAX_BYTES
    login(client, world.editor.email)
    html = upload(client, import_url(world), data).get_data(as_text=True)
    response = client.post(f"{import_url(world)}/confirmer",
                           data={"csrf_token": csrf_from(html), "payload": payload_of(html)})
    assert response.status_code == 302 and count(Measure) == len(rows)
    assert db.session.scalar(select(Measure.description_md).where(Measure.title == "Mesure 0")) == text.strip()


def test_upload_without_a_file_is_refused(client, world):
    login(client, world.editor.email)
    response = post_form(client, import_url(world), {})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#file"' in html and "Choisissez le fichier CSV" in html


def _sign_hours_ago(hours: float, payload: dict) -> str:
    """A preview token as ``routes.sign_import`` makes it, but dated ``hours`` ago (itsdangerous' own clock hook)."""
    import time

    from flask import current_app
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from app.decisions.routes import IMPORT_SALT

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - hours * 3600)

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=IMPORT_SALT, signer=Earlier).dumps(payload)


def test_a_forged_expired_or_borrowed_preview_is_refused(client, world):
    from app.accounts.models import User
    from app.catalog.models import Role
    from app.decisions.routes import sign_import
    from tests.factories import make_member

    colleague = make_member(world.organisation, Role.editor, email="collegue@example.org")
    db.session.commit()
    login(client, world.editor.email)
    html = upload(client, import_url(world), csv_bytes("Mesure;;;;;;;;")).get_data(as_text=True)
    token, csrf = payload_of(html), csrf_from(html)
    confirm = f"{import_url(world)}/confirmer"
    with client.application.app_context():
        for_other_org = sign_import(world.other_organisation.id, world.editor.id, 0, HEADER + "\r\nMesure\r\n")
        expired = _sign_hours_ago(2, {"o": world.organisation.id, "u": world.editor.id, "s": 0,
                                      "t": HEADER + "\r\nMesure\r\n"})
        on_time = _sign_hours_ago(0.5, {"o": world.organisation.id, "u": world.editor.id, "s": 0,
                                        "t": HEADER + "\r\nMesure\r\n"})
    for forged in (token[:-4] + "AAAA", for_other_org, "", expired):
        response = client.post(confirm, data={"csrf_token": csrf, "payload": forged})
        assert response.status_code == 422 and "L&#39;aperçu a expiré" in response.get_data(as_text=True)
    # Without the CSRF token, neither step.
    assert client.post(confirm, data={"payload": token}).status_code == 400
    assert client.post(import_url(world), data={"file": (BytesIO(b"mesure\r\nX\r\n"), "m.csv")},
                       content_type="multipart/form-data").status_code == 400
    assert count(Measure) == 0
    # Twin of the expired one: half an hour old, it still imports.
    assert client.post(confirm, data={"csrf_token": csrf, "payload": on_time}).status_code == 302
    assert count(Measure) == 1
    # The token is the editor's: a colleague cannot replay it.
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    login(client, db.session.get(User, colleague.id).email)
    response = post_form(client, confirm, {"payload": token}, csrf_url=import_url(world))
    assert response.status_code == 422 and count(Measure) == 1


def test_import_pages_need_the_organisations_editor_role(client, world):
    data = csv_bytes("Mesure;;;;;;;;")
    confirm = f"{import_url(world)}/confirmer"
    # Signed out: the login page.
    assert "/compte/connexion" in client.get(import_url(world)).headers["Location"]
    # Citizens, facilitators and other organisations' editors: refused, even with a valid preview in hand.
    login(client, world.editor.email)
    html = upload(client, import_url(world), data).get_data(as_text=True)
    token = payload_of(html)
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    for user in (world.citizen, world.facilitator, world.other_editor):
        login(client, user.email)
        assert client.get(import_url(world)).status_code == 403
        assert upload(client, import_url(world), data, csrf_url="/").status_code == 403
        token_csrf = get_csrf(client, "/")
        assert client.post(confirm, data={"csrf_token": token_csrf, "payload": token}).status_code == 403
        post_form(client, "/compte/deconnexion", {}, csrf_url="/")
    assert count(Measure) == 0
    # The other organisation's editor imports into their own organisation only.
    login(client, world.other_editor.email)
    assert client.get(import_url(world, world.other_organisation)).status_code == 200


def test_template_csv_has_the_headers_as_spreadsheets_open_it(client, world):
    response = client.get("/decisions/mesures/modele-import.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data == b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n"
    # The template, filled in, imports.
    parsed = importing.parse(response.data + "Une mesure;Prévue;0;;;;Jalon;01/01/2027;\r\n".encode())
    assert parsed.errors == [] and parsed.measures[0].milestones[0].title == "Jalon"
