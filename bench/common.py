"""Shared benchmark helpers: live servers, a closed-loop HTTP load driver, statistics, a Markdown table.

Benchmarks run from the repository root (`make bench` runs `.venv/bin/python bench/<name>.py`), so the
root goes on ``sys.path`` here and `tests.servers` (LiveServer, free_port) is reused rather than copied.
Every load is bounded twice, by a request count and by a duration, and targets 127.0.0.1 only.
"""

import contextlib
import http.client
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import LiveServer, free_port, wait_for_port  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"


# --- servers -------------------------------------------------------------------------------------------

def sqlite_url(directory: str) -> str:
    return f"sqlite:///{Path(directory) / 'atelier.db'}"


@contextlib.contextmanager
def atelier_server(database_url: str | None = None, env: dict | None = None):
    """Atelier as `make run` serves it (serve.py, gevent, jobs in-process), migrated and seeded with the demo.

    Without ``database_url`` a fresh SQLite file in a temporary directory is used; any SQLAlchemy URL
    (e.g. an empty PostgreSQL database) is accepted. No SMTP server listens: page loads send no mail.
    """
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        # make run's job interval, not LiveServer's test-speed one.
        server = LiveServer(database_url or sqlite_url(tmp), smtp_port=free_port(),
                            env={"JOBS_INTERVAL_SECONDS": "15", **(env or {})})
        server.prepare_database()
        try:
            yield server.start()
        finally:
            server.stop()
            server.log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def script_server(script: str, *args: str):
    """Run ``python <script> --port P <args>`` from the root; yield (process, base URL)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, script, "--port", str(port), *args], cwd=ROOT)
    try:
        wait_for_port(port)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- resource sampling ---------------------------------------------------------------------------------

class ProcessMonitor:
    """CPU% (CPU time over wall time, all threads) and peak RSS of one process while a load runs."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.rss_max = 0
        self._stop = threading.Event()

    def __enter__(self):
        self._cpu0 = self._cpu()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = self._cpu() - self._cpu0
        self.cpu_percent = 100 * self.cpu_seconds / (time.perf_counter() - self._t0)

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def _sample(self):
        while True:
            self.rss_max = max(self.rss_max, self.process.memory_info().rss)
            if self._stop.wait(self.interval):
                return


# --- load driver ---------------------------------------------------------------------------------------

@dataclass
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list = field(repr=False)
    bytes_mean: float = 0.0
    server_cpu_percent: float | None = None
    server_cpu_ms_per_request: float | None = None
    server_rss_mib: float | None = None
    client_cpu_percent: float | None = None
    others_cpu_percent: float | None = None  # the rest of the machine: high means a noisy measurement
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        return {**data, "throughput": self.throughput, **percentiles(self.latencies_ms)}


def _worker(base: str, path: str, keep_alive: bool, budget, deadline: float, out: list, errors: list,
            sizes: list):
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    cookies = SimpleCookie()  # like a browser: keep the session cookie the server sets
    while time.perf_counter() < deadline and budget():
        headers = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in cookies.items())} if cookies else {}
        if not keep_alive:
            headers["Connection"] = "close"
        start = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            errors.append(1)
            continue
        elapsed = (time.perf_counter() - start) * 1000
        if not keep_alive:
            conn.close()  # the next request opens a new connection (http.client reconnects by itself)
        for value in response.headers.get_all("Set-Cookie") or ():
            cookies.load(value)
        if response.status == 200:
            out.append(elapsed)
            sizes.append(len(body))
        else:
            errors.append(response.status)
    conn.close()


def run_load(base: str, path: str, *, count: int = 2000, workers: int = 8, max_seconds: float = 30.0,
             keep_alive: bool = True, name: str | None = None, server_pid: int | None = None) -> LoadResult:
    """Closed loop: ``workers`` clients, each sending its next GET once the last one is answered, until
    ``count`` have been sent or ``max_seconds`` have passed, whichever comes first. Each client keeps one
    connection open, or with ``keep_alive=False`` opens a new one per request (timed from connect)."""
    lock = threading.Lock()
    sent = [0]

    def budget() -> bool:
        with lock:
            sent[0] += 1
            return sent[0] <= count

    latencies, errors, sizes = [], [], []
    server = ProcessMonitor(server_pid) if server_pid else contextlib.nullcontext()
    client = ProcessMonitor(os.getpid())
    machine_busy0 = _busy_seconds()
    deadline = time.perf_counter() + max_seconds
    threads = [threading.Thread(target=_worker,
                                args=(base, path, keep_alive, budget, deadline, latencies, errors, sizes))
               for _ in range(workers)]
    with server, client:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    result = LoadResult(name or path, len(latencies), len(errors), seconds, latencies,
                        bytes_mean=statistics.fmean(sizes) if sizes else 0.0,
                        client_cpu_percent=client.cpu_percent)
    others = 100 * (_busy_seconds() - machine_busy0) / seconds - client.cpu_percent
    if server_pid:
        result.server_cpu_percent = server.cpu_percent
        result.server_cpu_ms_per_request = 1000 * server.cpu_seconds / max(result.requests + result.errors, 1)
        result.server_rss_mib = server.rss_max / 2**20
        others -= server.cpu_percent
    result.others_cpu_percent = max(others, 0.0)
    return result


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle, over all cores."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


