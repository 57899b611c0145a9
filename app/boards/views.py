"""What each audience of a board is sent: the views of ideas, people, columns, groups, settings and the timer
(anonymous authors and hidden votes never reach participants), the whole board for a newcomer (``snapshot``), and
the stored changes one connection receives on resync (``events_since``, ``changes_for``). Reads only: it never
writes, never numbers an event, never commits."""

import json

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from .models import (
    PHASE_ORDER,
    Audience,
    Board,
    BoardColumn,
    BoardEvent,
    Cluster,
    Dot,
    Idea,
    IdeaStatus,
    Participant,
    Phase,
    Reaction,
)

GUEST_LABEL = _l("invité·e")


def phase_index(phase: Phase) -> int:
    return PHASE_ORDER.index(phase)


def votes_visible(board: Board) -> bool:
    """Vote counts show to participants unless hidden until the end of voting."""
    return not board.hide_votes or phase_index(board.phase) > phase_index(Phase.voting)


def author_label(idea: Idea, board: Board, for_facilitator: bool) -> str | None:
    if board.anonymous and not for_facilitator:
        return None
    p = idea.participant
    if p.user_id is None:
        return p.guest_name or str(GUEST_LABEL)
    return p.user.public_name if p.user else str(GUEST_LABEL)


def idea_view(idea: Idea, board: Board, *, for_facilitator: bool, mine: bool = False,
              reactions: dict | None = None) -> dict:
    """What one audience may see of an idea. Anonymous authors and hidden votes never reach participants."""
    view = {"id": idea.id, "column_id": idea.column_id, "cluster_id": idea.cluster_id, "sort_key": idea.sort_key,
            "text": idea.text, "status": idea.status.value, "version": idea.version,
            "author": author_label(idea, board, for_facilitator), "mine": mine,
            "reactions": reactions or {}}
    if for_facilitator or votes_visible(board):
        view["votes"] = idea.votes
    if for_facilitator:
        view["author_participant_id"] = idea.participant_id
        view["hidden_reason"] = idea.hidden_reason
    return view


def hidden_from_participants(idea: Idea, board: Board) -> bool:
    return idea.status is not IdeaStatus.visible or board.hide_ideas


def reaction_counts(idea_ids: list[int]) -> dict[int, dict[str, int]]:
    if not idea_ids:
        return {}
    counts: dict[int, dict[str, int]] = {}
    for idea_id, kind, n in db.session.execute(
            select(Reaction.idea_id, Reaction.kind, func.count()).where(Reaction.idea_id.in_(idea_ids))
            .group_by(Reaction.idea_id, Reaction.kind)):
        counts.setdefault(idea_id, {})[kind] = n
    return counts


def participant_view(participant: Participant, board: Board, for_facilitator: bool) -> dict:
    name = None
    if for_facilitator or not board.anonymous:
        name = participant.guest_name or (participant.user.public_name if participant.user else str(GUEST_LABEL))
    view = {"id": participant.id, "name": name, "ready": participant.ready, "facilitator": participant.is_facilitator}
    if for_facilitator:
        view["guest"] = participant.is_guest
    return view


def column_view(column: BoardColumn) -> dict:
    return {"id": column.id, "title": column.title, "prompt": column.prompt, "position": column.position}


def cluster_view(cluster: Cluster) -> dict:
    return {"id": cluster.id, "name": cluster.name, "column_id": cluster.column_id, "version": cluster.version}


def settings_view(board: Board) -> dict:
    return {"hide_ideas": board.hide_ideas, "anonymous": board.anonymous, "hide_votes": board.hide_votes,
            "locked": board.locked, "allow_guests": board.allow_guests, "idea_cap": board.idea_cap,
            "dot_budget": board.dot_budget, "dot_cap": board.dot_cap, "moderation": board.moderation.value}


def timer_view(board: Board) -> dict:
    return {"ends_at": board.timer_ends_at.isoformat() + "Z" if board.timer_ends_at else None,
            "paused_seconds": board.timer_paused_seconds}


def event_dict(event: BoardEvent) -> dict:
    return {"seq": event.seq, "position": event.position, "name": event.name, "audience": event.audience.value,
            "participant_id": event.participant_id, "payload": json.loads(event.payload)}


