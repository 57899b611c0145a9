"""Report pages under load: the platform dashboard, an organisation's « Vous avez dit, nous avons fait » page and
its catalogue page (which shows the same figures), and the API lists when ``/api/v1/`` exists.

Atelier runs as `make run` runs it (serve.py, one gevent process), migrated and seeded with the demo, on a fresh
SQLite file and then on a throwaway PostgreSQL (the tests' ``PostgresServer``). On top of the demo, through the
real schema: 10,000 proposals over the demo's organisations, services and life events (``bench/proposals.py``'s
``seed``, with fewer supports and voters: the report pages do not read them), then answers to 35 % of them (every
kind, answered 1 to 120 days after publication), 1,000 measures in every status (each fed by one to three proposals
of its organisation, with three milestones, some done, and two public updates), so that the figures, the median
answer time, the overdue list and the measure pages have real volume.

Then, over HTTP, closed-loop clients (a new connection per request) load each page, beside a bare Flask baseline
(``bench/baseline_app.py``: one SELECT, same database, same server) measured before and after the pages in the same
run. Target: every page under 100 ms at p95. Placement and quiet-machine wait as in ``bench/proposals.py``, whose
helpers (``seed``, ``measure``, ``pin``, ``verdict_table``) are reused.

Run from the repository root: `make bench`, or `.venv/bin/python bench/reports.py [--quick] [--only sqlite]`.
"""

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

import psutil
import requests
from common import (
    ROOT,
    LiveServer,
    free_port,
    machine,
    markdown_table,
    percentiles,
    print_machine,
    script_server,
    sqlite_url,
    write_results,
)
from proposals import BASELINE, DRIVER_CPU, SERVER_CPU, TARGET_P95_MS, measure, pin, pin_database, seed, verdict_table

from tests.servers import PostgresServer

API_LISTS = ("/api/v1/proposals", "/api/v1/measures")
ANSWERED_SHARE = 0.35


