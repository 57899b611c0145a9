"""Posts and dots are applied in batches per board: one lock, one commit for every change waiting in this process,
each caller its own answer. Across processes (each with its own queues) the board's row lock orders them.

A batch is made deterministic by holding the board's turn while the changes queue, as a long change would.
"""

import threading
import time
from functools import partial

import pytest
from sqlalchemy import event, func, select

from app import signals
from app.boards import changes, service
from app.boards.errors import BudgetSpent, IdeaCapReached, UnknownColumn
from app.boards.models import Board, BoardEvent, ClientChange, Dot, Idea, Participant
from app.errors import DomainError, InvalidInput
from app.extensions import db
from app.queues import KeyedQueue
from tests.boards.helpers import events, last_seq, make_world, post, set_phase, set_settings
from tests.concurrency import run_together, threads_app_fixture

pytestmark = pytest.mark.both_databases("app.boards.changes")

GUESTS = 12
TRIES = 4  # one more dot than the budget: exactly one refusal per guest


def _voting_board(budget=3, cap=2):
    world = make_world()
    set_phase(world, "brainstorm")
    ideas = [post(world, world.cit, "Moins de papiers"), post(world, world.cit, "Un seul guichet")]
    set_settings(world, dot_budget=budget, dot_cap=cap)
    set_phase(world, "voting")
    board = service.get_board(world.board_id)
    guests = [service.join(board, None, guest_name=f"Invité {n}", by_code=True).id for n in range(GUESTS)]
    db.session.commit()
    return world, ideas, guests


def _in_one_batch(app, board_id: int, calls: list) -> list:
    """Start one thread per call (a function of nothing) while holding the board's turn, each queued before the next
    starts, so the batch keeps the list's order; release the turn once every call waits. Outcomes in that order."""
    outcomes: list = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            try:
                outcomes[index] = call()
            except Exception as err:  # noqa: BLE001 - the outcome is checked by the test
                outcomes[index] = err
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    with changes._boards.hold(board_id):
        for queued, thread in enumerate(threads, 1):
            thread.start()
            deadline = time.monotonic() + 30
            while changes._boards.waiting(board_id) < queued:
                assert time.monotonic() < deadline, "the changes did not all queue"
                time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _vote_in_one_batch(app, board_id: int, calls: list[dict]) -> list:
    return _in_one_batch(app, board_id, [partial(service.vote, board_id, call["participant"], idea_id=call["idea"],
                                                 delta=1, client_id=call["client_id"]) for call in calls])


def _commits(engine):
    counter = {"commits": 0}

    def on_commit(_connection):
        counter["commits"] += 1

    event.listen(engine, "commit", on_commit)
    return counter, lambda: event.remove(engine, "commit", on_commit)


app = threads_app_fixture(GUESTS * TRIES + 2)


def test_a_batch_gives_each_voter_their_own_answer_and_holds_every_budget(app):
    world, ideas, guests = _voting_board()
    calls = [{"participant": guest, "idea": ideas[n % 2], "client_id": f"g{guest}-{n}"}
             for guest in guests for n in range(TRIES)]
    calls.append({"participant": world.cit, "idea": ideas[0], "client_id": "twice"})
    calls.append({"participant": world.cit, "idea": ideas[0], "client_id": "twice"})  # a resend
    counter, stop = _commits(db.engine)
    try:
        outcomes = _vote_in_one_batch(app, world.board_id, calls)
    finally:
        stop()
    db.session.expire_all()
    for guest in guests:
        mine = [o for o, c in zip(outcomes, calls, strict=True) if c["participant"] == guest]
        assert sum(isinstance(o, dict) and o["ok"] for o in mine) == 3
        assert [type(o) for o in mine if not isinstance(o, dict)] == [BudgetSpent]
        assert db.session.get(Participant, guest).dots_used == 3
    first, second = outcomes[-2:]
    assert first["seq"] == second["seq"] and sorted([first.get("replayed"), second.get("replayed")],
                                                     key=bool) == [None, True]
    accepted = [o for o in outcomes if isinstance(o, dict) and not o.get("replayed")]
    assert len(accepted) == GUESTS * 3 + 1
    assert len({o["seq"] for o in accepted}) == len(accepted)  # each dot its own place in the board's order
    assert db.session.scalar(select(func.sum(Idea.votes))) == len(accepted)
    assert db.session.scalar(select(func.sum(Dot.count))) == len(accepted)
    assert db.session.scalar(select(func.count(ClientChange.id)).where(
        ClientChange.client_id.like("g%") | (ClientChange.client_id == "twice"))) == len(accepted)
    # One transaction for the batch, one for the resend applied on its own.
    assert counter["commits"] <= 2


