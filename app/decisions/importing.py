"""Reading measures and milestones from a CSV file as French spreadsheets write it (pure: no database).

The file has a header row and one row per milestone; the rows that share a measure title (whatever its case
and spacing) make one measure and add its milestones, so a measure without milestones is a row with empty
milestone cells. Columns (the header names are matched without case, accents or punctuation, so « Date
prévue » is ``date_prevue``; unknown columns are ignored and listed in the preview):

``mesure``          title of the measure (required, 200 characters at most)
``statut``          Prévue, En cours, Réalisée or Abandonnée (empty: Prévue)
``avancement``      0 to 100, « % » and decimals allowed (« 40,5 % »: rounded to 41; empty: 0, or 100 for a
                    measure already done)
``raison_abandon``  required when the measure is abandoned, refused otherwise
``description``     Markdown, 10,000 characters at most
``propositions``    numbers of public proposals of the organisation, separated by spaces, commas or « ; »
``jalon``           title of a milestone (200 characters at most)
``date_prevue``     its planned date, JJ/MM/AAAA or AAAA-MM-JJ (required with a milestone)
``date_realisee``   the date it was done, if it was

A measure's cells may be repeated on its later rows or left empty there; a later row giving another value is
an error (proposals add up instead). The file is UTF-8 (with or without BOM) or Windows-1252, separated by
« ; » or « , » (whichever makes more known headers), at most ``MAX_BYTES`` bytes and ``MAX_ROWS`` rows. A
cell that reads as a spreadsheet formula (« = », « @ », or « + »/« - » before a letter) is refused: it is what
a spreadsheet shows instead of the value; the apostrophe that ``app.csvsafe`` puts before such text on export
is removed. Errors are reported per row, the header being row 1 as in the spreadsheet.
"""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l

from ..csvsafe import FORMULA_TRIGGERS
from ..errors import InvalidInput
from ..imports import LineError
from .models import MeasureStatus

# The checked file travels back in a signed form field, which Flask caps at MAX_FORM_MEMORY_SIZE (500,000 bytes):
# 256 KB stays under it even for text that does not compress.
MAX_BYTES = 256 * 1024
MAX_ROWS = 2000
# Same limits as the measure forms (measures.TITLE_MAX, service.BODY_MAX and REASON_MAX: not imported, to keep
# this module free of the use cases' imports; tests check they agree).
TITLE_MAX, BODY_MAX, REASON_MAX = 200, 10000, 2000

MEASURE, STATUS, PROGRESS, REASON, DESCRIPTION, PROPOSALS = (
    "mesure", "statut", "avancement", "raison_abandon", "description", "propositions")
MILESTONE, PLANNED, DONE = "jalon", "date_prevue", "date_realisee"
COLUMNS = (MEASURE, STATUS, PROGRESS, REASON, DESCRIPTION, PROPOSALS, MILESTONE, PLANNED, DONE)
ALIASES = {"titre": MEASURE, "titre_de_la_mesure": MEASURE, "etat": STATUS, "avancement_en": PROGRESS,
           "raison": REASON, "raison_de_l_abandon": REASON, "propositions_n": PROPOSALS,
           "proposition": PROPOSALS, "date_prevue_du_jalon": PLANNED, "realise_le": DONE, "date_de_realisation": DONE}

STATUS_WORDS = {
    MeasureStatus.planned: ("prevue", "prevu", "planifiee", "planifie", "a venir", "planned"),
    MeasureStatus.in_progress: ("en cours", "in progress"),
    MeasureStatus.implemented: ("realisee", "realise", "terminee", "termine", "implemented", "done"),
    MeasureStatus.abandoned: ("abandonnee", "abandonne", "abandoned"),
}
_STATUS_BY_WORD = {word: status for status, words in STATUS_WORDS.items() for word in words}

_FORMULA = re.compile(r"^\s*(?:[=@]|[+-][^\W\d_(]|[+-]\()")
# « 40 », « 40 % » (any space, the no-break ones spreadsheets write included), « 40,5 % », « 40.5% ».
_PROGRESS = re.compile(r"^(\d{1,3}(?:[.,]\d+)?)\s*%?$")
_FR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2})?)?$")
_PROPOSAL = re.compile(r"^(?:#|n°|no|n)?\s*(\d{1,9})$", re.IGNORECASE)


# --- whole-file refusals (nothing can be previewed) ----------------------------------------------

class ImportFileInvalid(InvalidInput):
    code = "import_file_invalid"
    message = _l("Ce fichier ne peut pas être lu comme un fichier CSV.")


