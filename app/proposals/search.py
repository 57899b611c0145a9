"""Full-text search over proposals: SQLite FTS5 or PostgreSQL ``tsvector`` with the French configuration.

The search structures live outside the ORM metadata: they are created by DDL events on the ``proposals``
table (so ``db.create_all()`` in tests builds them) and by the migration; ``migrations/env.py`` leaves
them out of autogenerate comparisons (``is_search_object``).

* SQLite: an external-content FTS5 table ``proposals_fts`` kept in step by triggers; FTS5 has no French
  stemmer, so each query word is cut to a light stem and matched as a prefix (« déménagement » -> ``demenag*``).
* PostgreSQL: a stored generated ``tsvector`` column ``search_fr`` (French configuration) with a GIN index;
  queries use ``plainto_tsquery``, so « déménagement » finds « déménager » through the French stemmer, and
  ranking reads the stored vector instead of re-parsing every matching text (relevance sort over thousands
  of matches was 3× slower with an expression index).
"""

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import DDL, ColumnElement, Subquery, event, func, literal_column, select, text

from ..database import is_sqlite
from .models import Proposal

FTS_TABLE = "proposals_fts"
PG_INDEX = "ix_proposals_search_fr"
PG_COLUMN = "search_fr"
PG_DOCUMENT = ("to_tsvector('french'::regconfig, coalesce(title, '') || ' ' || coalesce(problem, '') || ' ' || "
               "coalesce(change, '') || ' ' || coalesce(benefit, ''))")

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS proposals_fts USING fts5(title, problem, change, benefit, "
    "content='proposals', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS proposals_fts_ai AFTER INSERT ON proposals BEGIN "
    "INSERT INTO proposals_fts(rowid, title, problem, change, benefit) "
    "VALUES (new.id, new.title, new.problem, new.change, new.benefit); END",
    "CREATE TRIGGER IF NOT EXISTS proposals_fts_ad AFTER DELETE ON proposals BEGIN "
    "INSERT INTO proposals_fts(proposals_fts, rowid, title, problem, change, benefit) "
    "VALUES ('delete', old.id, old.title, old.problem, old.change, old.benefit); END",
    # Only a change of the searched text touches the index (support counts change far more often).
    "CREATE TRIGGER IF NOT EXISTS proposals_fts_au AFTER UPDATE OF title, problem, change, benefit ON proposals "
    "BEGIN INSERT INTO proposals_fts(proposals_fts, rowid, title, problem, change, benefit) "
    "VALUES ('delete', old.id, old.title, old.problem, old.change, old.benefit); "
    "INSERT INTO proposals_fts(rowid, title, problem, change, benefit) "
    "VALUES (new.id, new.title, new.problem, new.change, new.benefit); END",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS proposals_fts_au", "DROP TRIGGER IF EXISTS proposals_fts_ad",
               "DROP TRIGGER IF EXISTS proposals_fts_ai", "DROP TABLE IF EXISTS proposals_fts"]
