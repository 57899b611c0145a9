"""Writing datasets out: values as JSON and CSV, the ``datapackage.json``, and the validators for HTTP caching.

CSV files follow the open-data habits of data.gouv.fr rather than the spreadsheet exports of ``app/csvsafe.py``:
comma separator, UTF-8 **without** BOM, CRLF line ends, RFC 4180 quoting, one header line with the field names,
empty cell for a missing value, ``true``/``false``, dates ``YYYY-MM-DD`` and times ``YYYY-MM-DDThh:mm:ssZ`` (UTC).
Text cells are still made formula-safe with ``csvsafe.safe_cell`` (a cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return gets a leading apostrophe) because people do open these files in spreadsheets; the
JSON files and the API carry the text unchanged (the JSON files write ``<``, ``>`` and ``&`` as ``\\u`` escapes,
which parse back to the same text: app/jsonsafe.py).
"""

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from flask import current_app, request, url_for

from .. import jsonsafe
from ..csvsafe import safe_cell
from .dataset import Dataset, last_modified
from .datasets import DATASETS, LICENCE

CSV_DIALECT = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "doubleQuote": True, "header": True}
FORMAT_VERSION = "2"  # bump when a schema changes, so that cached copies are not reused


def json_value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def json_row(row: dict) -> dict:
    return {name: json_value(value) for name, value in row.items()}


def csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return json_value(value)
    return safe_cell(value)


def _csv_line(writer, buffer: io.StringIO, cells: Iterable) -> str:
    writer.writerow(cells)
    line = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return line


def csv_chunks(dataset: Dataset, rows: Iterable[dict] | None = None, lines_per_chunk: int = 200) -> Iterator[str]:
    """The dataset as CSV text, a few hundred lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    chunk = [_csv_line(writer, buffer, dataset.field_names)]
    for row in dataset.iter_rows() if rows is None else rows:
        chunk.append(_csv_line(writer, buffer, [csv_value(v) for v in row.values()]))
        if len(chunk) >= lines_per_chunk:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def json_chunks(dataset: Dataset, lines_per_chunk: int = 200) -> Iterator[str]:
    """The dataset as one JSON array of objects, one object per line."""
    chunk = ["["]
    first = True
    for row in dataset.iter_rows():
        chunk.append(("\n" if first else ",\n") + jsonsafe.dumps(json_row(row)))
        first = False
        if len(chunk) >= lines_per_chunk:
            yield "".join(chunk)
            chunk = []
    chunk.append("\n]\n")
    yield "".join(chunk)


def datapackage() -> dict:
    """The Data Package (frictionless) describing each CSV file with its Table Schema."""
    return {
        "profile": "tabular-data-package",
        "name": "atelier",
        "title": "Atelier — propositions, réponses, mesures, ateliers, consultations, expériences d'usagers",
        "description": "Données publiques de la plateforme de co-création Atelier, mises à jour en continu.",
        "homepage": url_for("opendata.index", _external=True),
        "licenses": [LICENCE],
        "resources": [
            {
                "name": dataset.name,
                "path": url_for("opendata.download", name=dataset.name, fmt="csv", _external=True),
                "profile": "tabular-data-resource",
                "title": str(dataset.title),
                "description": str(dataset.description),
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": CSV_DIALECT,
                "licenses": [LICENCE],
                "schema": dataset.table_schema(),
            }
            for dataset in DATASETS
        ],
    }


# --- HTTP validators ------------------------------------------------------------------------------------

def strong_etag(*parts) -> str:
    """A strong validator (the bytes are the same for the same parts): hash of the parts, the format version,
    the host (URLs in the data are absolute) and the app version."""
    material = repr((FORMAT_VERSION, current_app.config.get("APP_VERSION"), request.host_url, parts))
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def validators(dataset: Dataset, *extra) -> tuple[str, datetime | None]:
    """(ETag, Last-Modified) of ``dataset`` as served by this request, from its fingerprint (one query)."""
    fingerprint = dataset.fingerprint()
    return strong_etag(dataset.name, fingerprint, *extra), last_modified(fingerprint)


def not_modified(etag: str, modified: datetime | None) -> bool:
    """True when the client's copy is current: If-None-Match decides when sent, else If-Modified-Since.

    If-None-Match uses the weak comparison (RFC 9110 §13.1.2): a proxy that compresses the body (nginx ``gzip``)
    hands the client ``W/"…"`` for our strong ETag, and that client must still get its 304. Pass ``modified=None``
    where the dates do not move with every change: If-Modified-Since alone then never answers 304."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag
    since = request.if_modified_since
    return bool(since and modified and modified.replace(microsecond=0) <= since)


CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept-Language, If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}


def open_cors(response):
    """Open CORS for reading (every origin, never credentials), on answers and 304s alike: a script that sends
    its own If-None-Match reads the 304 itself, and ETag is not a header browsers expose unless told."""
    response.headers.update(CORS_HEADERS)
    if request.method == "OPTIONS":
        response.headers.update(PREFLIGHT_HEADERS)
    return response


def set_validators(response, etag: str, modified: datetime | None):
    response.set_etag(etag)
    if modified is not None:
        response.last_modified = modified.replace(microsecond=0)
    response.headers["Cache-Control"] = "public, no-cache"
    return response
