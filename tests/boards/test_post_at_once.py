"""Ideas posted in two statements on PostgreSQL (app/boards/statements.py), beside the locked path.

The events and acks of a post are written out in full here, for each board setting that changes them: the same
test runs on SQLite, where every post takes the locked path, and on PostgreSQL, where it takes the two
statements; both must give exactly these. Then what only the two statements have: their count, no transaction
round trip, the board's ``seq`` deciding when something changed between the read and the write, and the posts
waiting for a board's turn going together.
"""

import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text, update

from app import signals
from app.boards import service
from app.boards.models import Board, BoardEvent, Idea, Participant
from app.boards.sortkey import key_between
from app.catalog.models import Membership
from app.errors import InvalidInput
from app.extensions import db
from tests.queries import recorded_statements

from .helpers import events, last_seq, make_world, post, set_phase, set_settings


@pytest.fixture
def pg(backend):
    if backend != "postgresql":
        pytest.skip("the two statements are PostgreSQL's: SQLite always takes the locked path")


@pytest.fixture
def brainstorm(world):
    set_phase(world, "brainstorm")
    return world


def _view(idea, author, *, mine=False, facilitator=False, votes=True, status="visible", column_id):
    view = {"id": idea, "column_id": column_id, "cluster_id": None, "sort_key": key_between(None, None),
            "text": "Un seul guichet", "status": status, "version": 1, "author": author, "mine": mine, "reactions": {}}
    if votes or facilitator:
        view["votes"] = 0
    if facilitator:
        view["author_participant_id"] = "AUTHOR"
        view["hidden_reason"] = ""
    return view


def expected(scenario: str, column_id: int) -> list[tuple]:
    """The events of the first idea of a column, as each setting shapes them (ids replaced by names)."""
    name = {"guest": "Dominique", "anonymous_guest": "Dominique", "facilitator": "Fanny Animatrice"}.get(
        scenario, "Camille Citoyenne")
    status = "pending" if scenario == "moderated" else "visible"
    for_facilitators = ("idea_posted", "facilitators", None,
                        {"idea": _view("IDEA", name, facilitator=True, status=status, column_id=column_id)})
    if scenario == "facilitator":  # no event of the author's own: they are in the facilitators' room
        return [for_facilitators, ("idea_posted", "participants", None,
                                   {"idea": _view("IDEA", name, column_id=column_id)})]
    shown = None if scenario.startswith("anonymous") else name
    votes = scenario != "hide_votes"
    mine = ("idea_posted", "participant", "AUTHOR",
            {"idea": _view("IDEA", shown, mine=True, votes=votes, status=status, column_id=column_id)})
    if scenario == "moderated":
        others = ("idea_removed", "participants", None, {"id": "IDEA"})
    elif scenario == "hidden":
        others = ("idea_placeholder", "participants", None, {"id": "IDEA", "column_id": column_id})
    else:
        others = ("idea_posted", "participants", None, {"idea": _view("IDEA", shown, votes=votes, column_id=column_id)})
    return [for_facilitators, mine, others]


def normalised(evs: list[dict], idea_id: int, author_id: int) -> list[tuple]:
    names = {"id": {idea_id: "IDEA"}, "author_participant_id": {author_id: "AUTHOR"}}

    def swap(value, key=None):
        if isinstance(value, dict):
            return {k: swap(v, k) for k, v in value.items()}
        return names[key].get(value, value) if key in names else value

    return [(e["name"], e["audience"], "AUTHOR" if e["participant_id"] == author_id else e["participant_id"],
             swap(e["payload"])) for e in evs]


SETTINGS = {"plain": {}, "anonymous": {"anonymous": True}, "hidden": {"hide_ideas": True},
            "moderated": {"moderation": "approve"}, "hide_votes": {"hide_votes": True}, "facilitator": {},
            "guest": {}, "anonymous_guest": {"anonymous": True}}