class TimeBudget:
    """Shares a total duration among a known number of loads, so a whole benchmark ends on time.

    A load may take up to what it asks for, as long as every load still to come keeps ``reserve`` seconds;
    on a slow or busy machine the last loads run shorter (fewer requests) rather than the run running long.
    """

    def __init__(self, seconds: float, loads: int, reserve: float = 1.0):
        self.deadline = time.monotonic() + seconds
        self.loads = loads
        self.reserve = reserve

    def take(self, wanted: float) -> float:
        self.loads -= 1
        spare = self.deadline - time.monotonic() - self.reserve * max(self.loads, 0)
        return max(min(wanted, spare), self.reserve)


def check_get(url: str) -> requests.Response:
    """One plain GET that must succeed, to fail fast before a load on a broken page."""
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response


# --- statistics and output -----------------------------------------------------------------------------

def percentiles(values: list) -> dict:
    if len(values) < 2:
        return {"p50": None, "p95": None, "p99": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown_table(results: list[LoadResult], baseline: LoadResult) -> str:
    """One row per result; throughput and p50 also as a ratio to ``baseline`` (measured in the same run)."""
    head = ["page", "requests", "errors", "req/s", "req/s ÷ baseline", "p50 ms", "p95 ms", "p99 ms",
            "p50 × baseline", "server CPU ms/req", "server CPU %", "server RSS MiB", "client CPU %", "other CPU %",
            "KiB/response"]
    base_p50 = percentiles(baseline.latencies_ms)["p50"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        p = percentiles(r.latencies_ms)
        cells = [f"`{r.name}`", str(r.requests), str(r.errors), _fmt(r.throughput, 0),
                 _fmt(r.throughput / baseline.throughput, 2), _fmt(p["p50"]), _fmt(p["p95"]), _fmt(p["p99"]),
                 _fmt(p["p50"] / base_p50 if p["p50"] and base_p50 else None, 1),
                 _fmt(r.server_cpu_ms_per_request, 2), _fmt(r.server_cpu_percent, 0), _fmt(r.server_rss_mib, 0),
                 _fmt(r.client_cpu_percent, 0), _fmt(r.others_cpu_percent, 0), _fmt(r.bytes_mean / 1024, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(results: list[LoadResult], baseline: LoadResult) -> None:
    print(markdown_table(results, baseline), flush=True)


def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "revision": revision(),
    }


def revision() -> str:
    """The commit measured, and whether tracked files differed from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def print_machine(info: dict) -> None:
    print(f"Machine: {info['nproc']} CPU ({info['cpu_model']}), {info['memory_gib']} GiB, "
          f"Python {info['python']}, SQLite {info['sqlite']}, Linux {info['kernel']}", flush=True)
    print(f"Code: {info['revision']}", flush=True)


def write_results(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# Atelier's access log line: "GET /demarches/<slug> 200 3.2ms" (app._configure_logging).
ACCESS_LINE = re.compile(r"atelier\.access GET \S+ 200 ([\d.]+)ms")


def in_view_ms(log_path: Path, offset: int) -> list[float]:
    """Server-side request durations logged by Atelier after byte ``offset`` of its log."""
    with log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    return [float(m) for m in ACCESS_LINE.findall(text)]


# --- burst driver: everyone at once ------------------------------------------------------------------

@dataclass
class BurstRequest:
    method: str
    path: str
    headers: dict
    body: bytes | None = None


def _burst_worker(host: str, port: int, item: BurstRequest, gate: threading.Barrier, timeout: float, i: int,
                  latencies: list, ends: list, statuses: list) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            statuses[i] = f"connect: {type(exc).__name__}"
        try:
            gate.wait()  # even without a connection: the others must not wait for this one
        except threading.BrokenBarrierError:
            statuses[i] = statuses[i] or "BrokenBarrierError"
        if statuses[i] is not None:
            return
        start = time.perf_counter()
        conn.request(item.method, item.path, body=item.body, headers={**item.headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        ends[i] = time.perf_counter()
        latencies[i] = (ends[i] - start) * 1000
        statuses[i] = response.status
    except (OSError, http.client.HTTPException) as exc:
        statuses[i] = type(exc).__name__
    finally:
        conn.close()


def run_burst(base: str, items: list[BurstRequest], *, name: str, ok_status=(200,), server_pid: int | None = None,
              timeout: float = 120.0) -> LoadResult:
    """Open loop, all at once: one thread and one connection per request, connected first, then released
    together by a barrier. Latency is each request's own (send to last byte); throughput is the number of
    requests over the time from the release to the last response. A status outside ``ok_status`` (or a
    connection error) counts as an error; ``extra["statuses"]`` tallies them all."""
    host, port = base.removeprefix("http://").split(":")
    n = len(items)
    gate = threading.Barrier(n + 1, timeout=timeout)
    latencies, ends, statuses = [None] * n, [None] * n, [None] * n
    threads = [threading.Thread(target=_burst_worker, daemon=True,
                                args=(host, int(port), item, gate, timeout, i, latencies, ends, statuses))
               for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + timeout
    while gate.n_waiting < n and time.perf_counter() < deadline and not gate.broken:
        time.sleep(0.01)  # every worker connected (or failed to): this thread arrives last and times the release
    server = ProcessMonitor(server_pid) if server_pid else contextlib.nullcontext()
    client = ProcessMonitor(os.getpid())
    machine_busy0 = _busy_seconds()
    with server, client:
        released = time.perf_counter()
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()
        deadline = released + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.perf_counter()))
        finished = [t for t in ends if t is not None]
        seconds = (max(finished) if finished else time.perf_counter()) - released
    ok = [i for i in range(n) if statuses[i] in ok_status]
    result = LoadResult(name, len(ok), n - len(ok), seconds, [latencies[i] for i in ok],
                        client_cpu_percent=client.cpu_percent)
    result.extra["statuses"] = {str(s): statuses.count(s) for s in set(statuses)}
    wall = max(seconds, 1e-9)
    others = 100 * (_busy_seconds() - machine_busy0) / wall - client.cpu_percent
    if server_pid:
        result.server_cpu_percent = server.cpu_percent
        result.server_cpu_ms_per_request = 1000 * server.cpu_seconds / max(n, 1)
        result.server_rss_mib = server.rss_max / 2**20
        others -= server.cpu_percent
    result.others_cpu_percent = max(others, 0.0)
    return result


# --- scheduled driver: arrivals spread over time ---------------------------------------------------------

def _scheduled_worker(item: BurstRequest, base: str, start_at: float, timeout: float) -> tuple:
    """Wait for ``start_at`` (perf_counter), then send ``item`` on a new connection; (status, latency ms, late ms).

    The latency runs from the scheduled instant, not from when this thread got round to sending: a driver that
    falls behind adds to the figure instead of hiding the server's delay (no coordinated omission)."""
    host, port = base.removeprefix("http://").split(":")
    delay = start_at - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    late = max(0.0, time.perf_counter() - start_at) * 1000
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(item.method, item.path, body=item.body, headers={**item.headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - start_at) * 1000, late
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, None, late
    finally:
        conn.close()


def run_schedule(plan: list[tuple[float, str, BurstRequest]], *, name: str, ok_status=(200,),
                 server_pids: tuple[int, ...] = (), timeout: float = 30.0, threads: int = 400) -> LoadResult:
    """Open loop on a timetable: each (seconds after the start, server base URL, request) is sent at its time, on
    a new connection, whatever the answers to the others. Throughput is the requests over the time from the start
    to the last response; ``extra`` has the statuses and how late the driver sent (a late driver shows there)."""
    from concurrent.futures import ThreadPoolExecutor

    monitors = [ProcessMonitor(pid) for pid in server_pids]
    client = ProcessMonitor(os.getpid())
    machine_busy0 = _busy_seconds()
    with contextlib.ExitStack() as stack:
        for monitor in (*monitors, client):
            stack.enter_context(monitor)
        start = time.perf_counter() + 0.5
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(_scheduled_worker, item, base, start + at, timeout)
                       for at, base, item in sorted(plan, key=lambda step: step[0])]  # a free thread takes the next
            answers = [f.result() for f in futures]
        seconds = time.perf_counter() - start
    ok = [latency for status, latency, _late in answers if status in ok_status]
    statuses = [status for status, _latency, _late in answers]
    result = LoadResult(name, len(ok), len(answers) - len(ok), seconds, ok, client_cpu_percent=client.cpu_percent)
    result.extra["statuses"] = {str(s): statuses.count(s) for s in set(statuses)}
    result.extra["driver_late_ms"] = percentiles([late for _s, _l, late in answers])
    others = 100 * (_busy_seconds() - machine_busy0) / max(seconds, 1e-9) - client.cpu_percent
    if monitors:
        result.server_cpu_percent = sum(m.cpu_percent for m in monitors)
        result.server_cpu_ms_per_request = 1000 * sum(m.cpu_seconds for m in monitors) / max(len(answers), 1)
        result.server_rss_mib = max(m.rss_max for m in monitors) / 2**20
        others -= result.server_cpu_percent
    result.others_cpu_percent = max(others, 0.0)
    return result


# --- shared machines ---------------------------------------------------------------------------------------

def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle, over all cores (for "other CPU" columns)."""
    return _busy_seconds()


def wait_for_quiet(busy_below: float = 20.0, window: float = 1.0, timeout: float = 60.0) -> float:
    """Wait until the machine's CPU use (all cores, in % of one core) stays under ``busy_below`` for one
    ``window``: other work on a shared machine skews a load test. Gives up after ``timeout`` seconds and returns
    the last reading either way, so the caller can report a noisy run."""
    deadline = time.monotonic() + timeout
    while True:
        busy0, t0 = _busy_seconds(), time.monotonic()
        time.sleep(window)
        busy = 100 * (_busy_seconds() - busy0) / (time.monotonic() - t0)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy
