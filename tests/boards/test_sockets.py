"""The /boards Socket.IO namespace through Flask-SocketIO's test client, on SQLite and PostgreSQL.

Every event of ``sockets.EVENTS`` (and ``join_board``) gets a success case and its refusals; each
refusal must answer ``{"ok": false, "error": {"code", "message"}}`` with a translated message, keep
the connection, and change nothing. Broadcasts are read from what the other client received.
"""

from dataclasses import dataclass

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from app.accounts.models import User
from app.boards import receivers, schemas, service
from app.boards.errors import BoardLocked, BudgetSpent, NotMember, Removed, UnknownColumn, UnknownIdea, WrongPhase
from app.boards.models import Participant
from app.boards.schemas import CLIENT_EVENTS, MAX_STRING
from app.boards.sockets import EVENTS, guest_cookie_name
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from tests.conftest import get_csrf, post_form
from tests.factories import make_user
from tests.queries import recorded_statements

from .helpers import (
    SECRET,
    Live,
    World,
    add_participant,
    events,
    fingerprint,
    logged_in,
    make_foreign_board,
    make_world,
    post,
    set_phase,
)

FACILITATOR_EVENTS = ["move_idea", "update_settings", "set_phase", "control_timer", "moderate_idea", "focus_idea",
                      "group_ideas", "ungroup", "remove_participant"]
PARTICIPANT_EVENTS = ["post_idea", "edit_idea", "withdraw_idea", "react", "vote", "set_ready"]
ALL_EVENTS = PARTICIPANT_EVENTS + FACILITATOR_EVENTS

# The messages each code must carry, in the person's language (French unless they chose otherwise).
MESSAGES = {
    "invalid_input": InvalidInput.message,
    "not_member": NotMember.message,
    "removed": Removed.message,
    "not_allowed": NotAllowed.message,
    "locked": BoardLocked.message,
    "budget_spent": BudgetSpent.message,
    "unknown_idea": UnknownIdea.message,
    "unknown_column": UnknownColumn.message,
    "rate_limited": _l("Trop de messages : attendez un instant."),
    "idea_length": _l("Une idée doit faire entre 1 et 500 caractères."),
    "wrong_phase": WrongPhase.message,
}


def message(code: str, locale: str = "fr") -> str:
    with force_locale(locale):
        return str(MESSAGES[code])


def assert_ok(ack) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    assert "error" not in ack and isinstance(ack["seq"], int)
    return ack


def assert_error(ack, code: str) -> None:
    """The exact error shape, the expected code, and a translated (French by default) message."""
    assert isinstance(ack, dict) and set(ack) == {"ok", "error"} and ack["ok"] is False, ack
    assert set(ack["error"]) == {"code", "message"}
    assert ack["error"]["code"] == code, ack
    text = ack["error"]["message"]
    assert isinstance(text, str) and text and text != code
    if code in MESSAGES and code != "wrong_phase":  # some phase refusals say more precisely why
        assert text == message(code), text


def seqs(frames) -> list[int]:
    """The seq of each change received (``change`` frames: one per change and connection)."""
    return [f["args"][0]["seq"] for f in frames if f["name"] == "change"]


def live_events(frames) -> list[tuple[int, str, dict]]:
    """(seq, name, payload) of every event in the changes received, own ones (``private_change``) included."""
    return [(f["args"][0]["seq"], e["name"], e["payload"]) for f in frames
            if f["name"] in ("change", "private_change") for e in f["args"][0]["events"]]


@dataclass
class Scene:
    app: object
    world: World
    f: Live  # the facilitator's browser
    p: Live  # the citizen's browser
    idea: int  # the citizen's idea, column 0
    fac_idea: int  # the facilitator's idea, column 0
    foreign_idea: int  # an idea of another board
    foreign_column: int

    @property
    def board_id(self) -> int:
        return self.world.board_id

    def clear(self):
        self.f.received()
        self.p.received()


@pytest.fixture
def scene(app, world):
    set_phase(world, "brainstorm")
    idea = post(world, world.cit, "Idée de Camille")
    fac_idea = post(world, world.fac, "Idée de Fanny")
    _board, foreign_column, foreign_idea = make_foreign_board(world)
    f, p = logged_in(app, world.facilitator), logged_in(app, world.citizen)
    assert f.join(world.board_id)["ok"] is True
    assert p.join(world.board_id)["ok"] is True
    scene = Scene(app, world, f, p, idea, fac_idea, foreign_idea, foreign_column)
    scene.clear()
    return scene


def valid(scene: Scene, event: str) -> dict:
    """A payload that succeeds for ``event`` (by the citizen for participant events, else the facilitator)."""
    w = scene.world
    return {
        "post_idea": {"column_id": w.columns[1], "text": "Une nouvelle idée"},
        "edit_idea": {"idea_id": scene.idea, "text": "Idée reformulée", "version": 1},
        "withdraw_idea": {"idea_id": scene.idea},
        "react": {"idea_id": scene.fac_idea, "kind": "heart", "on": True},
        "vote": {"idea_id": scene.fac_idea, "delta": 1},
        "set_ready": {"ready": True},
        "move_idea": {"idea_id": scene.idea, "column_id": w.columns[1], "before_id": None, "after_id": None},
        "update_settings": {"settings": {"hide_votes": True, "dot_budget": 3}},
        "set_phase": {"phase": "grouping"},
        "control_timer": {"action": "start", "seconds": 300},
        "moderate_idea": {"idea_id": scene.idea, "action": "hide", "reason": "Hors sujet"},
        "focus_idea": {"idea_id": scene.idea},
        "group_ideas": {"idea_ids": [scene.idea, scene.fac_idea], "name": "Démarches"},
        "ungroup": {"idea_ids": [scene.idea]},
        "remove_participant": {"target_id": w.cit},
    }[event]