@pytest.mark.parametrize("scenario", list(SETTINGS))
def test_a_post_gives_the_same_events_and_ack_on_both_paths(backend, brainstorm, scenario):
    world = brainstorm
    if SETTINGS[scenario]:
        set_settings(world, **SETTINGS[scenario])
    author = {"facilitator": world.fac, "guest": None, "anonymous_guest": None}.get(scenario, world.cit)
    if author is None:
        author = service.join(world.board, None, guest_name="Dominique", by_code=True).id
        db.session.commit()
    seq = last_seq(world.board_id)
    with recorded_statements() as statements:
        ack = service.post_idea(world.board_id, author, column_id=world.columns[1], text="  Un seul guichet ",
                                client_id="idée-1")
    if backend == "postgresql":  # the read, then the conditional write: no BEGIN, no COMMIT, nothing else
        assert len(statements) == 2, statements
        assert "UPDATE" not in statements[0] and "INSERT" not in statements[0]
        assert "UPDATE boards SET seq" in statements[1]
    evs = events(world.board_id, after=seq)
    assert normalised(evs, ack["idea_id"], author) == expected(scenario, world.columns[1])
    assert [(e["seq"], e["position"]) for e in evs] == [(seq + 1, n) for n in range(len(evs))]  # one change
    status = "pending" if scenario == "moderated" else "visible"
    assert ack == {"ok": True, "seq": seq + 1, "idea_id": ack["idea_id"], "status": status}
    db.session.expire_all()
    idea = db.session.get(Idea, ack["idea_id"])
    assert (idea.text, idea.column_id, idea.participant_id, idea.sort_key, idea.status.value, idea.votes,
            idea.version, idea.cluster_id, idea.hidden_reason) == (
        "Un seul guichet", world.columns[1], author, key_between(None, None), status, 0, 1, None, "")
    assert db.session.get(Board, world.board_id).seq == seq + 1
    # The stored ack is what a resend gets back, applying nothing (one statement on PostgreSQL: the read).
    with recorded_statements() as statements:
        again = service.post_idea(world.board_id, author, column_id=world.columns[1], text="Un seul guichet",
                                  client_id="idée-1")
    assert again == {**ack, "replayed": True}
    assert last_seq(world.board_id) == seq + 1
    if backend == "postgresql":
        assert len(statements) == 1


def test_the_next_ideas_of_a_column_follow_the_last_one(backend, brainstorm):
    world = brainstorm
    first = post(world, world.cit, "a", column=0)
    service.move_idea(world.board_id, world.fac, idea_id=first, column_id=world.columns[0])
    ids = [post(world, world.cit, f"Idée {n}", column=0) for n in range(3)]
    keys = [db.session.get(Idea, i).sort_key for i in [first, *ids]]
    assert keys == sorted(keys) and len(set(keys)) == 4


def test_a_role_to_store_goes_to_the_locked_path(pg, world):
    """A facilitator whose role was withdrawn: the read sees the role no longer matches, so the locked path
    stores it first (``participant_role_changed``), then refuses a post outside the brainstorm."""
    db.session.execute(db.delete(Membership).where(Membership.user_id == world.facilitator.id))
    db.session.commit()
    seq = last_seq(world.board_id)
    with pytest.raises(service.WrongPhase):
        post(world, world.fac)
    assert db.session.scalar(select(func.count(Idea.id))) == 0
    assert [e["name"] for e in events(world.board_id, after=seq)] == ["participant_role_changed"] * 2
    db.session.expire_all()
    assert db.session.get(Participant, world.fac).is_facilitator is False


def _waiting_on_a_lock(timeout: float = 20.0) -> None:
    """Until another connection waits for a row lock (the write of the post, on the board's row)."""
    deadline = time.monotonic() + timeout
    with db.engine.connect() as watcher:
        while time.monotonic() < deadline:
            if watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND query LIKE '%UPDATE boards SET seq%'")).scalar():
                return
            watcher.rollback()
            time.sleep(0.02)
    raise AssertionError("the post never waited for the board's row")


