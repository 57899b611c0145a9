"""Malformed payloads thrown at every /boards event (hypothesis), by a facilitator and a participant.

Whatever arrives, a handler answers with an ack dict and keeps the connection; input that is invalid
(built to be invalid, by construction, from the protocol in docs/realtime-protocol.md) creates or
changes no row. SQLite only: the handlers are the same on both backends and this keeps the run short.
"""

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.boards import checks, service
from app.boards.models import PHASE_ORDER, REACTIONS, Board, ClientChange
from app.boards.sockets import EVENTS
from app.extensions import db

from .helpers import Live, fingerprint, logged_in, make_foreign_board, post, set_phase

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

# The protocol as documented (not read from the code under test): field -> (accepted kinds, required).
INT, NULL, STR, BOOL, DICT, INTS = "int", "null", "str", "bool", "dict", "list[int]"
PROTOCOL = {
    "post_idea": {"column_id": ({INT}, True), "text": ({STR}, True)},
    "edit_idea": {"idea_id": ({INT}, True), "text": ({STR}, True), "version": ({INT, NULL}, False)},
    "withdraw_idea": {"idea_id": ({INT}, True)},
    "move_idea": {"idea_id": ({INT}, True), "column_id": ({INT}, True), "before_id": ({INT, NULL}, False),
                  "after_id": ({INT, NULL}, False)},
    "react": {"idea_id": ({INT}, True), "kind": ({STR}, True), "on": ({BOOL}, False)},
    "vote": {"idea_id": ({INT}, True), "delta": ({INT}, True)},
    "set_ready": {"ready": ({BOOL}, True)},
    "update_settings": {"settings": ({DICT}, True)},
    "set_phase": {"phase": ({STR}, True)},
    "control_timer": {"action": ({STR}, True), "seconds": ({INT, NULL}, False)},
    "moderate_idea": {"idea_id": ({INT}, True), "action": ({STR}, True), "reason": ({STR}, False)},
    "focus_idea": {"idea_id": ({INT, NULL}, True)},
    "group_ideas": {"idea_ids": ({INTS}, True), "name": ({STR}, False), "cluster_id": ({INT, NULL}, False)},
    "ungroup": {"idea_ids": ({INTS, NULL}, False), "cluster_id": ({INT, NULL}, False)},
    "remove_participant": {"target_id": ({INT}, True)},
    "join_board": {"last_seq": ({INT, NULL}, False)},
}
CHANGES = [e for e in PROTOCOL if e != "join_board"]
MAX_STRING = 2000


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def accepts(kinds: set, value) -> bool:
    return ((INT in kinds and is_int(value)) or (NULL in kinds and value is None)
            or (STR in kinds and isinstance(value, str)) or (BOOL in kinds and isinstance(value, bool))
            or (DICT in kinds and isinstance(value, dict))
            or (INTS in kinds and isinstance(value, list) and all(is_int(v) for v in value)))


# --- strategies ----------------------------------------------------------------------------------------

# Integers as a client can send them: beyond app.frames.MAX_INT_DIGITS digits the frame itself is refused and the
# connection closed (tests/test_socket_frames.py), so the handlers never see them.
wire_ints = st.integers(min_value=-(2**70), max_value=2**70)
scalars = st.one_of(
    st.none(), st.booleans(), wire_ints, st.floats(),
    st.text(max_size=30), st.sampled_from(["", "0", "1", "null", "true", "__proto__", "board_id", "💥" * 3]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=12)
long_text = st.integers(min_value=MAX_STRING + 1, max_value=MAX_STRING + 3000).map(lambda n: "é" * n)
blank = st.text(alphabet=" \t\r\n", max_size=20)
huge_ints = st.integers(min_value=10**7, max_value=2**70) | st.integers(min_value=-(2**70), max_value=0)
clean_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Cc")),
                     min_size=1, max_size=80)


def wrong_value(kinds: set):
    return json_values.filter(lambda v: not accepts(kinds, v))


