"""CSV exports that open safely in spreadsheets (French settings: ';' separator, UTF-8 with BOM).

A cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some spreadsheets
skip before reading a formula) is run as a formula when the file is opened: a participant named
``=HYPERLINK("http://evil", "clic")`` would put a live link, or worse, in the facilitator's spreadsheet.
Such cells get a leading apostrophe, which spreadsheets read as "this is text" (OWASP "CSV injection").
"""

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DELIMITER = ";"


def safe_cell(value) -> str | int | float:
    """The value as a cell that cannot be read as a formula (numbers are kept as numbers)."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    # Leading spaces or line breaks do not protect: some spreadsheets strip them before parsing.
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip(" \n\t\r").startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def write_csv(rows: Iterable[Sequence], header: Sequence) -> bytes:
    """A whole CSV file as bytes: BOM (so Excel reads UTF-8), ';' separated, CRLF, every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