def seed_decisions(url: str, *, measures: int, rng: random.Random) -> dict:
    """Answers, measures, milestones and updates on top of ``seed``; returns the busiest organisation."""
    from sqlalchemy import func, insert, select, text

    from app import create_app
    from app.accounts.models import User
    from app.catalog.models import Organisation
    from app.clock import utcnow
    from app.decisions.models import (
        Answer,
        AnswerKind,
        Measure,
        MeasureProposal,
        MeasureStatus,
        MeasureUpdate,
        Milestone,
    )
    from app.extensions import db
    from app.proposals.models import Proposal, ProposalState

    started = time.perf_counter()
    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        conn = db.session.connection()
        now = utcnow()
        editor = conn.scalar(select(User.id).where(User.is_admin.is_(True)).limit(1))
        answered_ids = set(conn.scalars(select(Answer.proposal_id)))
        rows = conn.execute(select(Proposal.id, Proposal.organisation_id, Proposal.published_at, Proposal.state)
                            .where(Proposal.hidden_at.is_(None), Proposal.published_at.is_not(None),
                                   Proposal.state.in_((ProposalState.published, ProposalState.answered)))
                            .order_by(Proposal.id)).all()
        kinds = [AnswerKind.adopted] * 4 + [AnswerKind.partly_adopted] * 2 + [AnswerKind.not_adopted] * 3 + \
            [AnswerKind.already_exists]
        answers, to_answer, adopted_by_org = [], [], {}
        for pid, org, published, state in rows:
            if pid in answered_ids:
                continue
            if state is ProposalState.answered or rng.random() < ANSWERED_SHARE:
                kind = rng.choice(kinds)
                at = min(published + timedelta(days=rng.uniform(1, 120)), now)
                answers.append({"proposal_id": pid, "organisation_id": org, "kind": kind, "body_md": "Réponse.",
                                "reason": "Raison publiée." if kind is AnswerKind.not_adopted else "",
                                "editor_id": editor, "show_editor_name": False, "revision": 1, "answered_at": at,
                                "updated_at": at})
                to_answer.append(pid)
                if kind in (AnswerKind.adopted, AnswerKind.partly_adopted):
                    adopted_by_org.setdefault(org, []).append(pid)
        for start in range(0, len(answers), 5000):
            conn.execute(insert(Answer), answers[start:start + 5000])
        for start in range(0, len(to_answer), 900):
            conn.execute(Proposal.__table__.update().where(Proposal.id.in_(to_answer[start:start + 900]))
                         .values(state=ProposalState.answered))

        organisations = [org for org, ids in adopted_by_org.items() if ids]
        statuses = [MeasureStatus.planned] * 3 + [MeasureStatus.in_progress] * 4 + \
            [MeasureStatus.implemented] * 2 + [MeasureStatus.abandoned]
        first = (conn.scalar(select(func.max(Measure.id))) or 0) + 1
        measure_rows, links, milestones, updates = [], [], [], []
        for n in range(measures):
            org = rng.choice(organisations)
            status = rng.choice(statuses)
            progress = {MeasureStatus.planned: 0, MeasureStatus.implemented: 100}.get(status, rng.randint(5, 95))
            created = now - timedelta(days=rng.uniform(1, 400))
            updated = created + (now - created) * rng.random()
            measure_rows.append({
                "organisation_id": org, "title": f"Mesure n° {n} : un seul dossier pour tous", "description_md": "",
                "status": status, "abandon_reason": "Raison de l'abandon." if status is MeasureStatus.abandoned
                else "", "progress": progress, "created_by_id": editor, "created_at": created, "updated_at": updated})
        conn.execute(insert(Measure), measure_rows)
        ids = list(conn.scalars(select(Measure.id).where(Measure.id >= first).order_by(Measure.id)))
        for mid, row in zip(ids, measure_rows, strict=True):
            for pid in rng.sample(adopted_by_org[row["organisation_id"]],
                                  min(rng.randint(1, 3), len(adopted_by_org[row["organisation_id"]]))):
                links.append({"measure_id": mid, "proposal_id": pid})
            for k in range(3):
                planned = date.today() + timedelta(days=rng.randint(-300, 300))
                done = row["status"] is MeasureStatus.implemented or (k == 0 and rng.random() < 0.5)
                milestones.append({"measure_id": mid, "title": f"Étape {k + 1}", "planned_on": planned,
                                   "done_on": planned if done else None, "created_at": row["created_at"]})
            for k in range(2):
                updates.append({"measure_id": mid, "author_id": editor, "body_md": f"Point d'étape {k + 1}.",
                                "status": row["status"], "progress": row["progress"],
                                "created_at": row["updated_at"] - timedelta(days=k)})
        conn.execute(insert(MeasureProposal), links)
        conn.execute(insert(Milestone), milestones)
        conn.execute(insert(MeasureUpdate), updates)
        db.session.commit()
        with db.engine.connect() as c:
            if db.engine.dialect.name == "postgresql":
                c.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            else:
                c.execute(text("ANALYZE"))
                c.commit()
        busiest_id, busiest_count = db.session.execute(
            select(Proposal.organisation_id, func.count(Proposal.id)).group_by(Proposal.organisation_id)
            .order_by(func.count(Proposal.id).desc()).limit(1)).one()
        slug = db.session.scalar(select(Organisation.slug).where(Organisation.id == busiest_id))
        busiest_measures = db.session.scalar(select(func.count(Measure.id))
                                             .where(Measure.organisation_id == busiest_id))
        summary = {"answers": len(answers), "measures": len(ids), "measure_links": len(links),
                   "milestones": len(milestones), "measure_updates": len(updates), "organisation_id": busiest_id,
                   "organisation_slug": slug, "organisation_proposals": busiest_count,
                   "organisation_measures": busiest_measures,
                   "seconds_inserting": round(time.perf_counter() - started, 1)}
        db.session.remove()
        db.engine.dispose()
    print(f"  seeded {summary['answers']:,} answers, {summary['measures']:,} measures, {len(milestones):,} "
          f"milestones, {len(updates):,} updates in {summary['seconds_inserting']} s; busiest organisation: "
          f"{slug} ({busiest_count:,} proposals, {busiest_measures} measures)", flush=True)
    return summary


@contextlib.contextmanager
def report_server(database_url: str, env: dict):
    """``common.atelier_server``, except that when the migrations lag behind the models (work in progress whose
    migration is not written yet) the schema is built from the models (as the tests build it), stamped at head,
    and the demo loaded; the run says so."""
    server = LiveServer(database_url, smtp_port=free_port(), env={"JOBS_INTERVAL_SECONDS": "15", **env})
    try:
        server.prepare_database()
    except subprocess.CalledProcessError:
        print("  NOTE: the migrations lag behind the models; schema built with create_all, stamped at head",
              flush=True)
        _schema_from_models(database_url)
        flask = [sys.executable, "-m", "flask"]
        for args in (["db", "stamp", "head"], ["seed-demo"]):
            subprocess.run([*flask, *args], cwd=ROOT, env=server.env, check=True, capture_output=True)
    try:
        yield server.start()
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def _schema_from_models(url: str) -> None:
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db

    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        db.engine.dispose()