def test_a_batch_that_fails_is_applied_one_change_at_a_time(app, backend):
    """A change the database refuses only at the batch's INSERT (a client id longer than its column, which
    PostgreSQL enforces) must not sink the others: they are applied again one by one."""
    if backend != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    world, ideas, guests = _voting_board()
    calls = [{"participant": guest, "idea": ideas[0], "client_id": f"ok-{guest}"} for guest in guests]
    calls.append({"participant": world.cit, "idea": ideas[1], "client_id": "x" * 65})
    outcomes = _vote_in_one_batch(app, world.board_id, calls)
    db.session.expire_all()
    assert all(isinstance(o, dict) and o["ok"] and "replayed" not in o for o in outcomes[:-1])
    assert isinstance(outcomes[-1], Exception) and not isinstance(outcomes[-1], DomainError)
    assert db.session.get(Idea, ideas[0]).votes == GUESTS
    assert db.session.get(Idea, ideas[1]).votes == 0
    assert db.session.get(Participant, world.cit).dots_used == 0
    assert db.session.scalar(select(func.count(ClientChange.id)).where(
        ClientChange.client_id.like("ok-%"))) == GUESTS


def test_voters_queued_behind_the_board_hold_no_connection(app):
    """The queue exists so that a burst on one board does not empty the pool: a voter whose handler read
    something first (the socket handler reads the account) gives its connection back before it waits."""
    world, ideas, guests = _voting_board()
    board_id, idea_id = world.board_id, ideas[0]
    db.session.remove()
    outcomes: list = [None] * len(guests)

    def run(index, guest):
        with app.app_context():
            try:
                db.session.get(Participant, guest)  # a read before the service, as the handlers do
                outcomes[index] = service.vote(board_id, guest, idea_id=idea_id, delta=1)
            except Exception as err:  # noqa: BLE001 - the outcome is checked below
                outcomes[index] = err
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, guest)) for i, guest in enumerate(guests)]
    with changes._boards.hold(board_id):
        baseline = db.engine.pool.checkedout()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while changes._boards.waiting(board_id) < len(guests):
            assert time.monotonic() < deadline, "the voters did not all queue"
            time.sleep(0.01)
        held = db.engine.pool.checkedout() - baseline
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(o, dict) and o["ok"] for o in outcomes)
    assert held == 0


def test_a_batch_is_not_applied_again_when_its_broadcast_fails_after_the_commit(app):
    """Once the batch has committed, its dots stand: a failure while handing the events to the realtime layer
    must not send every change through the one-by-one fallback (dots without a client id would count twice)."""
    world, ideas, guests = _voting_board()
    voters = guests[:3]
    calls = [{"participant": guest, "idea": ideas[0], "client_id": None} for guest in voters]

    def broadcast_fails(board_id, events):
        raise RuntimeError("message queue unreachable")

    signals.board_events.connect(broadcast_fails)
    try:
        outcomes = _vote_in_one_batch(app, world.board_id, calls)
    finally:
        signals.board_events.disconnect(broadcast_fails)
    db.session.expire_all()
    assert db.session.get(Idea, ideas[0]).votes == len(voters)
    assert [db.session.get(Participant, guest).dots_used for guest in voters] == [1] * len(voters)
    assert db.session.scalar(select(func.sum(Dot.count))) == len(voters)
    assert all(isinstance(o, dict) and o["ok"] and o["mine"] == 1 for o in outcomes)


def _brainstorm_board():
    world = make_world()
    set_phase(world, "brainstorm")
    return world


def _posts_in_one_batch(app, board_id: int, posts: list[dict]) -> list:
    return _in_one_batch(app, board_id, [partial(service.post_idea, board_id, **spec) for spec in posts])