def actor(scene: Scene, event: str) -> tuple[Live, Live]:
    return (scene.p, scene.f) if event in PARTICIPANT_EVENTS else (scene.f, scene.p)


def prepare(scene: Scene, event: str) -> None:
    """Put the board where ``event`` is allowed."""
    if event == "vote":
        set_phase(scene.world, "voting")
    elif event == "ungroup":
        service.group_ideas(scene.board_id, scene.world.fac, idea_ids=[scene.idea], name="Groupe")
    scene.clear()


def test_the_tables_cover_every_event():
    assert sorted(ALL_EVENTS) == sorted(EVENTS)


# --- success, broadcast, replay ------------------------------------------------------------------------

@pytest.mark.parametrize("event", ALL_EVENTS)
def test_event_succeeds_and_reaches_the_other_client(scene, event):
    prepare(scene, event)
    sender, other = actor(scene, event)
    before = fingerprint()
    ack = assert_ok(sender.send(event, scene.board_id, client_id=f"{event}-1", **valid(scene, event)))
    assert fingerprint() != before
    assert ack["seq"] == scene.world.board.seq
    frames = other.received()
    assert seqs(frames) and max(seqs(frames)) <= ack["seq"]
    assert seqs(frames) == sorted(set(seqs(frames)))
    own = sender.received()
    assert seqs(own) and max(seqs(own)) <= ack["seq"]
    assert sender.connected
    if event == "remove_participant":
        assert {"name": "session_ended", "args": [{"reason": "removed"}], "namespace": "/boards"} in frames
        assert not other.connected
    else:
        assert other.connected
    # The same change resent (say, after a reconnect) returns the stored ack and broadcasts nothing.
    after = fingerprint()
    again = sender.send(event, scene.board_id, client_id=f"{event}-1", **valid(scene, event))
    assert again == {**ack, "replayed": True}
    assert fingerprint() == after
    assert sender.received() == [] and [f for f in other.received() if f["name"] != "session_ended"] == []


def test_join_board_answers_with_a_snapshot(scene):
    ack = scene.p.join(scene.board_id)
    assert set(ack) == {"ok", "snapshot"} and ack["ok"] is True
    snapshot = ack["snapshot"]
    assert snapshot["seq"] == scene.world.board.seq
    assert snapshot["me"] == {"participant_id": scene.world.cit, "facilitator": False, "dots_left": 5}
    assert snapshot["board"]["join_code"] is None
    assert {i["id"] for i in snapshot["ideas"]} == {scene.idea, scene.fac_idea}
    assert scene.f.join(scene.board_id)["snapshot"]["board"]["join_code"] == scene.world.board.join_code


def test_join_board_with_last_seq_returns_only_the_missed_events(scene):
    seen = scene.world.board.seq
    scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Manquée 1")
    scene.p.send("set_ready", scene.board_id, ready=True)
    ack = scene.f.join(scene.board_id, last_seq=seen)
    assert set(ack) == {"ok", "changes", "seq"} and ack["seq"] == scene.world.board.seq == seen + 2
    assert [(c["seq"], [e["name"] for e in c["events"]]) for c in ack["changes"]] == [
        (seen + 1, ["idea_posted"]), (seen + 2, ["participant_ready"])]
    assert "author_participant_id" in ack["changes"][0]["events"][0]["payload"]["idea"]  # the facilitators' view
    assert scene.f.join(scene.board_id, last_seq=ack["seq"]) == {"ok": True, "changes": [], "seq": ack["seq"]}
    # The participant gets the participants' version, then their own, never the facilitators'.
    mine = scene.p.join(scene.board_id, last_seq=seen)["changes"]
    assert [(c["seq"], [e["name"] for e in c["events"]]) for c in mine] == [
        (seen + 1, ["idea_posted", "idea_posted"]), (seen + 2, ["participant_ready"])]
    participants_view, own_view = (e["payload"]["idea"] for e in mine[0]["events"])
    assert (participants_view["mine"], own_view["mine"]) == (False, True)
    assert "author_participant_id" not in participants_view and "author_participant_id" not in own_view


def test_join_board_with_a_stale_or_impossible_seq_returns_a_snapshot(scene):
    scene.app.config["BOARD_RESYNC_LIMIT"] = 3
    seen = scene.world.board.seq
    for n in range(4):
        scene.p.send("set_ready", scene.board_id, ready=n % 2 == 0)
    for last_seq in (seen, scene.world.board.seq + 10, -1):
        ack = scene.p.join(scene.board_id, last_seq=last_seq)
        assert set(ack) == {"ok", "snapshot"}, last_seq
        assert ack["snapshot"]["seq"] == scene.world.board.seq


