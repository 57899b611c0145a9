"""The live board's socket protocol as schemas: what each client event may carry, and what the server sends.

Client payloads are checked here before any handler logic (``parse``): types, bounds and keys. The rules of the
board (phases, budgets, who may do what) stay in ``service.py``, which answers with its own error codes. The
server's events are described by models too; the tables of ``docs/realtime-protocol.md`` are written from these
models (``protocol_doc.py``), and the tests check that the doc is current and that what the server sends fits.

Why pydantic rather than marshmallow: its strict mode takes JSON's types as they are (a boolean is never an
integer, ``1.0`` is not an id), bounds and lengths are part of each type, unknown keys are refused with
``extra="forbid"``, validation is compiled (pydantic-core), which matters on the path of every idea posted, and
the models give JSON Schema, from which the doc's tables are written. marshmallow coerces by default and would
need a strictness layer of our own and a plugin for the schema.
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..inputs import DB_INT_MAX, is_valid_text

MAX_STRING = 2000  # any string field; the rules say less where they care (an idea: 500)
MAX_LIST = 500  # ideas grouped at once
MAX_SETTINGS = 20


def _plain_text(value: str) -> str:
    """Valid Unicode (no lone surrogate) and no NUL character, which PostgreSQL text cannot hold."""
    if "\x00" in value or not is_valid_text(value):
        raise ValueError("not valid text")
    return value


# Ids and numbers: what a 32-bit INTEGER column holds. An id in that range that names nothing on the board is
# refused by the rules (``unknown_idea``...); one outside it cannot be a row at all: ``invalid_input``.
Id = Annotated[StrictInt, Field(ge=-DB_INT_MAX, le=DB_INT_MAX, description="an id (integer)")]
Count = Annotated[StrictInt, Field(ge=-DB_INT_MAX, le=DB_INT_MAX, description="an integer")]
Text = Annotated[StrictStr, Field(max_length=MAX_STRING, description="text"), AfterValidator(_plain_text)]
ClientId = Annotated[StrictStr, Field(min_length=1, max_length=64, description="made by the client"),
                     AfterValidator(_plain_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- client -> server -------------------------------------------------------------------------------------------

class JoinBoard(_Strict):
    """Anyone allowed on the board. Answers the changes missed since ``last_seq``, or a snapshot (see Resync)."""

    board_id: Id
    last_seq: Count | None = Field(None, description="the last seq applied; null or absent on a first visit")


class _Change(_Strict):
    board_id: Id
    client_id: ClientId | None = Field(None, description="a resend with the same id returns the first answer")


class PostIdea(_Change):
    """Participants in the brainstorm phase (facilitators: any open phase), not when locked; per-person
    ``idea_cap``; with moderation "approve" a participant's idea is ``pending``. Text of 1–500 characters."""

    column_id: Id
    text: Text


class EditIdea(_Change):
    """The author until the grouping phase; facilitators. Last writer wins: the answer has ``overtaken: true``
    when ``version`` was not the idea's current one."""

    idea_id: Id
    text: Text
    version: Count | None = None


class WithdrawIdea(_Change):
    """The author, in the brainstorm phase; dots on it go back to their voters."""

    idea_id: Id


class MoveIdea(_Change):
    """Facilitators: into a column, between two neighbours (one row written)."""

    idea_id: Id
    column_id: Id
    before_id: Id | None = None
    after_id: Id | None = None


class React(_Change):
    """Everyone, on visible ideas: ``kind`` is ``plus_one``, ``heart``, ``question`` or ``idea``."""

    idea_id: Id
    kind: Text
    on: StrictBool = True


class Vote(_Change):
    """Everyone, in the voting phase: ``delta`` +1 or −1 (else ``bad_delta``); ``dot_budget`` per person,
    ``dot_cap`` per idea."""

    idea_id: Id
    delta: Count


class SetReady(_Change):
    """Everyone, unless the board is locked or closed."""

    ready: StrictBool


class UpdateSettings(_Change):
    """Facilitators: names and values as in the snapshot's settings."""

    settings: dict[Annotated[StrictStr, Field(max_length=40)], StrictBool | Count | Text | None] = Field(
        max_length=MAX_SETTINGS)


class SetPhase(_Change):
    """Facilitators: ``preparation``, ``brainstorm``, ``grouping``, ``voting``, ``discussion`` or ``closed``
    (read-only)."""

    phase: Text


class ControlTimer(_Change):
    """Facilitators: ``start``, ``pause``, ``resume``, ``add`` or ``stop``; ``seconds`` 1–14,400 to start or add.
    The end time is held by the server."""

    action: Text
    seconds: Count | None = None


