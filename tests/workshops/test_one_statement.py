"""The sign-up in one SQL statement (PostgreSQL): every rule of the form path, checked inside the statement.

Each rule has its refusal twin: the statement writes nothing and answers ``None``, and the request goes on to
the form path, which decides and explains (its own tests cover those answers). The mail it queues is rendered
at delivery, in the person's language, and arrives over SMTP like any other.
"""

import json
import threading
import time
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from app.accounts import service as accounts
from app.accounts.models import User, utcnow
from app.extensions import db
from app.mail.models import OutboxMessage, OutboxStatus
from app.mail.service import deliver_pending
from app.workshops import service
from app.workshops.models import (
    QuestionKind,
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopCategory,
)
from tests.conftest import get_csrf, login, post_form
from tests.factories import make_user, make_workshop
from tests.queries import recorded_executions
from tests.servers import text_body


@pytest.fixture
def pg(backend):
    if backend != "postgresql":
        pytest.skip("the one-statement sign-up is PostgreSQL's (SQLite: test_sqlite_never_takes_it)")


def account(user: User) -> tuple[int, int]:
    return user.id, user.session_version


def written() -> tuple:
    """Everything a sign-up writes: registrations, seat counters, outbox rows."""
    db.session.rollback()
    return (db.session.scalar(select(func.count(Registration.id))),
            db.session.execute(select(WorkshopCategory.id, WorkshopCategory.seats_taken,
                                      WorkshopCategory.next_waitlist_number)
                               .order_by(WorkshopCategory.id)).all(),
            db.session.scalar(select(func.count(OutboxMessage.id))))


def refused(workshop_id: int, person: tuple[int, int], **kwargs) -> None:
    """The statement declines: ``None``, nothing written, no lock kept (the transaction is over)."""
    before = written()
    assert service.sign_up_in_one_statement(workshop_id, person, **kwargs) is None
    if db.engine.dialect.name == "postgresql":  # nothing stays locked: every seat pool can be locked at once
        db.session.execute(select(WorkshopCategory.id).with_for_update(nowait=True)).all()
        db.session.rollback()
    assert written() == before


def test_it_confirms_then_waitlists_and_queues_the_mail_unrendered(app, pg):
    workshop = make_workshop(capacity=1)
    first, second = make_user(), make_user(locale="en")
    db.session.commit()
    one = service.sign_up_in_one_statement(workshop.id, account(first))
    two = service.sign_up_in_one_statement(workshop.id, account(second))
    assert (one.confirmed, one.locale, two.confirmed, two.locale) == (True, "fr", False, "en")
    db.session.expire_all()
    rows = db.session.scalars(select(Registration).order_by(Registration.id)).all()
    assert [(r.id, r.user_id, r.status, r.waitlist_number) for r in rows] == [
        (one.registration_id, first.id, RegistrationStatus.confirmed, None),
        (two.registration_id, second.id, RegistrationStatus.waitlisted, 1)]
    assert rows[0].confirmed_at is not None and rows[1].confirmed_at is None
    assert len({r.code for r in rows}) == 2 and all(len(r.code) == 6 for r in rows)
    category = db.session.get(WorkshopCategory, workshop.categories[0].id)
    assert (category.seats_taken, category.next_waitlist_number) == (1, 2)
    mails = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.template, m.recipient, m.locale, m.status, m.subject, m.body_text) for m in mails] == [
        ("registration_confirmed", first.email, "fr", OutboxStatus.pending, None, None),
        ("registration_waitlisted", second.email, "en", OutboxStatus.pending, None, None)]
    assert [json.loads(m.context) for m in mails] == [{"registration_id": one.registration_id},
                                                      {"registration_id": two.registration_id}]


def test_its_mail_is_rendered_at_delivery_like_the_form_paths(app, pg, smtp):
    """Same workshop, same template: one person through the statement, one through ``service.sign_up``
    (rendered when queued). Both mails arrive with the same subject and the calendar attachment."""
    workshop = make_workshop(capacity=2, title="Simplifier la déclaration de naissance")
    quick, form = make_user(name="Rapide Dupont"), make_user(name="Formulaire Martin")
    db.session.commit()
    assert service.sign_up_in_one_statement(workshop.id, account(quick)).confirmed
    service.sign_up(db.session.get(Workshop, workshop.id), db.session.get(User, form.id))
    assert deliver_pending() == {"sent": 2, "retry": 0, "failed": 0}
    [by_statement], [by_form] = smtp.wait_for(quick.email), smtp.wait_for(form.email)
    assert by_statement["Subject"] == by_form["Subject"]
    assert "Simplifier la déclaration de naissance" in by_statement["Subject"]
    assert by_statement["Content-Language"] == "fr"
    assert "Rapide Dupont" in text_body(by_statement)
    assert text_body(by_statement).replace("Rapide Dupont", "X").split("\n")[:3] == \
        text_body(by_form).replace("Formulaire Martin", "X").split("\n")[:3]
    assert [p.get_content_type() for p in by_statement.iter_attachments()] == ["text/calendar"]
    # What was sent is kept in the row, as for any other mail (the admin pages, the retries).
    db.session.expire_all()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == quick.email))
    assert row.status is OutboxStatus.sent and row.subject == by_statement["Subject"] and row.attachments


