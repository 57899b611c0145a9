"""CSV exports: cells that a spreadsheet would run as formulas are neutralised; French spreadsheet format."""

import csv
import io

import pytest

from app.csvsafe import safe_cell, write_csv


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://evil.example","clic")', "+33 6 12 34 56 78", "-2+3", "@SUM(A1:A9)", "\t=1+1",
    "\r=1+1", "=", " =1+1", "\n@x",
])
def test_formula_cells_get_a_leading_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(("value", "expected"), [
    ("Camille Martin", "Camille Martin"), ("a=b", "a=b"), ("", ""), (None, ""), ("'déjà protégé", "'déjà protégé"),
    ("Émilie — 2 ans", "Émilie — 2 ans"),
])
def test_plain_text_is_kept(value, expected):
    assert safe_cell(value) == expected


def test_numbers_stay_numbers_and_other_values_become_text():
    assert safe_cell(3) == 3 and safe_cell(-2) == -2 and safe_cell(1.5) == 1.5
    assert safe_cell(True) == "True"

    class Lazy:  # a lazy translation string, for instance
        def __str__(self):
            return "=Piège"

    assert safe_cell(Lazy()) == "'=Piège"


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_write_csv_is_utf8_with_bom_semicolons_and_crlf():
    data = write_csv([["Zoé", 2]], ["Nom", "Places"])
    assert data.startswith("\ufeff".encode())
    assert data == "\ufeffNom;Places\r\nZoé;2\r\n".encode()


def test_write_csv_quotes_separators_quotes_and_line_breaks():
    rows = [["a;b", 'il a dit "oui"', "ligne 1\nligne 2"]]
    assert _read(write_csv(rows, ["x", "y", "z"]))[1] == rows[0]


def test_write_csv_neutralises_every_cell_header_included():
    data = write_csv([['=HYPERLINK("http://evil.example","clic")', "@x", "ok", None]], ["=Nom", "b", "c", "d"])
    header, row = _read(data)
    assert header == ["'=Nom", "b", "c", "d"]
    assert row == ["'=HYPERLINK(\"http://evil.example\",\"clic\")", "'@x", "ok", ""]


def test_write_csv_accepts_any_iterable_of_rows():
    assert _read(write_csv(([n, f"p{n}"] for n in range(3)), ("n", "p")))[1:] == [["0", "p0"], ["1", "p1"],
                                                                                 ["2", "p2"]]



@pytest.mark.parametrize(("value", "expected"), [
    ("\u00a0=1+1", "'\u00a0=1+1"),  # a no-break space, skipped like a space
    ("\u200b@x", "'\u200b@x"),  # a zero-width space
    ("\u2003-2+3", "'\u2003-2+3"),  # an em space
    ("Idées :\n- une\n- deux", "Idées :\n- une\n- deux"),  # text inside a cell stays as typed
    ("a, b; c", "a, b; c"), ("Oui, 3 personnes", "Oui, 3 personnes"),
])
def test_a_cell_starting_with_a_formula_after_skipped_characters_is_neutralised(value, expected):
    assert safe_cell(value) == expected