class ModerateIdea(_Change):
    """Facilitators: ``approve``, ``hide`` (with a reason) or ``show``; written in the moderation log."""

    idea_id: Id
    action: Text
    reason: Text = ""


class FocusIdea(_Change):
    """Facilitators: the idea everyone looks at, or null."""

    idea_id: Id | None


class GroupIdeas(_Change):
    """Facilitators: ideas of one column, into a new cluster named ``name`` or into ``cluster_id``."""

    idea_ids: list[Id] = Field(max_length=MAX_LIST)
    name: Text = ""
    cluster_id: Id | None = None


class Ungroup(_Change):
    """Facilitators: some ideas out of their cluster, or a whole cluster."""

    idea_ids: list[Id] | None = Field(None, max_length=MAX_LIST)
    cluster_id: Id | None = None


class RemoveParticipant(_Change):
    """Facilitators: the person's connections close at once."""

    target_id: Id


CLIENT_EVENTS: dict[str, type[_Strict]] = {
    "join_board": JoinBoard, "post_idea": PostIdea, "edit_idea": EditIdea, "withdraw_idea": WithdrawIdea,
    "move_idea": MoveIdea, "react": React, "vote": Vote, "set_ready": SetReady, "update_settings": UpdateSettings,
    "set_phase": SetPhase, "control_timer": ControlTimer, "moderate_idea": ModerateIdea, "focus_idea": FocusIdea,
    "group_ideas": GroupIdeas, "ungroup": Ungroup, "remove_participant": RemoveParticipant,
}


def parse(event: str, data) -> dict | None:
    """The fields of a client event's payload, checked (``board_id`` and ``client_id`` included); None when it
    does not fit its schema (the handler answers ``invalid_input``)."""
    try:
        return dict(CLIENT_EVENTS[event].model_validate(data))
    except ValidationError:
        return None


# --- server -> client -------------------------------------------------------------------------------------------

Status = Literal["pending", "visible", "hidden", "withdrawn"]
PhaseName = Literal["preparation", "brainstorm", "grouping", "voting", "discussion", "closed"]


class IdeaView(_Strict):
    """An idea as one audience may see it. ``author`` is null for participants when the board is anonymous;
    ``votes`` is absent for participants while votes are hidden; ``author_participant_id`` and ``hidden_reason``
    go to facilitators only. ``mine`` is true in the author's own view. A person's own dots on it (``my_dots``)
    are in the snapshot and change through ``my_dots_changed``: an idea in an event leaves them as they were."""

    id: int
    column_id: int
    cluster_id: int | None
    sort_key: str
    text: str
    status: Status
    version: int
    author: str | None
    mine: bool
    reactions: dict[str, int]
    votes: int | None = None
    author_participant_id: int | None = None
    hidden_reason: str | None = None


class ParticipantView(_Strict):
    """``name`` is null for participants when the board is anonymous; ``guest`` goes to facilitators only."""

    id: int
    name: str | None
    ready: bool
    facilitator: bool
    guest: bool | None = None


class ColumnView(_Strict):
    id: int
    title: str
    prompt: str
    position: int


class ClusterView(_Strict):
    id: int
    name: str
    column_id: int
    version: int


class TimerView(_Strict):
    ends_at: str | None = Field(description="ISO 8601, UTC (Z)")
    paused_seconds: int | None


class SettingsView(_Strict):
    hide_ideas: bool
    anonymous: bool
    hide_votes: bool
    locked: bool
    allow_guests: bool
    idea_cap: int | None
    dot_budget: int
    dot_cap: int | None
    moderation: Literal["none", "approve"]


class IdeaChanged(_Strict):
    """Facilitators (every idea); its author (their own view); participants (visible ideas, unless hidden mode)."""

    idea: IdeaView


class IdeaPlaceholder(_Strict):
    """Participants, in hidden mode: where an idea is, without its text."""

    id: int
    column_id: int


class IdeaRemoved(_Strict):
    """Participants: an idea hidden, pending or withdrawn."""

    id: int


class IdeasReplaced(_Strict):
    """Participants: every visible idea, when hidden mode ends (``ideas_revealed``) or anonymity changes
    (``ideas_refreshed``)."""

    ideas: list[IdeaView]


class VotesChanged(_Strict):
    """Facilitators; participants when votes are visible."""

    idea_id: int
    votes: int


class VotesRevealed(_Strict):
    """Participants, when voting ends with hidden votes: totals by idea id."""

    votes: dict[str, int]


