"""Seats under real concurrency, decided by the database (STYLE.md habit 4; issue 3, "Correctness under load").

Every test here runs real threads, each in its own app context, so each has its own session and its own
database connection (the pool is sized so none waits for one), released together by a barrier. They run on
a SQLite file (WAL, ``BEGIN IMMEDIATE``, busy timeout) and on the real PostgreSQL. A deliberately naive
check-then-insert sign-up runs through the same harness and the same checks, and must overbook: the
harness can see a race. The last test runs the sign-up race over HTTP against two server processes
(serve.py, gevent) sharing one PostgreSQL.
"""

import functools
import threading
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from app.accounts.models import User
from app.accounts.passwords import hash_password
from app.clock import utcnow
from app.database import begin_write
from app.extensions import db
from app.mail.models import OutboxMessage
from app.workshops import jobs as workshop_jobs
from app.workshops import signup
from app.workshops.errors import NotOffered
from app.workshops.models import Registration, RegistrationStatus, Workshop, WorkshopCategory
from tests.conftest import csrf_from, make_app, prepared_db
from tests.factories import PASSWORD, make_workshop
from tests.races import in_threads, race_on_postgresql, sign_in

pytestmark = pytest.mark.both_databases("app.workshops.signup", "app.workshops.jobs", "app.database")

SEATS = 20
SIGNUPS = 200
JOIN_TIMEOUT = 120  # seconds; a thread still alive after this is a hang, reported as a failure

confirmed, offered, waitlisted, cancelled = (RegistrationStatus.confirmed, RegistrationStatus.offered,
                                             RegistrationStatus.waitlisted, RegistrationStatus.cancelled)


@pytest.fixture
def app(backend, request):
    """The parametrised app (both backends), with a pool big enough for one connection per thread.

    The default pool (5 + 10 overflow) would queue the threads in the pool instead of at the database.
    """
    overrides = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": SIGNUPS + 20, "max_overflow": 0, "pool_timeout": 60}}
    if backend == "sqlite":
        # 200 writers queue on BEGIN IMMEDIATE; the default 15 s is enough here, 60 s is a margin for a slow CI.
        overrides["SQLITE_BUSY_TIMEOUT_MS"] = 60_000
    with prepared_db(make_app(backend, request, **overrides), backend) as app:
        yield app


# --- harness -------------------------------------------------------------------------------------

class Crowd:
    """Threads, each running one job in its own app context (own session, own connection).

    A job is ``job(start)``: it prepares what it needs, then calls ``start.wait()`` so that all threads act
    at once. Every exception raised in a thread is kept, as ``(index, exception)``, for the test to assert on.
    """

    def __init__(self, app, jobs):
        self.start = threading.Barrier(len(jobs), timeout=JOIN_TIMEOUT)
        self.results, self.errors = [None] * len(jobs), []
        self.threads = [threading.Thread(target=self._run, args=(app, i, job), name=f"worker-{i}", daemon=True)
                        for i, job in enumerate(jobs)]
        for thread in self.threads:
            thread.start()

    def _run(self, app, i, job):
        try:
            with app.app_context():
                self.results[i] = job(self.start)
        except BaseException as exc:  # noqa: BLE001 - every failure in a thread must reach the test
            self.start.abort()  # nobody waits forever for a thread that died before the barrier
            self.errors.append((i, exc))

    def join(self, indices=None, timeout: float = JOIN_TIMEOUT) -> "Crowd":
        threads = self.threads if indices is None else [self.threads[i] for i in indices]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        hung = [t.name for t in threads if t.is_alive()]
        assert not hung, f"threads still running after {timeout}s: {hung[:10]}"
        return self


def run_together(app, n: int, work):
    """``work(i, start)`` in ``n`` threads released together; returns (results by index, errors)."""
    crowd = Crowd(app, [functools.partial(work, i) for i in range(n)]).join()
    return crowd.results, crowd.errors


def make_verified_users(n: int, prefix: str) -> list[int]:
    """``n`` verified users in one insert, committed; returns their ids in order."""
    password_hash = hash_password(PASSWORD)
    now = utcnow()
    users = [User(email=f"{prefix}{i}@example.org", display_name=f"Personne {i}", password_hash=password_hash,
                  email_verified_at=now, terms_accepted_at=now, locale="fr") for i in range(n)]
    db.session.add_all(users)
    db.session.flush()
    ids = [user.id for user in users]
    db.session.commit()
    return ids


