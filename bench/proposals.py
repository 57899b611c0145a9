"""Proposals and votes under load: list, search, a proposal, majority-judgment results, ballot submissions.

Atelier runs as `make run` runs it (serve.py, one gevent process), migrated and seeded with the demo, first on
a fresh SQLite file, then on a throwaway PostgreSQL (the tests' ``PostgresServer``: fsync off). On top of the
demo, through the real schema (SQLAlchemy Core bulk inserts into the migrated tables, so the FTS5 triggers and
the PostgreSQL search index see every row): 10,000 proposals spread over the demo's organisations, services and
life events, 200,000 supports from 5,000 verified people (``support_count`` kept equal to the rows), and two
majority-judgment consultations of 12 proposals each: one with 5,000 ballots, closed by the app's own
``close_consultation`` (so the results page shows what the app computed), one open for the ballot part.

Then, over HTTP, closed-loop clients (a few, a new connection per request) load each page: the proposal list
(first page), a filtered page (one organisation, published, most supported), a full-text search, the most supported
proposal's page, and the closed consultation's results page; and a bare Flask baseline (``bench/baseline_app.py``,
one SELECT, same database, same server) in the same run, before and after the pages. Target: every page
under 100 ms at p95. Ballots: logged-in voters POST the real ballot form (CSRF token, one grade per proposal,
``action=confirm``, i.e. what the review step's button sends) as fast as the server answers; a 302 is a
stored ballot (checked against the database afterwards: one ballot per voter, revision = submissions).

Placement as in bench/signups.py: the measured servers on CPU 0, this driver (and PostgreSQL) on CPU 1;
before each load the bench waits (bounded) for the shared machine to calm down and records what it read.
Periodic jobs are off in the measured server (``ATELIER_RUN_JOBS=0``).

Run from the repository root: `make bench`, or `.venv/bin/python bench/proposals.py [--quick]`.
"""

import argparse
import contextlib
import http.client
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

import psutil
import requests
from common import (
    ROOT,
    LoadResult,
    ProcessMonitor,
    atelier_server,
    check_get,
    in_view_ms,
    machine,
    machine_busy_seconds,
    markdown_table,
    percentiles,
    print_machine,
    run_load,
    script_server,
    sqlite_url,
    wait_for_quiet,
    write_results,
)

from tests.servers import PostgresServer

BASELINE = "bench/baseline_app.py"
SERVER_CPU, DRIVER_CPU = 0, 1
QUIET_BELOW, QUIET_TIMEOUT = 40.0, 20.0
TARGET_P95_MS = 100.0
PASSWORD = "correct horse battery"  # noqa: S105 - throwaway accounts in a throwaway database
CSRF_MARK = 'name="csrf_token" type="hidden" value="'
BALLOT_SIZE = 12  # proposals on each consultation's ballot

WORDS = ["déménagement", "carte grise", "passeport", "justificatif de domicile", "allocation", "formulaire",
         "rendez-vous", "préfecture", "caisse", "impôts", "naissance", "retraite", "handicap", "logement",
         "école", "cantine", "permis de conduire", "pièce d'identité", "attestation", "délai", "courrier",
         "guichet", "téléservice", "mot de passe", "signature", "dossier", "remboursement", "chômage"]
VERBS = ["Supprimer", "Simplifier", "Accélérer", "Regrouper", "Dématérialiser", "Expliquer", "Raccourcir"]


# --- data ------------------------------------------------------------------------------------------------

