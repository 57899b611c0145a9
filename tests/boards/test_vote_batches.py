"""Dots are applied in batches per board: one lock, one commit for every dot waiting, each voter its own answer.

The batch is made deterministic by holding the board's turn while the voters queue, as a long change would.
"""

import threading
import time

import pytest
from sqlalchemy import event, func, select

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
    with service._board_queue(board_id):
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(service._waiting.get(board_id, [])) < len(calls):
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