def run_database(label: str, url: str, postgres: PostgresServer | None, opts, rng: random.Random) -> dict:
    print(f"\n== {label}", flush=True)
    env = {"ATELIER_RUN_JOBS": "0"}
    with report_server(url, env) as atelier, script_server(BASELINE, "--db", atelier.database_url) \
            as (baseline, baseline_url):
        data = seed(atelier.database_url, proposals=opts.proposals, supports=opts.supports, voters=opts.voters,
                    rng=rng)
        data.update(seed_decisions(atelier.database_url, measures=opts.measures, rng=rng))
        org, slug = data["organisation_id"], data["organisation_slug"]
        pages = [
            ("dashboard", "/rapports/"),
            ("dashboard: one organisation, since 2025-01-01", f"/rapports/?organisation={org}&du=2025-01-01"),
            ("organisation report (busiest)", f"/rapports/organisations/{slug}"),
            ("catalogue organisation page (figures, overdue)", f"/organisations/{slug}"),
        ]
        for path in API_LISTS:  # built by another part of the project: timed only once it answers
            status = requests.get(atelier.url + path, timeout=30).status_code
            if status == 200:
                pages.append((f"API list {path}", path))
            else:
                print(f"  {path} answers {status}: not timed", flush=True)
        if psutil.cpu_count() >= 2:
            pin(atelier.process.pid, SERVER_CPU)
            pin(baseline.pid, SERVER_CPU)
            pin_database(postgres, DRIVER_CPU)
            os.sched_setaffinity(0, {DRIVER_CPU})
        pid, log = atelier.process.pid, atelier.log_path
        first = measure("baseline: bare Flask, 1 SELECT", baseline_url, "/", baseline.pid, opts)
        results = [measure(name, atelier.url, path, pid, opts, log_path=log) for name, path in pages]
        last = measure("baseline, again", baseline_url, "/", baseline.pid, opts)
        os.sched_setaffinity(0, set(range(psutil.cpu_count())))
    return {"database": label, "data": {k: v for k, v in data.items() if k != "open_items"}, "baseline": first,
            "pages": results, "baseline_again": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data set and fewer requests (a smoke run)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    opts = parser.parse_args()
    scale = {"proposals": 10_000, "measures": 1_000, "supports": 20_000, "voters": 300, "requests": 300,
             "warmup": 30, "workers": 4, "max_seconds": 20.0}
    if opts.quick:
        scale = {"proposals": 1_000, "measures": 100, "supports": 2_000, "voters": 50, "requests": 60, "warmup": 10,
                 "workers": 4, "max_seconds": 8.0}
    for key, value in scale.items():
        setattr(opts, key, value)

    info = machine()
    print_machine(info)
    print(f"Data: {opts.proposals:,} proposals, {opts.measures:,} measures; {opts.workers} clients (new connection "
          f"per request), {opts.warmup} warm-up + {opts.requests} requests per page", flush=True)
    runs = []
    if opts.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
            runs.append(run_database("SQLite", sqlite_url(tmp), None, opts, random.Random(6)))
    if opts.only in (None, "postgresql"):
        postgres = PostgresServer(max_connections=100).start()
        try:
            runs.append(run_database("PostgreSQL", postgres.create_database("atelier_bench_reports"), postgres,
                                     opts, random.Random(6)))
        finally:
            postgres.stop()

    for run in runs:
        print(f"\n{run['database']}: {opts.workers} clients, a new connection per request; ratios to the first "
              "baseline row.\n")
        print(markdown_table([run["baseline"], *run["pages"], run["baseline_again"]], run["baseline"]))
        print("\nServer wall time inside the view (access log, mean ms): " + "; ".join(
            f"{r.name}: {r.extra['in_view_mean_ms']:.1f}" for r in run["pages"] if r.extra.get("in_view_mean_ms")))
    print(f"\nTarget: every page under {TARGET_P95_MS:.0f} ms at p95.\n")
    print(verdict_table(runs))
    met = all(percentiles(r.latencies_ms)["p95"] < TARGET_P95_MS and not r.errors
              for run in runs for r in run["pages"])
    print(f"\nAll pages: {'met' if met else 'NOT met'}.")
    path = write_results("reports", {
        "machine": info, "settings": vars(opts), "target_p95_ms": TARGET_P95_MS, "all_pages_met": met,
        "runs": [{"database": run["database"], "data": run["data"],
                  "results": [r.summary() for r in [run["baseline"], *run["pages"], run["baseline_again"]]]}
                 for run in runs],
    })
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    if any(r.errors for run in runs for r in run["pages"]):
        sys.exit("some requests failed: see above")


if __name__ == "__main__":
    main()
