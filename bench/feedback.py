"""« Je donne mon avis » under load: 50 people answering a service's form at once, each step stored as it is sent.

Atelier runs as `make run` runs it (serve.py, one gevent process) on a throwaway PostgreSQL (the tests'
``PostgresServer``: fsync off), migrated and seeded with the demo, plus 50,000 earlier responses (about three answers
each) bulk-inserted into the migrated tables, so the unique keys and indexes the form writes through are not empty.

Each of the 50 submitters (a thread, ``http.client``, a new connection per request, cookies kept as a browser keeps
them) goes through the whole form of one demo service, again and again, as a browser without JavaScript does: GET
step 1 (its CSRF token and one-time ``submission_key``), POST it, follow the redirect to the next page (step 2, step
3, step 3's follow-up page when its answers call for one, step 4) and POST each, until the thank-you page. Answers are
drawn at random (seeded): a satisfaction, sometimes a clarity grade, help tried (« Je n'ai pas eu besoin d'aide »
alone, or channels, which bring the follow-up questions), sometimes a comment, an e-mail, the consent to publish.
Before each POST a submitter "thinks" for a random time (uniform, ``--think`` seconds on average; 0: none). One POST
in five (``--double-click``) is a double click: the same POST sent twice at once, on two connections; both must
answer the same redirect, and both are timed. A submitter stops at the end of the window, wherever it is in its form,
as a person who stops after a step (what it sent is stored).

Two loads, each for ``--seconds``: **paced** (``--think``, 3 s by default: each of the 50 people answers a page in
1.5 to 4.5 s, quicker than most people read a question, about 16 step POSTs and as many pages a second) where the
target is judged, then **flat out** (no thinking: 50 connections always busy) for the most steps a second one process
stores, and what queueing does to the latency then. The same two loads (same submitters, think times and double
clicks) are played in the same run against ``bench/baseline_insert_app.py`` (bare Flask, one ``INSERT`` per POST,
302, one process, serve.py's settings), for the ratios. Measured: each step POST, from its send to its last byte
(302); the pages between (GET) are reported apart; the server's own time per step POST is read from its access log.

The database is checked afterwards: one response per submission key that was answered, steps done equal to the last
step answered, every answer of every answered page stored exactly once (one row per response, field and option) and
nothing else, the contact e-mail and the experience where the last step asked for them, and no response without its
first step's answer (no half-written response).

Target (issue 22, point 9): every step POST answered and stored as checked, **p95 < 100 ms** with 50 concurrent
submitters (paced load).

Placement as in bench/proposals.py: the measured servers on CPU 0, this driver and PostgreSQL on CPU 1; before each
load the bench waits (bounded) for the shared machine to calm down and records what it read. Periodic jobs are off in
the measured server (``ATELIER_RUN_JOBS=0``); the form's rate limit (``FEEDBACK_RATE_LIMIT``, per client address:
every submitter here is 127.0.0.1) is raised out of the way but still counted.

Run from the repository root: `make bench`, or `.venv/bin/python bench/feedback.py [--quick] [--submitters 50]
[--seconds 30] [--think 1.0]`.
"""

import argparse
import hashlib
import html
import http.client
import os
import random
import re
import secrets
import selectors
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import psutil
from common import (
    ROOT,
    LoadResult,
    ProcessMonitor,
    atelier_server,
    machine,
    machine_busy_seconds,
    markdown_table,
    percentiles,
    print_machine,
    script_server,
    wait_for_quiet,
    write_results,
)
from proposals import DRIVER_CPU, SERVER_CPU, pin, pin_database
from sqlalchemy import create_engine, func, insert, select

from tests.servers import PostgresServer

BASELINE = "bench/baseline_insert_app.py"
QUIET_BELOW, QUIET_TIMEOUT = 40.0, 20.0
TARGET_P95_MS = 100.0
HIDDEN_RE = re.compile(r'<input[^>]*\bname="(csrf_token|submission_key|source)"[^>]*>')
VALUE_RE = re.compile(r'\bvalue="([^"]*)"')
# Atelier's access log: "atelier.access POST /avis/reponse/<token>/etape/<int:step> 302 12.3ms" (app/__init__.py).
STEP_LINE = re.compile(r"atelier\.access POST /avis/\S+ 302 ([\d.]+)ms")
COMMENTS = ["Le formulaire était clair, mais le délai de réponse trop long.",
            "Impossible de joindre quelqu'un au téléphone pendant deux semaines.",
            "Très simple, merci.", "Il a fallu envoyer trois fois le même justificatif.",
            "Le site ne fonctionnait pas sur mon téléphone."]


