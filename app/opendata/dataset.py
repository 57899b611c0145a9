"""What a public dataset is: its columns (``Field``: Table Schema and JSON Schema), its SQL statements, and how its
rows are read (streamed, paged, one by key) and fingerprinted for HTTP caching; with the columns and the fingerprint
piece that several datasets share. Which rows and columns are public is said by the ``*_rows`` modules; the list
of published datasets is ``datasets``.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import url_for
from sqlalchemy import ColumnElement, Select, String, cast, func, select

from ..catalog.models import Organisation
from ..extensions import db
from ..inputs import DB_INT_MAX

STREAM_BATCH = 500
"""Rows fetched per round trip when a whole dataset is streamed (server-side cursor on PostgreSQL)."""
MAX_INT = DB_INT_MAX


@dataclass(frozen=True)
class Field:
    """One column. ``description`` is French: the data's documentation, the same whatever the reader's language."""

    name: str
    type: str  # Table Schema type: integer, number, string, boolean, date, datetime, yearmonth (YYYY-MM)
    description: str
    required: bool = False
    enum: tuple = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    format: str | None = None  # Table Schema string format ("uri")

    def table_schema(self) -> dict:
        out = {"name": self.name, "type": self.type, "description": self.description}
        if self.format:
            out["format"] = self.format
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.minimum is not None:
            constraints["minimum"] = self.minimum
        if self.maximum is not None:
            constraints["maximum"] = self.maximum
        if self.max_length is not None:
            constraints["maxLength"] = self.max_length
        if constraints:
            out["constraints"] = constraints
        return out

    def json_schema(self) -> dict:
        """The field as JSON Schema 2020-12 (OpenAPI 3.1): nullable unless required."""
        kinds = {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean",
                 "date": "string", "datetime": "string", "yearmonth": "string"}
        out: dict = {"type": kinds[self.type] if self.required else [kinds[self.type], "null"],
                     "description": self.description}
        if self.type == "date":
            out["format"] = "date"
        elif self.type == "datetime":
            out["format"] = "date-time"
        elif self.type == "yearmonth":
            out["pattern"] = "^[0-9]{4}-(0[1-9]|1[0-2])$"
        elif self.format == "uri":
            out["format"] = "uri"
        if self.enum:
            out["enum"] = list(self.enum) + ([] if self.required else [None])
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a dataset's rows in the API's list (``?service=…``): its name, its French
    description and JSON Schema for the OpenAPI document, the message when it is malformed, how its text is read
    (``parse``: the value, or None when malformed) and the condition it adds to the dataset's statement."""

    name: str
    description: str
    schema: dict
    message: object  # lazy string, in the reader's language
    parse: Callable[[str], object | None]
    where: Callable[[object], ColumnElement]


def read_filters(filters: tuple[Filter, ...], args) -> tuple[dict, tuple, Filter | None]:
    """The ``filters`` sent in ``args`` (a request's query string): their texts (for links and validators), the
    conditions they add, and the first one sent malformed or repeated (None when all are well formed)."""
    sent, where = {}, []
    for param in filters:
        values = args.getlist(param.name)
        if not values:
            continue
        value = param.parse(values[0]) if len(values) == 1 else None
        if value is None:
            return sent, tuple(where), param
        sent[param.name] = values[0]
        where.append(param.where(value))
    return sent, tuple(where), None


