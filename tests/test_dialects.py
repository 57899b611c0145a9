"""Every module of app/ whose behaviour depends on the database has a test that runs on PostgreSQL (issue 21).

The suite runs each test once, on SQLite, except the tests marked ``both_databases`` (run on SQLite and on
PostgreSQL, see ``pytest_generate_tests`` in conftest.py) or ``postgres`` (PostgreSQL only). Such a test names, as
the marker's arguments, the modules of app/ with a dialect branch it exercises:
``@pytest.mark.both_databases("app.proposals.search")``. This module finds those modules by reading app/, reads
the names off the markers in tests/ (both by AST, so the check holds whatever this run selects), and fails on a
module no marker names and on a name that is no such module (stale). conftest.py refuses, at collection, the
marker on a test that opens no database: a name is only ever carried by a test that runs on PostgreSQL.

A module depends on the database when it has:

- a dialect branch: ``is_sqlite()``, ``….dialect.name``, the strings ``"postgresql"`` or ``"sqlite"`` (as in
  ``execute_if(dialect=…)``, ``@compiles(…, "postgresql")``, ``with_variant(…, "postgresql")`` or a URL compared),
  a ``postgresql_…``/``sqlite_…`` keyword (``postgresql_where=``, ``sqlite_immediate=``), an import from
  ``sqlalchemy.dialects`` or of a driver (``psycopg``, ``sqlite3``);
- row locking, which the two do differently: ``with_for_update`` (``FOR UPDATE`` on PostgreSQL, nothing on SQLite),
  ``begin_write``/``mark_write_intent`` (``BEGIN IMMEDIATE`` on SQLite), ``insert_unless_present`` (``ON CONFLICT``
  spelt per dialect);
- a caught constraint violation (``except IntegrityError``): PostgreSQL aborts the transaction, SQLite goes on;
- SQL the two answer differently: ``like``/``ilike`` (case folding), ``avg`` (``Decimal`` or ``float``),
  ``aggregate_strings`` (``string_agg`` or ``group_concat``), ``collate``, and ``yield_per``/``stream_results`` (a
  server-side cursor on PostgreSQL).
"""

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIALECTS = {"postgresql", "sqlite"}
DRIVERS = {"psycopg", "psycopg2", "sqlite3"}
LOCKING = {"begin_write", "insert_unless_present", "mark_write_intent", "with_for_update"}
SQL_ANSWERED_DIFFERENTLY = {"like", "ilike", "notlike", "notilike", "not_like", "not_ilike", "avg", "aggregate_strings",
                            "collate", "yield_per"}
STREAMING = {"yield_per", "stream_results"}
MARKERS = ("both_databases", "postgres")
# Modules known to branch on the database (the list): the detector must find at least these.
KNOWN = {"app.database", "app.config", "app.proposals.search", "app.reports.service", "app.reports.versions",
         "app.boards.models"}


def _called(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _docstrings(tree: ast.AST) -> set[int]:
    holders = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, holders) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def _imports_dialect_code(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module]
    elif isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        return None
    for name in names:
        if name.startswith("sqlalchemy.dialects") or name.split(".")[0] in DRIVERS:
            return f"imports {name}"
    return None


def dialect_dependence(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place where this source's behaviour depends on the database (module docstring)."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if what := _imports_dialect_code(node):
            found.append((line, what))
        elif isinstance(node, ast.Constant) and node.value in DIALECTS and id(node) not in docstrings:
            found.append((line, f"the string {node.value!r}"))
        elif (isinstance(node, ast.Attribute) and node.attr == "name" and isinstance(node.value, ast.Attribute)
              and node.value.attr == "dialect"):
            found.append((line, ".dialect.name"))
        elif isinstance(node, ast.keyword) and node.arg and (node.arg.split("_")[0] in DIALECTS
                                                             or node.arg in LOCKING | STREAMING):
            found.append((line, f"{node.arg}="))
        elif isinstance(node, ast.Call):
            called = _called(node)
            if called == "is_sqlite" or called in LOCKING:
                found.append((line, f"{called}()"))
            elif called in SQL_ANSWERED_DIFFERENTLY and isinstance(node.func, ast.Attribute):
                found.append((line, f".{called}()"))
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None) for n in ast.walk(node.type)}
            if "IntegrityError" in caught:
                found.append((line, "except IntegrityError"))
    return sorted(found)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules_depending_on_the_database() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        if places := dialect_dependence(path.read_text(encoding="utf-8")):
            found[module_name(path)] = places
    return found