@contextmanager
def _board_row_held(board_id: int):
    """Another transaction holding the board's row lock; yields its connection (rolled back if not committed)."""
    with db.engine.connect() as other:
        other.execute(text("SELECT id FROM boards WHERE id = :id FOR UPDATE"), {"id": board_id})
        yield other


def _commit_a_change_by_hand(other, board_id: int, seq: int, values: dict, name: str, payload: str) -> None:
    """What a change of the board commits (columns of the board, its ``seq`` moved, its event), written on the
    connection that holds the row, so the lock stays held until now."""
    boards = Board.__table__
    other.execute(update(boards).where(boards.c.id == board_id).values(seq=boards.c.seq + 1, **values))
    other.execute(text("INSERT INTO board_events (board_id, seq, name, audience, participant_id, payload, created_at) "
                       "VALUES (:id, :seq, :name, 'everyone', NULL, :payload, now())"),
                  {"id": board_id, "seq": seq + 1, "name": name, "payload": payload})
    other.commit()


def _post_in_a_thread(app, world, participant_id: int, outcome: dict) -> threading.Thread:
    def run():
        with app.app_context():
            try:
                outcome["ack"] = service.post_idea(world.board_id, participant_id, column_id=world.columns[0],
                                                   text="Pendant le changement", client_id="pendant")
            except Exception as err:  # noqa: BLE001 - asserted by the test
                outcome["error"] = err
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_change_committed_between_the_read_and_the_write_sends_the_post_to_the_locked_path(pg, app, brainstorm):
    """The read sees the brainstorm; before the write, another transaction ends it. The write's conditional
    update waits for that transaction's row lock, sees the board's ``seq`` has moved and writes nothing; the
    locked path then refuses the post in its new phase. (Were the ``seq`` condition gone, the events' unique
    (board, seq) would still stop this write, with an error instead of an empty answer: every change that moves
    ``seq`` stores an event under the next number.)"""
    world = brainstorm
    seq = last_seq(world.board_id)
    with _board_row_held(world.board_id) as other:
        outcome: dict = {}
        thread = _post_in_a_thread(app, world, world.cit, outcome)
        _waiting_on_a_lock()
        _commit_a_change_by_hand(other, world.board_id, seq, {"phase": "grouping"}, "phase_changed",
                                 '{"phase": "grouping"}')
    thread.join(timeout=30)
    assert isinstance(outcome.get("error"), service.WrongPhase), outcome
    assert db.session.scalar(select(func.count(Idea.id))) == 0
    assert [e["name"] for e in events(world.board_id, after=seq)] == ["phase_changed"]
    db.session.expire_all()
    assert db.session.get(Board, world.board_id).seq == seq + 1


def test_a_lock_released_without_a_change_lets_the_post_through(pg, app, brainstorm):
    """The same wait, ended by a transaction that changed nothing: the ``seq`` still holds, the post is stored."""
    world = brainstorm
    seq = last_seq(world.board_id)
    with _board_row_held(world.board_id) as other:
        outcome: dict = {}
        thread = _post_in_a_thread(app, world, world.cit, outcome)
        _waiting_on_a_lock()
        other.rollback()
    thread.join(timeout=30)
    assert outcome.get("ack", {}).get("ok") is True, outcome
    assert [e["seq"] for e in events(world.board_id, after=seq)] == [seq + 1] * 3  # one post: one seq