# --- the form as a person fills it ------------------------------------------------------------------------------------

def draw_answers(rng: random.Random, n: int) -> dict[str, dict]:
    """One person's answers, page by page (``step1``, ``step2``, ``step3``, ``step3+`` if asked, ``step4``)."""
    pages = {"step1": {"satisfaction": [rng.choice([1, 2, 3])]},
             "step2": {"comprehension": [rng.randint(4, 8)]} if rng.random() < 0.8 else {}}
    if rng.random() < 0.4:
        tried = [17]  # « Je n'ai pas eu besoin d'aide », ticked alone
    else:
        tried = sorted(rng.sample(range(9, 17), rng.randint(1, 3)))
    pages["step3"] = {"contact_tried": tried}
    follow_up = {}
    if set(tried) & {9, 10, 11, 12}:
        follow_up["contact_reached"] = [rng.choice([17, 18])]
        follow_up["contact_satisfaction"] = [rng.randint(19, 23)]
    if 16 in tried:
        follow_up["contact_tried_verbatim"] = "Une maison France services."
    if follow_up:
        pages["step3+"] = follow_up
    last = {}
    if rng.random() < 0.5:
        last["verbatim"] = f"{rng.choice(COMMENTS)} (n° {n})"
        if rng.random() < 0.5:
            last["consent"] = True
    if rng.random() < 0.2:
        last["contact_email"] = f"personne{n}@example.org"
    pages["step4"] = last
    return pages


def page_of(path: str) -> str | None:
    """Which page of the form a path is: ``step1`` .. ``step4``, ``step3+`` (a follow-up page), ``thanks``."""
    if match := re.search(r"/etape/(\d)(/suite)?$", path):
        return f"step{match.group(1)}" + ("+" if match.group(2) else "")
    if path.endswith("/merci"):
        return "thanks"
    return "step1" if re.fullmatch(r"/avis/[^/]+", path) else None


def form_body(answers: dict, hidden: dict) -> bytes:
    fields = [*hidden.items(), ("website", "")]  # the honeypot, left empty as a person leaves it
    for code, value in answers.items():
        if code == "consent":
            fields.append(("consent", "y"))
        elif isinstance(value, list):
            fields += [(code, str(v)) for v in value]
        else:
            fields.append((code, value))
    return urlencode(fields).encode()


@dataclass
class Sent:
    """What one submission key was answered for: its pages, in order, and what each sent."""

    pages: dict = field(default_factory=dict)
    failed: bool = False  # a POST of it was refused or lost: its state is not checked exactly


class Browser:
    """One person's browser: its cookies, a new connection per request, redirects followed by hand."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies = SimpleCookie()

    def _headers(self, body: bytes | None) -> dict:
        headers = {"Connection": "close", "User-Agent": "atelier-bench/1.0"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers

    def _keep(self, response) -> None:
        for value in response.headers.get_all("Set-Cookie") or ():
            self.cookies.load(value)

    def get(self, path: str) -> tuple[int, str, float]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            start = time.perf_counter()
            conn.request("GET", path, headers=self._headers(None))
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - start) * 1000
        finally:
            conn.close()
        self._keep(response)
        return response.status, body.decode("utf-8", "replace"), elapsed

    def post(self, path: str, body: bytes, copies: int = 1) -> list[tuple[int, str | None, float]]:
        """The same POST sent ``copies`` times at once (2: a double click), each on its own connection, all sent
        before any answer is read; (status, Location, ms from its send to its last byte) of each, in sending order."""
        headers = self._headers(body)
        conns = [http.client.HTTPConnection(self.host, self.port, timeout=60) for _ in range(copies)]
        results: list = [None] * copies
        try:
            for conn in conns:
                conn.connect()
            starts = []
            for conn in conns:
                starts.append(time.perf_counter())
                conn.request("POST", path, body=body, headers=headers)
            with selectors.DefaultSelector() as selector:  # read whichever answers first, so each is timed right
                for i, conn in enumerate(conns):
                    selector.register(conn.sock, selectors.EVENT_READ, i)
                while selector.get_map():
                    for key, _ in selector.select(timeout=60) or [(None, None)]:
                        if key is None:
                            raise TimeoutError("no answer within 60 s")
                        i = key.data
                        selector.unregister(key.fileobj)
                        response = conns[i].getresponse()
                        response.read()
                        results[i] = (response.status, response.getheader("Location"),
                                      (time.perf_counter() - starts[i]) * 1000)
                        self._keep(response)
        finally:
            for conn in conns:
                conn.close()
        return results


def hidden_fields(page: str) -> dict:
    found = {}
    for match in HIDDEN_RE.finditer(page):
        value = VALUE_RE.search(match.group(0))
        found[match.group(1)] = html.unescape(value.group(1)) if value else ""
    return found


@dataclass
class Tally:
    """What the submitters of one load measured and sent, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    step_ms: list = field(default_factory=list)
    page_ms: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    double_clicks: int = 0
    doubles_differing: int = 0
    forms_finished: int = 0
    sent: dict = field(default_factory=dict)  # submission key -> Sent