def _is_marker(node: ast.AST) -> bool:
    """``<…>.mark.both_databases(…)`` or ``<…>.mark.postgres(…)``."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKERS
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark")


@functools.cache
def named_modules() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the test files whose markers name it; and the marker arguments that are not plain strings."""
    named: dict[str, set[str]] = {}
    unreadable = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not _is_marker(node):
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    named.setdefault(arg.value, set()).add(where)
                else:
                    unreadable.append(f"{where}:{node.lineno}: {ast.unparse(arg)}")
    return named, unreadable


# --- the detector ---------------------------------------------------------------------------------------------

DEPENDENT_SOURCES = {
    "is_sqlite": "from .database import is_sqlite\nif is_sqlite():\n    pass\n",
    "dialect name": "def f(bind):\n    return bind.dialect.name == x\n",
    "execute_if": "event.listen(t, 'after_create', DDL(s).execute_if(dialect='postgresql'))\n",
    "compiles": "@compiles(days_between, 'sqlite')\ndef f(element, compiler, **kw):\n    pass\n",
    "with_variant": "c = String(64).with_variant(String(64, collation='C'), 'postgresql')\n",
    "url compared": "if not uri.startswith('sqlite'):\n    pass\n",
    "dialect keyword": "Index('ix', 'a', postgresql_where=text('a IS NOT NULL'))\n",
    "dialect import": "from sqlalchemy.dialects.postgresql import insert\n",
    "driver import": "def f():\n    import psycopg\n",
    "row lock": "stmt = select(T).with_for_update(of=T)\n",
    "row lock keyword": "db.session.get(T, 1, with_for_update=True)\n",
    "write lock": "def f():\n    begin_write()\n",
    "upsert": "db.session.execute(insert_unless_present(T, ['a'], a=1))\n",
    "constraint caught": "try:\n    db.session.flush()\nexcept (ValueError, exc.IntegrityError):\n    pass\n",
    "ilike": "stmt.where(T.name.ilike('%x%'))\n",
    "avg": "select(func.avg(T.grade))\n",
    "aggregate_strings": "select(func.aggregate_strings(T.name, ','))\n",
    "streaming": "stmt.execution_options(yield_per=500)\n",
}
INDEPENDENT_SOURCE = '''"""Mentions sqlite and "postgresql" in a docstring only."""
import csv
from sqlalchemy import select

def f(rows, path):
    """Nothing here depends on the database: "sqlite"."""
    writer = csv.writer(path, dialect="excel")
    return select(T).where(T.name == "sqlite3").order_by(T.name), writer
'''


def test_the_detector_finds_each_way_a_module_depends_on_the_database():
    missed = [kind for kind, source in DEPENDENT_SOURCES.items() if not dialect_dependence(source)]
    assert missed == []
    assert dialect_dependence(INDEPENDENT_SOURCE) == []


def test_the_detector_finds_the_modules_known_to_branch_on_the_database():
    found = modules_depending_on_the_database()
    assert not KNOWN - found.keys(), KNOWN - found.keys()
    assert "app.csvsafe" not in found and "app.markdown" not in found


# --- the marked tests -----------------------------------------------------------------------------------------