@dataclass
class Fuzz:
    board_id: int
    columns: list[int]
    idea: int  # the participant's, column 0
    fac_idea: int  # the facilitator's, column 0
    other_column_idea: int  # the participant's, column 1
    foreign_idea: int
    foreign_column: int
    foreign_cluster: int
    fac: int  # facilitator's participant id (cannot be removed)
    foreign_fac: int

    def bad_ids(self):
        return st.sampled_from([self.foreign_idea, 0, -1, 999_999]) | huge_ints

    def bad_columns(self):
        return st.sampled_from([self.foreign_column, 0, -1, 999_999]) | huge_ints

    def ideas(self):
        return st.sampled_from([self.idea, self.fac_idea, self.other_column_idea])

    def base(self, event: str) -> dict:
        """A well-typed payload for ``event`` that the strategies below spoil one way or another."""
        return {"board_id": self.board_id, **{
            "post_idea": {"column_id": self.columns[0], "text": "Une idée"},
            "edit_idea": {"idea_id": self.idea, "text": "Reformulée"},
            "withdraw_idea": {"idea_id": self.idea},
            "move_idea": {"idea_id": self.idea, "column_id": self.columns[1]},
            "react": {"idea_id": self.idea, "kind": "heart"},
            "vote": {"idea_id": self.idea, "delta": 1},
            "set_ready": {"ready": True},
            "update_settings": {"settings": {"locked": True}},
            "set_phase": {"phase": "voting"},
            "control_timer": {"action": "start", "seconds": 60},
            "moderate_idea": {"idea_id": self.idea, "action": "hide", "reason": "Hors sujet"},
            "focus_idea": {"idea_id": self.idea},
            "group_ideas": {"idea_ids": [self.idea], "name": "Groupe"},
            "ungroup": {"cluster_id": None, "idea_ids": [self.idea]},
            "remove_participant": {"target_id": self.fac},
            "join_board": {"last_seq": 0},
        }[event]}

    # Malformed shapes: refused by the payload validation, for every event.
    def malformed(self, event: str):
        base, fields = self.base(event), PROTOCOL[event]
        known = set(fields) | {"board_id", "client_id"}
        options = [
            json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: (v,)),
            st.tuples(st.just(base), json_values),  # an extra argument
            st.tuples(st.text(max_size=15).filter(lambda k: k not in known), json_values)
              .map(lambda kv: ({**base, kv[0]: kv[1]},)),
            wrong_value({INT}).map(lambda v: ({**base, "board_id": v},)),
            st.just(({k: v for k, v in base.items() if k != "board_id"},)),
            st.one_of(wrong_value({STR, NULL}), st.just(""), st.text(min_size=65, max_size=100))
              .map(lambda v: ({**base, "client_id": v},)),
        ]
        for name, (kinds, required) in fields.items():
            options.append(wrong_value(kinds).map(lambda v, name=name: ({**base, name: v},)))
            if required:
                options.append(st.just(({k: v for k, v in base.items() if k != name},)))
            if STR in kinds:
                options.append(long_text.map(lambda v, name=name: ({**base, name: v},)))
        return st.one_of(options)

    # Well-typed payloads whose values the rules refuse (ids of another board, unknown ids, bad values).
    def refused(self, event: str):
        b = self.base(event)
        ids, columns, ideas = self.bad_ids(), self.bad_columns(), self.ideas()
        idea_text = st.one_of(blank, st.integers(min_value=501, max_value=MAX_STRING).map(lambda n: "x" * n))
        return {
            "post_idea": st.one_of(
                idea_text.map(lambda t: {**b, "text": t}),
                st.tuples(columns, clean_text).map(lambda a: {**b, "column_id": a[0], "text": a[1]})),
            "edit_idea": st.one_of(
                st.tuples(ids, clean_text).map(lambda a: {**b, "idea_id": a[0], "text": a[1]}),
                idea_text.map(lambda t: {**b, "text": t})),
            "withdraw_idea": ids.map(lambda i: {**b, "idea_id": i}),
            "move_idea": st.one_of(
                ids.map(lambda i: {**b, "idea_id": i}),
                columns.map(lambda c: {**b, "column_id": c}),
                st.tuples(st.sampled_from(["before_id", "after_id"]), ids).map(lambda a: {**b, a[0]: a[1]})),
            "react": st.one_of(
                st.tuples(ids, st.sampled_from(REACTIONS), st.booleans())
                  .map(lambda a: {**b, "idea_id": a[0], "kind": a[1], "on": a[2]}),
                st.text(max_size=30).filter(lambda k: k not in REACTIONS).map(lambda k: {**b, "kind": k})),
            "vote": st.one_of(
                wire_ints.filter(lambda d: d not in (1, -1))
                  .map(lambda d: {**b, "delta": d}),
                st.tuples(ids, st.sampled_from([1, -1])).map(lambda a: {**b, "idea_id": a[0], "delta": a[1]})),
            "set_ready": st.nothing(),  # any boolean is a valid value
            "update_settings": bad_settings().map(lambda s: {**b, "settings": s}),
            "set_phase": st.text(max_size=30).filter(lambda p: p not in [x.value for x in PHASE_ORDER])
                           .map(lambda p: {**b, "phase": p}),
            "control_timer": st.one_of(
                st.tuples(st.text(max_size=20).filter(lambda a: a not in ("start", "pause", "resume", "add", "stop")),
                          st.none() | wire_ints).map(lambda a: {**b, "action": a[0], "seconds": a[1]}),
                st.tuples(st.sampled_from(["start", "add"]),
                          st.none() | st.integers(min_value=-(2**70), max_value=0)
                          | st.integers(min_value=4 * 3600 + 1, max_value=2**70))
                  .map(lambda a: {**b, "action": a[0], "seconds": a[1]})),
            "moderate_idea": st.one_of(
                st.tuples(ids, st.sampled_from(["approve", "hide", "show"]))
                  .map(lambda a: {**b, "idea_id": a[0], "action": a[1]}),
                st.text(max_size=20).filter(lambda a: a not in ("approve", "hide", "show"))
                  .map(lambda a: {**b, "action": a}),
                st.tuples(ideas, blank).map(lambda a: {**b, "idea_id": a[0], "reason": a[1]}),
                ideas.map(lambda i: {"board_id": b["board_id"], "idea_id": i, "action": "hide"})),
            "focus_idea": ids.map(lambda i: {**b, "idea_id": i}),
            "group_ideas": st.one_of(
                st.tuples(st.lists(ideas, max_size=3), ids).map(lambda a: {**b, "idea_ids": [*a[0], a[1]]}),
                st.just({**b, "idea_ids": []}),
                st.lists(ideas, min_size=201, max_size=230).map(lambda many: {**b, "idea_ids": many}),
                st.tuples(st.lists(ideas, min_size=1, max_size=3), st.one_of(blank, long_text.map(lambda t: t[:2000]),
                                                                            st.just("x" * 121)))
                  .map(lambda a: {**b, "idea_ids": a[0], "name": a[1]}),
                st.tuples(st.lists(ideas, min_size=1, max_size=3),
                          st.sampled_from([self.foreign_cluster, 0, -1, 999_999]) | huge_ints)
                  .map(lambda a: {**b, "idea_ids": a[0], "cluster_id": a[1]}),
                st.just({**b, "idea_ids": [self.idea, self.other_column_idea]})),  # two columns
            "ungroup": st.one_of(
                st.tuples(st.lists(ideas, max_size=3), ids).map(lambda a: {**b, "idea_ids": [a[1], *a[0]]}),
                (st.sampled_from([self.foreign_cluster, 0, -1, 999_999]) | huge_ints)
                  .map(lambda c: {"board_id": b["board_id"], "cluster_id": c}),
                st.sampled_from([{}, {"idea_ids": None}, {"idea_ids": []}, {"cluster_id": None, "idea_ids": None}])
                  .map(lambda f: {"board_id": b["board_id"], **f})),
            "remove_participant": (st.sampled_from([self.fac, self.foreign_fac, 0, -1, 999_999]) | huge_ints)
                                    .map(lambda t: {**b, "target_id": t}),
            "join_board": st.nothing(),  # joining changes no row: only malformed shapes are thrown
        }[event].map(lambda payload: (payload,))

    def invalid(self, event: str):
        return st.one_of(self.malformed(event), self.refused(event))