class FileTooLarge(ImportFileInvalid):
    code = "import_file_too_large"
    message = _l("Le fichier dépasse %(size)s Ko : découpez-le en plusieurs fichiers.", size=MAX_BYTES // 1024)


class TooManyRows(ImportFileInvalid):
    code = "import_too_many_rows"
    message = _l("Le fichier dépasse %(rows)s lignes : découpez-le en plusieurs fichiers.", rows=MAX_ROWS)


class FileEmpty(ImportFileInvalid):
    code = "import_file_empty"
    message = _l("Le fichier est vide : il doit contenir la ligne des en-têtes puis une ligne par mesure ou "
                 "par jalon.")


class NoRows(ImportFileInvalid):
    code = "import_no_rows"
    message = _l("Le fichier ne contient que la ligne des en-têtes : ajoutez une ligne par mesure ou par jalon.")


class Unreadable(ImportFileInvalid):
    code = "import_unreadable"
    message = _l("Ce fichier n'est pas un fichier texte lisible. Enregistrez-le depuis votre tableur au format "
                 "« CSV (séparateur : point-virgule) », en UTF-8 ou en Windows-1252.")


class MissingColumns(ImportFileInvalid):
    code = "import_missing_columns"


class DuplicateColumn(ImportFileInvalid):
    code = "import_duplicate_column"


# --- what a valid file describes -----------------------------------------------------------------

@dataclass
class ImportedMilestone:
    line: int
    title: str
    planned_on: date
    done_on: date | None = None


@dataclass
class ImportedMeasure:
    line: int  # the row where the measure first appears
    title: str
    status: MeasureStatus = MeasureStatus.planned
    progress: int = 0
    abandon_reason: str = ""
    description: str = ""
    proposal_ids: list[int] = field(default_factory=list)
    proposal_lines: dict[int, int] = field(default_factory=dict)  # id -> first row naming it
    milestones: list[ImportedMilestone] = field(default_factory=list)


@dataclass
class ParsedImport:
    text: str  # the decoded file, kept to carry it from the preview to the confirmation
    encoding: str
    delimiter: str
    measures: list[ImportedMeasure]
    errors: list[LineError]
    ignored_columns: list[str]
    rows: int  # data rows read (blank rows excluded)

    @property
    def milestone_count(self) -> int:
        return sum(len(m.milestones) for m in self.measures)


# --- decoding ------------------------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 with BOM, UTF-8, then Windows-1252."""
    if len(data) > MAX_BYTES:
        raise FileTooLarge()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise Unreadable()  # UTF-16 (« texte Unicode ») or a binary file such as an .xlsx
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raise Unreadable() from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # bytes that Windows-1252 leaves undefined
        raise Unreadable() from None


def column_key(header: str) -> str:
    """« Date prévue » -> ``date_prevue``: lower case, no accents, punctuation and spaces as one ``_``."""
    plain = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii").lower()
    key = re.sub(r"[^a-z0-9]+", "_", plain).strip("_")
    return ALIASES.get(key, key)


def _rows(text: str, delimiter: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False))
    except csv.Error:
        raise ImportFileInvalid() from None


def _sniff(text: str) -> tuple[str, list[list[str]]]:
    """The separator that makes more known headers (« ; » on a tie, as French spreadsheets write it)."""
    best = None
    for delimiter in (";", ","):
        rows = _rows(text, delimiter)
        header = rows[0] if rows else []
        known = len({column_key(h) for h in header} & set(COLUMNS))
        if best is None or known > best[0]:
            best = (known, delimiter, rows)
    return best[1], best[2]


# --- cells ---------------------------------------------------------------------------------------

def _plain(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", unicodedata.normalize("NFKD", value).encode("ascii", "ignore")
                  .decode("ascii").lower()).strip()


def parse_status(value: str) -> MeasureStatus | None:
    return _STATUS_BY_WORD.get(_plain(value))


def parse_date(value: str) -> date | None:
    """JJ/MM/AAAA (or with « . » or « - »), or AAAA-MM-JJ; a time after the date is ignored."""
    found = _FR_DATE.match(value)
    if found:
        day, month, year = (int(g) for g in found.groups())
    else:
        found = _ISO_DATE.match(value)
        if not found:
            return None
        year, month, day = (int(g) for g in found.groups())
    if not 1900 <= year <= 2200:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