def test_every_module_depending_on_the_database_has_a_test_that_runs_on_postgresql():
    found = modules_depending_on_the_database()
    named, _ = named_modules()
    untested = {module: places for module, places in found.items() if module not in named}
    assert not untested, "no test on PostgreSQL names these modules; mark one that exercises each with " \
        '@pytest.mark.both_databases("<module>"):\n' + "\n".join(
            f"  {module}: " + ", ".join(f"line {line} {what}" for line, what in places[:4]) for module, places in
            sorted(untested.items()))


def test_markers_name_only_modules_that_depend_on_the_database():
    found = modules_depending_on_the_database()
    named, unreadable = named_modules()
    assert unreadable == [], "marker arguments must be module names as plain strings"
    stale = {module: sorted(files) for module, files in named.items() if module not in found}
    assert not stale, f"these names are of no module of app/ that depends on the database: {stale}"


# --- the parametrisation (conftest.py), on a sample collected in another process ---------------------------------

SAMPLE = '''
import pytest


def test_plain(backend):
    pass


@pytest.mark.both_databases()
def test_marked(backend):
    pass


@pytest.mark.both_databases()
class TestMarkedClass:
    def test_in_class(self, backend):
        pass


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.both_databases()
def test_marked_with_parameters(backend, n):
    pass


@pytest.mark.parametrize("backend", ["postgresql"])
def test_own_list(backend):
    pass


def test_no_database():
    pass


@pytest.mark.both_databases()
@pytest.mark.postgres
def test_on_postgresql_only():
    pass
'''
REFUSED = {
    "test_refused_without_database.py": '''
import pytest


@pytest.mark.both_databases()
def test_marked_without_database():
    pass
''',
    "test_refused_beside_own_list.py": '''
import pytest


@pytest.mark.both_databases()
@pytest.mark.parametrize("backend", ["sqlite"])
def test_marked_beside_its_own_list(backend):
    pass
''',
}


LISTING = '''
import os

from tests.conftest import backend, pytest_generate_tests  # noqa: F401


def pytest_collection_finish(session):
    with open(os.environ["COLLECTED"], "w") as out:
        for item in session.items:
            out.write(f"{item.nodeid} {'postgres' if item.get_closest_marker('postgres') else '-'}\\n")
'''


def test_marked_tests_run_on_both_databases_and_the_others_on_sqlite_only(tmp_path):
    """Collected in another process, with conftest.py's parametrisation: ids, the ``postgres`` marker of each
    PostgreSQL run (what ``-m postgres`` selects), and the markers refused."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\nmarkers =\n    both_databases\n"
                                         "    postgres\n")
    (tmp_path / "conftest.py").write_text(LISTING)
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    for name, source in REFUSED.items():
        (tmp_path / name).write_text(source)
    listing = tmp_path / "collected.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "COLLECTED": str(listing)}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--continue-on-collection-errors", "--rootdir", str(tmp_path), "test_sample.py", *REFUSED],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and listing.exists(), output
    assert "test_marked_without_database: marked both_databases but uses no database" in output
    assert "test_marked_beside_its_own_list: marked both_databases and parametrises backend itself" in output
    # Each PostgreSQL run of a marked test carries ``postgres`` (a list of the test's own is the test's to mark).
    assert listing.read_text().splitlines() == [
        "test_sample.py::test_plain[sqlite] -",
        "test_sample.py::test_marked[sqlite] -",
        "test_sample.py::test_marked[postgresql] postgres",
        "test_sample.py::TestMarkedClass::test_in_class[sqlite] -",
        "test_sample.py::TestMarkedClass::test_in_class[postgresql] postgres",
        "test_sample.py::test_marked_with_parameters[sqlite-1] -",
        "test_sample.py::test_marked_with_parameters[sqlite-2] -",
        "test_sample.py::test_marked_with_parameters[postgresql-1] postgres",
        "test_sample.py::test_marked_with_parameters[postgresql-2] postgres",
        "test_sample.py::test_own_list[postgresql] -",
        "test_sample.py::test_no_database -",
        "test_sample.py::test_on_postgresql_only postgres",
    ]