def snapshot(board: Board, participant: Participant) -> dict:
    """The whole board as this participant may see it, with the seq it is current to."""
    facilitator = participant.is_facilitator
    ideas = list(db.session.scalars(select(Idea).where(Idea.board_id == board.id).order_by(Idea.column_id,
                                                                                          Idea.sort_key)))
    counts = reaction_counts([i.id for i in ideas])
    my_dots = dict(db.session.execute(select(Dot.idea_id, Dot.count).where(Dot.participant_id == participant.id)).all())
    views, hidden = [], []
    for idea in ideas:
        mine = idea.participant_id == participant.id
        if facilitator:
            if idea.status is not IdeaStatus.withdrawn:
                views.append(idea_view(idea, board, for_facilitator=True, mine=mine, reactions=counts.get(idea.id, {})))
        elif mine and idea.status is not IdeaStatus.withdrawn:
            views.append(idea_view(idea, board, for_facilitator=False, mine=True, reactions=counts.get(idea.id, {})))
        elif idea.status is IdeaStatus.visible:
            if board.hide_ideas:
                hidden.append({"id": idea.id, "column_id": idea.column_id})
            else:
                views.append(idea_view(idea, board, for_facilitator=False, reactions=counts.get(idea.id, {})))
    for view in views:
        view["my_dots"] = my_dots.get(view["id"], 0)
    participants = db.session.scalars(select(Participant).where(Participant.board_id == board.id,
                                                                Participant.removed_at.is_(None))).all()
    clusters = db.session.scalars(select(Cluster).where(Cluster.board_id == board.id)).all()
    return {
        "seq": board.seq,
        "board": {"id": board.id, "title": board.title, "phase": board.phase.value, "join_code": board.join_code
                  if facilitator else None, "focused_idea_id": board.focused_idea_id, "timer": timer_view(board),
                  "settings": settings_view(board)},
        "columns": [column_view(c) for c in board.columns],
        "clusters": [cluster_view(c) for c in clusters],
        "ideas": views,
        "hidden_ideas": hidden,
        "participants": [participant_view(p, board, facilitator) for p in participants],
        "me": {"participant_id": participant.id, "facilitator": facilitator,
               "dots_left": board.dot_budget - participant.dots_used},
    }


def audience_of(facilitator: bool) -> tuple[Audience, Audience]:
    """The audiences whose events one connection receives as its ``change`` (private ones come apart)."""
    return (Audience.everyone, Audience.facilitators) if facilitator else (Audience.everyone, Audience.participants)


def changes_for(events: list[dict], facilitator: bool, participant_id: int | None = None) -> list[dict]:
    """Committed events (``event_dict``'s, in order) as the changes one connection receives: ``{"seq", "events"}``
    with the events of its audience, then those meant for ``participant_id`` alone. A change with nothing for it is
    left out (the ``seq`` of the answer covers it)."""
    audiences = {a.value for a in audience_of(facilitator)}
    changes: list[dict] = []
    for event in events:
        if event["audience"] in audiences or (event["audience"] == Audience.participant.value
                                              and event["participant_id"] == participant_id):
            if not changes or changes[-1]["seq"] != event["seq"]:
                changes.append({"seq": event["seq"], "events": []})
            changes[-1]["events"].append(event)
    for change in changes:  # the person's own events after their audience's, as they arrive live
        change["events"] = [{"name": e["name"], "payload": e["payload"]}
                            for e in sorted(change["events"], key=lambda e: (e["audience"] == "participant",
                                                                            e["position"]))]
    return changes


def events_since(board: Board, participant: Participant, last_seq: int, limit: int | None = None) -> list[dict] | None:
    """The changes after ``last_seq`` as this participant receives them (``changes_for``), or None when too far
    behind (send a snapshot)."""
    limit = limit or current_app.config.get("BOARD_RESYNC_LIMIT", 500)
    if last_seq > board.seq or last_seq < 0:
        return None
    audiences = audience_of(participant.is_facilitator)
    rows = db.session.scalars(
        select(BoardEvent).where(BoardEvent.board_id == board.id, BoardEvent.seq > last_seq,
                                 (BoardEvent.audience.in_(audiences)) | (
                                     (BoardEvent.audience == Audience.participant)
                                     & (BoardEvent.participant_id == participant.id)))
        .order_by(BoardEvent.seq, BoardEvent.position).limit(limit + 1)).all()
    if len(rows) > limit:
        return None
    return changes_for([event_dict(e) for e in rows], participant.is_facilitator, participant.id)