def submitter(n: int, base: str, slug: str, think: float, double_click: float, deadline: float, seed: int,
              tally: Tally) -> None:
    """One person answering the form again and again until ``deadline``; a thinking pause before each POST."""
    rng = random.Random(seed * 1000 + n)
    split = urlsplit(base)
    form_number = 0
    while time.perf_counter() < deadline:
        form_number += 1
        browser = Browser(split.hostname, split.port)  # a new visit: new cookies, as another person
        answers = draw_answers(rng, n * 100_000 + form_number)
        path, sent = f"/avis/{slug}?source=link", None
        try:
            status, page, ms = browser.get(path)
            with tally.lock:
                tally.page_ms.append(ms)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")
            path = path.split("?")[0]
            first = hidden_fields(page)
            key = first["submission_key"]
            sent = Sent()
            with tally.lock:
                tally.sent[key] = sent
            while True:
                name = page_of(path)
                if name == "thanks":
                    with tally.lock:
                        tally.forms_finished += 1
                    break
                if think:
                    time.sleep(rng.uniform(0.5, 1.5) * think)
                if time.perf_counter() >= deadline:
                    break  # this person stops here: what they sent is stored
                hidden = {"csrf_token": hidden_fields(page)["csrf_token"]}
                if name == "step1":
                    hidden.update(submission_key=key, source=first["source"])
                copies = 2 if rng.random() < double_click else 1
                results = browser.post(path, form_body(answers[name], hidden), copies)
                with tally.lock:
                    tally.step_ms += [ms for _, _, ms in results]
                    if copies == 2:
                        tally.double_clicks += 1
                        tally.doubles_differing += results[0][:2] != results[1][:2]
                bad = [r for r in results if r[0] != 302]
                if bad:
                    sent.failed = True
                    with tally.lock:
                        tally.errors += [f"POST {name}: {status}" for status, _, _ in bad]
                    break
                sent.pages[name] = answers[name]
                path = urlsplit(results[0][1]).path
                status, page, ms = browser.get(path)
                with tally.lock:
                    tally.page_ms.append(ms)
                if status != 200:
                    raise RuntimeError(f"GET {path}: {status}")
        except (OSError, http.client.HTTPException, RuntimeError, KeyError) as exc:
            if sent is not None:
                sent.failed = True
            with tally.lock:
                tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])