def test_a_guest_joins_through_the_code_and_posts(scene):
    http = scene.app.test_client()
    code = scene.world.board.join_code
    response = post_form(http, f"/tableaux/rejoindre/{code}", {"name": "Dominique"})
    assert response.status_code == 302
    guest = Live(scene.app, http)
    ack = guest.join(scene.board_id)
    assert ack["ok"] and ack["snapshot"]["me"]["facilitator"] is False
    assert_ok(guest.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idée d'invité·e"))
    assert "Dominique" in str(scene.f.received())
    # The guest cookie belongs to one board only.
    other = make_world()
    assert_error(guest.join(other.board_id), "not_member")
    forged = scene.app.test_client()
    forged.set_cookie(guest_cookie_name(scene.board_id), "not-a-real-token")
    assert_error(Live(scene.app, forged).join(scene.board_id), "not_member")


def test_a_change_made_over_http_reaches_connected_clients(scene):
    token = get_csrf(scene.p.http, f"/tableaux/{scene.board_id}")
    response = scene.p.http.post(f"/tableaux/{scene.board_id}/idees",
                                 data={"column_id": scene.world.columns[2], "text": "Sans JavaScript",
                                       "csrf_token": token})
    assert response.status_code == 302
    [(seq, _name, payload)] = [e for e in live_events(scene.f.received()) if e[1] == "idea_posted"]
    assert payload["idea"]["text"] == "Sans JavaScript"
    assert seq == next(e["seq"] for e in events(scene.board_id) if e["name"] == "idea_posted"
                       and e["payload"]["idea"]["text"] == "Sans JavaScript")
    assert "Sans JavaScript" in str(scene.p.received())


def test_hidden_mode_never_sends_the_hidden_text_to_other_participants(scene):
    world = scene.world
    other_user, _pid = add_participant(world, name="Octave")
    watcher = logged_in(scene.app, other_user)
    watcher.join(scene.board_id)
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_ideas": True}))
    watcher.received()
    idea_id = assert_ok(scene.p.send("post_idea", scene.board_id, column_id=world.columns[0], text=SECRET))["idea_id"]
    assert_ok(scene.p.send("edit_idea", scene.board_id, idea_id=idea_id, text=SECRET + " bis"))
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"anonymous": True}))
    assert_ok(scene.f.send("move_idea", scene.board_id, idea_id=idea_id, column_id=world.columns[1]))
    assert_ok(scene.f.send("react", scene.board_id, idea_id=idea_id, kind="heart"))
    assert_ok(scene.f.send("focus_idea", scene.board_id, idea_id=idea_id))
    rejoined = watcher.join(scene.board_id)
    frames = watcher.received()
    assert frames and SECRET not in str(frames) and SECRET not in str(rejoined)
    assert any(name == "idea_placeholder" for _seq, name, _payload in live_events(frames))
    assert SECRET in str(scene.f.received())
    # Revealing sends it: the check above could have failed.
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_ideas": False}))
    assert SECRET in str(watcher.received())


def test_anonymous_mode_never_sends_author_names_to_participants(scene):
    world = scene.world
    other_user, _pid = add_participant(world, name="Octave Anonyme")
    watcher = logged_in(scene.app, other_user)
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"anonymous": True}))
    scene.clear()  # from here on, no name
    joined = watcher.join(scene.board_id)
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=world.columns[0], text="Anonyme"))
    assert_ok(scene.f.send("post_idea", scene.board_id, column_id=world.columns[0], text="Anonyme aussi"))
    assert_ok(scene.p.send("set_ready", scene.board_id, ready=True))
    seen = str(joined) + str(watcher.received()) + str(scene.p.received())
    for name in ("Camille Citoyenne", "Fanny Animatrice", "Octave Anonyme"):
        assert name not in seen
    assert "Camille Citoyenne" in str(scene.f.received())


def test_hidden_votes_reach_participants_only_after_voting(scene):
    set_phase(scene.world, "voting")
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_votes": True}))
    scene.clear()
    assert_ok(scene.p.send("vote", scene.board_id, idea_id=scene.fac_idea, delta=1))
    own, theirs = scene.p.received(), scene.f.received()
    assert [f["name"] for f in own] == ["private_change"]  # their dots; no totals for participants
    assert own[0]["args"][0]["with_change_for"] == ["facilitators"]  # so the client applies it at once
    assert [name for _seq, name, _payload in live_events(own)] == ["my_dots_changed"]
    assert [name for _seq, name, _payload in live_events(theirs)] == ["votes_changed"]
    assert_ok(scene.f.send("set_phase", scene.board_id, phase="discussion"))
    revealed = [payload for _seq, name, payload in live_events(scene.p.received()) if name == "votes_revealed"]
    assert revealed and revealed[0]["votes"][str(scene.fac_idea)] == 1


# --- who may act --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("event", ["join_board", *ALL_EVENTS])
def test_refused_for_someone_not_on_the_board(scene, event):
    stranger = make_user()
    db.session.commit()
    clients = [logged_in(scene.app, stranger), Live(scene.app, scene.app.test_client())]  # account; anonymous
    before = fingerprint()
    for client in clients:
        ack = client.join(scene.board_id) if event == "join_board" else \
            client.send(event, scene.board_id, **valid(scene, event))
        assert_error(ack, "not_member")
        assert client.connected
    assert fingerprint() == before


@pytest.mark.parametrize("event", ["join_board", *ALL_EVENTS])
def test_refused_for_a_removed_participant(scene, event):
    assert_ok(scene.f.send("remove_participant", scene.board_id, target_id=scene.world.cit))
    assert not scene.p.connected  # their connection was closed at once
    again = Live(scene.app, scene.p.http)  # they reconnect
    prepare(scene, event)
    before = fingerprint()
    ack = again.join(scene.board_id) if event == "join_board" else \
        again.send(event, scene.board_id, **valid(scene, event))
    assert_error(ack, "removed")
    assert again.connected and fingerprint() == before