def seed(url: str, *, proposals: int, supports: int, voters: int, rng: random.Random) -> dict:
    """Bulk-insert the data set into a migrated, demo-seeded database; close one consultation with the app."""
    from sqlalchemy import func, insert, select, text, update

    from app import create_app
    from app.accounts.models import User
    from app.accounts.passwords import hash_password
    from app.catalog.models import LifeEvent, Organisation, Service
    from app.clock import utcnow
    from app.consultations import service as consultations
    from app.consultations.models import (
        Ballot,
        BallotChoice,
        Consultation,
        ConsultationMethod,
        ConsultationProposal,
        ConsultationState,
        SelectionRule,
    )
    from app.extensions import db
    from app.proposals.models import Proposal, ProposalState, Support

    started = time.perf_counter()
    # The live server's argon2 parameters (tests.servers.LiveServer), so logging in does not rehash.
    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024})
    with app.app_context():
        conn = db.session.connection()
        now = utcnow()
        services = conn.execute(select(Service.id, Service.organisation_id)).all()
        organisations = list(conn.scalars(select(Organisation.id).order_by(Organisation.id)))
        life_events = list(conn.scalars(select(LifeEvent.id)))
        first_user = (conn.scalar(select(func.max(User.id))) or 0) + 1
        password_hash = hash_password(PASSWORD)
        conn.execute(insert(User), [
            {"email": f"votant{i}@example.org", "display_name": f"Votant {i}", "password_hash": password_hash,
             "email_verified_at": now, "terms_accepted_at": now, "locale": "fr"} for i in range(voters)])
        user_ids = list(conn.scalars(select(User.id).where(User.id >= first_user).order_by(User.id)))

        # Supports: a long tail (a few proposals gather thousands), at most one per (proposal, person).
        weights = [1 / (i + 10) for i in range(proposals)]
        counts = [0] * proposals
        for i in rng.choices(range(proposals), weights=weights, k=supports):
            counts[i] += 1
        counts = [min(c, voters) for c in counts]
        short = supports - sum(counts)
        i = 0
        while short > 0:  # what the cap at ``voters`` took away goes to the tail
            if counts[i] < voters:
                counts[i] += 1
                short -= 1
            i = (i + 1) % proposals
        rows = []
        for n in range(proposals):
            service_id, organisation_id = rng.choice(services) if rng.random() < 0.8 else (None, None)
            organisation_id = organisation_id or rng.choice(organisations)
            topic, other = rng.sample(WORDS, 2)
            created = now - timedelta(days=rng.uniform(1, 700))
            state = ProposalState.published if rng.random() < 0.85 else \
                rng.choice([ProposalState.selected, ProposalState.answered])
            rows.append({
                "organisation_id": organisation_id, "service_id": service_id,
                "life_event_id": rng.choice(life_events) if service_id is None or rng.random() < 0.3 else None,
                "title": f"{rng.choice(VERBS)} : {topic} et {other} (n° {n})",
                "problem": f"Pour le {topic}, il faut fournir trois fois le même {other} au guichet et en ligne.",
                "change": f"Demander le {other} une seule fois et le partager entre administrations.",
                "benefit": "Moins de démarches et de délais pour les usagers.",
                "author_id": rng.choice(user_ids), "state": state, "support_count": counts[n],
                "created_at": created, "published_at": created, "updated_at": created})
        first_proposal = (conn.scalar(select(func.max(Proposal.id))) or 0) + 1
        conn.execute(insert(Proposal), rows)
        proposal_ids = list(conn.scalars(select(Proposal.id).where(Proposal.id >= first_proposal)
                                         .order_by(Proposal.id)))
        support_rows = []
        for pid, count in zip(proposal_ids, counts, strict=True):
            support_rows += [{"proposal_id": pid, "user_id": uid, "created_at": now}
                             for uid in rng.sample(user_ids, count)]
        for start in range(0, len(support_rows), 20000):
            conn.execute(insert(Support), support_rows[start:start + 20000])

        # Two majority-judgment consultations on published proposals of one organisation.
        org = organisations[0]
        pool = list(conn.scalars(select(Proposal.id).where(Proposal.id >= first_proposal,
                                                           Proposal.organisation_id == org,
                                                           Proposal.state == ProposalState.published)
                                 .order_by(Proposal.support_count.desc()).limit(2 * BALLOT_SIZE)))
        closed_items, open_items = pool[:BALLOT_SIZE], pool[BALLOT_SIZE:]
        conn.execute(update(Proposal).where(Proposal.id.in_(pool)).values(state=ProposalState.in_vote))
        made = {}
        windows = (("closed", closed_items, now - timedelta(days=15), now - timedelta(minutes=1)),
                   ("open", open_items, now - timedelta(days=1), now + timedelta(days=14)))
        for name, items, opens, closes in windows:
            cid = conn.execute(insert(Consultation).returning(Consultation.id), {
                "organisation_id": org, "title": f"Consultation du banc d'essai ({name})", "description_md": "",
                "opens_at": opens, "closes_at": closes, "method": ConsultationMethod.majority,
                "selection_rule": SelectionRule.top_k, "selection_value": 3, "state": ConsultationState.open,
                "published_at": opens, "created_at": opens, "updated_at": opens}).scalar_one()
            conn.execute(insert(ConsultationProposal), [
                {"consultation_id": cid, "proposal_id": pid, "position": p} for p, pid in enumerate(items)])
            made[name] = (cid, items)
        cid, items = made["closed"]
        ballot_ids = conn.execute(insert(Ballot).returning(Ballot.id, sort_by_parameter_order=True), [
            {"consultation_id": cid, "user_id": uid, "public_id": secrets.token_hex(16), "created_at": now,
             "updated_at": now, "revision": 1} for uid in user_ids]).scalars().all()
        bias = {pid: rng.uniform(-1.5, 1.5) for pid in items}
        choices = []
        for bid in ballot_ids:
            for pid in items:
                if rng.random() < 0.93:  # some proposals left ungraded (counted « À rejeter »)
                    grade = round(min(6, max(0, rng.gauss(3 + bias[pid], 1.6))))
                    choices.append({"ballot_id": bid, "proposal_id": pid, "consultation_id": cid, "value": grade})
        for start in range(0, len(choices), 20000):
            conn.execute(insert(BallotChoice), choices[start:start + 20000])
        db.session.commit()
        inserted = time.perf_counter() - started
        closing = time.perf_counter()
        closed = consultations.close_consultation(cid, now=utcnow())
        assert closed is not None and closed.ballots_cast == len(user_ids), "closing did not count every ballot"
        close_seconds = time.perf_counter() - closing
        with db.engine.connect() as c:
            if db.engine.dialect.name == "postgresql":
                c.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            else:
                c.execute(text("ANALYZE"))
                c.commit()
        top = db.session.scalar(select(Proposal.id).where(Proposal.id >= first_proposal)
                                .order_by(Proposal.support_count.desc()).limit(1))
        summary = {
            "proposals": len(proposal_ids), "supports": len(support_rows), "voters": len(user_ids),
            "ballot_choices": len(choices), "organisation_id": org, "top_proposal_id": top,
            "closed_consultation_id": cid, "open_consultation_id": made["open"][0],
            "open_items": made["open"][1], "seconds_inserting": round(inserted, 1),
            "seconds_closing_5000_ballots": round(close_seconds, 2),
        }
        db.session.remove()
        db.engine.dispose()
    print(f"  seeded {summary['proposals']:,} proposals, {summary['supports']:,} supports, "
          f"{summary['voters']:,} voters, {summary['ballot_choices']:,} grades in {inserted:.1f} s; "
          f"close_consultation counted {summary['voters']:,} ballots in {close_seconds:.2f} s", flush=True)
    return summary