def bad_settings():
    """A settings dict with at least one name or value the rules refuse (all or nothing is applied)."""
    bad_items = st.one_of(
        st.tuples(st.text(max_size=20).filter(lambda k: k not in checks.SETTINGS), json_values),
        st.tuples(st.sampled_from(["hide_ideas", "anonymous", "hide_votes", "locked", "allow_guests"]),
                  json_values.filter(lambda v: not isinstance(v, bool))),
        st.tuples(st.sampled_from(["idea_cap", "dot_cap"]),
                  json_values.filter(lambda v: v is not None and not (is_int(v) and 1 <= v <= 100))),
        st.tuples(st.just("dot_budget"), json_values.filter(lambda v: not (is_int(v) and 0 <= v <= 100))),
        st.tuples(st.just("moderation"), json_values.filter(lambda v: v not in ("none", "approve"))),
    )
    good = st.dictionaries(st.sampled_from(["locked", "anonymous"]), st.booleans(), max_size=2)
    return st.one_of(st.just({}), st.tuples(good, bad_items).map(lambda a: {**a[0], a[1][0]: a[1][1]}),
                     st.dictionaries(st.text(min_size=1, max_size=8), st.booleans(), min_size=21, max_size=25))


# --- the test ----------------------------------------------------------------------------------------------

