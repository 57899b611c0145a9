"""A sign-up rush over HTTP: 2,000 verified people for 30 seats within 60 s, on two server processes.

Atelier runs as in production when one process is not enough: two `serve.py` processes (gevent) on one
throwaway PostgreSQL (the tests' ``PostgresServer``: fsync off), migrated and seeded with the demo. 2,000
verified people are created and logged in before anything is measured. Then each of them POSTs the sign-up
form of one fresh 30-seat workshop once, at a time drawn at random over 60 s (seeded: every run has the same
timetable), alternately on either process, each on a new connection: an open loop, so a slow answer does not
hold back the next arrivals. The same timetable is then played against a bare Flask endpoint doing one INSERT
on the same database (``bench/baseline_insert_app.py``), for the ratio of the two p95 latencies.

Latency is measured from each request's scheduled instant to its last byte (a driver falling behind adds to
it; how late the driver was is printed). The database is checked after the rush: exactly 30 confirmed, the
others waitlisted and numbered 1..N in commit order, the counters in step, one registration per answer.

Target (issue 20): exactly 30 confirmed, every request answered, p95 under 500 ms.

The periodic jobs are off in the measured servers (``ATELIER_RUN_JOBS=0``): no SMTP server listens, and the
mail they would deliver is not what is measured.

Run from the repository root: `make bench`, or
`.venv/bin/python bench/signups.py [--users 2000 --seats 30 --seconds 60]`.
"""

import argparse
import contextlib
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests
from common import (
    ROOT,
    BurstRequest,
    atelier_server,
    machine,
    markdown_table,
    print_machine,
    run_schedule,
    script_server,
    wait_for_quiet,
    write_results,
)
from sqlalchemy import create_engine, select

from tests.servers import PostgresServer

BASELINE = "bench/baseline_insert_app.py"
PASSWORD = "correct horse battery"  # noqa: S105 - throwaway accounts in a throwaway database
CSRF_MARK = 'name="csrf_token" type="hidden" value="'
TARGET_P95_MS = 500.0


def csrf(html: str) -> str:
    start = html.index(CSRF_MARK) + len(CSRF_MARK)
    return html[start:html.index('"', start)]