def run_form_load(name: str, base: str, slug: str, opts, *, think: float, seconds: float, server_pid: int,
                  log_path=None, seed: int) -> tuple[LoadResult, Tally]:
    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    offset = log_path.stat().st_size if log_path else 0
    tally = Tally()
    server, client = ProcessMonitor(server_pid), ProcessMonitor(os.getpid())
    busy0 = machine_busy_seconds()
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=submitter, daemon=True,
                                args=(n, base, slug, think, opts.double_click, deadline, seed, tally))
               for n in range(opts.submitters)]
    with server, client:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
        elapsed = time.perf_counter() - start
    if any(t.is_alive() for t in threads):
        sys.exit(f"{name}: a submitter is still running two minutes after the end of the load")
    requests_seen = len(tally.step_ms) + len(tally.page_ms)
    result = LoadResult(name, len(tally.step_ms), len(tally.errors), elapsed, tally.step_ms,
                        client_cpu_percent=client.cpu_percent, server_cpu_percent=server.cpu_percent,
                        server_cpu_ms_per_request=1000 * server.cpu_seconds / max(requests_seen, 1),
                        server_rss_mib=server.rss_max / 2**20)
    result.others_cpu_percent = max(100 * (machine_busy_seconds() - busy0) / elapsed - client.cpu_percent
                                    - server.cpu_percent, 0.0)
    result.extra.update(machine_busy_before_percent=busy, think_seconds=think, pages_get=len(tally.page_ms),
                        pages_get_ms=percentiles(tally.page_ms), double_clicks=tally.double_clicks,
                        double_clicks_answered_differently=tally.doubles_differing,
                        forms_started=len(tally.sent), forms_finished=tally.forms_finished,
                        errors_sample=tally.errors[:10])
    if log_path:
        with log_path.open("rb") as log:
            log.seek(offset)
            view = [float(m) for m in STEP_LINE.findall(log.read().decode("utf-8", "replace"))]
        result.extra["in_view_step_ms"] = {"mean": statistics.fmean(view) if view else None, **percentiles(view)}
    p = percentiles(result.latencies_ms)
    print(f"  {name}: {result.requests} step POSTs ({tally.double_clicks} double clicks) in {elapsed:.1f} s, "
          f"{result.errors} errors, p50 {p['p50'] or 0:.1f} ms, p95 {p['p95'] or 0:.1f} ms; {len(tally.sent)} forms "
          f"started, {tally.forms_finished} finished (machine busy before: {busy:.0f} %)", flush=True)
    return result, tally


# --- the baseline: the same people, one INSERT per POST ---------------------------------------------------------------

def baseline_submitter(n: int, base: str, think: float, double_click: float, deadline: float, seed: int,
                       tally: Tally) -> None:
    rng = random.Random(seed * 1000 + n)
    split = urlsplit(base)
    browser = Browser(split.hostname, split.port)
    while True:
        if think:
            time.sleep(rng.uniform(0.5, 1.5) * think)
        if time.perf_counter() >= deadline:
            return
        copies = 2 if rng.random() < double_click else 1
        try:
            results = browser.post("/signup", urlencode({"user_id": n}).encode(), copies)
        except (OSError, http.client.HTTPException) as exc:
            with tally.lock:
                tally.errors.append(type(exc).__name__)
            continue
        with tally.lock:
            tally.step_ms += [ms for status, _, ms in results if status == 302]
            tally.errors += [status for status, _, _ in results if status != 302]
            tally.double_clicks += copies == 2


def run_baseline_load(name: str, base: str, opts, *, think: float, seconds: float, server_pid: int,
                      seed: int) -> LoadResult:
    busy = wait_for_quiet(QUIET_BELOW, timeout=QUIET_TIMEOUT)
    tally = Tally()
    server, client = ProcessMonitor(server_pid), ProcessMonitor(os.getpid())
    busy0 = machine_busy_seconds()
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=baseline_submitter, daemon=True,
                                args=(n, base, think, opts.double_click, deadline, seed, tally))
               for n in range(opts.submitters)]
    with server, client:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
        elapsed = time.perf_counter() - start
    result = LoadResult(name, len(tally.step_ms), len(tally.errors), elapsed, tally.step_ms,
                        client_cpu_percent=client.cpu_percent, server_cpu_percent=server.cpu_percent,
                        server_cpu_ms_per_request=1000 * server.cpu_seconds / max(len(tally.step_ms), 1),
                        server_rss_mib=server.rss_max / 2**20)
    result.others_cpu_percent = max(100 * (machine_busy_seconds() - busy0) / elapsed - client.cpu_percent
                                    - server.cpu_percent, 0.0)
    result.extra.update(machine_busy_before_percent=busy, think_seconds=think, double_clicks=tally.double_clicks)
    p = percentiles(result.latencies_ms)
    print(f"  {name}: {result.requests} POSTs in {elapsed:.1f} s, {result.errors} errors, p50 {p['p50'] or 0:.1f} ms, "
          f"p95 {p['p95'] or 0:.1f} ms (machine busy before: {busy:.0f} %)", flush=True)
    return result


# --- data, and the check afterwards -----------------------------------------------------------------------------------

