"""Concurrent sign-ups over HTTP: 500 logged-in people, 30 seats, all at once, beside a bare one-INSERT endpoint.

Atelier runs as `make run` runs it (serve.py, one gevent process) on a throwaway PostgreSQL (the tests'
``PostgresServer``: fsync off), migrated and seeded with the demo. 500 verified people are created and
logged in before anything is measured. Then, in each round, the 500 POST the sign-up form of a fresh
30-seat workshop at the same instant (one thread and one already-open connection each, released by a
barrier); the same burst is fired at a bare Flask endpoint doing one INSERT on the same database
(``bench/baseline_insert_app.py``), in the same run, rounds alternating. Printed: throughput (requests
over the time from the release to the last response), p50/p95 latency, server CPU and RSS, PostgreSQL's
CPU, the correctness check of every round (30 confirmed, 470 waitlisted numbered 1..470 in commit order), and
the ratio of Atelier's throughput to the baseline's (target: at least 0.5).

A third server gets the same bursts, for what a request of a logged-in person costs on Atelier's stack when it
goes the usual way: ``bench/floor_signin_app.py``, the baseline plus only Flask's cookie session, Flask-Login's
loading of the account (one SELECT) and Flask-WTF's CSRF check, then the same one INSERT. Atelier's sign-up does
not load the account (its one statement checks it) and signs up everyone waiting at once in one statement, which
is how it gets above that "floor" (docs/performance.md).

Both servers get the same placement (as in bench/fanout.py): each alone on CPU 0, one gevent process, no
access log for the baseline; this load driver and PostgreSQL on CPU 1. Before each burst the bench waits
(at most 45 s) for the shared machine to fall under 30 % of one core, and prints what it read.

The periodic jobs are off in the measured server (``ATELIER_RUN_JOBS=0``): no SMTP server listens, and
the mail they would deliver is not what is measured.

Run from the repository root: `make bench`, or `.venv/bin/python bench/signups.py [--users 500 --seats 30]`.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import requests
from common import (
    ROOT,
    BurstRequest,
    atelier_server,
    machine,
    markdown_table,
    print_machine,
    run_burst,
    script_server,
    wait_for_quiet,
    write_results,
)
from sqlalchemy import select

from tests.servers import PostgresServer

BASELINE = "bench/baseline_insert_app.py"
FLOOR = "bench/floor_signin_app.py"
SERVER_CPU, DRIVER_CPU = 0, 1  # as bench/fanout.py: the measured servers on one CPU, the rest on the other
QUIET_BELOW, QUIET_TIMEOUT = 30.0, 45.0  # machine CPU % (of one core) to wait for before each burst
PASSWORD = "correct horse battery"  # noqa: S105 - throwaway accounts in a throwaway database
CSRF_MARK = 'name="csrf_token" type="hidden" value="'


def csrf(html: str) -> str:
    start = html.index(CSRF_MARK) + len(CSRF_MARK)
    return html[start:html.index('"', start)]


def prepare_data(url: str, users: int, seats: int, workshops: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Verified users and published workshops, written with the app's models; (user ids, [(workshop, category)])."""
    from app import create_app
    from app.accounts.models import User, utcnow
    from app.accounts.passwords import hash_password
    from app.extensions import db
    from tests.factories import make_workshop

    # The live server's argon2 parameters (tests.servers.LiveServer), so logging in does not rehash.
    data_app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url, "ARGON2_TIME_COST": 1,
                                   "ARGON2_MEMORY_COST": 1024})
    with data_app.app_context():
        password_hash, now = hash_password(PASSWORD), utcnow()
        people = [User(email=f"bench{i}@example.org", display_name=f"Personne {i}", password_hash=password_hash,
                       email_verified_at=now, terms_accepted_at=now, locale="fr") for i in range(users)]
        db.session.add_all(people)
        db.session.flush()
        user_ids = [p.id for p in people]
        db.session.commit()
        made = []
        for _ in range(workshops):
            workshop = make_workshop(capacity=seats, title="Atelier du banc d'essai")
            made.append((workshop.id, workshop.categories[0].id))
        db.session.remove()
        db.engine.dispose()
    return user_ids, made