@dataclass(frozen=True)
class Dataset:
    """One public table: its columns, the statements that select its rows and its fingerprint, and reading them."""

    name: str  # file name and API path segment
    title: object  # lazy string (the page is translated; the datapackage is written in French)
    description: object
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    statement: Callable[[], Select]
    fingerprint_statement: Callable[[], Select]
    finish: Callable[[dict], dict] | None = None
    # (endpoint, its id argument, the row key[, a fragment formatted with the row]): adds an absolute ``url``.
    url: tuple[str, ...] | None = None
    key_column: Callable[[], object] | None = None  # single integer key: the API has a detail endpoint
    # Whether every change of the rows moves a date of the fingerprint. When not (supports and comments are
    # counted without a date, a milestone's done date can be corrected to an earlier day), Last-Modified is only
    # informative and If-Modified-Since alone never answers 304: a stale copy is worse than a full download.
    exact_dates: bool = True
    # The same number of rows as ``statement`` without its joins (which cannot drop a row: a required foreign key,
    # outer joins): counting 10,000 proposals then reads one index instead of joining every row.
    count_statement: Callable[[], Select] | None = None
    filters: tuple[Filter, ...] = ()  # the API list's query parameters that narrow the rows

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def has_detail(self) -> bool:
        return self.key_column is not None

    def table_schema(self) -> dict:
        schema = {"fields": [f.table_schema() for f in self.fields], "missingValues": [""]}
        if self.primary_key:
            schema["primaryKey"] = list(self.primary_key)
        return schema

    def json_schema(self) -> dict:
        return {"type": "object", "additionalProperties": False, "required": self.field_names,
                "properties": {f.name: f.json_schema() for f in self.fields}}

    # --- reading --------------------------------------------------------------------------------

    def _rows(self, stmt: Select, stream: bool = False) -> Iterator[dict]:
        finish = self.finish
        names = self.field_names
        # url_for once per call, not once per row (the host is the request's).
        make_url = _url_maker(*self.url[:2]) if self.url else None
        fragment = self.url[3] if self.url and len(self.url) > 3 else ""
        if stream:
            stmt = stmt.execution_options(yield_per=STREAM_BATCH)
        for row in db.session.execute(stmt).mappings():
            values = dict(row)
            if finish:
                values = finish(values)
            if make_url:
                values["url"] = make_url(values[self.url[2]]) + fragment.format(**values)
            yield {name: values.get(name) for name in names}

    def iter_rows(self) -> Iterator[dict]:
        """Every public row, in primary-key order, fetched ``STREAM_BATCH`` at a time (bounded memory)."""
        return self._rows(self.statement(), stream=True)

    def count(self, where: tuple = ()) -> int:
        """How many rows, or how many of them meet ``where`` (conditions of ``filters``)."""
        if self.count_statement is not None and not where:
            return db.session.scalar(self.count_statement())
        stmt = self.statement().where(*where).order_by(None)
        return db.session.scalar(select(func.count()).select_from(stmt.subquery()))

    def page(self, page: int, per_page: int, where: tuple = ()) -> list[dict]:
        return list(self._rows(self.statement().where(*where).limit(per_page).offset((page - 1) * per_page)))

    def get(self, key: int) -> dict | None:
        if self.key_column is None or not 1 <= key <= MAX_INT:
            return None
        rows = list(self._rows(self.statement().where(self.key_column() == key)))
        return rows[0] if rows else None

    def fingerprint(self) -> tuple:
        """A cheap aggregate that changes when the rows do (counts, sums, latest timestamps)."""
        return tuple(db.session.execute(self.fingerprint_statement()).one())


def last_modified(fingerprint: tuple) -> datetime | None:
    """The latest timestamp in a fingerprint (UTC), for Last-Modified."""
    stamps = []
    for value in fingerprint:
        if isinstance(value, datetime):
            stamps.append(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
        elif isinstance(value, date):
            stamps.append(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return max(stamps) if stamps else None


def _url_maker(endpoint: str, arg: str) -> Callable[[int], str]:
    """id -> absolute URL of ``endpoint`` (url_for once, not once per row)."""
    sample = url_for(endpoint, **{arg: 987654321}, _external=True)
    head, tail = sample.rsplit("987654321", 1)
    return lambda key: f"{head}{key}{tail}"


# --- columns and fingerprint pieces shared by several datasets -----------------------------------------

def organisation_names():
    """Every organisation's name in one string: a renamed organisation changes the rows that carry its name (and
    moves no date). Organisations are few: this stays small whatever the data size."""
    names = select((cast(Organisation.id, String) + ":" + Organisation.name).label("name")) \
        .order_by(Organisation.id).subquery()
    return select(func.aggregate_strings(names.c.name, "\n")).scalar_subquery()


def id_field(description="Identifiant") -> Field:
    return Field("id", "integer", description, required=True, minimum=1)


ORG_ID = Field("organisation_id", "integer", "Identifiant de l'organisation", required=True, minimum=1)
ORG_NAME = Field("organisation", "string", "Nom de l'organisation", required=True)


def url_field(description: str) -> Field:
    return Field("url", "string", description, required=True, format="uri")