def registrations_by_id(category_id: int) -> list[tuple]:
    """(id, user_id, status, waitlist_number) of the category's registrations, in id (= insert) order."""
    db.session.rollback()
    return db.session.execute(
        select(Registration.id, Registration.user_id, Registration.status, Registration.waitlist_number)
        .where(Registration.category_id == category_id).order_by(Registration.id)).all()


def assert_fair_signups(category_id: int, seats: int, user_ids: list[int]) -> None:
    """What a correct sign-up race leaves: every person exactly once, ``seats`` confirmed, the others
    waitlisted 1..N each once, the counters in step, and both seats and numbers in commit order.

    Registrations are inserted while the category lock is held until commit, so their ids (a sequence on
    PostgreSQL, the rowid on SQLite) follow commit order: the first ``seats`` ids must be the confirmed
    ones, and waiting-list numbers must rise with the id.
    """
    rows = registrations_by_id(category_id)
    statuses = [row.status for row in rows]
    n_confirmed = statuses.count(confirmed)
    assert n_confirmed == seats, f"{n_confirmed} confirmed for {seats} seats"
    assert sorted(row.user_id for row in rows) == sorted(user_ids), "a person is missing or registered twice"
    waiting = [row for row in rows if row.status is waitlisted]
    assert len(waiting) == len(user_ids) - seats, f"statuses: { {s.value: statuses.count(s) for s in set(statuses)} }"
    assert sorted(row.waitlist_number for row in waiting) == list(range(1, len(waiting) + 1))
    assert statuses[:seats] == [confirmed] * seats, "a later commit took a seat while an earlier one was waitlisted"
    assert [row.waitlist_number for row in waiting] == list(range(1, len(waiting) + 1)), \
        "waiting-list numbers do not follow commit order"
    category = db.session.get(WorkshopCategory, category_id)
    assert (category.seats_taken, category.next_waitlist_number) == (seats, len(waiting) + 1)


def signup_race(app, sign_up) -> tuple[int, int, list, list, list[int]]:
    """A published 20-seat workshop, 200 verified people, all signing up at once through ``sign_up``."""
    workshop = make_workshop(capacity=SEATS)
    workshop_id, category_id = workshop.id, workshop.categories[0].id
    user_ids = make_verified_users(SIGNUPS, "race")

    def work(i, start):
        user = db.session.get(User, user_ids[i])
        workshop = db.session.get(Workshop, workshop_id)
        return sign_up(workshop, user, start)

    results, errors = run_together(app, SIGNUPS, work)
    return workshop_id, category_id, results, errors, user_ids


# --- a. the real sign-up -------------------------------------------------------------------------

def test_200_concurrent_signups_fill_20_seats_and_number_the_waiting_list_in_commit_order(app):
    def sign_up(workshop, user, start):
        start.wait()
        registration = signup.sign_up(workshop, user)
        return registration.id, registration.status, registration.waitlist_number

    _, category_id, results, errors, user_ids = signup_race(app, sign_up)

    # No error in any thread: no deadlock, no lock timeout, no check-constraint or unique violation.
    assert errors == []
    assert_fair_signups(category_id, SEATS, user_ids)
    # What each caller was told is what the database holds.
    stored = {row.id: (row.id, row.status, row.waitlist_number) for row in registrations_by_id(category_id)}
    assert sorted(results) == sorted(stored.values())


# --- b. sign-ups racing cancellations ---------------------------------------------------------------