def check_round(url: str, category_id: int, seats: int, answered: int) -> dict:
    """What the database holds after a round: no overbooking, waiting-list numbers 1..N in commit order,
    the counters in step, and exactly one registration per sign-up the server answered with a redirect."""
    from sqlalchemy import create_engine

    from app.workshops.models import Registration, RegistrationStatus, WorkshopCategory

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Registration.status, Registration.waitlist_number)
                                      .where(Registration.category_id == category_id)
                                      .order_by(Registration.id)).all()
            taken, next_number = connection.execute(
                select(WorkshopCategory.seats_taken, WorkshopCategory.next_waitlist_number)
                .where(WorkshopCategory.id == category_id)).one()
    finally:
        engine.dispose()
    statuses = [RegistrationStatus(status) for status, _ in rows]
    confirmed = statuses.count(RegistrationStatus.confirmed)
    numbers = [number for status, number in rows if RegistrationStatus(status) is RegistrationStatus.waitlisted]
    # Registrations are inserted under the category's row lock, so id order is commit order.
    in_order = numbers == list(range(1, len(numbers) + 1))
    ok = (confirmed == min(seats, len(rows)) and len(rows) == confirmed + len(numbers) == answered and in_order
          and statuses[:confirmed] == [RegistrationStatus.confirmed] * confirmed
          and (taken, next_number) == (confirmed, len(numbers) + 1))
    return {"registrations": len(rows), "answered_302": answered, "confirmed": confirmed, "waitlisted": len(numbers),
            "numbers_1_to_n_in_commit_order": in_order, "seats_taken": taken, "ok": ok}


def server_errors(log_path, offset: int) -> list[str]:
    """Distinct exception lines Atelier logged after byte ``offset`` (why some requests answered 500)."""
    with log_path.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", "replace").splitlines()
    found = [line.strip() for line in lines if "Error:" in line or "Exception:" in line]
    return sorted(set(found))[:5]


def database_cpu(postgres: PostgresServer) -> dict[int, float]:
    """CPU seconds so far of each process of the PostgreSQL cluster (postmaster and backends), by pid."""
    postmaster = psutil.Process(int((postgres.datadir / "postmaster.pid").read_text().split()[0]))
    seconds = {}
    for process in [postmaster, *postmaster.children()]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def measured(postgres: PostgresServer, burst, *args, **kwargs):
    """``burst(*args, **kwargs)``, with the database's CPU per request during it in ``extra``."""
    before = database_cpu(postgres)
    result = burst(*args, **kwargs)
    after = database_cpu(postgres)
    spent = sum(t - before.get(pid, 0.0) for pid, t in after.items())
    result.extra["database_cpu_ms_per_request"] = 1000 * spent / max(result.requests + result.errors, 1)
    result.extra["database_cpu_percent"] = 100 * spent / result.seconds
    return result


def pin(pid: int, cpu: int) -> None:
    """Keep a process (and its children) on one CPU, when the machine has two."""
    if psutil.cpu_count() >= 2:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                p.cpu_affinity([cpu])


def pin_database(postgres: PostgresServer, cpu: int) -> None:
    """PostgreSQL's postmaster and backends (new backends inherit the postmaster's CPU)."""
    pin(int((postgres.datadir / "postmaster.pid").read_text().split()[0]), cpu)


def quiet_then(burst, *args, **kwargs):
    """Wait (bounded) for the shared machine to calm down, then run the burst; the reading goes in ``extra``."""
    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    result = burst(*args, **kwargs)
    result.extra["machine_busy_before_percent"] = busy
    return result


