"""Public pages under load: GET latency and throughput of Atelier (demo data) beside a bare Flask baseline.

Both servers run as `make run` runs Atelier (one gevent process) on the same database, are loaded one
after the other by closed-loop clients, and are compared within this run. Two client modes:

1. a new connection per request: what each server costs per request (the baseline is measured before
   and after the pages, so its two rows show the run's own drift);
2. keep-alive connections, as browsers use: gevent's server sends headers and body in two writes
   without TCP_NODELAY, so every response after the first on a connection waits for the client's
   delayed ACK (~40 ms on Linux). A baseline with TCP_NODELAY set shows the difference.

Also: the cost of one argon2id hash with the production parameters, which bounds login throughput.

Run from the repository root: `make bench`, or `.venv/bin/python bench/pages.py [--database-url URL]`.
"""

import argparse
import os
import statistics
import sys
import time

from common import (
    ROOT,
    TimeBudget,
    atelier_server,
    check_get,
    in_view_ms,
    machine,
    print_machine,
    print_table,
    run_load,
    script_server,
    write_results,
)

PAGES = [
    "/",
    "/moments-de-vie/je-demenage",
    "/demarches/",
    "/demarches/passeport",
    "/compte/connexion",
    "/healthz",
]
BASELINE = "bench/baseline_app.py"
WARMUP_SECONDS = 3.0


def argon2_hash_ms(samples: int = 20) -> dict:
    """Milliseconds per argon2id hash with the configuration defaults (production parameters), in-process."""
    from argon2 import PasswordHasher, Type

    from app.config import Config

    hasher = PasswordHasher(time_cost=Config.ARGON2_TIME_COST, memory_cost=Config.ARGON2_MEMORY_COST,
                            parallelism=Config.ARGON2_PARALLELISM, type=Type.ID)
    hasher.hash("warm-up")
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        hasher.hash("atelier-demo-2026")
        times.append((time.perf_counter() - start) * 1000)
    return {"time_cost": Config.ARGON2_TIME_COST, "memory_kib": Config.ARGON2_MEMORY_COST,
            "parallelism": Config.ARGON2_PARALLELISM, "samples": samples,
            "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def measure(name, base, path, pid, opts, budget, *, count, keep_alive, log_path=None):
    """Warm up, then one bounded load; with Atelier's log, also the time its requests spent in the view."""
    check_get(base + path)
    run_load(base, path, count=opts.warmup, workers=opts.workers, max_seconds=budget.take(WARMUP_SECONDS),
             keep_alive=keep_alive)
    offset = log_path.stat().st_size if log_path else 0
    result = run_load(base, path, count=count, workers=opts.workers, max_seconds=budget.take(opts.max_seconds),
                      keep_alive=keep_alive, name=name, server_pid=pid)
    if log_path:
        view = in_view_ms(log_path, offset)
        result.extra["in_view_mean_ms"] = statistics.fmean(view) if view else None
    result.extra["keep_alive"] = keep_alive
    print(f"  {name}: {result.requests} requests, {result.errors} errors, {result.throughput:,.0f} req/s",
          flush=True)
    return result


def where_time_goes(results) -> str:
    lines = ["| page | server CPU ms/req | in the view, wall ms (mean) | outside the view, ms/req |",
             "|---|---|---|---|"]
    for r in results:
        view = r.extra.get("in_view_mean_ms")
        if view is not None:
            lines.append(f"| `{r.name}` | {r.server_cpu_ms_per_request:.2f} | {view:.2f} | "
                         f"{r.server_cpu_ms_per_request - view:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="empty database to migrate and seed (default: a fresh SQLite file)")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per page, new connections")
    parser.add_argument("--keep-alive-requests", type=int, default=400, help="measured requests per page, kept")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests before each load")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="cap on each load's duration")
    parser.add_argument("--budget-seconds", type=float, default=150.0, help="cap on all loads together")
    opts = parser.parse_args()

    info = machine()
    print_machine(info)
    argon2 = argon2_hash_ms()
    print(f"argon2id hash (t={argon2['time_cost']}, m={argon2['memory_kib']} KiB, p={argon2['parallelism']}): "
          f"median {argon2['median_ms']:.1f} ms of {argon2['samples']}, so at most "
          f"{1000 / argon2['median_ms']:.0f} logins/s per core", flush=True)

    with atelier_server(opts.database_url) as atelier, \
            script_server(BASELINE, "--db", atelier.database_url) as (baseline, baseline_url), \
            script_server(BASELINE, "--db", atelier.database_url, "--nodelay") as (nodelay, nodelay_url):
        pid, log = atelier.process.pid, atelier.log_path
        # Each measure() is a warm-up and a load: baseline twice + pages, then two baselines + pages.
        budget = TimeBudget(opts.budget_seconds, loads=2 * (2 * len(PAGES) + 4))
        print(f"New connection per request: {opts.workers} clients, {opts.warmup} warm-up + {opts.requests} "
              "requests per page", flush=True)
        fresh = {"count": opts.requests, "keep_alive": False}
        first = measure("baseline: bare Flask, 1 SELECT", baseline_url, "/", baseline.pid, opts, budget, **fresh)
        pages = [measure(path, atelier.url, path, pid, opts, budget, **fresh, log_path=log) for path in PAGES]
        last = measure("baseline, again", baseline_url, "/", baseline.pid, opts, budget, **fresh)

        print(f"Keep-alive: {opts.workers} clients, {opts.warmup} warm-up + {opts.keep_alive_requests} requests "
              "per page", flush=True)
        kept = {"count": opts.keep_alive_requests, "keep_alive": True}
        kept_base = measure("baseline: bare Flask, 1 SELECT", baseline_url, "/", baseline.pid, opts, budget,
                            **kept)
        kept_nodelay = measure("baseline with TCP_NODELAY", nodelay_url, "/", nodelay.pid, opts, budget, **kept)
        kept_pages = [measure(path, atelier.url, path, pid, opts, budget, **kept) for path in PAGES]
        database = atelier.database_url.split(":")[0]

    print(f"\nDatabase: {database}.\n\nNew connection per request (ratios to the first baseline row):\n")
    print_table([first, *pages, last], first)
    print("\nServer CPU per Atelier request, inside the view (before_request to after_request, from the access "
          "log) and outside it; wall time in the view counts CPU only while no other process competes (other "
          "CPU % near 0):\n")
    print(where_time_goes(pages))
    print("\nKeep-alive connections (ratios to the baseline without TCP_NODELAY, served like Atelier):\n")
    print_table([kept_base, kept_nodelay, *kept_pages], kept_base)
    results = [first, *pages, last, kept_base, kept_nodelay, *kept_pages]
    path = write_results("pages", {
        "machine": info, "database": database, "argon2id": argon2,
        "settings": {k: v for k, v in vars(opts).items() if k != "database_url"},  # a URL may hold a password
        "results": [r.summary() for r in results],
    })
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    if any(r.errors for r in results):
        sys.exit("some requests failed: see the errors column")


if __name__ == "__main__":
    main()