def test_signups_racing_cancellations_never_overbook_or_offer_twice(app):
    """20 confirmed people cancel (each freed seat is offered to the next in the queue, under the pool's lock)
    while 100 newcomers sign up: the seats stay within the capacity, counted exactly, every newcomer is
    registered once, and no waiting-list number is given twice."""
    workshop = make_workshop(capacity=SEATS)
    workshop_id, category_id = workshop.id, workshop.categories[0].id
    early = make_verified_users(2 * SEATS, "early")
    for user_id in early:
        signup.sign_up(db.session.get(Workshop, workshop_id), db.session.get(User, user_id))
    holders = [row.id for row in registrations_by_id(category_id) if row.status is confirmed]
    newcomers = make_verified_users(100, "late")

    def work(i, start):
        if i < len(holders):
            registration = db.session.get(Registration, holders[i])
            user = db.session.get(User, registration.user_id)
            start.wait()
            signup.cancel_registration(registration, user)
            return None
        workshop, user = db.session.get(Workshop, workshop_id), db.session.get(User, newcomers[i - len(holders)])
        start.wait()
        registration = signup.sign_up(workshop, user)
        assert registration.status is waitlisted  # the seats are held or offered: newcomers wait
        return registration.id

    _results, errors = run_together(app, len(holders) + len(newcomers), work)
    assert errors == []
    seats, taken, n_confirmed, n_offered, total = seat_snapshot(category_id)
    assert taken == n_confirmed + n_offered <= seats
    assert (n_confirmed, n_offered) == (0, SEATS)  # every freed seat went to the head of the queue
    rows = registrations_by_id(category_id)
    assert total == 2 * SEATS + 100
    assert sorted(row.user_id for row in rows) == sorted(early + newcomers)
    # The 20 early waiters (1..20) were offered the seats, which clears their number; the newcomers queued
    # behind them, each with a number of their own.
    numbers = sorted(row.waitlist_number for row in rows if row.waitlist_number is not None)
    assert numbers == list(range(SEATS + 1, SEATS + 101))
    category = db.session.get(WorkshopCategory, category_id)
    assert category.next_waitlist_number == SEATS + 100 + 1


# --- c. a naive sign-up, to show the harness sees races -------------------------------------------

def naive_sign_up(workshop, user, start, widen: threading.Barrier):
    """Check-then-insert without a lock: count the confirmed rows, then insert. Never touches
    ``seats_taken`` (its check constraint would refuse an overbooking): it trusts the count it read.

    The count is read in its own transaction, as under pysqlite's default handling (a SELECT runs outside
    any transaction) or any autocommit read; on PostgreSQL (READ COMMITTED) one transaction would overbook
    the same way. ``widen`` is the race-widening hook: every thread has read before any thread writes.
    """
    workshop_id, user_id = workshop.id, user.id
    category_id, seats = workshop.categories[0].id, workshop.categories[0].seats
    start.wait()
    taken = db.session.scalar(select(func.count(Registration.id)).where(
        Registration.category_id == category_id, Registration.status == confirmed))
    db.session.commit()
    widen.wait()
    registration = Registration(workshop_id=workshop_id, category_id=category_id, user_id=user_id,
                                code=f"N{user_id:05d}", status=waitlisted)
    if taken < seats:
        registration.status, registration.confirmed_at = confirmed, utcnow()
    else:
        registration.waitlist_number = 1 + (db.session.scalar(
            select(func.max(Registration.waitlist_number)).where(Registration.category_id == category_id)) or 0)
    db.session.add(registration)
    db.session.commit()
    return registration.id, registration.status, registration.waitlist_number


def test_a_naive_check_then_insert_signup_overbooks_under_the_same_race(app):
    widen = threading.Barrier(SIGNUPS, timeout=JOIN_TIMEOUT)

    def sign_up(workshop, user, start):
        return naive_sign_up(workshop, user, start, widen)

    _, category_id, _, errors, user_ids = signup_race(app, sign_up)

    assert errors == []
    n_confirmed = sum(row.status is confirmed for row in registrations_by_id(category_id))
    assert n_confirmed > SEATS
    assert n_confirmed == SIGNUPS  # deterministic: with the hook, every thread read 0 before anyone wrote
    with pytest.raises(AssertionError, match="confirmed for 20 seats"):
        assert_fair_signups(category_id, SEATS, user_ids)


# --- b. cancellations, offer confirmations and lapses at once -------------------------------------

CANCELLERS = 15
WAITING = 40


def seat_snapshot(category_id: int) -> tuple[int, int, int, int, int]:
    """(seats, seats_taken, confirmed, offered, registrations) read in one statement, so one snapshot."""
    def count(*statuses):
        stmt = select(func.count(Registration.id)).where(Registration.category_id == category_id)
        if statuses:
            stmt = stmt.where(Registration.status.in_(statuses))
        return stmt.scalar_subquery()

    db.session.rollback()  # end any transaction left open: read a fresh snapshot
    row = db.session.execute(
        select(WorkshopCategory.seats, WorkshopCategory.seats_taken, count(confirmed), count(offered), count())
        .where(WorkshopCategory.id == category_id)).one()
    db.session.rollback()
    return tuple(row)