def log_in(base: str, email: str, signup_path: str) -> tuple[dict, str]:
    """Log one person in; return the headers that carry their session and the CSRF token of it."""
    with requests.Session() as http:
        token = csrf(http.get(base + "/compte/connexion", timeout=60).text)
        response = http.post(base + "/compte/connexion", timeout=60, allow_redirects=False,
                             data={"csrf_token": token, "email": email, "password": PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"login of {email} answered {response.status_code}")
        token = csrf(http.get(base + signup_path, timeout=60).text)
        # Flask-Login's "strong" session protection ties the session to the client's User-Agent.
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies),
                "User-Agent": http.headers["User-Agent"]}, token


def floor_log_in(base: str, user_id: int) -> tuple[dict, str]:
    """Log one account in on the floor server; the headers that carry the session, and its CSRF token."""
    with requests.Session() as http:
        token = http.get(base + "/token", timeout=60).text
        response = http.post(base + "/login", data={"csrf_token": token, "user_id": user_id}, timeout=60)
        if response.status_code != 204:
            raise RuntimeError(f"floor login of {user_id} answered {response.status_code}")
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies),
                "User-Agent": http.headers["User-Agent"]}, token


def form(fields: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500, help="people signing up at once")
    parser.add_argument("--seats", type=int, default=30, help="seats of each workshop")
    parser.add_argument("--rounds", type=int, default=3, help="measured bursts per server, alternating")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured sign-ups (and inserts) first")
    opts = parser.parse_args()
    info = machine()
    print_machine(info)

    postgres = PostgresServer(max_connections=300).start()
    try:
        url = postgres.create_database("atelier_bench")
        env = {"ATELIER_RUN_JOBS": "0", "LOGIN_RATE_LIMIT": "100000 per minute"}
        with atelier_server(url, env=env) as atelier, script_server(BASELINE, "--db", url) as (baseline, base_url), \
                script_server(FLOOR, "--db", url) as (floor, floor_url):
            user_ids, workshops = prepare_data(url, opts.users, opts.seats, opts.rounds + 1)
            paths = [f"/ateliers/{w}/inscription" for w, _ in workshops]
            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                sessions = list(pool.map(lambda i: log_in(atelier.url, f"bench{i}@example.org", paths[0]),
                                         range(opts.users)))
                floor_sessions = list(pool.map(lambda i: floor_log_in(floor_url, user_ids[i]), range(opts.users)))
            print(f"{opts.users} people logged in ({time.perf_counter() - started:.1f} s); "
                  f"{opts.rounds} rounds of {opts.users} simultaneous sign-ups for {opts.seats} seats", flush=True)

            def atelier_burst(path, people):
                return [BurstRequest("POST", path, {**headers, "Content-Type": "application/x-www-form-urlencoded"},
                                     form({"csrf_token": token})) for headers, token in people]

            def floor_burst(people):
                return [BurstRequest("POST", "/signup", {**h, "Content-Type": "application/x-www-form-urlencoded"},
                                     form({"csrf_token": token})) for h, token in people]

            def baseline_burst(n):
                return [BurstRequest("POST", "/signup", {"Content-Type": "application/x-www-form-urlencoded"},
                                     form({"user_id": user_ids[i]})) for i in range(n)]

            # Same placement for both servers: each alone on CPU 0 (one gevent process, as `make run`);
            # this load driver and PostgreSQL on CPU 1, so neither server competes with the load it serves.
            if psutil.cpu_count() >= 2:
                pin(atelier.process.pid, SERVER_CPU)
                pin(baseline.pid, SERVER_CPU)
                pin(floor.pid, SERVER_CPU)
                pin_database(postgres, DRIVER_CPU)
                os.sched_setaffinity(0, {DRIVER_CPU})
            # Warm-up: the sign-up path (mail templates, .ics) and the baseline's pool, unmeasured.
            run_burst(atelier.url, atelier_burst(paths[0], sessions[:opts.warmup]), name="warm-up",
                      ok_status=(302,))
            run_burst(base_url, baseline_burst(opts.warmup), name="warm-up", ok_status=(302,))
            run_burst(floor_url, floor_burst(floor_sessions[:opts.warmup]), name="warm-up", ok_status=(302,))

            results, checks = [], []
            for r, path in enumerate(paths[1:], start=1):
                base = quiet_then(measured, postgres, run_burst, base_url, baseline_burst(opts.users),
                                  ok_status=(302,), server_pid=baseline.pid,
                                  name=f"baseline: bare Flask, 1 INSERT (round {r})")
                least = quiet_then(measured, postgres, run_burst, floor_url, floor_burst(floor_sessions),
                                   ok_status=(302,), server_pid=floor.pid,
                                   name=f"floor: + session, login, CSRF (round {r})")
                offset = atelier.log_path.stat().st_size
                mine = quiet_then(measured, postgres, run_burst, atelier.url, atelier_burst(path, sessions),
                                  ok_status=(302,), server_pid=atelier.process.pid,
                                  name=f"Atelier sign-up (round {r})")
                if mine.errors:
                    mine.extra["server_errors"] = server_errors(atelier.log_path, offset)
                    print("    server errors:", *mine.extra["server_errors"], sep="\n      ", flush=True)
                check = check_round(url, workshops[r][1], opts.seats, mine.requests)
                checks.append(check)
                results += [base, least, mine]
                print(f"  round {r}: baseline {base.throughput:,.0f} req/s, floor {least.throughput:,.0f} req/s, "
                      f"Atelier {mine.throughput:,.0f} req/s, errors {base.errors}/{least.errors}/{mine.errors}, "
                      f"check {'ok' if check['ok'] else 'FAILED'} "
                      f"({check['confirmed']} confirmed, {check['waitlisted']} waitlisted)", flush=True)
    finally:
        postgres.stop()

    rounds = list(zip(results[::3], results[1::3], results[2::3], strict=True))
    ratios = [mine.throughput / base.throughput for base, _least, mine in rounds]
    floor_ratios = [least.throughput / base.throughput for base, least, _mine in rounds]
    ratio = statistics.median(ratios)
    print(f"\nDatabase: PostgreSQL (throwaway, fsync off). {opts.users} simultaneous POSTs per burst, one new "
          "connection each; ratios to the round-1 baseline.\n")
    print(markdown_table(results, results[0]))
    print("\nPostgreSQL's own CPU during each burst (all its processes; part of the 'other CPU' column), and the "
          "machine's CPU just before it (other sessions' work; % of one core):\n")
    print("| burst | database CPU ms/req | database CPU % | machine busy before % |\n|---|---|---|---|")
    for r in results:
        print(f"| `{r.name}` | {r.extra['database_cpu_ms_per_request']:.2f} | {r.extra['database_cpu_percent']:.0f} "
              f"| {r.extra['machine_busy_before_percent']:.0f} |")
    print(f"\nAtelier ÷ baseline throughput, per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
          f"median {ratio:.2f} (target ≥ 0.5: {'met' if ratio >= 0.5 else 'NOT met'}).")
    print(f"Floor (session, login, CSRF, 1 INSERT) ÷ baseline, per round: "
          f"{', '.join(f'{x:.2f}' for x in floor_ratios)}; median {statistics.median(floor_ratios):.2f}: a logged-in "
          "request that loads its account the usual way, for comparison.")
    correct = all(c["ok"] for c in checks)
    print(f"Correctness: {'ok' if correct else 'FAILED'} in every round: " + "; ".join(
        f"{c['confirmed']} confirmed, {c['waitlisted']} waitlisted numbered 1..{c['waitlisted']} in commit order "
        f"({c['numbers_1_to_n_in_commit_order']}), {c['registrations']} registrations for {c['answered_302']} "
        "redirects" for c in checks))
    path = write_results("signups", {
        "machine": info, "database": "postgresql", "settings": vars(opts), "checks": checks,
        "ratios": ratios, "ratio_median": ratio, "floor_ratios": floor_ratios,
        "results": [r.summary() for r in results],
    })
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    if not correct or any(r.errors for r in results):
        sys.exit("a check failed or some requests failed: see above")


if __name__ == "__main__":
    main()