def seed_responses(url: str, count: int, rng: random.Random) -> tuple[int, str]:
    """``count`` earlier responses (steps 1 to 4 answered in part) over the demo's services, bulk-inserted; returns the
    id and slug of the service whose form is loaded (the demo's first)."""
    from app import create_app
    from app.catalog.models import Service
    from app.clock import utcnow
    from app.extensions import db
    from app.feedback.models import FeedbackAnswer, FeedbackResponse, Source

    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        conn = db.session.connection()
        services = conn.execute(select(Service.id, Service.slug).order_by(Service.id)).all()
        if not services:
            sys.exit("the demo has no service")
        now = utcnow()
        first_id = (conn.scalar(select(func.max(FeedbackResponse.id))) or 0) + 1
        for start in range(0, count, 10_000):
            rows = []
            for _ in range(min(10_000, count - start)):
                created = now - timedelta(minutes=rng.uniform(90, 60 * 24 * 365))
                rows.append({"service_id": rng.choice(services).id, "source": rng.choice(list(Source)),
                             "submission_key": secrets.token_urlsafe(24),
                             "token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
                             "steps_done": rng.choice([1, 1, 2, 3, 4, 4, 4]), "created_at": created,
                             "updated_at": created, "editable_until": created + timedelta(hours=1)})
            conn.execute(insert(FeedbackResponse), rows)
        made = conn.execute(select(FeedbackResponse.id, FeedbackResponse.steps_done)
                            .where(FeedbackResponse.id >= first_id)).all()
        answers = []
        for response_id, steps in made:
            answers.append({"response_id": response_id, "field_code": "satisfaction",
                            "answer_item_id": (s := rng.choice([1, 2, 3])), "answer_text": str(s)})
            if steps >= 2:
                answers.append({"response_id": response_id, "field_code": "comprehension",
                                "answer_item_id": (c := rng.randint(4, 8)), "answer_text": str(c - 3)})
            if steps >= 3:
                answers.append({"response_id": response_id, "field_code": "contact_tried", "answer_item_id": 17,
                                "answer_text": "Je n'ai pas eu besoin d'aide"})
        for start in range(0, len(answers), 20_000):
            conn.execute(insert(FeedbackAnswer), answers[start:start + 20_000])
        db.session.commit()
        with db.engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        db.session.remove()
        db.engine.dispose()
    return services[0].id, services[0].slug


def expected_rows(pages: dict) -> set[tuple]:
    rows = set()
    for answers in pages.values():
        for code, value in answers.items():
            if code in ("consent", "contact_email"):
                continue
            if isinstance(value, list):
                rows.update((code, v, "") for v in value)
            else:
                rows.add((code, 0, value))
    return rows


def check_database(url: str, service_id: int, tallies: list[Tally]) -> dict:
    """Each answered submission key has one response holding exactly what was sent, once; no response lacks its first
    step's answer. Keys with a refused or lost POST are counted apart (none expected)."""
    from app.feedback.models import Experience, FeedbackAnswer, FeedbackContact, FeedbackResponse

    sent = {key: s for tally in tallies for key, s in tally.sent.items()}
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            responses = c.execute(select(FeedbackResponse.id, FeedbackResponse.submission_key,
                                         FeedbackResponse.steps_done, FeedbackResponse.publish_consent)
                                  .where(FeedbackResponse.submission_key.in_(list(sent)))).all()
            ids = [r.id for r in responses]
            answers: dict = {}
            for response_id, code, item, text in c.execute(
                    select(FeedbackAnswer.response_id, FeedbackAnswer.field_code, FeedbackAnswer.answer_item_id,
                           FeedbackAnswer.answer_text).where(FeedbackAnswer.response_id.in_(ids))):
                answers.setdefault(response_id, []).append((code, item, text if item == 0 else ""))
            contacts = dict(c.execute(select(FeedbackContact.response_id, FeedbackContact.email)
                                      .where(FeedbackContact.response_id.in_(ids))).all())
            experiences = dict(c.execute(select(Experience.response_id, Experience.text)
                                         .where(Experience.response_id.in_(ids))).all())
            total = c.scalar(select(func.count()).select_from(FeedbackResponse)
                             .where(FeedbackResponse.service_id == service_id))
            without_first = c.scalar(select(func.count()).select_from(FeedbackResponse).where(
                ~select(FeedbackAnswer.id).where(FeedbackAnswer.response_id == FeedbackResponse.id,
                                                 FeedbackAnswer.field_code == "satisfaction").exists()))
    finally:
        engine.dispose()
    by_key: dict = {}
    for r in responses:
        by_key.setdefault(r.submission_key, []).append(r)
    wrong, checked, unanswered = [], 0, 0
    for key, s in sent.items():
        rows = by_key.get(key, [])
        if len(rows) > 1:
            wrong.append((key, "responses", len(rows)))
            continue
        if s.failed:
            continue
        if not s.pages:
            unanswered += 1  # stopped before its first POST
            if rows:
                wrong.append((key, "a response for a form never sent"))
            continue
        if not rows:
            wrong.append((key, "no response"))
            continue
        r, checked = rows[0], checked + 1
        got = answers.get(r.id, [])
        last = s.pages.get("step4", {})
        steps = max(int(name[4]) for name in s.pages)
        expected_experience = last.get("verbatim") if last.get("consent") else None
        if len(got) != len(set(got)):
            wrong.append((key, "an answer stored twice"))
        elif set(got) != expected_rows(s.pages):
            wrong.append((key, "answers", sorted(set(got) ^ expected_rows(s.pages))))
        elif r.steps_done != steps:
            wrong.append((key, "steps_done", r.steps_done, steps))
        elif contacts.get(r.id) != last.get("contact_email"):
            wrong.append((key, "contact", contacts.get(r.id)))
        elif experiences.get(r.id) != expected_experience or r.publish_consent != bool(expected_experience):
            wrong.append((key, "experience", experiences.get(r.id)))
    failed = sum(s.failed for s in sent.values())
    return {"keys": len(sent), "checked": checked, "stopped_before_step_1": unanswered, "failed_keys": failed,
            "responses_for_the_service": total, "responses_without_first_step": without_first,
            "wrong": len(wrong), "wrong_sample": [str(w)[:300] for w in wrong[:10]],
            "ok": not wrong and not failed and not without_first}