def test_a_mail_whose_registration_is_gone_is_marked_failed_not_sent(app, pg, smtp):
    workshop = make_workshop(capacity=1)
    person = make_user()
    db.session.commit()
    done = service.sign_up_in_one_statement(workshop.id, account(person))
    db.session.execute(delete(Registration).where(Registration.id == done.registration_id))
    db.session.commit()
    assert deliver_pending() == {"sent": 0, "retry": 0, "failed": 1}
    row = db.session.scalar(select(OutboxMessage))
    assert row.status is OutboxStatus.failed and "no longer exists" in row.last_error
    assert smtp.to(person.email) == []


def test_the_admin_pages_show_a_mail_waiting_to_be_written(app, pg, client):
    workshop = make_workshop(capacity=1)
    person = make_user()
    admin = make_user(admin=True)
    db.session.commit()
    service.sign_up_in_one_statement(workshop.id, account(person))
    message_id = db.session.scalar(select(OutboxMessage.id))
    login(client, admin.email)
    listing = unescape(client.get("/admin/courriels/").get_data(as_text=True))
    assert "« registration_confirmed », rédigé à l'envoi" in listing
    page = unescape(client.get(f"/admin/courriels/{message_id}").get_data(as_text=True))
    assert "<h1>Courriel « registration_confirmed », rédigé au moment de l'envoi</h1>" in page
    assert "rédigé dans la langue de la personne au moment de son envoi" in page


# --- each rule, and its refusal twin ---------------------------------------------------------------

def test_the_person_must_be_verified_present_and_not_revoked(app, pg):
    workshop = make_workshop(capacity=5)
    unverified, deleted, revoked = make_user(verified=False), make_user(), make_user()
    db.session.commit()
    refused(workshop.id, account(unverified))
    old = account(revoked)
    accounts.log_out_everywhere(db.session.get(User, revoked.id))
    refused(workshop.id, old)
    db.session.execute(update(User).where(User.id == deleted.id).values(deleted_at=utcnow()))
    db.session.commit()
    refused(workshop.id, account(deleted))
    refused(workshop.id, (10 ** 9, 1))  # no such account
    assert service.sign_up_in_one_statement(workshop.id, account(db.session.get(User, revoked.id))) is not None


@pytest.mark.parametrize("state", ["draft", "cancelled", "not_open_yet", "closed", "started", "unknown"])
def test_the_workshop_must_be_published_and_open(app, pg, state):
    now = utcnow()
    fields = {"draft": {"published": False},
              "not_open_yet": {"signup_opens_at": now + timedelta(days=1)},
              "closed": {"signup_closes_at": now - timedelta(minutes=1)},
              "started": {"starts_in": timedelta(minutes=-5)}}.get(state, {})
    workshop = make_workshop(capacity=5, **fields)
    person = make_user()
    db.session.commit()
    if state == "cancelled":
        service.cancel_workshop(db.session.get(User, workshop.created_by_id), workshop, "Salle indisponible")
    refused(workshop.id + (1000 if state == "unknown" else 0), account(person))
    # The twin: the same person, an open workshop.
    assert service.sign_up_in_one_statement(make_workshop(capacity=5).id, account(person)).confirmed


def test_an_invitation_only_workshop_needs_its_token(app, pg):
    workshop = make_workshop(capacity=5, visibility=Visibility.invitation)
    person = make_user()
    db.session.commit()
    refused(workshop.id, account(person))
    refused(workshop.id, account(person), token="not-the-token")
    assert service.sign_up_in_one_statement(workshop.id, account(person), token=workshop.invite_token).confirmed


def test_questions_or_quotas_need_the_form(app, pg):
    asks = make_workshop(capacity=5, questions=[{"kind": QuestionKind.short_text, "label": "Votre commune"}])
    quotas = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    person = make_user()
    db.session.commit()
    refused(asks.id, account(person))
    refused(quotas.id, account(person))