@pytest.mark.parametrize("event", FACILITATOR_EVENTS)
def test_facilitator_events_refused_for_participants(scene, event):
    prepare(scene, event)
    before = fingerprint()
    assert_error(scene.p.send(event, scene.board_id, **valid(scene, event)), "not_allowed")
    assert scene.p.connected and fingerprint() == before
    assert scene.f.received() == []


def test_unknown_board_is_not_found(scene):
    for ack in (scene.f.join(999_999), scene.f.send("set_ready", 999_999, ready=True)):
        assert_error(ack, "not_found")


# --- bad payloads -------------------------------------------------------------------------------------------

JSON_TYPES = {"integer": int, "string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}


def field_spec(event: str) -> dict[str, tuple[set, bool]]:
    """name -> (Python types accepted, required), read from the event's schema as JSON Schema."""
    schema = CLIENT_EVENTS[event].model_json_schema()
    spec = {}
    for name, prop in schema["properties"].items():
        if name in ("board_id", "client_id"):
            continue
        kinds = {JSON_TYPES[option["type"]] for option in prop.get("anyOf", [prop])}
        spec[name] = (kinds, name in schema.get("required", ()))
    return spec


def bad_payloads(event: str, board_id: int, fields: dict):
    """(label, args) pairs that the validation must refuse for ``event``."""
    spec = field_spec(event)
    payload = {"board_id": board_id, **fields}
    yield "list", ([board_id, fields],)
    yield "string", ("board",)
    yield "number", (board_id,)
    yield "null", (None,)
    yield "nothing", ()
    yield "extra argument", (payload, "extra")
    yield "no board_id", ({k: v for k, v in payload.items() if k != "board_id"},)
    yield "board_id string", ({**payload, "board_id": str(board_id)},)
    yield "board_id bool", ({**payload, "board_id": True},)
    yield "board_id float", ({**payload, "board_id": float(board_id)},)
    yield "unknown key", ({**payload, "admin": True},)
    yield "empty client_id", ({**payload, "client_id": ""},)
    yield "long client_id", ({**payload, "client_id": "c" * 65},)
    yield "client_id int", ({**payload, "client_id": 7},)
    yield "client_id with NUL", ({**payload, "client_id": "c\x00"},)
    yield "client_id with a lone surrogate", ({**payload, "client_id": "c\ud800"},)
    for name, (types, required) in spec.items():
        if required:
            yield f"no {name}", ({k: v for k, v in payload.items() if k != name},)
        if str not in types:
            yield f"{name} string", ({**payload, name: "12"},)
        if int not in types:
            yield f"{name} int", ({**payload, name: 12},)
        if bool not in types:
            yield f"{name} bool", ({**payload, name: True},)
        yield f"{name} nested", ({**payload, name: {"$gt": [1]}} if dict not in types else
                                 {**payload, name: [{"a": 1}]},)
        if str in types:
            yield f"{name} oversized", ({**payload, name: "x" * (MAX_STRING + 1)},)
            yield f"{name} with NUL", ({**payload, name: "a\x00b"},)  # PostgreSQL text cannot hold it
            yield f"{name} with a lone surrogate", ({**payload, name: "a\udc80b"},)  # not Unicode text
        if list in types:
            yield f"{name} list of strings", ({**payload, name: ["1", "2"]},)
            yield f"{name} list of bools", ({**payload, name: [True]},)


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_bad_payloads_are_refused_and_change_nothing(scene, event):
    prepare(scene, event)
    sender, _other = actor(scene, event)
    before = fingerprint()
    cases = list(bad_payloads(event, scene.board_id, valid(scene, event)))
    assert len(cases) >= 18
    for label, args in cases:
        ack = sender.emit(event, *args)
        assert isinstance(ack, dict) and ack.get("ok") is False, (label, ack)
        assert_error(ack, "invalid_input")
        assert sender.connected, label
    assert fingerprint() == before
    assert scene.f.received() == [] and scene.p.received() == []


@pytest.mark.parametrize("payload", [None, [], "7", {"board_id": "1"}, {"board_id": True}, {"board_id": "B", "x": 1},
                                     {"board_id": "B", "last_seq": "3"}, {"board_id": "B", "last_seq": False},
                                     {"board_id": "B", "last_seq": 1.5}, {"last_seq": 1}])
def test_join_board_refuses_bad_payloads(scene, payload):
    if isinstance(payload, dict) and payload.get("board_id") == "B":
        payload = {**payload, "board_id": scene.board_id}
    assert_error(scene.p.emit("join_board", payload), "invalid_input")
    assert scene.p.connected


def test_integers_beyond_32_bits_are_invalid_input(scene):
    huge = 2**31
    before = fingerprint()
    for ack in (scene.f.send("focus_idea", huge, idea_id=scene.idea),
                scene.f.send("focus_idea", scene.board_id, idea_id=-huge),
                scene.f.send("remove_participant", scene.board_id, target_id=2**70),
                scene.f.send("group_ideas", scene.board_id, idea_ids=[scene.idea, huge], name="Groupe"),
                scene.f.send("edit_idea", scene.board_id, idea_id=scene.idea, text="Texte", version=huge),
                scene.f.join(scene.board_id, last_seq=huge), scene.f.join(huge)):
        assert_error(ack, "invalid_input")
    assert fingerprint() == before


@pytest.mark.parametrize("event", ["post_idea", "edit_idea"])
def test_ideas_over_500_characters_are_refused(scene, event):
    before = fingerprint()
    fields = {**valid(scene, event), "text": "é" * 501}
    assert_error(scene.p.send(event, scene.board_id, **fields), "idea_length")
    assert_error(scene.p.send(event, scene.board_id, **{**fields, "text": "   "}), "idea_length")
    assert fingerprint() == before
    assert_ok(scene.p.send(event, scene.board_id, **{**fields, "text": "é" * 500}))


IDEA_FIELDS = {
    "edit_idea": ["idea_id"], "withdraw_idea": ["idea_id"], "react": ["idea_id"], "vote": ["idea_id"],
    "move_idea": ["idea_id", "before_id", "after_id"], "moderate_idea": ["idea_id"], "focus_idea": ["idea_id"],
    "group_ideas": ["idea_ids"], "ungroup": ["idea_ids"],
}


@pytest.mark.parametrize("event", list(IDEA_FIELDS))
def test_unknown_ideas_and_ideas_of_another_board_are_refused(scene, event):
    set_phase(scene.world, "voting")  # every idea event is possible now (edits by facilitators)
    sender = scene.f if event != "vote" else scene.p
    scene.clear()
    before = fingerprint()
    for field in IDEA_FIELDS[event]:
        for bad in (999_999, scene.foreign_idea, -1, 2**31 - 1):
            fields = {**valid(scene, event), field: [bad] if field == "idea_ids" else bad}
            if event == "edit_idea":
                fields.pop("version")
            assert_error(sender.send(event, scene.board_id, **fields), "unknown_idea")
    assert fingerprint() == before
    assert scene.f.received() == [] and scene.p.received() == []


@pytest.mark.parametrize("event", ["post_idea", "move_idea"])
def test_unknown_columns_and_columns_of_another_board_are_refused(scene, event):
    sender = scene.p if event == "post_idea" else scene.f
    before = fingerprint()
    for bad in (999_999, scene.foreign_column):
        assert_error(sender.send(event, scene.board_id, **{**valid(scene, event), "column_id": bad}), "unknown_column")
    assert fingerprint() == before


def test_unknown_clusters_and_people_are_refused(scene):
    before = fingerprint()
    ack = scene.f.send("group_ideas", scene.board_id, idea_ids=[scene.idea], cluster_id=999_999)
    assert_error(ack, "unknown_cluster")
    assert_error(scene.f.send("ungroup", scene.board_id, cluster_id=999_999), "unknown_cluster")
    for target in (999_999, scene.world.fac):
        assert_error(scene.f.send("remove_participant", scene.board_id, target_id=target), "unknown_participant")
    assert_error(scene.f.send("ungroup", scene.board_id), "bad_idea_ids")
    assert fingerprint() == before


def test_grouping_into_an_existing_cluster_needs_no_name(scene):
    ack = assert_ok(scene.f.send("group_ideas", scene.board_id, idea_ids=[scene.idea], name="Groupe"))
    assert_ok(scene.f.send("group_ideas", scene.board_id, idea_ids=[scene.fac_idea], cluster_id=ack["cluster_id"]))
    assert_ok(scene.f.send("ungroup", scene.board_id, cluster_id=ack["cluster_id"]))


@pytest.mark.parametrize(("event", "fields", "code"), [
    ("update_settings", {"settings": {"colour": "red"}}, "unknown_setting"),
    ("update_settings", {"settings": {"dot_budget": -1}}, "bad_setting"),
    ("update_settings", {"settings": {}}, "bad_setting"),
    ("set_phase", {"phase": "lunch"}, "unknown_phase"),
    ("control_timer", {"action": "rewind"}, "bad_timer_action"),
    ("control_timer", {"action": "start", "seconds": 0}, "bad_duration"),
    ("control_timer", {"action": "add"}, "bad_duration"),
    ("moderate_idea", {"idea_id": "idea", "action": "delete"}, "bad_moderation_action"),
    ("moderate_idea", {"idea_id": "idea", "action": "hide", "reason": "  "}, "reason_required"),
    ("react", {"idea_id": "idea", "kind": "angry"}, "unknown_reaction"),
    ("group_ideas", {"idea_ids": [], "name": "Vide"}, "bad_idea_ids"),
    ("group_ideas", {"idea_ids": "ideas", "name": ""}, "cluster_name"),
    ("move_idea", {"idea_id": "idea", "column_id": 0, "before_id": "fac_idea", "after_id": "idea"}, "bad_position"),
])
def test_values_refused_by_the_rules(scene, event, fields, code):
    swap = {"idea": scene.idea, "fac_idea": scene.fac_idea, "ideas": [scene.idea]}
    fields = {k: swap.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    if "column_id" in fields:
        fields["column_id"] = scene.world.columns[0]
    before = fingerprint()
    assert_error(scene.f.send(event, scene.board_id, **fields), code)
    assert scene.f.connected and fingerprint() == before


# --- phases, lock, budget -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("phase", "event"), [
    ("preparation", "post_idea"), ("grouping", "post_idea"), ("grouping", "edit_idea"),
    ("grouping", "withdraw_idea"), ("brainstorm", "vote"), ("discussion", "vote"),
])
def test_participant_changes_refused_in_the_wrong_phase(scene, phase, event):
    set_phase(scene.world, phase)
    scene.clear()
    before = fingerprint()
    assert_error(scene.p.send(event, scene.board_id, **valid(scene, event)), "wrong_phase")
    assert scene.p.connected and fingerprint() == before