class MyDotsChanged(_Strict):
    """The voter alone (a private change): their dots on the idea, and what they have left (``dots_left``), or the
    dots given back to them when the idea left the vote (``refunded``)."""

    idea_id: int
    mine: int
    dots_left: int | None = None
    refunded: int | None = None


class ReactionsChanged(_Strict):
    """Everyone (facilitators only for an idea participants cannot see)."""

    idea_id: int
    reactions: dict[str, int]


class PhaseChanged(_Strict):
    """Everyone."""

    phase: PhaseName


class TimerChanged(_Strict):
    """Everyone."""

    timer: TimerView


class SettingsChanged(_Strict):
    """Everyone."""

    settings: SettingsView


class FocusChanged(_Strict):
    """Everyone."""

    idea_id: int | None


class ColumnsChanged(_Strict):
    """Everyone."""

    columns: list[ColumnView]


class IdeasGrouped(_Strict):
    """Everyone."""

    cluster: ClusterView
    idea_ids: list[int]


class IdeasUngrouped(_Strict):
    """Everyone."""

    idea_ids: list[int]
    cluster_id: int | None


class ClusterRemoved(_Strict):
    """Everyone, when a cluster loses its last idea (ungrouped, dissolved or moved away)."""

    cluster_id: int


class ParticipantChanged(_Strict):
    """Facilitators; participants (no name when anonymous). ``participant_role_changed`` is sent when a person's
    facilitator role is found granted or withdrawn (re-checked at each of their changes, and at ``join_board``)."""

    participant: ParticipantView


class ParticipantReady(_Strict):
    """Everyone."""

    participant_id: int
    ready: bool


class ParticipantRemoved(_Strict):
    """Everyone; the person's connections are told (``session_ended``) and closed."""

    participant_id: int


SERVER_EVENTS: dict[str, type[_Strict]] = {
    "idea_posted": IdeaChanged, "idea_edited": IdeaChanged, "idea_moved": IdeaChanged,
    "idea_moderated": IdeaChanged, "idea_withdrawn": IdeaChanged, "idea_placeholder": IdeaPlaceholder,
    "idea_removed": IdeaRemoved, "ideas_revealed": IdeasReplaced, "ideas_refreshed": IdeasReplaced,
    "votes_changed": VotesChanged, "votes_revealed": VotesRevealed, "my_dots_changed": MyDotsChanged,
    "reactions_changed": ReactionsChanged, "phase_changed": PhaseChanged, "timer_changed": TimerChanged,
    "settings_changed": SettingsChanged, "focus_changed": FocusChanged, "columns_changed": ColumnsChanged,
    "ideas_grouped": IdeasGrouped, "ideas_ungrouped": IdeasUngrouped, "cluster_removed": ClusterRemoved,
    "participant_joined": ParticipantChanged, "participant_role_changed": ParticipantChanged,
    "participant_ready": ParticipantReady, "participant_removed": ParticipantRemoved,
}


class Event(_Strict):
    name: str = Field(description="one of the events below")
    payload: dict = Field(description="as the event's table says")


class Change(_Strict):
    """To each connection, once per change of the board that has events for its audience (facilitators, or
    participants). ``after`` is the previous change that audience was sent: a connection whose last seq is below
    it missed one, and joins again from its last seq."""

    seq: int
    after: int
    events: list[Event]


class PrivateChange(_Strict):
    """To one person's connections: the events of a change that are theirs alone (their own idea as they see it,
    their dots). When their audience gets a ``change`` of the same ``seq`` (``with_change_for`` names the audiences
    that do), it comes just before it and is applied right after it; otherwise it is applied at once."""

    seq: int
    events: list[Event]
    with_change_for: list[Literal["facilitators", "participants"]]


class SessionEnded(_Strict):
    """To the person concerned: ``removed`` (from the board), ``signed_out`` (their sessions were revoked) or
    ``role_changed`` (the server closes their connections; board.js reloads the page)."""

    reason: Literal["removed", "signed_out", "role_changed"]


class BoardSeq(_Strict):
    """To every connection on the board, every few seconds: the last change its audience was sent. A client behind
    it missed a change (say, while Redis was down) and joins again from its last seq."""

    board_id: int
    seq: int


MESSAGES: dict[str, type[_Strict]] = {
    "change": Change, "private_change": PrivateChange, "session_ended": SessionEnded, "board_seq": BoardSeq,
}


def check_message(name: str, payload) -> None:
    """Raise ``ValidationError`` unless a message the server sends fits its schema, each event of a change too."""
    message = MESSAGES[name].model_validate(payload)
    for event in getattr(message, "events", ()):
        SERVER_EVENTS[event.name].model_validate(event.payload)
