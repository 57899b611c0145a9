"""Importing figures published elsewhere (the state's observatory) for services whose feedback is collected outside
Atelier: reading the file (pure), the preview (every line checked, nothing written) and the import (all or nothing).

The file is the format of ``procedure_indicators.csv``: UTF-8 (with or without BOM), comma-separated, a header row
``procedure,edition_or_period,indicator,value,unit_or_scale,source`` (in any order) and one row per published
figure:

``procedure``          ``jdma:<id>``, matched to ``Service.external_ref``
``edition_or_period``  the period as published (« edition window, scanned 2026-07-24 »); the date after
                       « scanned » becomes ``published_on``
``indicator``          one of ``INDICATORS``; the six JDMA indicators may have a ``<indicator>_count`` row, which
                       gives the number of answers of the figure (its ``count``) rather than a figure of its own
``value``              a number in the range of its unit (``RANGES``); a count is a whole number
``unit_or_scale``      the unit of the indicator (``INDICATORS``)
``source``             where the figure was published

Lines are numbered as a text editor numbers them (the header is line 1). Every problem is reported with its line
and column; nothing is written when there is one. A (service, period, indicator) already imported is replaced.
The preview gives a ``stamp`` of the figures already stored for the file's services and the ``digest`` of the
text: the import refuses a text that is not the one previewed, and a preview outdated by another import since.
Two imports at once are decided by the unique constraint ``one_published_figure_per_period`` (the rows already
there are locked; new ones are inserted, and the second insert of a key fails): the loser is refused whole.
"""

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date

from flask_babel import LazyString, format_decimal, format_number
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from ..accounts.models import User
from ..catalog.models import Role, Service
from ..catalog.permissions import has_org_role
from ..clock import utcnow
from ..concurrency import run_cpu_bound
from ..database import begin_write
from ..errors import Conflict, DomainError, InvalidInput, NotAllowed
from ..extensions import db
from ..imports import ImportInvalid, LineError
from ..permissions import is_admin, is_authenticated
from .models import PublishedFigure

# The upload and its form must stay under MAX_CONTENT_LENGTH (2 MB); the checked text travels back compressed in
# a signed form field (routes refuse one that would not fit MAX_FORM_MEMORY_SIZE).
MAX_BYTES = 1536 * 1024
MAX_LINES = 20_000
PERIOD_MAX, SOURCE_MAX, REF_MAX = 120, 300, 40  # the columns of PublishedFigure and Service.external_ref

PROCEDURE, PERIOD, INDICATOR, VALUE, UNIT, SOURCE = (
    "procedure", "edition_or_period", "indicator", "value", "unit_or_scale", "source")
COLUMNS = (PROCEDURE, PERIOD, INDICATOR, VALUE, UNIT, SOURCE)

NOTE, RATIO, PERCENT, INDEX, MILLISECONDS, COUNT = "note /10", "ratio 0-1", "percent", "0-1", "ms", "count"
# Indicator -> its unit, as the observatory publishes it.
INDICATORS = {
    "satisfaction": NOTE,
    "comprehension": NOTE,
    "contact": NOTE,
    "contact_reachability": RATIO,
    "contact_satisfaction": NOTE,
    "autonomy": NOTE,
    "uptime": PERCENT,
    "apdex": INDEX,
    "response_time_total": MILLISECONDS,
}
# The indicators whose number of answers is published, on a ``<indicator>_count`` row.
COUNTED = ("satisfaction", "comprehension", "contact", "contact_reachability", "contact_satisfaction", "autonomy")
COUNT_SUFFIX = "_count"
# Unit -> (lowest, highest) value; None: no bound.
RANGES = {NOTE: (0, 10), RATIO: (0, 1), INDEX: (0, 1), PERCENT: (0, 100), MILLISECONDS: (0, None),
          COUNT: (0, None)}

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")
_WHOLE = re.compile(r"^\+?\d+$")
_SCANNED = re.compile(r"\bscanned\s+(\d{4})-(\d{1,2})-(\d{1,2})\b", re.IGNORECASE)