@pytest.mark.parametrize("event", ["post_idea", "move_idea", "group_ideas", "react", "set_phase", "edit_idea"])
def test_a_closed_board_is_read_only(scene, event):
    set_phase(scene.world, "closed")
    before = fingerprint()
    ack = scene.f.send(event, scene.board_id, **valid(scene, event))
    assert_error(ack, "wrong_phase")
    assert ack["error"]["message"] in ("La séance est terminée : le tableau est en lecture seule.",
                                       "La séance est terminée.")
    assert fingerprint() == before


@pytest.mark.parametrize("event", ["post_idea", "edit_idea", "withdraw_idea", "react", "vote", "set_ready"])
def test_participant_changes_refused_on_a_locked_board(scene, event):
    if event == "vote":
        set_phase(scene.world, "voting")
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"locked": True}))
    scene.clear()
    before = fingerprint()
    assert_error(scene.p.send(event, scene.board_id, **valid(scene, event)), "locked")
    assert scene.p.connected and fingerprint() == before
    assert scene.f.received() == []


def test_votes_refused_when_the_budget_is_spent_or_the_cap_reached(scene):
    set_phase(scene.world, "voting")
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"dot_budget": 2, "dot_cap": 1}))
    assert_error(scene.p.send("vote", scene.board_id, idea_id=scene.idea, delta=-1), "no_dot")
    assert assert_ok(scene.p.send("vote", scene.board_id, idea_id=scene.idea, delta=1))["dots_left"] == 1
    assert_error(scene.p.send("vote", scene.board_id, idea_id=scene.idea, delta=1), "dot_cap_reached")
    assert assert_ok(scene.p.send("vote", scene.board_id, idea_id=scene.fac_idea, delta=1))["dots_left"] == 0
    before = fingerprint()
    ack = scene.p.send("vote", scene.board_id, idea_id=scene.fac_idea, delta=1)
    assert_error(ack, "budget_spent")
    assert_error(scene.p.send("vote", scene.board_id, idea_id=scene.idea, delta=2), "bad_delta")
    assert scene.p.connected and fingerprint() == before