def test_posts_waiting_for_the_board_go_together_in_arrival_order(app):
    """Eight posts queued behind the board's turn: one transaction for all of them, in arrival order (seq and sort
    keys), each waiter with its own ack; then one broadcast of all their events. Each ack is what its resend gets."""
    world = _brainstorm_board()
    guests = [service.join(world.board, None, guest_name=f"Invité {n}", by_code=True).id for n in range(4)]
    db.session.commit()
    people = [world.cit, world.fac, *guests]
    posts = [{"participant_id": people[n % len(people)], "column_id": world.columns[n % 2], "text": f"Idée {n}",
              "client_id": f"ensemble-{n}"} for n in range(8)]
    seq = last_seq(world.board_id)
    db.session.commit()  # end the read: SQLite would keep showing it
    broadcast = []

    def collect(board_id, events, **_):
        broadcast.append([e["seq"] for e in events])

    counter, stop = _commits(db.engine)
    try:
        with signals.board_events.connected_to(collect):
            outcomes = _posts_in_one_batch(app, world.board_id, posts)
    finally:
        stop()
    assert all(isinstance(o, dict) and o["ok"] and "replayed" not in o for o in outcomes), outcomes
    assert counter["commits"] == 1
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
    for spec, ack in zip(posts, outcomes, strict=True):
        assert service.post_idea(world.board_id, **spec) == {**ack, "replayed": True}


def test_a_batch_keeps_every_rule_of_each_post(app):
    """In one batch: the idea cap counts the posts before in the same batch, the same client id twice applies
    once, and a post the rules refuse gets its own refusal while the others are stored."""
    world = _brainstorm_board()
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
    first, again, second, capped, elsewhere, empty, facilitator = _posts_in_one_batch(app, world.board_id, posts)
    assert first["ok"] and again == {**first, "replayed": True}
    assert second["ok"] and second["idea_id"] != first["idea_id"]
    assert isinstance(capped, IdeaCapReached)
    assert isinstance(elsewhere, UnknownColumn)
    assert isinstance(empty, InvalidInput) and empty.code == "idea_length"
    assert facilitator["ok"]
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Idea.text).where(Idea.board_id == world.board_id))) == [
        "Deux", "Sans limite", "Une"]
    stored = sorted({e["seq"] for e in events(world.board_id)})
    assert stored == list(range(1, len(stored) + 1))


class _QueuesOfTheirOwn:
    """Each thread its own per-board queues, as each server process has: only the database orders their changes."""

    def __init__(self):
        self._local = threading.local()

    def __getattr__(self, name):
        if not hasattr(self._local, "queues"):
            self._local.queues = KeyedQueue(changes.BATCH_MAX)
        return getattr(self._local.queues, name)


def test_posts_of_processes_that_share_no_queue_are_numbered_without_gap(app, monkeypatch):
    """Posts from 12 threads, each with queues of its own (as other server processes would be): the board's row lock
    orders them; every idea is stored once, the events are numbered 1..n with no gap, the column's sort keys stay
    unique, and each resend replays its ack."""
    world = _brainstorm_board()
    people = [world.cit] + [service.join(world.board, None, guest_name=f"Invité {n}", by_code=True).id
                            for n in range(11)]
    db.session.commit()
    monkeypatch.setattr(changes, "_boards", _QueuesOfTheirOwn())

    def posts_of(participant_id):
        def job(barrier):
            barrier.wait()
            return [service.post_idea(world.board_id, participant_id, column_id=world.columns[0], text=f"Idée {n}",
                                      client_id=f"course-{n}") for n in range(5)]
        return job

    results, errors = run_together(app, [posts_of(p) for p in people])
    assert not errors
    acks = [ack for mine in results for ack in mine]
    assert len({a["idea_id"] for a in acks}) == len({a["seq"] for a in acks}) == len(acks) == 5 * len(people)
    db.session.expire_all()
    stored = sorted({e["seq"] for e in events(world.board_id)})
    assert stored == list(range(1, len(stored) + 1))
    assert db.session.get(Board, world.board_id).seq == stored[-1]
    keys = db.session.scalars(select(Idea.sort_key).where(Idea.column_id == world.columns[0])).all()
    assert len(keys) == len(acks) == len(set(keys))
    assert db.session.scalar(select(func.count(BoardEvent.id)).where(BoardEvent.name == "idea_posted")) \
        == 3 * len(acks)
    again = service.post_idea(world.board_id, people[-1], column_id=world.columns[0], text="Idée 4",
                              client_id="course-4")
    assert again == {**results[-1][-1], "replayed": True}