class _Row:
    """One data row: cells by column, and the errors found in it."""

    def __init__(self, line: int, cells: dict[str, str], errors: list[LineError]):
        self.line, self.cells, self.errors = line, cells, errors

    def error(self, column: str | None, code: str, message) -> None:
        self.errors.append(LineError(self.line, column, code, message))

    def text(self, column: str, limit: int) -> str:
        value = self.cells.get(column, "")
        if len(value) > limit:
            self.error(column, "too_long", _l("Ce texte est trop long (%(limit)s caractères au plus).", limit=limit))
        return value


def _cell(raw: str) -> tuple[str, bool]:
    """The cleaned cell, and whether it reads as a formula."""
    value = raw.strip()
    if value.startswith("'") and value[1:].lstrip(" \n\t\r").startswith(FORMULA_TRIGGERS):
        # Escaped as text by app.csvsafe (which escapes every cell starting so, « - point » or « -5 » too) or by
        # the person who typed it: the apostrophe is not part of the text.
        return value[1:], False
    return value, bool(_FORMULA.match(value))


# --- the file ------------------------------------------------------------------------------------

def parse(data: bytes | str) -> ParsedImport:
    """Read a whole file; whole-file problems raise an ``ImportFileInvalid``, row problems are listed.

    ``data`` is the uploaded bytes, or the text already decoded at preview (``ParsedImport.text``, carried to the
    confirmation): encoding it again would let a Windows-1252 file under the limit grow past it in UTF-8."""
    if isinstance(data, str):
        if len(data) > MAX_BYTES:  # a decoded file has at most as many characters as it had bytes
            raise FileTooLarge()
        text, encoding = data, "text"
    else:
        text, encoding = decode(data)
    if not text.strip():
        raise FileEmpty()
    delimiter, records = _sniff(text)
    header = [h.strip() for h in records[0]]
    keys = [column_key(h) for h in header]
    if MEASURE not in keys or (MILESTONE in keys and PLANNED not in keys):
        needed = [c for c in (MEASURE, *((PLANNED,) if MILESTONE in keys else ())) if c not in keys]
        raise MissingColumns(_l("Colonne manquante : %(columns)s. La première ligne du fichier doit donner les "
                                "en-têtes, par exemple : %(example)s.", columns=", ".join(needed),
                                example=";".join(COLUMNS)))
    seen = set()
    for key, name in zip(keys, header, strict=True):
        if key in COLUMNS and key in seen:
            raise DuplicateColumn(_l("La colonne « %(name)s » apparaît deux fois dans les en-têtes.", name=name))
        seen.add(key)
    ignored = [name for key, name in zip(keys, header, strict=True) if key not in COLUMNS and name]
    errors: list[LineError] = []
    measures: dict[str, ImportedMeasure] = {}
    # Which row first set each measure-level value, to explain a contradiction.
    set_on: dict[tuple[str, str], tuple[str, int]] = {}
    count = 0
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank rows, and the « ;;;; » rows spreadsheets leave at the end
        count += 1
        if count > MAX_ROWS:
            raise TooManyRows()
        row_errors: list[LineError] = []
        cells: dict[str, str] = {}
        for position, raw in enumerate(record):
            key = keys[position] if position < len(keys) else None
            value, formula = _cell(raw)
            if key is None:
                if value:
                    row_errors.append(LineError(line, None, "extra_cell", _l(
                        "Cette ligne a plus de cellules que la ligne des en-têtes : vérifiez le séparateur et "
                        "les guillemets.")))
                continue
            if key not in COLUMNS:
                continue
            if formula:
                row_errors.append(LineError(line, key, "formula", _l(
                    "Cette cellule contient une formule : copiez-y la valeur, ou faites-la précéder d'une "
                    "apostrophe si c'est du texte.")))
                value = ""
            cells[key] = value
        row = _Row(line, cells, row_errors)
        _read_row(row, measures, set_on)
        errors.extend(row.errors)
    if count == 0:
        raise NoRows()
    for measure in measures.values():
        if measure.status is MeasureStatus.abandoned and not measure.abandon_reason:
            errors.append(LineError(set_on.get((measure.title.casefold(), STATUS), ("", measure.line))[1], REASON,
                                    "abandon_reason_required",
                                    _l("Indiquez pourquoi la mesure est abandonnée : la raison sera publiée.")))
        elif measure.abandon_reason and measure.status is not MeasureStatus.abandoned:
            errors.append(LineError(set_on[(measure.title.casefold(), REASON)][1], REASON, "reason_not_abandoned",
                                    _l("Une raison d'abandon ne se donne qu'à une mesure dont le statut est "
                                       "« Abandonnée ».")))
    errors.sort(key=lambda e: (e.line, COLUMNS.index(e.column) if e.column in COLUMNS else -1))
    return ParsedImport(text=text, encoding=encoding, delimiter=delimiter, measures=list(measures.values()),
                        errors=errors, ignored_columns=ignored, rows=count)