def test_idea_cap(scene):
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"idea_cap": 2}))
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Deuxième"))
    before = fingerprint()
    assert_error(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Troisième"),
                 "idea_cap_reached")
    assert fingerprint() == before


def test_edit_someone_elses_idea_is_refused(scene):
    before = fingerprint()
    assert_error(scene.p.send("edit_idea", scene.board_id, idea_id=scene.fac_idea, text="Volée"), "not_your_idea")
    assert_error(scene.p.send("withdraw_idea", scene.board_id, idea_id=scene.fac_idea), "not_your_idea")
    assert fingerprint() == before


def test_stale_edit_wins_and_says_it_was_overtaken(scene):
    assert_ok(scene.f.send("edit_idea", scene.board_id, idea_id=scene.idea, text="Par l'animatrice", version=1))
    ack = assert_ok(scene.p.send("edit_idea", scene.board_id, idea_id=scene.idea, text="Par Camille", version=1))
    assert (ack["overtaken"], ack["version"]) == (True, 3)


# --- messages, rate limit, sessions --------------------------------------------------------------------------

def test_error_messages_follow_the_persons_language(scene):
    db.session.get(User, scene.world.citizen.id).locale = "en"
    db.session.commit()
    english = logged_in(scene.app, db.session.get(User, scene.world.citizen.id))
    set_phase(scene.world, "grouping")
    ack = english.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idea")
    assert ack["error"] == {"code": "wrong_phase", "message": message("wrong_phase", "en")}
    assert message("wrong_phase", "en") != message("wrong_phase", "fr")
    assert message("wrong_phase", "en").startswith("This is not possible during this phase")
    ack = english.emit("post_idea", {"board_id": "x"})
    assert ack["error"]["message"] == message("invalid_input", "en") == "The information sent is not valid."
    # The facilitator kept French.
    ack = scene.f.emit("post_idea", {"board_id": "x"})
    assert ack["error"]["message"] == message("invalid_input") == "Les informations envoyées ne sont pas valides."


def test_a_connection_speaks_the_language_of_its_page_and_refuses_without_reading_the_account(scene):
    """The language is chosen once, as the page that opens the connection was (a guest's choice is in the
    session): a refusal is then translated without loading the account again, and a connection opened before a
    change of language keeps the page's language until the page reloads (and reconnects)."""
    guest_http = scene.app.test_client()
    assert post_form(guest_http, "/langue", {"lang": "en", "next": "/"}, csrf_url="/").status_code == 302
    assert post_form(guest_http, f"/tableaux/rejoindre/{scene.world.board.join_code}",
                     {"name": "Alex"}).status_code == 302
    guest = Live(scene.app, guest_http)
    assert guest.join(scene.board_id)["ok"] is True
    set_phase(scene.world, "grouping")
    with recorded_statements() as statements:
        ack = scene.p.emit("post_idea", {"board_id": "x"})
    assert ack["error"] == {"code": "invalid_input", "message": message("invalid_input")}
    assert statements == []  # not even the account, to choose the language
    ack = scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idée")
    assert ack["error"] == {"code": "wrong_phase", "message": message("wrong_phase")}
    ack = guest.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idea")
    assert ack["error"] == {"code": "wrong_phase", "message": message("wrong_phase", "en")}
    # The citizen switches to English in another tab: this connection keeps French; a new one speaks English.
    assert post_form(scene.p.http, "/langue", {"lang": "en", "next": "/"}, csrf_url="/").status_code == 302
    assert db.session.get(User, scene.world.citizen.id).locale == "en"
    ack = scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idée")
    assert ack["error"]["message"] == message("wrong_phase")
    again = Live(scene.app, scene.p.http)
    ack = again.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Idée")
    assert ack["error"]["message"] == message("wrong_phase", "en")