def test_concurrent_cancellations_confirmations_and_lapses_never_overbook_or_offer_twice(app):
    """15 of 20 confirmed people cancel at once while the 40 waitlisted people confirm offers: the odd
    numbers confirm as soon as they can (retrying ``confirm_offer`` while merely waitlisted), the even
    numbers never answer and their offers are made to expire (a direct UPDATE of the deadline, as time
    would), lapsed by two concurrent ``process_expired_offers`` runners and by the other writes. A watcher
    checks the seat invariants in its own connection throughout."""
    workshop = make_workshop(capacity=SEATS)
    workshop_id, category_id = workshop.id, workshop.categories[0].id
    user_ids = make_verified_users(SEATS + WAITING, "flow")
    registration_ids = []
    for user_id in user_ids:  # sequentially: 20 confirmed, then waiting-list numbers 1..40
        registration_ids.append(signup.sign_up(db.session.get(Workshop, workshop_id),
                                                 db.session.get(User, user_id)).id)
    rows = registrations_by_id(category_id)
    assert [r.status for r in rows] == [confirmed] * SEATS + [waitlisted] * WAITING
    assert [r.waitlist_number for r in rows[SEATS:]] == list(range(1, WAITING + 1))
    number_of = {r.id: r.waitlist_number for r in rows}
    cancellers = registration_ids[:CANCELLERS]
    eager = [r for r in registration_ids[SEATS:] if number_of[r] % 2 == 1]
    sleepy = [r for r in registration_ids[SEATS:] if number_of[r] % 2 == 0]
    user_of = dict(zip(registration_ids, user_ids, strict=True))

    stop = threading.Event()
    samples = []

    def cancel(registration_id, start):
        registration = db.session.get(Registration, registration_id)
        user = db.session.get(User, user_of[registration_id])
        start.wait()
        return signup.cancel_registration(registration, user).status

    def confirm_when_offered(registration_id, start):
        start.wait()
        tries = 0
        while not stop.is_set() and tries < 5000:
            tries += 1
            db.session.rollback()
            registration = db.session.get(Registration, registration_id)
            try:
                return signup.confirm_offer(registration, db.session.get(User, user_of[registration_id])).status
            except NotOffered:  # still waitlisted: the refusal, then try again
                time.sleep(0.01)
        return db.session.get(Registration, registration_id).status

    def let_offers_expire(start):
        start.wait()
        while not stop.is_set():
            begin_write()
            db.session.execute(
                update(Registration).where(Registration.id.in_(sleepy), Registration.status == offered,
                                           Registration.offer_expires_at > utcnow())
                .values(offer_expires_at=utcnow() - timedelta(seconds=1))
                .execution_options(synchronize_session=False))
            db.session.commit()
            time.sleep(0.005)  # pacing: offers lapse again and again while the others act

    def process_offers(start):
        start.wait()
        lapsed = 0
        while not stop.is_set():
            lapsed += workshop_jobs.process_expired_offers()
            time.sleep(0.005)  # pacing: the job runs again and again, as two processes would run it
        return lapsed

    def watch(start):
        start.wait()
        while not stop.is_set():
            samples.append(seat_snapshot(category_id))
            time.sleep(0.002)  # pacing: a sample every few milliseconds

    jobs = ([functools.partial(cancel, r) for r in cancellers]
            + [functools.partial(confirm_when_offered, r) for r in eager]
            + [let_offers_expire, process_offers, process_offers, watch])
    crowd = Crowd(app, jobs)
    try:
        crowd.join(range(len(cancellers)))
        # Every cancel has committed: once no offer is pending, no seat can move any more.
        deadline = time.monotonic() + 90
        while not crowd.errors and seat_snapshot(category_id)[3] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    crowd.join()
    assert crowd.errors == [], crowd.errors[:5]
    assert seat_snapshot(category_id)[3] == 0, "offers still pending after 90 s"

    # Throughout, in the watcher's own connection: never more confirmed than seats, every held seat counted.
    assert len(samples) >= 20, f"the watcher took only {len(samples)} samples"
    for seats, taken, n_confirmed, n_offered, n_registrations in samples:
        assert n_confirmed <= seats
        assert n_confirmed + n_offered == taken <= seats
        assert n_registrations == SEATS + WAITING

    # The end is determined: the freed seats went down the waiting list in order, each odd number
    # confirming, each even number lapsing, until 15 had confirmed (numbers 1..29).
    rows = {r.id: r for r in db.session.scalars(select(Registration).where(Registration.category_id == category_id))}
    assert len(rows) == SEATS + WAITING  # nothing lost, nobody duplicated
    status = {r_id: r.status for r_id, r in rows.items()}
    assert [status[r] for r in cancellers] == [cancelled] * CANCELLERS
    assert all(status[r] is confirmed for r in registration_ids[CANCELLERS:SEATS])
    offered_numbers = range(1, 2 * CANCELLERS)  # 1..29
    for r in eager:
        expected = confirmed if number_of[r] in offered_numbers else waitlisted
        assert status[r] is expected, (number_of[r], status[r])
    for r in sleepy:
        if number_of[r] in offered_numbers:
            assert (status[r], rows[r].offer_lapsed) == (cancelled, True), (number_of[r], status[r])
        else:
            assert (status[r], rows[r].waitlist_number) == (waitlisted, number_of[r])
    assert crowd.results[:CANCELLERS] == [cancelled] * CANCELLERS
    assert crowd.results[CANCELLERS:CANCELLERS + len(eager)] == [status[r] for r in eager]
    counts = {s: list(status.values()).count(s) for s in RegistrationStatus}
    assert counts == {confirmed: SEATS, offered: 0, cancelled: CANCELLERS + CANCELLERS - 1,
                      waitlisted: WAITING - (2 * CANCELLERS - 1), RegistrationStatus.in_review: 0}
    category = db.session.get(WorkshopCategory, category_id)
    assert category.seats_taken == SEATS

    # Nobody was offered twice: one "seat offered" mail per person offered, and one per offer made.
    email_of = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all())
    offer_mails = db.session.scalars(select(OutboxMessage.recipient)
                                     .where(OutboxMessage.template == "seat_offered")).all()
    assert sorted(offer_mails) == sorted(email_of[user_of[r]] for r in registration_ids[SEATS:]
                                         if number_of[r] in offered_numbers)
    lapse_mails = db.session.scalars(select(OutboxMessage.recipient)
                                     .where(OutboxMessage.template == "offer_lapsed")).all()
    assert sorted(lapse_mails) == sorted(email_of[user_of[r]] for r in sleepy if number_of[r] in offered_numbers)


