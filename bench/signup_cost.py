"""CPU per sign-up request, in one process: what the sign-up target asks of this stack, measured without a network.

``bench/signups.py`` compares the throughput of running servers; each is bound by its own CPU, so its throughput is
about the inverse of its CPU per request. This bench measures that CPU per request directly, in this process
(gevent-patched like the servers, Flask's test client, a throwaway PostgreSQL with fsync off), for four handlers on
the same database, in alternating rounds:

1. **baseline**: ``bench/baseline_insert_app.py``, bare Flask, one INSERT (the target's reference);
2. **floor**: ``bench/floor_signin_app.py``, the baseline plus a cookie session, Flask-Login loading the account and
   Flask-WTF's CSRF check;
3. **Atelier no-op**: Atelier's own app, a logged-in, CSRF-checked POST whose view only redirects (what Atelier
   does on every such request: session, account, CSRF, security headers, access log), added on this instance only;
4. **Atelier sign-up**: the real ``POST /ateliers/<id>/inscription`` (on PostgreSQL: one statement, the account
   checked inside it; see ``app/workshops/service.py``, ``sign_up_in_one_statement``).

Printed: CPU ms per request (median of the rounds) and baseline ÷ handler, i.e. the throughput ratio a CPU-bound
server of each would reach against the baseline (target of the sign-up bench: at least 0.5). The sign-ups are
checked in the database as ``bench/signups.py`` checks them: 30 confirmed, the rest waitlisted 1..N in commit
order, the counters in step.

Run from the repository root: `make bench`, or `.venv/bin/python bench/signup_cost.py [--requests 400]`.
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
from signups import PASSWORD, check_round, csrf, prepare_data  # noqa: E402

from tests.servers import LiveServer, PostgresServer, free_port  # noqa: E402

SEATS = 30


def add_noop_route(app) -> None:
    """A logged-in, CSRF-checked POST whose view only redirects, on this bench's instance of Atelier only."""
    from flask import redirect
    from flask_login import login_required

    app.add_url_rule("/banc/rien", "bench_noop", login_required(lambda: redirect("/")), methods=["POST"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per handler and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    opts = parser.parse_args()
    info = machine()
    print_machine(info)
    people = opts.warmup + opts.requests * opts.rounds
    postgres = PostgresServer().start()
    try:
        url = postgres.create_database("signup_cost")
        LiveServer(url, smtp_port=free_port(), env={}).prepare_database()
        user_ids, workshops = prepare_data(url, people, SEATS, 1)
        results, check = measure(url, opts, user_ids, workshops)
    finally:
        postgres.stop()
    report(info, opts, results, check)


def measure(url: str, opts, user_ids: list[int], workshops: list[tuple[int, int]]):
    from baseline_insert_app import create_baseline
    from floor_signin_app import create_floor

    from app import create_app

    baseline = create_baseline(url).test_client()
    floor = create_floor(url).test_client()
    floor_token = floor.get("/token").text
    floor.post("/login", data={"csrf_token": floor_token, "user_id": user_ids[0]})
    atelier = create_app("development", {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-" * 8,
                                         "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024,
                                         "LOGIN_RATE_LIMIT": "100000 per minute"})
    add_noop_route(atelier)
    workshop_id, category_id = workshops[0]
    people = []  # one logged-in client per sign-up: each person signs up once per workshop
    for i in range(len(user_ids)):
        client = atelier.test_client()
        token = csrf(client.get("/compte/connexion").text)
        answer = client.post("/compte/connexion", data={"csrf_token": token, "email": f"bench{i}@example.org",
                                                         "password": PASSWORD})
        if answer.status_code != 302:
            sys.exit(f"login of bench{i} answered {answer.status_code}")
        people.append((client, csrf(client.get(f"/ateliers/{workshop_id}/inscription").text)))
    me, my_token = people[0]
    handlers = {
        "baseline: bare Flask, 1 INSERT": lambda i: baseline.post("/signup", data={"user_id": user_ids[0]}),
        "floor: + session, login, CSRF": lambda i: floor.post("/signup", data={"csrf_token": floor_token}),
        "Atelier no-op (logged in, CSRF)": lambda i: me.post("/banc/rien", data={"csrf_token": my_token}),
        "Atelier sign-up": lambda i: people[i][0].post(f"/ateliers/{workshop_id}/inscription",
                                                       data={"csrf_token": people[i][1]}),
    }
    cpu = {name: [] for name in handlers}
    for name, handler in handlers.items():  # warm-up: the first requests fill caches and the pools
        for i in range(opts.warmup):
            check_status(name, handler(i))
    next_person = opts.warmup
    for r in range(opts.rounds):
        for name, handler in handlers.items():
            started = time.process_time()
            for i in range(next_person, next_person + opts.requests):
                answer = handler(i)
            cpu[name].append(1000 * (time.process_time() - started) / opts.requests)
            check_status(name, answer)
        next_person += opts.requests
        print(f"  round {r + 1}: " + ", ".join(f"{name} {cpu[name][-1]:.2f} ms" for name in handlers), flush=True)
    return cpu, check_round(url, category_id, SEATS, len(user_ids))


def check_status(name: str, answer) -> None:
    if answer.status_code != 302:
        sys.exit(f"{name} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")


def report(info: dict, opts, cpu: dict, check: dict) -> None:
    base = statistics.median(cpu["baseline: bare Flask, 1 INSERT"])
    print(f"\nCPU per request in this process (median of {opts.rounds} rounds of {opts.requests}); "
          "ratio = baseline CPU ÷ handler CPU (the throughput ratio of CPU-bound servers):\n")
    print("| handler | CPU ms/request (rounds) | median | baseline ÷ handler |\n|---|---|---|---|")
    for name, values in cpu.items():
        median = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | {median:.2f} | {base / median:.2f} |")
    print(f"\nAtelier's sign-ups, checked in the database: {check['confirmed']} confirmed, {check['waitlisted']} "
          f"waitlisted numbered 1..{check['waitlisted']} in commit order, counters in step: "
          f"{'ok' if check['ok'] else 'FAILED'}.")
    path = write_results("signup-cost", {"machine": info, "settings": vars(opts), "check": check,
                                         "cpu_ms_per_request": cpu})
    print(f"Raw results: {path.relative_to(ROOT)}")
    if not check["ok"]:
        sys.exit("the sign-ups' result is wrong")


if __name__ == "__main__":
    main()