def test_rate_limited_events_get_an_error_ack_and_keep_the_connection(scene):
    scene.app.config.update(BOARD_EVENTS_RATE_LIMIT="3 per hour")
    flood = Live(scene.app, scene.p.http)  # the participant's second connection (another tab)
    acks = [flood.send("set_ready", scene.board_id, ready=n % 2 == 0) for n in range(6)]
    assert [a["ok"] for a in acks] == [True, True, True, False, False, False]
    for ack in acks[3:]:
        assert_error(ack, "rate_limited")
    assert_error(flood.join(scene.board_id), "rate_limited")
    assert flood.connected
    db.session.expire_all()
    assert db.session.get(Participant, scene.world.cit).ready is True  # n=2 applied, n=3 (False) refused
    # The allowance is the person's: their first connection is refused too; other people have their own, and so
    # has each guest's connection.
    assert_error(scene.p.send("set_ready", scene.board_id, ready=False), "rate_limited")
    assert_ok(scene.f.send("set_ready", scene.board_id, ready=True))
    guests = []
    for name in ("Dominique", "Sacha"):
        http = scene.app.test_client()
        assert post_form(http, f"/tableaux/rejoindre/{scene.world.board.join_code}", {"name": name}).status_code == 302
        guests.append(Live(scene.app, http))
    assert [guests[0].join(scene.board_id)["ok"] for _ in range(4)] == [True, True, True, False]
    assert guests[1].join(scene.board_id)["ok"] is True


def test_malformed_events_count_against_the_rate_limit_too(scene):
    """A client flooding with payloads the server cannot read is limited like one sending real changes: the count
    comes before the payload is read."""
    scene.app.config.update(BOARD_EVENTS_RATE_LIMIT="4 per hour")
    codes = [scene.p.emit("post_idea", {"board_id": "x"})["error"]["code"] for _ in range(6)]
    assert codes == ["invalid_input"] * 4 + ["rate_limited"] * 2
    assert_error(scene.p.send("set_ready", scene.board_id, ready=True), "rate_limited")
    assert scene.p.connected


def test_log_out_everywhere_ends_that_persons_live_connections(scene):
    response = post_form(scene.p.http, "/compte/deconnexion-partout", {}, csrf_url="/compte/")
    assert response.status_code == 302
    assert not scene.p.connected
    assert {"name": "session_ended", "args": [{"reason": "signed_out"}], "namespace": "/boards"} in scene.p.received()
    assert scene.f.connected and all(f["name"] != "session_ended" for f in scene.f.received())


def test_after_log_out_everywhere_the_next_event_is_refused(scene, monkeypatch):
    """A connection held by another server process is not closed from here (only session_ended reaches it
    through the message queue): its next event must be refused from the database."""
    monkeypatch.setattr(receivers, "_disconnect_local", lambda room: None)
    post_form(scene.p.http, "/compte/deconnexion-partout", {}, csrf_url="/compte/")
    assert scene.p.connected
    assert [f["name"] for f in scene.p.received()] == ["session_ended"]
    before = fingerprint()
    ack = scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text="Encore moi")
    assert_error(ack, "not_member")
    assert_error(scene.p.join(scene.board_id), "not_member")
    assert scene.p.connected and fingerprint() == before


@pytest.mark.parametrize("event", PARTICIPANT_EVENTS)
def test_after_log_out_everywhere_every_change_is_refused_by_its_own_transaction(scene, monkeypatch, event):
    """The account a connection's session names is checked with the participant, under the board lock, by every
    change (dots too, which are applied in batches): a session revoked elsewhere changes nothing."""
    monkeypatch.setattr(receivers, "_disconnect_local", lambda room: None)
    prepare(scene, event)
    post_form(scene.p.http, "/compte/deconnexion-partout", {}, csrf_url="/compte/")
    before = fingerprint()
    assert_error(scene.p.send(event, scene.board_id, **valid(scene, event)), "not_member")
    assert scene.p.connected and fingerprint() == before


# --- a facilitator whose role is withdrawn -----------------------------------------------------------------

def _withdraw_role(world: World) -> None:
    from app.catalog.models import Membership

    db.session.execute(db.delete(Membership).where(Membership.user_id == world.facilitator.id))
    db.session.commit()