# --- whole-file refusals (nothing can be previewed) ----------------------------------------------

class ImportFileInvalid(InvalidInput):
    code = "import_file_invalid"
    message = _l("Ce fichier ne peut pas être lu comme un fichier CSV.")


class FileTooLarge(ImportFileInvalid):
    code = "import_file_too_large"
    size = LazyString(lambda: format_decimal(MAX_BYTES / 1024 / 1024, "#,##0.#"))  # « 1,5 » (Mo)
    message = _l("Le fichier dépasse %(size)s Mo : découpez-le en plusieurs fichiers.", size=size)


class TooManyLines(ImportFileInvalid):
    code = "import_too_many_lines"
    lines = LazyString(lambda: format_number(MAX_LINES))
    message = _l("Le fichier dépasse %(lines)s lignes : découpez-le en plusieurs fichiers.", lines=lines)


class FileEmpty(ImportFileInvalid):
    code = "import_file_empty"
    message = _l("Le fichier est vide : il doit contenir la ligne des en-têtes puis une ligne par chiffre publié.")


class NoRows(ImportFileInvalid):
    code = "import_no_rows"
    message = _l("Le fichier ne contient que la ligne des en-têtes : ajoutez une ligne par chiffre publié.")


class NotUtf8(ImportFileInvalid):
    code = "import_not_utf8"

    def __init__(self, line: int):
        super().__init__(_l("Le fichier n'est pas en UTF-8 (premier caractère illisible à la ligne %(line)s) : "
                            "enregistrez-le en UTF-8, avec ou sans BOM.", line=line))
        self.line = line


# --- refusals of the import ----------------------------------------------------------------------

class ImportChanged(InvalidInput):
    code = "import_changed"
    message = _l("Le fichier envoyé n'est pas celui de l'aperçu : rien n'a été importé. Envoyez le fichier à "
                 "nouveau pour vérifier l'aperçu.")


class ImportOutdated(Conflict):
    code = "import_outdated"
    message = _l("Des chiffres de ces démarches ont été importés depuis l'aperçu : rien n'a été importé. Envoyez "
                 "le fichier à nouveau pour vérifier l'aperçu.")


class ImportConflict(Conflict):
    code = "import_conflict"
    message = _l("Un autre import de chiffres de ces démarches a eu lieu au même moment : rien n'a été importé. "
                 "Envoyez le fichier à nouveau pour vérifier l'aperçu.")


# --- who imports ---------------------------------------------------------------------------------

def can_import_figures(user) -> bool:
    """Editors of any organisation (for their organisations' services) and admins open the import."""
    if is_admin(user):
        return True
    return is_authenticated(user) and any(m.role is Role.editor for m in user.memberships)


def can_import_for(user, service: Service) -> bool:
    """Editors of the service's organisation, and admins, import its published figures."""
    return is_admin(user) or has_org_role(user, service.organisation, Role.editor)


# --- what a file describes -----------------------------------------------------------------------

@dataclass
class ImportedFigure:
    """A figure line, with the count its ``*_count`` line gives (when there is one)."""

    line: int
    ref: str
    period: str
    published_on: date | None
    indicator: str
    value: float
    unit: str
    source: str
    count: int | None = None
    count_line: int | None = None


@dataclass
class ParsedImport:
    text: str  # the decoded file, kept to carry it from the preview to the confirmation
    figures: list[ImportedFigure]
    errors: list[LineError]
    refs: list[tuple[int, str]]  # (line, procedure) of every data line naming one: the services are checked later
    lines: int  # data lines read (blank lines excluded)


# --- reading -------------------------------------------------------------------------------------