# --- placement, quiet -----------------------------------------------------------------------------------

def pin(pid: int, cpu: int) -> None:
    if psutil.cpu_count() >= 2:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                p.cpu_affinity([cpu])


def pin_database(postgres: PostgresServer | None, cpu: int) -> None:
    if postgres is not None:
        pin(int((postgres.datadir / "postmaster.pid").read_text().split()[0]), cpu)


def measure(name, base, path, pid, opts, *, log_path=None) -> LoadResult:
    """Warm up, wait for a quiet machine, then one bounded closed-loop load, a new connection per request
    (keep-alive adds gevent's ~40 ms delayed-ACK stall to every response after the first: see bench/pages.py)."""
    check_get(base + path)
    run_load(base, path, count=opts.warmup, workers=opts.workers, max_seconds=5, keep_alive=False)
    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    offset = log_path.stat().st_size if log_path else 0
    result = run_load(base, path, count=opts.requests, workers=opts.workers, max_seconds=opts.max_seconds,
                      keep_alive=False, name=name, server_pid=pid)
    result.extra["machine_busy_before_percent"] = busy
    result.extra["path"] = path
    if log_path:
        view = in_view_ms(log_path, offset)
        result.extra["in_view_mean_ms"] = statistics.fmean(view) if view else None
    p95 = percentiles(result.latencies_ms)["p95"]
    print(f"  {name}: {result.requests} requests, {result.errors} errors, p95 {p95 or 0:.1f} ms "
          f"(machine busy before: {busy:.0f} %)", flush=True)
    return result


# --- ballots ----------------------------------------------------------------------------------------------

def csrf(html: str) -> str:
    start = html.index(CSRF_MARK) + len(CSRF_MARK)
    return html[start:html.index('"', start)]


def log_in(base: str, email: str, vote_path: str) -> tuple[dict, str]:
    """Log one voter in; the headers carrying their session, and the CSRF token from the ballot page."""
    with requests.Session() as http:
        token = csrf(http.get(base + "/compte/connexion", timeout=60).text)
        response = http.post(base + "/compte/connexion", timeout=60, allow_redirects=False,
                             data={"csrf_token": token, "email": email, "password": PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"login of {email} answered {response.status_code}")
        page = http.get(base + vote_path, timeout=60)
        page.raise_for_status()
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies),
                "User-Agent": http.headers["User-Agent"]}, csrf(page.text)


def ballot_load(base: str, path: str, sessions: list, items: list[int], *, count: int, workers: int,
                max_seconds: float, server_pid: int, rng: random.Random) -> tuple[LoadResult, dict]:
    """Closed loop of ballot POSTs; each client takes the next voter in turn, so voters re-vote (changing
    their ballot) once all have voted. Returns the load and {voter index: submissions answered 302}."""
    host, port = base.removeprefix("http://").split(":")
    lock = threading.Lock()
    state = {"sent": 0}
    latencies, errors, submitted = [], [], {}
    bodies = [urlencode({"csrf_token": token, "action": "confirm",
                         **{f"p-{pid}": rng.randint(0, 6) for pid in items if rng.random() < 0.95}}).encode()
              for _, token in sessions]

    def worker():
        while time.perf_counter() < deadline:
            with lock:
                if state["sent"] >= count:
                    break
                k = state["sent"] % len(sessions)
                state["sent"] += 1
            headers, _ = sessions[k]
            start = time.perf_counter()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)  # a new connection each, as pages
            try:
                conn.request("POST", path, body=bodies[k], headers={
                    **headers, "Content-Type": "application/x-www-form-urlencoded", "Connection": "close"})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors.append("connection")
                continue
            finally:
                conn.close()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status == 302:
                latencies.append(elapsed)
                with lock:
                    submitted[k] = submitted.get(k, 0) + 1
            else:
                errors.append(response.status)

    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    server, client = ProcessMonitor(server_pid), ProcessMonitor(os.getpid())
    busy0 = machine_busy_seconds()
    deadline = time.perf_counter() + max_seconds
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    with server, client:
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
    result = LoadResult("ballot POST (majority, 12 grades)", len(latencies), len(errors), seconds, latencies,
                        client_cpu_percent=client.cpu_percent, server_cpu_percent=server.cpu_percent,
                        server_cpu_ms_per_request=1000 * server.cpu_seconds / max(len(latencies) + len(errors), 1),
                        server_rss_mib=server.rss_max / 2**20)
    result.others_cpu_percent = max(100 * (machine_busy_seconds() - busy0) / seconds - client.cpu_percent
                                    - server.cpu_percent, 0.0)
    result.extra["machine_busy_before_percent"] = busy
    result.extra["statuses"] = {str(s): errors.count(s) for s in set(errors)}
    return result, submitted


def check_ballots(url: str, consultation_id: int, voter_emails: list[str], submitted: dict) -> dict:
    """One ballot per voter who got a 302, its revision equal to the number of 302s they got."""
    from sqlalchemy import create_engine, select

    from app.accounts.models import User
    from app.consultations.models import Ballot

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = dict(c.execute(select(User.email, Ballot.revision).join(Ballot, Ballot.user_id == User.id)
                                  .where(Ballot.consultation_id == consultation_id)).all())
    finally:
        engine.dispose()
    expected = {voter_emails[k]: n for k, n in submitted.items()}
    return {"ballots": len(rows), "voters_answered": len(expected), "ok": rows == expected}


# --- one database --------------------------------------------------------------------------------------------

def run_database(label: str, url: str, postgres: PostgresServer | None, opts, rng: random.Random) -> dict:
    print(f"\n== {label}", flush=True)
    env = {"ATELIER_RUN_JOBS": "0", "LOGIN_RATE_LIMIT": "100000 per minute"}
    with atelier_server(url, env=env) as atelier, script_server(BASELINE, "--db", atelier.database_url) \
            as (baseline, baseline_url):
        data = seed(atelier.database_url, proposals=opts.proposals, supports=opts.supports, voters=opts.voters,
                    rng=rng)
        org, top = data["organisation_id"], data["top_proposal_id"]
        pages = [
            ("proposal list, page 1", "/propositions/"),
            ("list: organisation + published + most supported", f"/propositions/?organisation={org}&etat=published"
             "&tri=supported"),
            ("list: search « justificatif domicile »", "/propositions/?q=justificatif+domicile"),
            ("list: search, page 5, by relevance", "/propositions/?q=passeport&tri=relevance&page=5"),
            ("proposal page (most supported)", f"/propositions/{top}"),
            ("results: majority judgment, 5,000 ballots", f"/consultations/{data['closed_consultation_id']}/resultats"),
        ]
        if psutil.cpu_count() >= 2:
            pin(atelier.process.pid, SERVER_CPU)
            pin(baseline.pid, SERVER_CPU)
            pin_database(postgres, DRIVER_CPU)
            os.sched_setaffinity(0, {DRIVER_CPU})
        pid, log = atelier.process.pid, atelier.log_path
        first = measure("baseline: bare Flask, 1 SELECT", baseline_url, "/", baseline.pid, opts)
        results = [measure(name, atelier.url, path, pid, opts, log_path=log) for name, path in pages]
        last = measure("baseline, again", baseline_url, "/", baseline.pid, opts)

        ballots = check = None
        if postgres is not None or opts.ballots_on_sqlite:
            vote_path = f"/consultations/{data['open_consultation_id']}/vote"
            emails = [f"votant{i}@example.org" for i in range(opts.ballot_voters)]
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                sessions = list(pool.map(lambda e: log_in(atelier.url, e, vote_path), emails))
            print(f"  {len(sessions)} voters logged in ({time.perf_counter() - started:.1f} s)", flush=True)
            _, with_warmup = ballot_load(atelier.url, vote_path, sessions[:20], data["open_items"], count=40,
                                         workers=opts.workers, max_seconds=10, server_pid=pid, rng=rng)  # warm-up
            ballots, submitted = ballot_load(atelier.url, vote_path, sessions, data["open_items"],
                                             count=opts.ballots, workers=opts.workers,
                                             max_seconds=opts.max_seconds, server_pid=pid, rng=rng)
            for k, n in with_warmup.items():
                submitted[k] = submitted.get(k, 0) + n
            check = check_ballots(atelier.database_url, data["open_consultation_id"], emails, submitted)
            print(f"  ballots: {ballots.requests} stored, {ballots.errors} errors, {ballots.throughput:,.1f}/s; "
                  f"check {'ok' if check['ok'] else 'FAILED'} ({check['ballots']} ballots for "
                  f"{check['voters_answered']} voters)", flush=True)
        os.sched_setaffinity(0, set(range(psutil.cpu_count())))
    return {"database": label, "data": {k: v for k, v in data.items() if k != "open_items"}, "baseline": first,
            "pages": results, "baseline_again": last, "ballots": ballots, "ballot_check": check}


def verdict_table(runs: list[dict]) -> str:
    lines = ["| database | page | p50 ms | p95 ms | p95 × baseline p95 | target p95 < 100 ms |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        base95 = percentiles(run["baseline"].latencies_ms)["p95"]
        for r in run["pages"]:
            p = percentiles(r.latencies_ms)
            met = p["p95"] is not None and p["p95"] < TARGET_P95_MS and not r.errors
            lines.append(f"| {run['database']} | {r.name} | {p['p50']:.1f} | {p['p95']:.1f} | "
                         f"{p['p95'] / base95:.1f} | {'met' if met else 'NOT met'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data set and fewer requests (a smoke run)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--ballots-on-sqlite", action="store_true", help="also measure ballots on SQLite")
    opts = parser.parse_args()
    scale = {"proposals": 10_000, "supports": 200_000, "voters": 5_000, "requests": 300, "warmup": 30,
             "workers": 4, "max_seconds": 20.0, "ballot_voters": 200, "ballots": 600}
    if opts.quick:
        scale = {"proposals": 1_000, "supports": 20_000, "voters": 500, "requests": 60, "warmup": 10,
                 "workers": 4, "max_seconds": 8.0, "ballot_voters": 40, "ballots": 80}
    for key, value in scale.items():
        setattr(opts, key, value)

    info = machine()
    print_machine(info)
    print(f"Data: {opts.proposals:,} proposals, {opts.supports:,} supports, {opts.voters:,}-voter majority "
          f"judgment; {opts.workers} clients (new connection per request), {opts.warmup} warm-up + "
          f"{opts.requests} requests per page", flush=True)
    runs = []
    if opts.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
            runs.append(run_database("SQLite", sqlite_url(tmp), None, opts, random.Random(5)))
    if opts.only in (None, "postgresql"):
        postgres = PostgresServer(max_connections=100).start()
        try:
            url = postgres.create_database("atelier_bench")
            runs.append(run_database("PostgreSQL", url, postgres, opts, random.Random(5)))
        finally:
            postgres.stop()

    for run in runs:
        print(f"\n{run['database']}: {opts.workers} clients, a new connection per request; ratios to the first "
              "baseline row.\n")
        print(markdown_table([run["baseline"], *run["pages"], run["baseline_again"]], run["baseline"]))
        print("\nServer wall time inside the view (access log, mean ms): " + "; ".join(
            f"{r.name}: {r.extra['in_view_mean_ms']:.1f}" for r in run["pages"] if r.extra.get("in_view_mean_ms")))
        if run["ballots"] is not None:
            b, check = run["ballots"], run["ballot_check"]
            p = percentiles(b.latencies_ms)
            print(f"\nBallot submissions ({run['database']}): {b.requests} stored in {b.seconds:.1f} s = "
                  f"{b.throughput:,.1f} ballots/s with {opts.workers} clients (p50 {p['p50'] or 0:.1f} ms, "
                  f"p95 {p['p95'] or 0:.1f} ms, server CPU {b.server_cpu_ms_per_request:.1f} ms/ballot, other CPU "
                  f"{b.others_cpu_percent:.0f} %); {b.errors} errors; database check: "
                  f"{'ok' if check['ok'] else 'FAILED'}")
    print("\nTarget: every page under 100 ms at p95.\n")
    print(verdict_table(runs))
    pages_ok = all(percentiles(r.latencies_ms)["p95"] < TARGET_P95_MS and not r.errors
                   for run in runs for r in run["pages"])
    print(f"\nAll pages: {'met' if pages_ok else 'NOT met'}.")
    path = write_results("proposals", {
        "machine": info, "settings": vars(opts), "target_p95_ms": TARGET_P95_MS, "all_pages_met": pages_ok,
        "runs": [{"database": run["database"], "data": run["data"], "ballot_check": run["ballot_check"],
                  "results": [r.summary() for r in [run["baseline"], *run["pages"], run["baseline_again"]]],
                  "ballots": run["ballots"].summary() if run["ballots"] else None} for run in runs],
    })
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    failed = any(r.errors for run in runs for r in run["pages"]) or any(
        run["ballot_check"] and not run["ballot_check"]["ok"] for run in runs)
    if failed:
        sys.exit("some requests or a ballot check failed: see above")


if __name__ == "__main__":
    main()
