"""The tables of ``docs/realtime-protocol.md``, written from the schemas and the code that answers.

``python -m app.boards.protocol_doc`` rewrites the parts of the doc between ``<!-- generated: NAME -->`` and
``<!-- end: NAME -->``; with ``--check`` it only says whether they are current (the tests do the same), so the
doc and the server cannot disagree: a field, an event or an error code added to the code shows up here.
"""

import ast
import re
import sys
from pathlib import Path

from . import schemas

ROOT = Path(__file__).resolve().parents[2]  # the project: docs/ and app/ beside each other
DOC = ROOT / "docs" / "realtime-protocol.md"
# Where the codes of refusals come from: the boards area and the errors every area shares.
ERROR_SOURCES = [*sorted((ROOT / "app" / "boards").glob("*.py")), ROOT / "app" / "errors.py"]


def _type(prop: dict, defs: dict) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(option, defs) for option in prop["anyOf"])
    if "$ref" in prop:
        return f"`{prop['$ref'].rsplit('/', 1)[-1]}`"
    kind = prop.get("type")
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if kind == "integer":
        if (prop.get("minimum"), prop.get("maximum")) == (-(2**31 - 1), 2**31 - 1):
            return "int32"  # what the database's INTEGER holds
        if "minimum" in prop or "maximum" in prop:
            return f"int ({prop.get('minimum', '…')} to {prop.get('maximum', '…')})"
        return "int"
    if kind == "string":
        if "maxLength" in prop:
            return f"string ({prop.get('minLength', 0)}–{prop['maxLength']:,} chars)"
        return "string"
    if kind == "array":
        items = _type(prop.get("items", {}), defs)
        return f"list of {items}" + (f" (at most {prop['maxItems']})" if "maxItems" in prop else "")
    if kind == "object":
        values = prop.get("additionalProperties")
        inner = f" {{name: {_type(values, defs)}}}" if isinstance(values, dict) else ""
        return "object" + inner + (f" (at most {prop['maxProperties']} keys)" if "maxProperties" in prop else "")
    return {"boolean": "bool", "null": "null"}.get(kind, kind or "any")


def _fields(model) -> str:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    parts = []
    for name, prop in schema["properties"].items():
        optional = "" if name in required else ", optional"
        parts.append(f"`{name}` ({_type(prop, defs)}{optional})")
    return "; ".join(parts)


def _doc(model) -> str:
    return " ".join((model.__doc__ or "").split()).replace("``", "`")


def client_events() -> str:
    rows = ["| event | fields (besides `board_id` and `client_id`) | who, and the rules |", "| --- | --- | --- |"]
    for name, model in schemas.CLIENT_EVENTS.items():
        fields = "; ".join(f for f in _fields(model).split("; ") if not f.startswith(("`board_id`", "`client_id`")))
        rows.append(f"| `{name}` | {fields or '—'} | {_doc(model)} |")
    common = _fields(schemas.PostIdea).split("; ")[:2]
    return "\n".join([f"Every payload carries {common[0]} and may carry {common[1]}. `int32`: an integer from "
                      "−2,147,483,647 to 2,147,483,647 (what the database holds).", "", *rows])


def server_events() -> str:
    rows = ["| event | payload | audience |", "| --- | --- | --- |"]
    for name, model in schemas.SERVER_EVENTS.items():
        rows.append(f"| `{name}` | {_fields(model)} | {_doc(model)} |")
    return "\n".join(rows)


def messages() -> str:
    rows = ["| message | payload | to whom, and when |", "| --- | --- | --- |"]
    for name, model in schemas.MESSAGES.items():
        rows.append(f"| `{name}` | {_fields(model)} | {_doc(model)} |")
    return "\n".join(rows)


def views() -> str:
    rows = ["| view | fields | notes |", "| --- | --- | --- |"]
    for model in (schemas.IdeaView, schemas.ParticipantView, schemas.ColumnView, schemas.ClusterView,
                  schemas.TimerView, schemas.SettingsView):
        rows.append(f"| `{model.__name__}` | {_fields(model)} | {_doc(model)} |")
    return "\n".join(rows)


def error_codes() -> list[str]:
    """Every code a refusal can carry: ``code = "..."`` on error classes, ``code="..."`` given to one, the first
    argument of the socket handlers' ``_error``, and ``{"code": "..."}`` written out (the connection refusals)."""
    codes = set()
    for path in ERROR_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name != "DomainError":
                for item in node.body:
                    if isinstance(item, ast.Assign) and any(getattr(t, "id", None) == "code" for t in item.targets) \
                            and isinstance(item.value, ast.Constant):
                        codes.add(item.value.value)
            elif isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        codes.add(keyword.value.value)
                if getattr(node.func, "id", None) == "_error" and node.args and isinstance(node.args[0], ast.Constant):
                    codes.add(node.args[0].value)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code" and isinstance(value, ast.Constant):
                        codes.add(value.value)
    return sorted(c for c in codes if isinstance(c, str))


def errors() -> str:
    return ", ".join(f"`{code}`" for code in error_codes()) + "."


SECTIONS = {"client-events": client_events, "messages": messages, "server-events": server_events,
            "views": views, "error-codes": errors}


def render(text: str) -> str:
    """``text`` with every generated section written anew."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"{DOC.name} has no section {name!r}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    current = DOC.read_text()
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOC} is out of date: run python -m app.boards.protocol_doc")
            return 1
        return 0
    DOC.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