def test_a_withdrawn_facilitator_leaves_the_facilitators_audience_at_their_next_event(scene):
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_ideas": True}))
    other_tab = logged_in(scene.app, scene.world.facilitator)
    assert other_tab.join(scene.board_id)["snapshot"]["me"]["facilitator"] is True
    scene.clear()
    other_tab.received()
    _withdraw_role(scene.world)
    ack = scene.f.send("set_phase", scene.board_id, phase="voting")
    assert_error(ack, "not_allowed")
    # Both of that person's connections were told why, then closed.
    for live in (scene.f, other_tab):
        assert not live.connected
        assert {"name": "session_ended", "args": [{"reason": "role_changed"}], "namespace": "/boards"} \
            in live.received()
    db.session.expire_all()
    assert db.session.get(Participant, scene.world.fac).is_facilitator is False
    # Facilitator-audience events (hidden texts) no longer reach them; other participants saw the change.
    frames = scene.p.received()
    assert [p["participant"] for _seq, name, p in live_events(frames) if name == "participant_role_changed"] == [
        {"id": scene.world.fac, "name": "Fanny Animatrice", "ready": False, "facilitator": False}]
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text=SECRET))
    assert SECRET not in str(scene.f.received()) + str(other_tab.received())
    # Reconnecting, they join as a participant: no hidden text in the snapshot nor in later events.
    again = logged_in(scene.app, scene.world.facilitator)
    snapshot = assert_ok_join(again.join(scene.board_id))
    assert snapshot["me"]["facilitator"] is False and SECRET not in str(snapshot)
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text=SECRET + "-2"))
    frames = again.received()
    assert [name for _seq, name, _payload in live_events(frames)] == ["idea_placeholder"]
    assert SECRET not in str(frames)


def test_a_withdrawn_facilitator_joining_again_is_a_participant_at_once(scene):
    """No event sent in between: the join itself finds the role gone and answers as for a participant."""
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_ideas": True}))
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text=SECRET))
    scene.clear()
    _withdraw_role(scene.world)
    again = logged_in(scene.app, scene.world.facilitator)
    snapshot = assert_ok_join(again.join(scene.board_id))
    assert snapshot["me"]["facilitator"] is False and SECRET not in str(snapshot)
    assert not scene.f.connected  # the older connection, still in the facilitators' room, was closed
    assert_ok(scene.p.send("post_idea", scene.board_id, column_id=scene.world.columns[0], text=SECRET + "-2"))
    assert SECRET not in str(again.received())


def test_a_facilitator_keeping_the_role_stays_connected(scene):
    """The refusal twin: nothing changes for someone whose membership is intact."""
    assert_error(scene.p.send("set_phase", scene.board_id, phase="voting"), "not_allowed")
    assert_ok(scene.f.send("set_phase", scene.board_id, phase="grouping"))
    assert scene.f.connected and scene.p.connected
    assert all(f["name"] != "session_ended" for f in scene.f.received() + scene.p.received())


def assert_ok_join(ack) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["snapshot"]


# --- the protocol as documented -----------------------------------------------------------------------------

def test_the_protocol_doc_is_written_from_the_schemas_and_current():
    """docs/realtime-protocol.md's tables of events, fields and error codes are the generator's output: a field, an
    event or a code added to the code without the doc fails here. (Every frame the tests receive is checked
    against the same schemas, and every refusal's code against the listed ones: ``Live`` in helpers.py.)"""
    from app.boards import protocol_doc

    current = protocol_doc.DOC.read_text()
    assert protocol_doc.render(current) == current, "run: python -m app.boards.protocol_doc"
    for code in ("bad_delta", "invalid_input", "session_refused", "unavailable", "rate_limited", "server_error"):
        assert f"`{code}`" in current
    for name in [*CLIENT_EVENTS, *schemas.SERVER_EVENTS, *schemas.MESSAGES]:
        assert f"| `{name}` |" in current


def test_one_change_reaches_each_connection_once_with_one_seq(scene):
    """A participant's post: one seq; the facilitator's connection gets the facilitators' view, the other
    participant's connection the participants' one, and the author's the participants' view then their own
    (``private_change`` first, applied after): nobody sees the change twice as two seqs."""
    world = scene.world
    other_user, _pid = add_participant(world, name="Octave")
    other = logged_in(scene.app, other_user)
    other.join(scene.board_id)
    scene.clear()
    other.received()
    ack = assert_ok(scene.p.send("post_idea", scene.board_id, column_id=world.columns[0], text="Une fois"))
    author, facilitator, watcher = scene.p.received(), scene.f.received(), other.received()
    assert [(f["name"], f["args"][0]["seq"]) for f in author] == [("private_change", ack["seq"]),
                                                                   ("change", ack["seq"])]
    for frames in (facilitator, watcher):
        assert [(f["name"], f["args"][0]["seq"]) for f in frames] == [("change", ack["seq"])]
    [(_s, _n, own)] = live_events(author[:1])
    [(_s, _n, shared)] = live_events(author[1:])
    assert own["idea"]["mine"] is True and shared["idea"]["mine"] is False
    assert live_events(watcher)[0][2] == shared  # the same participants' view for everyone
    assert "author_participant_id" in live_events(facilitator)[0][2]["idea"]
    # A change with nothing for an audience is not sent to it; the next one it gets names the last one it got.
    assert_ok(scene.f.send("update_settings", scene.board_id, settings={"hide_votes": True}))
    set_phase(world, "voting")
    scene.clear()
    last_for_participants = other.received()[-1]["args"][0]["seq"]
    vote = assert_ok(scene.f.send("vote", scene.board_id, idea_id=ack["idea_id"], delta=1))
    assert other.received() == []  # votes are hidden: nothing of it for participants
    assert [f["args"][0]["after"] for f in scene.f.received() if f["name"] == "change"] == [vote["seq"] - 1]
    ready = assert_ok(other.send("set_ready", scene.board_id, ready=True))
    [change] = [f["args"][0] for f in other.received() if f["name"] == "change"]
    assert (change["seq"], change["after"]) == (ready["seq"], last_for_participants)
    assert change["after"] < vote["seq"] < change["seq"]
