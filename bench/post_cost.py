"""CPU and statements per idea post, in one process: the locked path against the two statements.

``bench/fanout.py`` measures a running server; this measures what one post costs the server's process, without a
network (gevent-patched like the server, a throwaway PostgreSQL with fsync off), in alternating rounds:

1. **baseline: the locked path**: ``run_change`` with ``post_idea``'s rules, under the board's row lock (what every
   post took before, and what SQLite and every case the two statements do not take still take);
2. **post_idea**: on PostgreSQL, the read and the conditional write of ``app/boards/statements.py``;
3. **post_idea through the /boards handler**: the same, sent by Flask-SocketIO's test client (payload validation,
   Flask's request context, the acknowledgement, the broadcast to the poster's rooms).

Printed: CPU ms per post (median of the rounds), SQL statements per post, and baseline ÷ each. The board is checked
afterwards: every post stored once, its events numbered without gap.

Run from the repository root: `make bench`, or `.venv/bin/python bench/post_cost.py [--posts 300]`.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, machine, print_machine, write_results  # noqa: E402

from tests.servers import PostgresServer  # noqa: E402

BASELINE = "baseline: locked path (run_change)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300, help="measured posts per handler and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    opts = parser.parse_args()
    info = machine()
    print_machine(info)
    postgres = PostgresServer().start()
    try:
        results, statements, check = measure(postgres.create_database("post_cost"), opts)
    finally:
        postgres.stop()
    report(info, opts, results, statements, check)


def measure(url: str, opts):
    from sqlalchemy import event, func, select

    from app import create_app
    from app.boards import service
    from app.boards.models import BoardEvent, Idea
    from app.extensions import db
    from tests.boards.helpers import logged_in, make_world, set_phase

    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url, "ARGON2_TIME_COST": 1,
                              "BOARD_EVENTS_PER_SECOND": 1_000_000, "BOARD_EVENTS_BURST": 1_000_000})
    with app.app_context():
        db.create_all()
        world = make_world()
        set_phase(world, "brainstorm")
        live = logged_in(app, world.citizen)
        if not live.join(world.board_id)["ok"]:
            sys.exit("the bench's participant could not join the board")
        board_id, pid, column = world.board_id, world.cit, world.columns[0]
        count = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *_args: count.__setitem__(0, count[0] + 1))

        def locked(n):
            return service.run_change(board_id, pid, f"l{n}", service._post_change(column, f"Idée {n}"))

        def two_statements(n):
            return service.post_idea(board_id, pid, column_id=column, text=f"Idée {n}", client_id=f"p{n}")

        def socket(n):
            ack = live.sio.emit("post_idea", {"board_id": board_id, "column_id": column, "text": f"Idée {n}",
                                              "client_id": f"s{n}"}, namespace="/boards", callback=True)
            live.sio.queue.clear()
            return ack

        handlers = {BASELINE: locked, "post_idea (two statements)": two_statements,
                    "post_idea through the /boards handler": socket}
        cpu = {name: [] for name in handlers}
        statements = {}
        posted = 0
        for name, handler in handlers.items():
            for n in range(opts.warmup):
                check(name, handler(f"w{n}"))
                posted += 1
        for r in range(opts.rounds):
            for name, handler in handlers.items():
                count[0] = 0
                started = time.process_time()
                for n in range(opts.posts):
                    ack = handler(f"{r}-{n}")
                cpu[name].append(1000 * (time.process_time() - started) / opts.posts)
                statements[name] = count[0] / opts.posts
                check(name, ack)
                posted += opts.posts
            print(f"  round {r + 1}: " + ", ".join(f"{name} {cpu[name][-1]:.2f} ms" for name in handlers), flush=True)
        db.session.rollback()
        seqs = db.session.scalars(select(BoardEvent.seq).where(BoardEvent.board_id == board_id)
                                  .order_by(BoardEvent.seq)).all()
        ideas = db.session.scalar(select(func.count(Idea.id)).where(Idea.board_id == board_id))
        result = {"posted": posted, "ideas": ideas, "events": len(seqs),
                  "numbered_without_gap": seqs == list(range(1, len(seqs) + 1))}
        result["ok"] = result["ideas"] == posted and result["numbered_without_gap"]
        return cpu, statements, result


def check(name: str, ack) -> None:
    if not (isinstance(ack, dict) and ack.get("ok") and "replayed" not in ack):
        sys.exit(f"{name} answered {ack}")


def report(info: dict, opts, cpu: dict, statements: dict, result: dict) -> None:
    base = statistics.median(cpu[BASELINE])
    print(f"\nCPU per post in this process (median of {opts.rounds} rounds of {opts.posts}); "
          "ratio = baseline CPU ÷ handler CPU:\n")
    print("| handler | CPU ms/post (rounds) | median | SQL statements/post | baseline ÷ handler |")
    print("|---|---|---|---|---|")
    for name, values in cpu.items():
        median = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | {median:.2f} | {statements[name]:.1f} | "
              f"{base / median:.2f} |")
    print(f"\nThe board afterwards: {result['ideas']} ideas for {result['posted']} posts, {result['events']} events "
          f"numbered 1..n without gap: {'ok' if result['ok'] else 'FAILED'}.")
    path = write_results("post-cost", {"machine": info, "settings": vars(opts), "check": result,
                                       "cpu_ms_per_post": cpu, "statements_per_post": statements})
    print(f"Raw results: {path.relative_to(ROOT)}")
    if not result["ok"]:
        sys.exit("posts lost, doubled or misnumbered: see above")


if __name__ == "__main__":
    main()