def test_posts_racing_outside_the_process_queue_are_numbered_without_gap(pg, app, brainstorm):
    """Posts from 12 threads that skip this process's per-board queue (as other server processes would): a post
    whose read was overtaken writes nothing and goes the whole way again; every idea is stored once, the events
    are numbered 1..n with no gap, and the sort keys of the column stay unique."""
    world = brainstorm
    people = [world.cit] + [service.join(world.board, None, guest_name=f"Invité {n}", by_code=True).id
                            for n in range(11)]
    db.session.commit()
    barrier, errors, acks = threading.Barrier(len(people)), [], []

    def run(participant_id):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                for n in range(5):
                    item = service._Post(participant_id, world.columns[0], f"Idée {n}", f"course-{n}", None, None)
                    if service._post_in_two_statements(world.board_id, [item]):  # overtaken: the whole way
                        acks.append(service.post_idea(world.board_id, participant_id, column_id=world.columns[0],
                                                      text=f"Idée {n}", client_id=f"course-{n}"))
                    else:
                        acks.append(item.result)
            except Exception as err:  # noqa: BLE001 - asserted below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(acks) == 5 * len(people) and len({a["idea_id"] for a in acks}) == len(acks)
    db.session.expire_all()
    stored = sorted({e["seq"] for e in events(world.board_id)})
    assert stored == list(range(1, len(stored) + 1))
    assert db.session.get(Board, world.board_id).seq == stored[-1]
    keys = db.session.scalars(select(Idea.sort_key).where(Idea.column_id == world.columns[0])).all()
    assert len(keys) == len(acks) == len(set(keys))
    assert db.session.scalar(select(func.count(BoardEvent.id)).where(BoardEvent.name == "idea_posted")) \
        == 3 * len(acks)


def _queued_posts(app, board_id: int, posts: list[dict]) -> tuple[list, list]:
    """Start one thread per post while the board's turn is held, wait until all are queued, then let them go:
    (outcomes in the order given, statements sent while they ran)."""
    outcomes: list = [None] * len(posts)

    def run(index, spec):
        with app.app_context():
            try:
                outcomes[index] = service.post_idea(board_id, **spec)
            except Exception as err:  # noqa: BLE001 - the outcome is checked by the test
                outcomes[index] = err
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, spec)) for i, spec in enumerate(posts)]
    with recorded_statements() as sent:
        with service._boards.hold(board_id):
            for thread in threads:
                thread.start()
                deadline = time.monotonic() + 30  # one at a time, so the queue keeps the order of the list
                while service._boards.waiting(board_id, "posts") < threads.index(thread) + 1:
                    assert time.monotonic() < deadline, "the posts did not all queue"
                    time.sleep(0.005)
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes, sent


def test_posts_waiting_for_the_board_go_together_in_two_statements(pg, app, brainstorm):
    """Eight posts queued behind the board's turn: one read and one write for all of them, in arrival order
    (seq and sort keys), each waiter with its own ack; then one broadcast of all their events."""
    world = brainstorm
    guests = [service.join(world.board, None, guest_name=f"Invité {n}", by_code=True).id for n in range(4)]
    db.session.commit()
    people = [world.cit, world.fac, *guests]
    posts = [{"participant_id": people[n % len(people)], "column_id": world.columns[n % 2], "text": f"Idée {n}",
              "client_id": f"ensemble-{n}"} for n in range(8)]
    seq = last_seq(world.board_id)
    broadcast = []
    with signals.board_events.connected_to(lambda board_id, events, **_: broadcast.append([e["seq"] for e in events])):
        outcomes, sent = _queued_posts(app, world.board_id, posts)
    assert all(isinstance(o, dict) and o["ok"] and "replayed" not in o for o in outcomes), outcomes
    assert len(sent) == 2, sent
    db.session.expire_all()
    ideas = [db.session.get(Idea, o["idea_id"]) for o in outcomes]
    assert [(i.participant_id, i.column_id, i.text) for i in ideas] == [
        (p["participant_id"], p["column_id"], p["text"]) for p in posts]
    for column in world.columns[:2]:
        keys = [i.sort_key for i in ideas if i.column_id == column]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    acks = [o["seq"] for o in outcomes]
    assert acks == list(range(seq + 1, seq + 1 + len(posts)))  # a seq per post, in arrival order
    stored = [e["seq"] for e in events(world.board_id, after=seq)]
    assert sorted(set(stored)) == acks
    assert broadcast == [stored]  # every event of the batch, once, in order
    # Each ack is what its own resend gets back.
    for spec, ack in zip(posts, outcomes, strict=True):
        assert service.post_idea(world.board_id, **spec) == {**ack, "replayed": True}


