"""Dots are applied in batches per board: one lock, one commit for every dot waiting, each voter its own answer.

The batch is made deterministic by holding the board's turn while the voters queue, as a long change would.
"""

import threading
import time

import pytest
from sqlalchemy import event, func, select

from app import signals
from app.boards import service
from app.boards.models import ClientChange, Dot, Idea, Participant
from app.errors import DomainError
from app.extensions import db
from tests.boards.helpers import make_world, post, set_phase, set_settings
from tests.concurrency import app_for_threads

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


def _vote_in_one_batch(app, board_id: int, calls: list[dict]) -> list:
    """Start one thread per call while holding the board's turn; release it once every call is queued."""
    outcomes: list = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            try:
                outcomes[index] = service.vote(board_id, call["participant"], idea_id=call["idea"], delta=1,
                                               client_id=call["client_id"])
            except Exception as err:  # noqa: BLE001 - the outcome is checked below
                outcomes[index] = err
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    with service._boards.hold(board_id):
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while service._boards.waiting(board_id) < len(calls):
            assert time.monotonic() < deadline, "the voters did not all queue"
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _commits(engine):
    counter = {"commits": 0}

    def on_commit(_connection):
        counter["commits"] += 1

    event.listen(engine, "commit", on_commit)
    return counter, lambda: event.remove(engine, "commit", on_commit)


@pytest.fixture
def app(backend, request):
    with app_for_threads(backend, request, GUESTS * TRIES + 2) as app:
        yield app


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
        assert [type(o) for o in mine if not isinstance(o, dict)] == [service.BudgetSpent]
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
    with service._boards.hold(board_id):
        baseline = db.engine.pool.checkedout()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while service._boards.waiting(board_id) < len(guests):
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
