"""The areas of ``app/`` import one another one way (docs/architecture.md): no cycle between areas, and the shared
modules import no area. Read from the source with ``ast``, so a function-level import counts too."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
AREAS = sorted(p.name for p in APP.iterdir() if (p / "__init__.py").exists() and p.name not in {"data", "static"})
TOP = {"demo"}  # sits on top and may import any area (as do app/jobs.py, app/cli.py and the app factory)


def imported_areas(path: Path, area: str | None) -> set[str]:
    """The areas a module of ``area`` (None: a shared module of ``app/``) imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("app."):
                names = [node.module.split(".")[1]]
            elif node.level:
                depth = len(path.relative_to(APP).parts) - 1  # packages between app/ and the module
                if node.level > depth:  # reaches app/ itself: `from ..x import y` names area x (or its names)
                    names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("app.")]
        found |= {name for name in names if name in AREAS and name != area}
    return found


def area_graph() -> dict[str, set[str]]:
    return {area: set().union(*(imported_areas(p, area) for p in (APP / area).rglob("*.py")))
            for area in AREAS}


def test_no_cycle_between_areas():
    graph = area_graph()
    done, path = set(), []

    def visit(area):
        if area in path:
            raise AssertionError(" -> ".join(path[path.index(area):] + [area]))
        if area in done:
            return
        path.append(area)
        for other in sorted(graph[area]):
            visit(other)
        path.pop()
        done.add(area)

    for area in AREAS:
        visit(area)


def test_no_area_imports_the_demo_and_only_the_upper_areas_import_feedback():
    graph = area_graph()
    assert [a for a in AREAS if "demo" in graph[a]] == []
    above_feedback = {"api", "opendata", "reports", "barometer"}
    assert {a for a in AREAS if "feedback" in graph[a] and a not in TOP} <= above_feedback
    assert "feedback" not in graph["decisions"] | graph["proposals"] | graph["workshops"] | graph["catalog"]


def test_the_barometer_sits_above_feedback_and_decisions_and_below_open_data():
    graph = area_graph()
    assert {"feedback", "decisions", "catalog"} <= graph["barometer"]
    assert not graph["barometer"] & {"api", "opendata", "reports"}
    # Measure and service pages show the before/after through template globals: decisions never imports it.
    assert {a for a in AREAS if "barometer" in graph[a] and a not in TOP} <= {"api", "opendata", "reports"}


def test_shared_modules_import_no_area():
    on_top = {"__init__.py", "jobs.py", "cli.py", "models.py"}  # the factory, the job runner, commands, the model list
    shared = [p for p in APP.glob("*.py") if p.name not in on_top]
    assert {p.name: sorted(imported_areas(p, None)) for p in shared if imported_areas(p, None)} == {}


def test_the_reader_sees_the_imports_it_judges():
    assert imported_areas(APP / "feedback" / "linking.py", "feedback") >= {"decisions", "proposals", "workshops"}
    assert "catalog" in imported_areas(APP / "feedback" / "models.py", "feedback")