PG_DDL = [f"ALTER TABLE proposals ADD COLUMN IF NOT EXISTS {PG_COLUMN} tsvector "
          f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED",
          f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON proposals USING gin ({PG_COLUMN})"]
PG_DROP = [f"DROP INDEX IF EXISTS {PG_INDEX}", f"ALTER TABLE proposals DROP COLUMN IF EXISTS {PG_COLUMN}"]


def create_statements(dialect: str) -> list[str]:
    return SQLITE_DDL if dialect == "sqlite" else PG_DDL if dialect == "postgresql" else []


def drop_statements(dialect: str) -> list[str]:
    return SQLITE_DROP if dialect == "sqlite" else PG_DROP if dialect == "postgresql" else []


for _statement in SQLITE_DDL:
    event.listen(Proposal.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in PG_DDL:
    event.listen(Proposal.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in SQLITE_DROP:
    event.listen(Proposal.__table__, "before_drop", DDL(_statement).execute_if(dialect="sqlite"))


def is_search_object(name: str | None, type_: str) -> bool:
    """True for the search structures (and FTS5's shadow tables) that autogenerate must ignore."""
    return bool(name) and (name in (PG_INDEX, PG_COLUMN, FTS_TABLE) or name.startswith(FTS_TABLE + "_"))


_WORD = re.compile(r"\w+", re.UNICODE)
_SUFFIXES = ("issements", "issement", "ements", "ement", "ations", "ation", "ements", "eraient", "erions",
             "erait", "eront", "erons", "ements", "ables", "able", "euses", "euse", "eurs", "eur", "ances",
             "ance", "ences", "ence", "ites", "ite", "ions", "ion", "ees", "ee", "es", "er", "ez", "e", "s")
_STOP = {"le", "la", "les", "de", "des", "du", "un", "une", "et", "ou", "a", "au", "aux", "en", "pour", "par",
         "sur", "dans", "que", "qui", "ne", "pas", "plus", "je", "il", "on", "se", "sa", "son", "ses", "mon",
         "ma", "mes", "the", "of", "and", "to", "in", "est", "avec"}


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def _light_stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(query: str, limit: int = 12, fold: bool = True) -> list[str]:
    """The searchable words of a query (accents folded if ``fold``), without stop words; at most ``limit``."""
    out = []
    for word in _WORD.findall(query or ""):
        folded = _fold(word)
        kept = folded if fold else word.lower()
        if len(folded) >= 2 and folded not in _STOP and kept not in out:
            out.append(kept)
    return out[:limit]


def sqlite_match(query: str, *, any_word: bool = False) -> str | None:
    """An FTS5 MATCH expression: every (or any) word as a quoted prefix of its light stem."""
    terms = [f'"{_light_stem(w)}"*' for w in words(query)]
    if not terms:
        return None
    return (" OR " if any_word else " AND ").join(terms)


@dataclass(frozen=True)
class Match:
    """The proposals matching a query, for a statement that selects from ``proposals``: ``apply`` keeps only them,
    ``rank`` orders them (lower is better)."""

    rank: ColumnElement
    condition: ColumnElement | None = None
    joined: Subquery | None = None

    def apply(self, stmt):
        if self.joined is not None:
            stmt = stmt.join(self.joined, self.joined.c.id == Proposal.id)
        return stmt if self.condition is None else stmt.where(self.condition)


def matching(query: str, *, any_word: bool = False) -> Match | None:
    """How to keep the proposals matching ``query`` (every word, or any with ``any_word``) on the app's database;
    None for no words."""
    if is_sqlite():
        match = sqlite_match(query, any_word=any_word)
        if match is None:
            return None
        joined = select(literal_column("rowid").label("id"), literal_column("bm25(proposals_fts)").label("rank")) \
            .select_from(text(FTS_TABLE)).where(text(f"{FTS_TABLE} MATCH :fts_match").bindparams(fts_match=match)) \
            .subquery()
        return Match(rank=joined.c.rank, joined=joined)
    # PostgreSQL's French configuration stems accented words as written (no unaccent): keep the accents.
    terms = words(query, fold=False)
    if not terms:
        return None
    document = literal_column(f"proposals.{PG_COLUMN}")
    french = literal_column("'french'::regconfig")
    if any_word:
        tsquery = func.to_tsquery(french, " | ".join(_pg_lexeme(t) for t in terms))
    else:
        tsquery = func.plainto_tsquery(french, " ".join(terms))
    # The match and its rank are read in the scan of ``proposals`` itself: a subquery of ids joined back read the
    # table twice (PostgreSQL does not remove self-joins), 12.4 ms instead of 2.6 for « passeport » on 10,000.
    return Match(rank=-func.ts_rank(document, tsquery), condition=document.bool_op("@@")(tsquery))


def _pg_lexeme(word: str) -> str:
    # Words are \w+ only, so quoting is enough to keep to_tsquery's syntax out of user input.
    return "'" + word.replace("'", "") + "'"
