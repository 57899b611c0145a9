"""Board exports (CSV, JSON, Markdown). Anonymity is respected: no author names on anonymous boards.

What participants typed (ideas, names, group names, and the facilitators' titles) is neutralised in every format,
each in its own way: formula cells made text in CSV (app/csvsafe.py), every markup character escaped in Markdown
(``markdown_text``: a ``[link](javascript:…)`` or ``<script>`` shows as typed), and in JSON the text as typed in
plain fields with no byte that can be read as markup (app/jsonsafe.py)."""

from sqlalchemy import select

from .. import jsonsafe
from ..csvsafe import write_csv
from ..extensions import db
from ..markdown import markdown_text
from .models import Cluster, Idea, IdeaStatus
from .views import author_label, reaction_counts


def _rows(board):
    ideas = db.session.scalars(select(Idea).where(Idea.board_id == board.id, Idea.status == IdeaStatus.visible)
                               .order_by(Idea.column_id, Idea.sort_key)).all()
    clusters = {c.id: c.name for c in db.session.scalars(select(Cluster).where(Cluster.board_id == board.id))}
    columns = {c.id: c.title for c in board.columns}
    reactions = reaction_counts([i.id for i in ideas])
    for idea in ideas:
        yield {"column": columns.get(idea.column_id, ""), "cluster": clusters.get(idea.cluster_id, ""),
               "text": idea.text, "author": author_label(idea, board, for_facilitator=False) or "",
               "votes": idea.votes, "reactions": sum(reactions.get(idea.id, {}).values()),
               "created_at": idea.created_at.isoformat() + "Z"}


FIELDS = ["column", "cluster", "text", "author", "votes", "reactions", "created_at"]


def as_csv(board) -> bytes:
    return write_csv([[row[f] for f in FIELDS] for row in _rows(board)], FIELDS)


def as_json(board) -> bytes:
    data = {"board": {"id": board.id, "title": board.title, "phase": board.phase.value,
                      "anonymous": board.anonymous, "columns": [c.title for c in board.columns]},
            "ideas": list(_rows(board))}
    return jsonsafe.dumps(data, indent=2).encode()


def as_markdown(board) -> bytes:
    lines = [f"# {markdown_text(board.title)}", ""]
    current_column = current_cluster = None
    for row in _rows(board):
        if row["column"] != current_column:
            current_column, current_cluster = row["column"], None
            lines += ["", f"## {markdown_text(current_column)}", ""]
        if row["cluster"] and row["cluster"] != current_cluster:
            current_cluster = row["cluster"]
            lines += ["", f"### {markdown_text(current_cluster)}", ""]
        author = f" — {markdown_text(row['author'])}" if row["author"] else ""
        lines.append(f"- {markdown_text(row['text'])}{author} ({row['votes']})")
    return ("\n".join(lines).strip() + "\n").encode()
