"""Board exports (CSV, JSON, Markdown). Anonymity is respected: no author names on anonymous boards."""

import json

from sqlalchemy import select

from ..csvsafe import write_csv
from ..extensions import db
from .models import Cluster, Idea, IdeaStatus
from .service import _reaction_counts, author_label


def _rows(board):
    ideas = db.session.scalars(select(Idea).where(Idea.board_id == board.id, Idea.status == IdeaStatus.visible)
                               .order_by(Idea.column_id, Idea.sort_key)).all()
    clusters = {c.id: c.name for c in db.session.scalars(select(Cluster).where(Cluster.board_id == board.id))}
    columns = {c.id: c.title for c in board.columns}
    reactions = _reaction_counts([i.id for i in ideas])
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
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


def as_markdown(board) -> bytes:
    lines = [f"# {board.title}", ""]
    current_column = current_cluster = None
    for row in _rows(board):
        if row["column"] != current_column:
            current_column, current_cluster = row["column"], None
            lines += ["", f"## {current_column}", ""]
        if row["cluster"] and row["cluster"] != current_cluster:
            current_cluster = row["cluster"]
            lines += ["", f"### {current_cluster}", ""]
        author = f" — {row['author']}" if row["author"] else ""
        text = row["text"].replace("\n", " ")
        lines.append(f"- {text}{author} ({row['votes']})")
    return ("\n".join(lines).strip() + "\n").encode()