# --- c2. moves out of a category to check, racing sign-ups -----------------------------------------

OPEN_SEATS, CHECKED_SEATS, AGENTS_WAITING, NEWCOMERS = 10, 20, 10, 10


def test_moves_to_the_open_category_racing_sign_ups_never_overbook_either_category(app):
    """At sign-up review (issue 19): 20 people wait for the review of the agents' category they declared, each
    holding one of its 20 seats, and 10 more agents wait behind them. At once, the team moves the 20 to the open
    category (10 seats), and 10 newcomers sign up there. A move locks both categories (in id order) and decides
    the open seat as a sign-up does: the 30 contenders get the 10 open seats and waiting-list numbers 1..20 each
    once, and the 20 agents' seats freed pass to the 10 waiting agents as offers, each offered once."""
    from app.workshops.models import CategoryCheck

    in_review = RegistrationStatus.in_review
    workshop = make_workshop(capacity=OPEN_SEATS + CHECKED_SEATS, category_check=CategoryCheck.at_review,
                             quotas=[("usagers", OPEN_SEATS), ("agents", CHECKED_SEATS, True)])
    workshop_id = workshop.id
    open_id, checked_id = (c.id for c in workshop.categories)
    declared = make_verified_users(CHECKED_SEATS + AGENTS_WAITING, "agent")
    for user_id in declared:
        signup.sign_up(db.session.get(Workshop, workshop_id), db.session.get(User, user_id), category_id=checked_id)
    rows = registrations_by_id(checked_id)
    assert [r.status for r in rows] == [in_review] * CHECKED_SEATS + [waitlisted] * AGENTS_WAITING
    moving = [r.id for r in rows[:CHECKED_SEATS]]
    newcomers = make_verified_users(NEWCOMERS, "usager")
    staff = make_verified_users(1, "staff")[0]
    db.session.execute(update(User).where(User.id == staff).values(is_admin=True))
    db.session.commit()

    def work(i, start):
        if i < len(moving):
            registration = db.session.get(Registration, moving[i])
            actor = db.session.get(User, staff)
            start.wait()
            moved = signup.move_to_category(actor, registration, open_id)
            return moved.status.value, moved.waitlist_number or 0
        user = db.session.get(User, newcomers[i - len(moving)])
        workshop = db.session.get(Workshop, workshop_id)
        start.wait()
        registration = signup.sign_up(workshop, user, category_id=open_id)
        return registration.status.value, registration.waitlist_number or 0

    results, errors = run_together(app, len(moving) + NEWCOMERS, work)
    assert errors == [], errors[:5]

    open_rows = registrations_by_id(open_id)
    assert sorted(r.id for r in open_rows if r.id in moving) == sorted(moving)  # every move happened, once
    assert [r.status for r in open_rows].count(confirmed) == OPEN_SEATS
    waiting_numbers = sorted(r.waitlist_number for r in open_rows if r.status is waitlisted)
    assert waiting_numbers == list(range(1, len(moving) + NEWCOMERS - OPEN_SEATS + 1))
    assert sorted(results) == sorted((r.status.value, r.waitlist_number or 0) for r in open_rows)  # as told
    seats, taken, n_confirmed, n_offered, _total = seat_snapshot(open_id)
    assert (seats, taken, n_confirmed, n_offered) == (OPEN_SEATS, OPEN_SEATS, OPEN_SEATS, 0)

    # The agents' category: the 10 waiting agents were each offered one freed seat; the other 10 seats are free.
    checked_rows = registrations_by_id(checked_id)
    assert [r.status for r in checked_rows] == [offered] * AGENTS_WAITING
    seats, taken, n_confirmed, n_offered, total = seat_snapshot(checked_id)
    assert (seats, taken, n_confirmed, n_offered, total) == (CHECKED_SEATS, AGENTS_WAITING, 0, AGENTS_WAITING,
                                                             AGENTS_WAITING)
    email_of = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(declared))).all())
    offer_mails = db.session.scalars(select(OutboxMessage.recipient)
                                     .where(OutboxMessage.template == "seat_offered")).all()
    assert sorted(offer_mails) == sorted(email_of[r.user_id] for r in checked_rows)


