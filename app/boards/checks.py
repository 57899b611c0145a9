"""The checks the board's changes make before they write anything, each refusing with one of ``errors``' refusals
(or ``InvalidInput``): whether the acting participant may write now (the phase, the lock, the facilitator role),
whether an idea's text and a board's settings hold values they may take, and whether the idea, column or group a
client names is one of this board's. The use cases (``service``) call them; the board's row lock is theirs."""

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from ..errors import InvalidInput, NotAllowed, NotFound
from ..extensions import db
from ..inputs import enum_member
from .changes import acting_participant
from .errors import BoardLocked, UnknownColumn, UnknownIdea, WrongPhase
from .models import Board, BoardColumn, Cluster, Idea, Moderation, Participant, Phase

IDEA_MAX = 500


def require_facilitator(board: Board, participant_id: int) -> Participant:
    """The acting participant, who must facilitate the board now (the role is re-read: a withdrawn one stops)."""
    participant = acting_participant(board, participant_id)
    if not participant.is_facilitator:
        raise NotAllowed()
    return participant


def require_writable(board: Board, participant: Participant) -> None:
    """A closed board is read-only for everyone; a locked one for everyone but its facilitators."""
    if board.phase is Phase.closed:
        raise WrongPhase(_l("La séance est terminée : le tableau est en lecture seule."))
    if board.locked and not participant.is_facilitator:
        raise BoardLocked()


def require_phase(board: Board, participant: Participant, *phases: Phase) -> None:
    """Writable, and in one of ``phases`` (facilitators act in any open phase)."""
    require_writable(board, participant)
    if board.phase not in phases and not participant.is_facilitator:
        raise WrongPhase()


def require_idea_text(text: str) -> None:
    """An idea holds 1 to 500 characters (after stripping)."""
    if not 1 <= len(text) <= IDEA_MAX:
        raise InvalidInput(_l("Une idée doit faire entre 1 et 500 caractères."), code="idea_length")


# Each setting a facilitator may change, and the kind of value it takes.
SETTINGS = {
    "hide_ideas": bool, "anonymous": bool, "hide_votes": bool, "locked": bool, "allow_guests": bool,
    "idea_cap": "cap", "dot_budget": "budget", "dot_cap": "cap", "moderation": "moderation",
}


def _clean_setting(name: str, value):
    kind = SETTINGS.get(name)
    if kind is None:
        raise InvalidInput(_l("Réglage inconnu."), code="unknown_setting")
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidInput(code="bad_setting")
        return value
    if kind == "moderation":
        mode = enum_member(Moderation, value) if isinstance(value, str) else None
        if mode is None:
            raise InvalidInput(code="bad_setting")
        return mode
    if kind == "cap" and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (0 if kind == "budget" else 1) <= value <= 100:
        raise InvalidInput(code="bad_setting")
    return value


def clean_settings(settings) -> dict:
    """The settings a facilitator sends, by name, each value checked (and typed) for its setting."""
    if not isinstance(settings, dict) or not settings:
        raise InvalidInput(code="bad_setting")
    return {name: _clean_setting(name, value) for name, value in settings.items()}


def _with_author():  # joined, in the same round trip: the events of an idea name its author
    return joinedload(Idea.participant).joinedload(Participant.user)


def board_idea(board: Board, idea_id) -> Idea:
    """The idea ``idea_id`` names on this board, with its author."""
    idea = db.session.get(Idea, idea_id, options=[_with_author()]) if isinstance(idea_id, int) else None
    if idea is None or idea.board_id != board.id:
        raise UnknownIdea()
    return idea


def board_column(board: Board, column_id) -> BoardColumn:
    """The column ``column_id`` names on this board."""
    column = db.session.get(BoardColumn, column_id) if isinstance(column_id, int) else None
    if column is None or column.board_id != board.id:
        raise UnknownColumn()
    return column


def board_cluster(board: Board, cluster_id) -> Cluster:
    """The group ``cluster_id`` names on this board."""
    cluster = db.session.get(Cluster, cluster_id) if isinstance(cluster_id, int) else None
    if cluster is None or cluster.board_id != board.id:
        raise NotFound(_l("Ce groupe n'existe pas sur ce tableau."), code="unknown_cluster")
    return cluster