def test_a_batch_keeps_every_rule_of_each_post(pg, app, brainstorm):
    """In one batch: the idea cap counts the posts before in the same batch, the same client id twice applies
    once, and a post the rules refuse gets its own refusal while the others are stored."""
    world = brainstorm
    set_settings(world, idea_cap=2)
    other = make_world()
    posts = [
        {"participant_id": world.cit, "column_id": world.columns[0], "text": "Une", "client_id": "a"},
        {"participant_id": world.cit, "column_id": world.columns[0], "text": "Une", "client_id": "a"},  # resent
        {"participant_id": world.cit, "column_id": world.columns[0], "text": "Deux", "client_id": "b"},
        {"participant_id": world.cit, "column_id": world.columns[0], "text": "Trois", "client_id": "c"},  # cap
        {"participant_id": world.cit, "column_id": other.columns[0], "text": "Ailleurs"},  # not this board's
        {"participant_id": world.fac, "column_id": world.columns[0], "text": "   "},  # empty
        {"participant_id": world.fac, "column_id": world.columns[0], "text": "Sans limite"},
    ]
    outcomes, _sent = _queued_posts(app, world.board_id, posts)
    first, again, second, capped, elsewhere, empty, facilitator = outcomes
    assert first["ok"] and again == {**first, "replayed": True}
    assert second["ok"] and second["idea_id"] != first["idea_id"]
    assert isinstance(capped, service.IdeaCapReached)
    assert isinstance(elsewhere, service.UnknownColumn)
    assert isinstance(empty, InvalidInput) and empty.code == "idea_length"
    assert facilitator["ok"]
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Idea.text).where(Idea.board_id == world.board_id))) == [
        "Deux", "Sans limite", "Une"]
    stored = sorted({e["seq"] for e in events(world.board_id)})
    assert stored == list(range(1, len(stored) + 1))


def test_a_batch_whose_read_was_overtaken_goes_the_locked_path_one_by_one(pg, app, brainstorm):
    """The board's row locked by another transaction while a batch's write waits; that transaction locks the
    board: every post of the batch is refused by the locked path, and nothing of the batch is stored."""
    world = brainstorm
    seq = last_seq(world.board_id)
    posts = [{"participant_id": world.cit, "column_id": world.columns[0], "text": f"Idée {n}"} for n in range(3)]
    with _board_row_held(world.board_id) as other:
        outcomes: list = [None] * len(posts)

        def run():
            with app.app_context():
                try:
                    with service._boards.hold(world.board_id):
                        for index, spec in enumerate(posts):
                            threading.Thread(target=one, args=(index, spec)).start()
                        deadline = time.monotonic() + 30
                        while service._boards.waiting(world.board_id, "posts") < len(posts):
                            assert time.monotonic() < deadline
                            time.sleep(0.005)
                finally:
                    db.session.remove()

        def one(index, spec):
            with app.app_context():
                try:
                    outcomes[index] = service.post_idea(world.board_id, **spec)
                except Exception as err:  # noqa: BLE001 - asserted below
                    outcomes[index] = err
                finally:
                    db.session.remove()

        opener = threading.Thread(target=run)
        opener.start()
        opener.join(timeout=30)
        _waiting_on_a_lock()
        _commit_a_change_by_hand(other, world.board_id, seq, {"locked": True}, "settings_changed", '{"locked": true}')
    deadline = time.monotonic() + 30
    while any(o is None for o in outcomes):
        assert time.monotonic() < deadline, outcomes
        time.sleep(0.01)
    assert all(isinstance(o, service.BoardLocked) for o in outcomes), outcomes
    assert db.session.scalar(select(func.count(Idea.id))) == 0
    assert [e["name"] for e in events(world.board_id, after=seq)] == ["settings_changed"]