# --- the run ----------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8-s loads and 5,000 earlier responses (a smoke run)")
    parser.add_argument("--submitters", type=int, default=50, help="people answering at once")
    parser.add_argument("--seconds", type=float, help="length of each load (default 30; 8 with --quick)")
    parser.add_argument("--think", type=float, default=3.0, help="mean pause before each POST, paced load (s)")
    parser.add_argument("--double-click", type=float, default=0.2, help="share of POSTs sent twice at once")
    parser.add_argument("--existing", type=int, help="earlier responses in the database (default 50,000)")
    parser.add_argument("--skip-flat-out", action="store_true", help="the paced load only")
    parser.add_argument("--seed", type=int, default=22)
    opts = parser.parse_args()
    opts.seconds = opts.seconds or (8.0 if opts.quick else 30.0)
    opts.existing = opts.existing if opts.existing is not None else (5_000 if opts.quick else 50_000)
    info = machine()
    print_machine(info)
    print(f"{opts.submitters} submitters, {opts.seconds:g}-s loads, think {opts.think:g} s (paced) then 0 (flat "
          f"out), {opts.double_click:.0%} of POSTs double-clicked, {opts.existing:,} earlier responses", flush=True)

    postgres = PostgresServer(max_connections=200).start()
    try:
        url = postgres.create_database("atelier_bench")
        env = {"ATELIER_RUN_JOBS": "0", "FEEDBACK_RATE_LIMIT": "100000000 per hour"}
        with atelier_server(url, env=env) as atelier, script_server(BASELINE, "--db", url) as (baseline, base_url):
            started = time.perf_counter()
            service_id, slug = seed_responses(url, opts.existing, random.Random(opts.seed))
            print(f"  {opts.existing:,} earlier responses inserted ({time.perf_counter() - started:.1f} s); the form: "
                  f"/avis/{slug}", flush=True)
            if psutil.cpu_count() >= 2:
                pin(atelier.process.pid, SERVER_CPU)
                pin(baseline.pid, SERVER_CPU)
                pin_database(postgres, DRIVER_CPU)
                os.sched_setaffinity(0, {DRIVER_CPU})
            pid, log = atelier.process.pid, atelier.log_path
            # Warm-up, unmeasured (its forms are checked with the others): templates, the pools, the limiter.
            _, warm = run_form_load("warm-up", atelier.url, slug, opts, think=0.2, seconds=3, server_pid=pid,
                                    seed=opts.seed + 1)
            run_baseline_load("warm-up", base_url, opts, think=0.2, seconds=2, server_pid=baseline.pid, seed=0)
            loads = [("paced", opts.think)] + ([] if opts.skip_flat_out else [("flat out", 0.0)])
            rows, tallies = [], [warm]
            for i, (label, think) in enumerate(loads):
                base = run_baseline_load(f"baseline, {label}: bare Flask, 1 INSERT per POST", base_url, opts,
                                         think=think, seconds=opts.seconds, server_pid=baseline.pid, seed=opts.seed)
                mine, tally = run_form_load(f"Atelier, {label}: form step POSTs", atelier.url, slug, opts,
                                            think=think, seconds=opts.seconds, server_pid=pid, log_path=log,
                                            seed=opts.seed + 10 + i)
                rows.append((label, base, mine))
                tallies.append(tally)
            check = check_database(url, service_id, tallies)
            os.sched_setaffinity(0, set(range(psutil.cpu_count())))
    finally:
        postgres.stop()

    for label, base, mine in rows:
        think = f"think {mine.extra['think_seconds']:g} s" if mine.extra["think_seconds"] else "no thinking"
        print(f"\n{label.capitalize()} ({opts.submitters} submitters, {think}, {opts.seconds:g} s, "
              "a new connection per request; ratios to the baseline row):\n")
        print(markdown_table([base, mine], base))
        pages, view = mine.extra["pages_get_ms"], mine.extra.get("in_view_step_ms") or {}
        print(f"\nPages between the steps (GET): {mine.extra['pages_get']} (p50 {pages['p50'] or 0:.1f} ms, p95 "
              f"{pages['p95'] or 0:.1f} ms). Step POSTs inside the view (access log): mean "
              f"{view.get('mean') or 0:.1f} ms, p95 {view.get('p95') or 0:.1f} ms. Double clicks "
              f"{mine.extra['double_clicks']} ({mine.extra['double_clicks_answered_differently']} answered "
              f"differently); forms {mine.extra['forms_started']} started, {mine.extra['forms_finished']} finished; "
              f"{mine.throughput:,.1f} step POSTs/s.")
        if mine.extra["errors_sample"]:
            print(f"Errors: {mine.extra['errors_sample']}")
    print(f"\nDatabase check: {check['checked']} forms compared with what was sent "
          f"({check['keys']} submission keys, {check['stopped_before_step_1']} stopped before step 1, "
          f"{check['failed_keys']} with a failed POST); {check['wrong']} wrong; "
          f"{check['responses_without_first_step']} responses without their first step: "
          f"{'ok' if check['ok'] else 'FAILED ' + str(check['wrong_sample'])}")
    paced = rows[0][2]
    p95, base_p95 = percentiles(paced.latencies_ms)["p95"], percentiles(rows[0][1].latencies_ms)["p95"]
    doubled_ok = all(mine.extra["double_clicks_answered_differently"] == 0 for _, _, mine in rows)
    met = check["ok"] and doubled_ok and not paced.errors and p95 is not None and p95 < TARGET_P95_MS
    print(f"\nTarget: every step stored as sent, once; p95 < {TARGET_P95_MS:g} ms with {opts.submitters} submitters "
          f"(paced): {'met' if met else 'NOT met'} — p95 {p95 or 0:.1f} ms ({(p95 or 0) / base_p95:.1f} × the "
          f"baseline's {base_p95:.1f} ms), {paced.errors} errors.")
    path = write_results("feedback", {
        "machine": info, "database": "postgresql", "settings": vars(opts), "target_p95_ms": TARGET_P95_MS,
        "met": met, "check": check,
        "results": [{"load": label, "baseline": base.summary(), "atelier": mine.summary()}
                    for label, base, mine in rows],
    })
    print(f"\nRaw results: {path.relative_to(ROOT)}")
    if not check["ok"] or not doubled_ok or any(mine.errors for _, _, mine in rows):
        sys.exit("a step was refused or lost, or the database does not hold what was sent: see above")


if __name__ == "__main__":
    main()