def decode(data: bytes) -> str:
    """The text of an UTF-8 file (its BOM removed)."""
    if len(data) > MAX_BYTES:
        raise FileTooLarge()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:  # UTF-16 (« texte Unicode ») or a binary file such as an .xlsx
        raise NotUtf8(data[:data.index(b"\x00")].count(b"\n") + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotUtf8(data[:err.start].count(b"\n") + 1) from None


def digest(text: str) -> str:
    """What the confirmation checks it imports the text that was previewed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_unit(unit: str) -> str:
    return " ".join(unit.split()).lower()


def published_on(period: str) -> date | None | bool:
    """The date « scanned YYYY-MM-DD » names in a period; None without one, False when it is no real date."""
    found = _SCANNED.search(period)
    if found is None:
        return None
    try:
        return date(*(int(g) for g in found.groups()))
    except ValueError:
        return False


def period_kind(period: str) -> str:
    """« last 3 months, scanned 2026-07-24 » -> « last 3 months »: what the period is, whatever its date."""
    return _SCANNED.split(period, maxsplit=1)[0].rstrip(" ,;") if _SCANNED.search(period) else period.strip()


def _records(text: str):
    """(first line, cells) of each record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True)
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error:
        raise ImportFileInvalid(_l("Ce fichier ne peut pas être lu comme un fichier CSV (ligne %(line)s) : "
                                   "vérifiez les guillemets.", line=start)) from None


def _header_errors(header: list[str]) -> list[LineError]:
    expected = ",".join(COLUMNS)
    errors, seen = [], set()
    for position, name in enumerate(header, start=1):
        key = name.strip().lower()
        if key in COLUMNS:
            if key in seen:
                errors.append(LineError(1, key, "duplicate_column", _l(
                    "La colonne « %(name)s » apparaît deux fois dans les en-têtes.", name=key)))
            seen.add(key)
        elif not key:
            errors.append(LineError(1, None, "unnamed_column", _l(
                "La colonne n° %(position)s n'a pas de nom : supprimez-la, ou vérifiez les virgules de la première "
                "ligne.", position=position)))
        else:
            errors.append(LineError(1, name.strip()[:40], "unknown_column", _l(
                "Colonne inconnue : « %(name)s ». La première ligne doit être : %(header)s",
                name=name.strip()[:40], header=expected)))
    for column in COLUMNS:
        if column not in seen:
            errors.append(LineError(1, column, "missing_column", _l(
                "Colonne manquante : %(name)s. La première ligne doit être : %(header)s", name=column,
                header=expected)))
    return errors


REQUIRED = {
    PROCEDURE: _l("Indiquez la démarche, par exemple jdma:115."),
    PERIOD: _l("Indiquez la période publiée, par exemple « edition window, scanned 2026-07-24 »."),
    INDICATOR: _l("Indiquez l'indicateur, par exemple satisfaction."),
    VALUE: _l("Indiquez la valeur."),
    UNIT: _l("Indiquez l'unité, par exemple note /10."),
    SOURCE: _l("Indiquez la source du chiffre."),
}


def parse(data: bytes | str) -> ParsedImport:
    """Read a whole file; whole-file problems raise an ``ImportFileInvalid``, line problems are listed.

    ``data`` is the uploaded bytes, or the text already decoded at preview (carried to the confirmation)."""
    if isinstance(data, str):
        if len(data.encode("utf-8")) > MAX_BYTES:
            raise FileTooLarge()
        text = data.removeprefix("\ufeff")
    else:
        text = decode(data)
    if not text.strip():
        raise FileEmpty()
    records = _records(text)
    first = next(((line, cells) for line, cells in records if any(c.strip() for c in cells)), None)
    if first is None:
        raise FileEmpty()
    header_line, header = first
    errors = _header_errors(header)
    if errors:  # without its columns, no line can be read
        for e in errors:
            e.line = header_line
        return ParsedImport(text=text, figures=[], errors=errors, refs=[], lines=0)
    position = {name.strip().lower(): i for i, name in enumerate(header)}
    figures: dict[tuple, ImportedFigure] = {}
    counts: dict[tuple, tuple[int, int | None]] = {}  # (ref, period, indicator) -> (line, count)
    first_seen: dict[tuple, int] = {}
    refs: list[tuple[int, str]] = []
    count = 0
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank lines
        count += 1
        if count > MAX_LINES:
            raise TooManyLines()
        if len(record) != len(header):
            errors.append(LineError(line, None, "cell_count", _l(
                "Cette ligne a %(found)s cellules au lieu de %(expected)s : vérifiez les virgules et les "
                "guillemets.", found=len(record), expected=len(header))))
            continue
        cells = {name: record[i].strip() for name, i in position.items()}
        row_errors: list[LineError] = []
        _read_line(line, cells, row_errors, figures, counts, first_seen)
        if cells[PROCEDURE] and len(cells[PROCEDURE]) <= REF_MAX:
            refs.append((line, cells[PROCEDURE]))
        errors.extend(row_errors)
    if count == 0:
        raise NoRows()
    for (ref, period, indicator), (line, value) in counts.items():
        figure = figures.get((ref, period, indicator))
        if figure is None:
            if (ref, period, indicator) not in first_seen:  # a figure line with an error is already reported
                errors.append(LineError(line, INDICATOR, "count_without_figure", _l(
                    "Ce nombre d'avis n'a pas de ligne « %(indicator)s » pour la même démarche et la même période.",
                    indicator=indicator)))
        elif value is not None:
            figure.count, figure.count_line = value, line
    errors.sort(key=lambda e: (e.line, COLUMNS.index(e.column) if e.column in COLUMNS else -1))
    return ParsedImport(text=text, figures=list(figures.values()), errors=errors, refs=refs, lines=count)


def _read_line(line: int, cells: dict[str, str], errors: list[LineError], figures: dict, counts: dict,
               first_seen: dict) -> None:
    def error(column, code, message):
        errors.append(LineError(line, column, code, message))

    for column in COLUMNS:
        if not cells[column]:
            error(column, "required", REQUIRED[column])
    ref, period, indicator = cells[PROCEDURE], " ".join(cells[PERIOD].split()), cells[INDICATOR].lower()
    raw_value, unit, source = cells[VALUE], normalise_unit(cells[UNIT]), cells[SOURCE]
    for column, value, limit in ((PROCEDURE, ref, REF_MAX), (PERIOD, period, PERIOD_MAX), (SOURCE, source, SOURCE_MAX)):
        if len(value) > limit:
            error(column, "too_long", _l("Ce texte est trop long (%(limit)s caractères au plus).", limit=limit))
    day = published_on(period) if period else None
    if day is False:
        error(PERIOD, "bad_date", _l("La date de relevé de cette période n'existe pas : écrivez-la « scanned "
                                     "AAAA-MM-JJ », par exemple scanned 2026-07-24."))
    is_count = indicator.endswith(COUNT_SUFFIX) and indicator.removesuffix(COUNT_SUFFIX) in COUNTED
    base = indicator.removesuffix(COUNT_SUFFIX) if is_count else indicator
    expected_unit = COUNT if is_count else INDICATORS.get(indicator)
    if indicator and expected_unit is None:
        error(INDICATOR, "unknown_indicator", _l(
            "Indicateur inconnu : « %(indicator)s ». Indicateurs reconnus : %(known)s, et le nombre d'avis des six "
            "premiers (satisfaction_count…).", indicator=cells[INDICATOR][:40], known=", ".join(INDICATORS)))
    elif expected_unit is not None and unit and unit != expected_unit:
        error(UNIT, "wrong_unit", _l("L'unité de l'indicateur %(indicator)s est « %(expected)s », pas « %(unit)s ».",
                                     indicator=indicator, expected=expected_unit, unit=cells[UNIT][:30]))
    value = _read_value(raw_value, expected_unit if unit == expected_unit else None, error) if raw_value else None
    if not (ref and period and indicator):
        return
    key = (ref, period, indicator)
    if key in first_seen:
        error(INDICATOR, "duplicate_line", _l(
            "Cette ligne répète la ligne %(line)s : même démarche, même période et même indicateur.",
            line=first_seen[key]))
        return
    first_seen[key] = line
    if is_count:
        counts[(ref, period, base)] = (line, int(value) if value is not None and not errors else None)
    elif not errors:
        figures[key] = ImportedFigure(line=line, ref=ref, period=period, published_on=day or None,
                                      indicator=indicator, value=value, unit=expected_unit, source=source)


def _read_value(raw: str, unit: str | None, error) -> float | None:
    """The value of a line, checked against its unit's range (when the unit is right)."""
    text = raw[:30]
    if not _NUMBER.match(raw) or not math.isfinite(number := float(raw.replace(",", "."))):
        error(VALUE, "not_a_number", _l("« %(value)s » n'est pas un nombre : écrivez la valeur avec un point "
                                        "décimal, par exemple 8.79.", value=text))
        return None
    if unit is None:
        return number
    low, high = RANGES[unit]
    if unit == COUNT and not _WHOLE.match(raw):
        error(VALUE, "count_not_whole", _l("Un nombre d'avis est un nombre entier positif ou nul : « %(value)s » "
                                           "ne l'est pas.", value=text))
        return None
    if number < low or (high is not None and number > high):
        if high is None:
            error(VALUE, "out_of_range", _l("La valeur %(value)s est négative : l'unité « %(unit)s » n'en admet pas.",
                                            value=text, unit=unit))
        else:
            error(VALUE, "out_of_range", _l("La valeur %(value)s sort de l'échelle de l'unité « %(unit)s » : de "
                                            "%(low)s à %(high)s.", value=text, unit=unit, low=low, high=high))
        return None
    return number


# --- preview and import --------------------------------------------------------------------------

@dataclass
class ServiceSummary:
    """What the file does to one service."""

    service: Service
    ref: str
    periods: list[str] = field(default_factory=list)
    added: int = 0
    replaced: int = 0


@dataclass
class ImportPreview:
    """What an import would write, or why it cannot; ``stamp`` and ``digest`` are checked again at confirmation."""

    parsed: ParsedImport
    errors: list[LineError]
    services: list[ServiceSummary]
    stamp: str
    digest: str

    @property
    def added(self) -> int:
        return sum(s.added for s in self.services)

    @property
    def replaced(self) -> int:
        return sum(s.replaced for s in self.services)


@dataclass
class ImportResult:
    added: int
    replaced: int
    services: int


def _services(user, parsed: ParsedImport) -> tuple[dict[str, Service], list[LineError]]:
    """The services the file names (by reference), and an error on each line naming one that is unknown or that
    this person does not edit."""
    wanted = sorted({ref for _line, ref in parsed.refs})
    found: dict[str, Service] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update((s.external_ref, s) for s in db.session.scalars(select(Service)
                                                                     .where(Service.external_ref.in_(chunk))))
    errors, allowed = [], {}
    for line, ref in parsed.refs:
        service = found.get(ref)
        if service is None:
            errors.append(LineError(line, PROCEDURE, "unknown_service", _l(
                "Aucune démarche d'Atelier n'a la référence « %(ref)s ».", ref=ref)))
            continue
        if ref not in allowed:
            allowed[ref] = can_import_for(user, service)
        if not allowed[ref]:
            errors.append(LineError(line, PROCEDURE, "service_not_allowed", _l(
                "Vous ne pouvez pas importer les chiffres de « %(service)s » : c'est aux éditeurs et éditrices de "
                "son organisation (%(organisation)s) de le faire.", service=service.name,
                organisation=service.organisation.name)))
    return found, errors


def _existing(service_ids, lock: bool = False) -> dict[tuple, PublishedFigure]:
    """The figures already stored for these services, by (service, period, indicator)."""
    rows = {}
    ids = sorted(service_ids)
    for start in range(0, len(ids), 500):
        query = (select(PublishedFigure).options(lazyload(PublishedFigure.service))
                 .where(PublishedFigure.service_id.in_(ids[start:start + 500])).order_by(PublishedFigure.id))
        if lock:
            query = query.with_for_update(of=PublishedFigure)
        rows.update(((f.service_id, f.period, f.indicator), f) for f in db.session.scalars(query))
    return rows