@pytest.fixture
def fuzz(app, world):
    set_phase(world, "brainstorm")
    idea = post(world, world.cit, "Idée de Camille")
    fac_idea = post(world, world.fac, "Idée de Fanny")
    other_column_idea = post(world, world.cit, "Autre colonne", column=1)
    foreign_board, foreign_column, foreign_idea = make_foreign_board(world)
    foreign_fac = service.participant_for(service.get_board(foreign_board), world.facilitator).id
    foreign_cluster = service.group_ideas(foreign_board, foreign_fac, idea_ids=[foreign_idea], name="Ailleurs")
    f, p = logged_in(app, world.facilitator), logged_in(app, world.citizen)
    assert f.join(world.board_id)["ok"] and p.join(world.board_id)["ok"]
    data = Fuzz(world.board_id, world.columns, idea, fac_idea, other_column_idea, foreign_idea, foreign_column,
                foreign_cluster["cluster_id"], world.fac, foreign_fac)
    return data, f, p


def changes_so_far() -> tuple:
    """Cheap per-example check: every applied change bumps a board's seq or stores a client change."""
    return (db.session.scalar(select(func.sum(Board.seq))), db.session.scalar(select(func.count(ClientChange.id))))


def throw(client: Live, event: str, args: tuple) -> dict:
    ack = client.emit(event, *args)
    assert isinstance(ack, dict), (event, args, ack)
    assert ack.get("ok") in (True, False), (event, args, ack)
    if ack["ok"] is False:
        assert set(ack) == {"ok", "error"} and set(ack["error"]) == {"code", "message"}, ack
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
        # Bad input is the sender's fault, answered as such, never as a server failure.
        assert ack["error"]["code"] != "server_error", (event, args, ack)
    assert client.connected, (event, args)
    return ack


FUZZ_SETTINGS = settings(max_examples=1100, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.filter_too_much, HealthCheck.data_too_large])


def test_invalid_payloads_are_refused_and_change_nothing(fuzz):
    data, f, p = fuzz
    thrown = itertools.count()
    before, seen_before = fingerprint(), changes_so_far()
    invalid = {event: data.invalid(event) for event in PROTOCOL}  # built once: building is the slow part
    events = st.sampled_from(sorted(PROTOCOL))

    @FUZZ_SETTINGS
    @given(st.data())
    def run(draw):
        event = draw.draw(events, label="event")
        args = draw.draw(invalid[event], label="args")
        for client in (f, p):
            ack = throw(client, event, args)
            next(thrown)
            assert ack["ok"] is False, (event, args, ack)
        assert changes_so_far() == seen_before, (event, args)

    run()
    assert next(thrown) >= 2000
    assert fingerprint() == before
    assert f.join(data.board_id)["ok"] and p.join(data.board_id)["ok"]  # both still work


def test_arbitrary_payloads_never_break_a_handler(fuzz):
    """Anything at all, possibly valid: always an ack, never a lost connection."""
    data, f, p = fuzz
    thrown = itertools.count()
    ids = st.sampled_from([data.idea, data.fac_idea, data.other_column_idea, data.foreign_idea, *data.columns])
    field_values = st.one_of(json_values, ids, st.lists(ids, max_size=4))

    @settings(FUZZ_SETTINGS, max_examples=400)
    @given(st.sampled_from(sorted(PROTOCOL)), st.booleans(),
           st.dictionaries(st.sampled_from(["board_id", "client_id", *{k for f in PROTOCOL.values() for k in f}]),
                           field_values, max_size=6))
    def run(event, as_facilitator, payload):
        assume(not (as_facilitator and event == "remove_participant"))  # would rightly close the other client
        payload = {"board_id": data.board_id, **payload} if "board_id" not in payload else payload
        throw(f if as_facilitator else p, event, (payload,))
        next(thrown)

    run()
    assert next(thrown) >= 400
    assert sorted(PROTOCOL) == sorted([*EVENTS, "join_board"])