def test_one_registration_per_person_even_after_cancelling(app, pg):
    workshop = make_workshop(capacity=5)
    person = make_user()
    db.session.commit()
    done = service.sign_up_in_one_statement(workshop.id, account(person))
    refused(workshop.id, account(person))  # registered: the unique (workshop, user) constraint decides
    service.cancel_registration(db.session.get(Registration, done.registration_id),
                                db.session.get(User, person.id))
    refused(workshop.id, account(person))  # a comeback reuses the row: the form path does it
    registration = service.sign_up(db.session.get(Workshop, workshop.id), db.session.get(User, person.id))
    assert registration.id == done.registration_id and registration.status is RegistrationStatus.confirmed


def test_a_clashing_check_in_code_is_left_to_the_form_path(app, pg):
    workshop = make_workshop(capacity=5)
    first, second = make_user(), make_user()
    db.session.commit()
    service.sign_up_in_one_statement(workshop.id, account(first), code="ABC234")
    refused(workshop.id, account(second), code="ABC234")
    assert service.sign_up_in_one_statement(workshop.id, account(second), code="ABC235") is not None


def test_an_expired_offer_is_passed_on_by_the_form_path_first(app, pg):
    workshop = make_workshop(capacity=1)
    holder, waiting, newcomer = make_user(), make_user(), make_user()
    db.session.commit()
    held = service.sign_up(db.session.get(Workshop, workshop.id), db.session.get(User, holder.id))
    offered = service.sign_up(db.session.get(Workshop, workshop.id), db.session.get(User, waiting.id))
    service.cancel_registration(db.session.get(Registration, held.id), db.session.get(User, holder.id))
    db.session.expire_all()
    assert db.session.get(Registration, offered.id).status is RegistrationStatus.offered
    db.session.execute(update(Registration).where(Registration.id == offered.id)
                       .values(offer_expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    refused(workshop.id, account(newcomer))
    # The form path lapses the offer (nobody else waits: the seat is free again) and seats the newcomer.
    late = service.sign_up(db.session.get(Workshop, workshop.id), db.session.get(User, newcomer.id))
    db.session.expire_all()
    lapsed = db.session.get(Registration, offered.id)
    assert (lapsed.status, lapsed.offer_lapsed) == (RegistrationStatus.cancelled, True)
    assert late.status is RegistrationStatus.confirmed


def test_sqlite_never_takes_it(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite only")
    workshop = make_workshop(capacity=5)
    person = make_user()
    db.session.commit()
    refused(workshop.id, account(person))


# --- through HTTP --------------------------------------------------------------------------------

def test_the_page_says_it_in_the_persons_language_and_is_not_stored(app, pg, client):
    workshop = make_workshop(capacity=1)
    person = make_user(locale="en")
    db.session.commit()
    login(client, person.email)
    response = post_form(client, f"/ateliers/{workshop.id}/inscription", {})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/ateliers/{workshop.id}?inscription=1")
    assert response.headers["Cache-Control"] == "no-store"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "your seat is confirmed" in page
    db.session.expire_all()
    assert db.session.scalar(select(Registration.status)) is RegistrationStatus.confirmed


def on_the_sign_up_form(client) -> tuple[User, str, str]:
    """A verified person logged in on an open workshop's sign-up form: (person, form URL, CSRF token)."""
    workshop = make_workshop(capacity=5)
    person = make_user()
    db.session.commit()
    login(client, person.email)
    url = f"/ateliers/{workshop.id}/inscription"
    return person, url, get_csrf(client, url)


def test_a_session_that_fails_flask_logins_protection_is_logged_out_not_signed_up(app, pg, client):
    _person, url, token = on_the_sign_up_form(client)
    # Another browser presenting this session cookie: Flask-Login's "strong" protection ends the session.
    response = client.post(url, data={"csrf_token": token}, headers={"User-Agent": "Another browser/1.0"})
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    assert written()[0] == 0


def test_a_revoked_session_is_sent_to_log_in_not_signed_up(app, pg, client):
    person, url, token = on_the_sign_up_form(client)
    accounts.log_out_everywhere(db.session.get(User, person.id))  # e.g. from another device
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    assert written()[0] == 0


# --- several people at once: one statement for the group ----------------------------------------------

def queue_together(app, workshop_id: int, calls: list[tuple]) -> list:
    """Run ``sign_up_in_one_statement(workshop_id, *call)`` for each call in its own thread, all queued while
    this test holds the workshop's turn, so the next turn takes them as one group; returns their results."""
    results, errors = [None] * len(calls), []

    def run(i):
        try:
            with app.app_context():
                results[i] = service.sign_up_in_one_statement(workshop_id, *calls[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    with service._workshops.hold(workshop_id):
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while service._workshops.waiting(workshop_id) < len(calls) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # one thread takes the turn when we release it; the others wait in its group
        time.sleep(0.05)
    for thread in threads:
        thread.join(30)
    assert errors == [] and not any(t.is_alive() for t in threads)
    return results


def test_people_waiting_together_are_signed_up_by_one_statement_in_arrival_order(app, pg):
    workshop = make_workshop(capacity=2)
    people = [make_user() for _ in range(5)]
    db.session.commit()
    with recorded_executions() as executions:
        results = queue_together(app, workshop.id, [(account(p),) for p in people])
    groups = [params for statement, params in executions if statement.lstrip().startswith("WITH input AS")]
    assert len(groups) <= 2 and sum(len(p["user_ids"]) for p in groups) == 5  # the first alone, the rest at once
    assert any(len(p["user_ids"]) >= 4 for p in groups)
    assert all(result is not None for result in results)
    db.session.expire_all()
    rows = db.session.execute(select(Registration.user_id, Registration.status, Registration.waitlist_number)
                              .order_by(Registration.id)).all()
    order = [user_id for params in groups for user_id in params["user_ids"]]  # arrival order, group by group
    assert [row.user_id for row in rows] == order
    assert [(row.status, row.waitlist_number) for row in rows] == [
        (RegistrationStatus.confirmed, None), (RegistrationStatus.confirmed, None),
        (RegistrationStatus.waitlisted, 1), (RegistrationStatus.waitlisted, 2), (RegistrationStatus.waitlisted, 3)]
    category = db.session.get(WorkshopCategory, workshop.categories[0].id)
    assert (category.seats_taken, category.next_waitlist_number) == (2, 4)
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 5


def test_a_double_click_in_one_group_registers_the_person_once(app, pg):
    workshop = make_workshop(capacity=5)
    person, other = make_user(), make_user()
    db.session.commit()
    results = queue_together(app, workshop.id, [(account(person),), (account(other),), (account(person),)])
    assert sorted(r is None for r in results) == [False, False, True]  # the second click: the form path says why
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Registration.user_id))) == sorted([person.id, other.id])


def test_a_group_that_meets_a_concurrent_registration_is_undone_then_run_one_by_one(app, pg):
    """Someone of the group registers through another process while the group's statement runs: their place
    would leave a gap in the queue, so the group is rolled back and everyone is signed up one by one."""
    workshop = make_workshop(capacity=1)
    people = [make_user() for _ in range(4)]
    racer = people[2]
    db.session.commit()
    engine = db.engine
    other_process = engine.connect()
    other_process.execute(insert(Registration).values(
        workshop_id=workshop.id, category_id=workshop.categories[0].id, user_id=racer.id,
        status=RegistrationStatus.cancelled, code="ZZZ999", guest_name="", guest_phone="", cancel_message="",
        offer_lapsed=False, has_evaluated=False, created_at=utcnow()))  # not committed yet

    def commit_once_the_group_waits():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the group's INSERT waits for the other transaction's row
            with engine.connect() as probe:
                waiting = probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                            "'Lock' AND query LIKE '%WITH input AS%'"))
            if waiting:
                break
            time.sleep(0.02)
        other_process.commit()
        other_process.close()

    committer = threading.Thread(target=commit_once_the_group_waits, daemon=True)
    committer.start()
    try:
        with recorded_executions() as executions:
            results = queue_together(app, workshop.id, [(account(p),) for p in people])
        committer.join(30)
    finally:
        if not other_process.closed:
            other_process.close()
    sizes = [len(params["user_ids"]) for statement, params in executions
             if statement.lstrip().startswith("WITH input AS")]
    assert max(sizes) >= 3 and sizes.count(1) >= 3  # the group, undone, then one by one
    by_person = dict(zip([p.id for p in people], results, strict=True))
    assert by_person[racer.id] is None  # registered elsewhere: the form path answers
    db.session.expire_all()
    rows = db.session.execute(select(Registration.user_id, Registration.status, Registration.waitlist_number)
                              .where(Registration.user_id != racer.id).order_by(Registration.id)).all()
    assert [(row.status, row.waitlist_number) for row in rows] == [
        (RegistrationStatus.confirmed, None), (RegistrationStatus.waitlisted, 1), (RegistrationStatus.waitlisted, 2)]
    category = db.session.get(WorkshopCategory, workshop.categories[0].id)
    assert (category.seats_taken, category.next_waitlist_number) == (1, 3)
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 3