def prepare_data(url: str, users: int, seats: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Verified users and two published workshops (warm-up, rush), written with the app's models."""
    from app import create_app
    from app.accounts.models import User
    from app.accounts.passwords import hash_password
    from app.clock import utcnow
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
        for _ in range(2):
            workshop = make_workshop(capacity=seats, title="Atelier du banc d'essai")
            made.append((workshop.id, workshop.categories[0].id))
        db.session.remove()
        db.engine.dispose()
    return user_ids, made


def check_rush(url: str, category_id: int, seats: int, answered: int) -> dict:
    """What the database holds after the rush: no overbooking, waiting-list numbers 1..N in commit order, the
    counters in step, and exactly one registration per sign-up the servers answered with a redirect."""
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
    ok = (confirmed == seats and len(rows) == confirmed + len(numbers) == answered and in_order
          and statuses[:confirmed] == [RegistrationStatus.confirmed] * confirmed
          and (taken, next_number) == (confirmed, len(numbers) + 1))
    return {"registrations": len(rows), "answered_302": answered, "confirmed": confirmed, "waitlisted": len(numbers),
            "numbers_1_to_n_in_commit_order": in_order, "seats_taken": taken, "ok": ok}


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
                "User-Agent": http.headers["User-Agent"],
                "Content-Type": "application/x-www-form-urlencoded"}, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="people signing up, once each")
    parser.add_argument("--seats", type=int, default=30, help="seats of the workshop")
    parser.add_argument("--seconds", type=float, default=60.0, help="the arrivals are spread over this time")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured sign-ups (and inserts) first")
    parser.add_argument("--seed", type=int, default=20, help="seed of the timetable")
    opts = parser.parse_args()
    info = machine()
    print_machine(info)

    postgres = PostgresServer(max_connections=300).start()
    try:
        url = postgres.create_database("atelier_bench")
        env = {"ATELIER_RUN_JOBS": "0", "LOGIN_RATE_LIMIT": "100000 per minute"}
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(atelier_server(url, env=env))
            second = stack.enter_context(atelier_server(url, env=env))
            baseline, base_url = stack.enter_context(script_server(BASELINE, "--db", url))
            servers = [first, second]
            user_ids, ((warm_id, _), (workshop_id, category_id)) = prepare_data(url, opts.users, opts.seats)
            warm_path, path = f"/ateliers/{warm_id}/inscription", f"/ateliers/{workshop_id}/inscription"
            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:  # each person on "their" process, as a sticky balancer would do
                sessions = list(pool.map(lambda i: log_in(servers[i % 2].url, f"bench{i}@example.org", path),
                                         range(opts.users)))
            print(f"{opts.users} people logged in ({time.perf_counter() - started:.1f} s) on 2 processes; "
                  f"the rush: {opts.users} sign-ups for {opts.seats} seats over {opts.seconds:g} s", flush=True)

            def request(i, target):
                headers, token = sessions[i]
                return BurstRequest("POST", target, headers, urlencode({"csrf_token": token}).encode())

            draw = random.Random(opts.seed)
            times = sorted(draw.uniform(0, opts.seconds) for _ in range(opts.users))
            rush = [(at, servers[i % 2].url, request(i, path)) for i, at in enumerate(times)]
            inserts = [(at, base_url, BurstRequest("POST", "/signup", {"Content-Type":
                                                                        "application/x-www-form-urlencoded"},
                                                   urlencode({"user_id": user_ids[i]}).encode()))
                       for i, at in enumerate(times)]
            # Warm-up, unmeasured: the sign-up path (mail templates, .ics) of both processes, the baseline's pool.
            warm = [(n * 0.02, servers[n % 2].url, request(n, warm_path)) for n in range(opts.warmup)]
            run_schedule(warm, name="warm-up", ok_status=(302,))
            run_schedule(inserts[:opts.warmup], name="warm-up", ok_status=(302,))

            wait_for_quiet(30.0, timeout=45.0)
            base = run_schedule(inserts, name="baseline: bare Flask, 1 INSERT, 1 process", ok_status=(302,),
                                server_pids=(baseline.pid,))
            wait_for_quiet(30.0, timeout=45.0)
            mine = run_schedule(rush, name="Atelier sign-up, 2 processes", ok_status=(302,),
                                server_pids=(first.process.pid, second.process.pid))
            check = check_rush(url, category_id, opts.seats, mine.requests)
    finally:
        postgres.stop()

    p95, base_p95 = mine.summary()["p95"], base.summary()["p95"]
    print(f"\nDatabase: PostgreSQL (throwaway, fsync off). {opts.users} POSTs at seeded random times over "
          f"{opts.seconds:g} s, one new connection each; ratios to the baseline.\n")
    print(markdown_table([base, mine], base))
    print(f"\nDriver lateness (ms, how long after its scheduled instant a request left): Atelier "
          f"{mine.extra['driver_late_ms']}, baseline {base.extra['driver_late_ms']}.")
    print(f"Statuses: Atelier {mine.extra['statuses']}, baseline {base.extra['statuses']}.")
    met = check["ok"] and not mine.errors and p95 is not None and p95 < TARGET_P95_MS
    print(f"\nTarget: exactly {opts.seats} confirmed, every request answered, p95 < {TARGET_P95_MS:g} ms: "
          f"{'met' if met else 'NOT met'} — {check['confirmed']} confirmed, {check['waitlisted']} waitlisted numbered "
          f"1..{check['waitlisted']} in commit order ({check['numbers_1_to_n_in_commit_order']}), "
          f"{check['registrations']} registrations for {check['answered_302']} redirects, {mine.errors} errors, "
          f"p95 {p95:.1f} ms ({p95 / base_p95:.2f} × the baseline's {base_p95:.1f} ms).")
    path = write_results("signups", {"machine": info, "database": "postgresql", "settings": vars(opts),
                                     "check": check, "results": [r.summary() for r in (base, mine)]})
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    if not met:
        sys.exit("the target is not met: see above")


if __name__ == "__main__":
    main()
