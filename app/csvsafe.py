"""CSV exports that open safely in spreadsheets (French settings: ';' separator, UTF-8 with BOM).

A cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some spreadsheets
skip before reading a formula) is run as a formula when the file is opened: a participant named
``=HYPERLINK("http://evil", "clic")`` would put a live link, or worse, in the facilitator's spreadsheet.
Such cells get a leading apostrophe, which spreadsheets read as "this is text" (OWASP "CSV injection").

Leading characters a spreadsheet may skip before it looks for a formula (any Unicode space, the no-break space
included, and the zero-width characters) do not protect a cell either: it gets the apostrophe too. The text inside
a cell is left as typed (a line starting with "- " in a proposal stays so): the file is read with its own separator
and quoting, where no new cell starts inside ours.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DELIMITER = ";"
# Skipped by some spreadsheets before they look for a formula: whitespace (Unicode's, no-break space included)
# and the zero-width characters.
_SKIPPED = r"[\s\u200b-\u200d\u2060\ufeff]*"
_LEADING = re.compile(_SKIPPED + r"[=+\-@]")


def safe_cell(value) -> str | int | float:
    """The value as a cell that cannot be read as a formula (numbers are kept as numbers)."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    # Leading spaces or line breaks do not protect: some spreadsheets strip them before parsing.
    if text.startswith(FORMULA_TRIGGERS) or _LEADING.match(text):
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