def _read_row(row: _Row, measures: dict[str, ImportedMeasure], set_on: dict) -> None:
    title = row.text(MEASURE, TITLE_MAX)
    if not title:
        if MEASURE not in {e.column for e in row.errors}:
            row.error(MEASURE, "title_required", _l("Donnez le titre de la mesure."))
        return
    key = " ".join(title.split()).casefold()
    measure = measures.get(key)
    if measure is None:
        measure = measures[key] = ImportedMeasure(line=row.line, title=" ".join(title.split()))

    def assign(column: str, value, attribute: str) -> None:
        earlier = set_on.get((key, column))
        if earlier is None:
            set_on[(key, column)] = (value, row.line)
            setattr(measure, attribute, value)
        elif earlier[0] != value:
            row.error(column, "conflicting_value", _l(
                "Cette valeur contredit la ligne %(line)s pour la même mesure : laissez la cellule vide ou "
                "recopiez la même valeur.", line=earlier[1]))

    raw_status = row.cells.get(STATUS, "")
    status = None
    if raw_status:
        status = parse_status(raw_status)
        if status is None:
            row.error(STATUS, "unknown_status", _l("Statut inconnu : écrivez Prévue, En cours, Réalisée ou "
                                                   "Abandonnée."))
        else:
            assign(STATUS, status, "status")
    raw_progress = row.cells.get(PROGRESS, "")
    if raw_progress:
        found = _PROGRESS.match(raw_progress)
        value = Decimal(found.group(1).replace(",", ".")) if found else None
        if found is None and re.match(r"^-\s*\d", raw_progress):
            row.error(PROGRESS, "progress_out_of_range", _l("L'avancement est un pourcentage entre 0 et 100."))
        elif found is None:
            row.error(PROGRESS, "progress_not_a_number", _l("Écrivez l'avancement en nombre, de 0 à 100."))
        elif not 0 <= value <= 100:
            row.error(PROGRESS, "progress_out_of_range", _l("L'avancement est un pourcentage entre 0 et 100."))
        else:  # stored as a whole percentage, as the forms do; the preview shows the rounded figure
            assign(PROGRESS, int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP)), "progress")
    elif status is MeasureStatus.implemented and (key, PROGRESS) not in set_on:
        measure.progress = 100  # a measure said done without a figure is done entirely
    reason = row.text(REASON, REASON_MAX)
    if reason:
        assign(REASON, reason, "abandon_reason")
    description = row.text(DESCRIPTION, BODY_MAX)
    if description:
        assign(DESCRIPTION, description, "description")
    raw_proposals = row.cells.get(PROPOSALS, "")
    for token in (t for t in re.split(r"[\s,;|/]+", raw_proposals) if t):
        found = _PROPOSAL.match(token)
        if found is None:
            row.error(PROPOSALS, "proposal_not_a_number", _l(
                "« %(value)s » n'est pas un numéro de proposition : écrivez les numéros séparés par des espaces "
                "ou des virgules.", value=token[:30]))
            continue
        number = int(found.group(1))
        if number not in measure.proposal_lines:
            measure.proposal_lines[number] = row.line
            measure.proposal_ids.append(number)
    _read_milestone(row, measure)


def _read_milestone(row: _Row, measure: ImportedMeasure) -> None:
    title = row.text(MILESTONE, TITLE_MAX)
    raw_planned, raw_done = row.cells.get(PLANNED, ""), row.cells.get(DONE, "")
    if not title:
        if (raw_planned or raw_done) and MILESTONE not in {e.column for e in row.errors}:
            row.error(MILESTONE, "milestone_title_required", _l("Donnez le titre du jalon daté sur cette ligne."))
        return
    bad_date = _l("Date non reconnue : écrivez-la JJ/MM/AAAA, par exemple 31/01/2027.")
    planned = parse_date(raw_planned) if raw_planned else None
    if not raw_planned:
        row.error(PLANNED, "date_required", _l("Indiquez la date prévue du jalon."))
    elif planned is None:
        row.error(PLANNED, "bad_date", bad_date)
    done = parse_date(raw_done) if raw_done else None
    if raw_done and done is None:
        row.error(DONE, "bad_date", bad_date)
    if planned is not None and len(title) <= TITLE_MAX and (not raw_done or done is not None):
        measure.milestones.append(ImportedMilestone(line=row.line, title=title, planned_on=planned, done_on=done))


def template_header() -> list[str]:
    """The header row of the template offered for download."""
    return list(COLUMNS)