def _stamp(existing: dict[tuple, PublishedFigure]) -> str:
    """Changes whenever a figure of the file's services is added, replaced or removed."""
    state = sorted((f.id, f.service_id, f.period, f.indicator, repr(f.value), f.count, f.unit, f.source,
                    f.imported_at.isoformat()) for f in existing.values())
    return hashlib.sha256(repr(state).encode("utf-8")).hexdigest()[:32]


def _sorted_errors(*lists) -> list[LineError]:
    return sorted((e for errors in lists for e in errors),
                  key=lambda e: (e.line, COLUMNS.index(e.column) if e.column in COLUMNS else -1))


def preview_import(user: User, data: bytes) -> ImportPreview:
    """Editors and admins see what a file would add and replace, and every line's errors; nothing is written. A
    file that cannot be read at all raises an ``ImportFileInvalid``."""
    if not can_import_figures(user):
        raise NotAllowed()
    parsed = run_cpu_bound(parse, data)  # under gevent, reading a large file must not stall live clients
    services, service_errors = _services(user, parsed)
    errors = _sorted_errors(parsed.errors, service_errors)
    existing = _existing({s.id for s in services.values()})
    summaries: dict[str, ServiceSummary] = {}
    for figure in parsed.figures:
        service = services.get(figure.ref)
        if service is None:
            continue
        summary = summaries.setdefault(figure.ref, ServiceSummary(service=service, ref=figure.ref))
        if figure.period not in summary.periods:
            summary.periods.append(figure.period)
        if (service.id, figure.period, figure.indicator) in existing:
            summary.replaced += 1
        else:
            summary.added += 1
    ordered = sorted(summaries.values(), key=lambda s: (s.service.name.casefold(), s.service.id))
    return ImportPreview(parsed, errors, ordered, _stamp(existing), digest(parsed.text))


def import_figures(user: User, data: bytes | str, *, stamp: str | None = None,
                   expected_digest: str | None = None) -> ImportResult:
    """Editors (for their organisations' services) and admins store the figures of a file, all or nothing: the file
    is read and checked again inside one write transaction, a (service, period, indicator) already there is
    replaced, and any wrong line refuses the whole file. ``expected_digest`` and ``stamp`` (from the preview)
    refuse another text than the one previewed, and a preview outdated by another import."""
    if not can_import_figures(user):
        raise NotAllowed()
    parsed = run_cpu_bound(parse, data)
    if expected_digest is not None and digest(parsed.text) != expected_digest:
        raise ImportChanged()
    begin_write()
    try:
        services, service_errors = _services(user, parsed)
        errors = _sorted_errors(parsed.errors, service_errors)
        if errors:
            raise ImportInvalid(errors)
        existing = _existing({s.id for s in services.values()}, lock=True)
        if stamp is not None and _stamp(existing) != stamp:
            raise ImportOutdated()
        now, added, replaced = utcnow(), 0, 0
        for item in parsed.figures:
            service = services[item.ref]
            values = {"published_on": item.published_on, "value": item.value, "unit": item.unit,
                      "count": item.count, "source": item.source, "imported_by_id": user.id, "imported_at": now}
            row = existing.get((service.id, item.period, item.indicator))
            if row is None:
                db.session.add(PublishedFigure(service_id=service.id, period=item.period, indicator=item.indicator,
                                               **values))
                added += 1
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                replaced += 1
        db.session.flush()
        db.session.commit()
    except IntegrityError:  # the same new figure inserted by another import meanwhile: the unique constraint decides
        db.session.rollback()
        raise ImportConflict() from None
    except DomainError:
        db.session.rollback()
        raise
    return ImportResult(added=added, replaced=replaced, services=len({f.ref for f in parsed.figures}))