# --- d. the sign-up race over HTTP, two server processes, one PostgreSQL ---------------------------

@pytest.mark.slow
@pytest.mark.postgres
def test_http_signup_race_against_two_servers_sharing_one_postgresql(pg_server, smtp_server):
    """200 logged-in people POST the sign-up form at once, alternately to two serve.py (gevent) processes."""
    # The periodic jobs (mail delivery) are not what this test is about: off, so they do not steal CPU.
    with race_on_postgresql(pg_server, smtp_server.port, "atelier_http_race", {"ATELIER_RUN_JOBS": "0"}) as race:
        # Data written by this process, hashed with the servers' argon2 parameters so logins do not rehash.
        with race.app.app_context():
            workshop = make_workshop(capacity=SEATS)
            workshop_id, category_id = workshop.id, workshop.categories[0].id
            user_ids = make_verified_users(SIGNUPS, "http")
            emails = [f"http{i}@example.org" for i in range(SIGNUPS)]
        race.start()
        path = f"/ateliers/{workshop_id}/inscription"
        go = threading.Barrier(SIGNUPS, timeout=JOIN_TIMEOUT)
        statuses, errors = [None] * SIGNUPS, []

        def person(i):
            base = race.servers[i % 2].url
            try:
                with requests.Session() as http:
                    sign_in(http, base, emails[i], timeout=30)
                    token = csrf_from(http.get(base + path, timeout=30).text)
                    go.wait()
                    response = http.post(base + path, data={"csrf_token": token}, timeout=60,
                                         allow_redirects=False)
                    statuses[i] = response.status_code
            except BaseException as exc:  # noqa: BLE001 - reported below
                go.abort()
                errors.append((i, exc))

        in_threads(person, SIGNUPS, JOIN_TIMEOUT)
        assert errors == [], errors[:5]
        assert statuses == [302] * SIGNUPS
        # Each process served its half of the race (its access log: method, rule, status).
        race.assert_each_served("POST /ateliers/<int:workshop_id>/inscription 302", SIGNUPS // 2)
        with race.app.app_context():
            assert_fair_signups(category_id, SEATS, user_ids)
