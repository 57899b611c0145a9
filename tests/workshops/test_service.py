"""Workshop rules, each with its refusal twins, on SQLite and PostgreSQL.

Time is never mocked: workshops, windows and offers are moved into the past or the future through
the services or direct UPDATEs, and the services read the real clock.
"""

import base64
import json
from datetime import UTC, timedelta

import icalendar
import pytest
from sqlalchemy import func, select, update

from app.accounts import service as accounts
from app.catalog.models import Role
from app.clock import utcnow
from app.errors import InvalidInput, NotAllowed, NotFound
from app.extensions import db
from app.mail.models import OutboxMessage
from app.workshops import jobs, queries, service, signup
from app.workshops.errors import (
    AlreadyEvaluated,
    AlreadyRegistered,
    AnswerRequired,
    CapacityBelowTaken,
    EvaluationNotOpen,
    InvalidQuotas,
    NoSeatFree,
    NotOffered,
    NotVerified,
    OfferExpired,
    SignupClosed,
    TooLateToCancel,
    UnknownCategory,
    WorkshopCancelled,
)
from app.workshops.models import (
    QuestionKind,
    Registration,
    RegistrationAnswer,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopCategory,
    WorkshopEvaluation,
    WorkshopStatus,
)
from tests.factories import PASSWORD, make_member, make_organisation, make_user, make_workshop
from tests.workshops.helpers import facilitator_of, move, reload, users

CONFIRMED, OFFERED = RegistrationStatus.confirmed, RegistrationStatus.offered
WAITLISTED, CANCELLED = RegistrationStatus.waitlisted, RegistrationStatus.cancelled


# --- helpers -------------------------------------------------------------------------------------

def mails(template=None, to=None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        stmt = stmt.where(OutboxMessage.template == template)
    if to:
        stmt = stmt.where(OutboxMessage.recipient == to)
    return list(db.session.scalars(stmt))


def travel(workshop, delta: timedelta):
    """Let ``delta`` pass for one workshop: its times and its offers' deadlines come nearer by ``delta``."""
    workshop = reload(workshop)
    db.session.execute(update(Workshop).where(Workshop.id == workshop.id)
                       .values(starts_at=workshop.starts_at - delta, ends_at=workshop.ends_at - delta))
    for registration in db.session.scalars(select(Registration).where(Registration.workshop_id == workshop.id,
                                                                      Registration.offer_expires_at.is_not(None))):
        registration.offer_expires_at -= delta
    db.session.commit()
    db.session.expire_all()


def expire_offer(registration, ago: timedelta = timedelta(minutes=1)):
    db.session.execute(update(Registration).where(Registration.id == registration.id)
                       .values(offer_expires_at=utcnow() - ago))
    db.session.commit()
    db.session.expire_all()


def category(workshop, name="") -> WorkshopCategory:
    return next(c for c in reload(workshop).categories if c.name == name)


def ics_of(message) -> icalendar.Calendar:
    [item] = json.loads(message.attachments)
    assert item["content_type"] == "text/calendar"
    return icalendar.Calendar.from_ical(base64.b64decode(item["content_b64"]))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- sign-up -------------------------------------------------------------------------------------

def test_sign_up_is_confirmed_when_a_seat_is_free(app):
    workshop = make_workshop(capacity=2)
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    assert registration.status is CONFIRMED
    assert registration.confirmed_at is not None
    assert len(registration.code) == 6
    assert category(workshop).seats_taken == 1
    [mail] = mails(to=alice.email)
    assert mail.template == "registration_confirmed"
    assert registration.code in mail.body_text
    [event] = ics_of(mail).walk("VEVENT")
    assert event["summary"] == "Atelier de test"


def test_sign_up_is_waitlisted_when_full_with_positions_in_order(app):
    workshop = make_workshop(capacity=1)
    first, *waiting = users(4)
    assert signup.sign_up(workshop, first).status is CONFIRMED
    registrations = [signup.sign_up(workshop, person) for person in waiting]
    assert [r.status for r in registrations] == [WAITLISTED] * 3
    assert [queries.waitlist_position(r) for r in registrations] == [1, 2, 3]
    assert category(workshop).seats_taken == 1
    assert [m.template for m in mails(to=waiting[0].email)] == ["registration_waitlisted"]
    assert queries.seat_figures([workshop.id])[workshop.id] == {
        "seats_left": 0, "waiting": 3, "by_category": {category(workshop).id: {"seats_left": 0, "waiting": 3}}}


def test_waitlist_positions_move_up_when_someone_ahead_leaves(app):
    workshop = make_workshop(capacity=1)
    first, second, third = users(3)
    signup.sign_up(workshop, first)
    r2, r3 = signup.sign_up(workshop, second), signup.sign_up(workshop, third)
    signup.cancel_registration(r2, second)
    assert queries.waitlist_position(reload(r3)) == 1
    assert queries.waitlist_position(reload(r2)) is None


def test_sign_up_refused_when_not_verified(app):
    workshop = make_workshop()
    [unverified] = users(1, verified=False)
    with pytest.raises(NotVerified):
        signup.sign_up(workshop, unverified)
    assert count(Registration) == 0
    assert mails() == []


def test_sign_up_refused_before_the_window_opens(app):
    workshop = make_workshop(signup_opens_at=utcnow() + timedelta(days=1))
    [alice] = users(1)
    with pytest.raises(SignupClosed):
        signup.sign_up(workshop, alice)
    assert count(Registration) == 0


def test_sign_up_refused_after_the_window_closes(app):
    workshop = make_workshop(signup_opens_at=utcnow() - timedelta(days=2),
                             signup_closes_at=utcnow() - timedelta(minutes=1))
    [alice] = users(1)
    with pytest.raises(SignupClosed):
        signup.sign_up(workshop, alice)
    assert count(Registration) == 0


def test_sign_up_accepted_inside_the_window(app):
    workshop = make_workshop(signup_opens_at=utcnow() - timedelta(days=1),
                             signup_closes_at=utcnow() + timedelta(days=1))
    [alice] = users(1)
    assert signup.sign_up(workshop, alice).status is CONFIRMED


def test_sign_up_refused_once_the_workshop_has_started(app):
    workshop = make_workshop(starts_in=-timedelta(minutes=5))
    [alice] = users(1)
    with pytest.raises(SignupClosed):
        signup.sign_up(workshop, alice)
    assert count(Registration) == 0


def test_sign_up_refused_for_a_cancelled_workshop(app):
    workshop = make_workshop()
    service.cancel_workshop(facilitator_of(workshop), workshop, "Salle indisponible")
    [alice] = users(1)
    with pytest.raises(WorkshopCancelled):
        signup.sign_up(reload(workshop), alice)
    assert count(Registration) == 0


def test_draft_workshop_is_not_found(app):
    workshop = make_workshop(published=False)
    [alice] = users(1)
    with pytest.raises(NotFound):
        signup.sign_up(workshop, alice)
    assert count(Registration) == 0


def test_invitation_only_workshop_is_not_found_without_its_token(app):
    workshop = make_workshop(visibility=Visibility.invitation)
    [alice] = users(1)
    with pytest.raises(NotFound):
        signup.sign_up(workshop, alice)
    with pytest.raises(NotFound):
        signup.sign_up(workshop, alice, token="not-the-token")
    assert count(Registration) == 0


def test_invitation_only_workshop_accepts_its_token(app):
    workshop = make_workshop(visibility=Visibility.invitation)
    [alice] = users(1)
    assert signup.sign_up(workshop, alice, token=workshop.invite_token).status is CONFIRMED


def test_regenerated_invitation_link_replaces_the_old_one(app):
    workshop = make_workshop(visibility=Visibility.invitation)
    old = workshop.invite_token
    new = service.regenerate_invite_token(facilitator_of(workshop), workshop)
    [alice, bob] = users(2)
    with pytest.raises(NotFound):
        signup.sign_up(reload(workshop), alice, token=old)
    assert signup.sign_up(reload(workshop), bob, token=new).status is CONFIRMED


def test_sign_up_refused_when_already_registered(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    signup.sign_up(workshop, alice)
    signup.sign_up(workshop, bob)  # waitlisted
    for person in (alice, bob):
        with pytest.raises(AlreadyRegistered):
            signup.sign_up(reload(workshop), person)
    assert count(Registration) == 2
    assert category(workshop).seats_taken == 1


@pytest.mark.both_databases("app.workshops.signup")
def test_sign_up_again_after_cancelling_reuses_the_same_row(app):
    question = {"kind": QuestionKind.short_text, "label": "Besoins d'accessibilité ?"}
    workshop = make_workshop(capacity=2, questions=[question])
    qid = workshop.questions[0].id
    [alice] = users(1)
    first = signup.sign_up(workshop, alice, answers={qid: "Fauteuil"})
    first_id, code = first.id, first.code
    signup.cancel_registration(first, alice)
    again = signup.sign_up(reload(workshop), alice, answers={qid: "Boucle magnétique"})
    assert again.id == first_id and again.code == code
    assert again.status is CONFIRMED and again.cancelled_at is None
    assert [a.value for a in reload(again).answers] == ["Boucle magnétique"]
    assert count(Registration) == 1
    assert category(workshop).seats_taken == 1


def test_sign_up_refused_without_a_required_answer(app):
    workshop = make_workshop(questions=[
        {"kind": QuestionKind.short_text, "label": "Votre commune", "required": True},
        {"kind": QuestionKind.consent, "label": "J'accepte d'être filmé·e", "required": True}])
    town, consent = (q.id for q in workshop.questions)
    [alice] = users(1)
    with pytest.raises(AnswerRequired, match="Votre commune"):
        signup.sign_up(workshop, alice, answers={town: "   ", consent: True})
    with pytest.raises(AnswerRequired, match="filmé"):
        signup.sign_up(workshop, alice, answers={town: "Rennes", consent: False})
    assert count(Registration) == 0
    registration = signup.sign_up(workshop, alice, answers={town: "Rennes", consent: True})
    assert sorted(a.value for a in registration.answers) == ["Rennes", "yes"]


def test_choice_answers_keep_only_offered_options(app):
    workshop = make_workshop(questions=[
        {"kind": QuestionKind.single_choice, "label": "Créneau", "choices_text": "Matin\nSoir", "required": True},
        {"kind": QuestionKind.multiple_choice, "label": "Aides", "choices_text": "LSF\nGros caractères"}])
    slot, helps = (q.id for q in workshop.questions)
    [alice] = users(1)
    with pytest.raises(AnswerRequired):
        signup.sign_up(workshop, alice, answers={slot: "Nuit"})
    registration = signup.sign_up(workshop, alice, answers={slot: "Soir", helps: ["LSF", "Pigeon voyageur"]})
    assert {a.question.label: a.value for a in registration.answers} == {"Créneau": "Soir", "Aides": "LSF"}


def test_sign_up_refused_for_an_unknown_category(app):
    workshop = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    other = make_workshop(capacity=2, quotas=[("usagers", 1), ("agents", 1)])
    [alice] = users(1)
    for category_id in (None, 999_999, other.categories[0].id):
        with pytest.raises(UnknownCategory):
            signup.sign_up(reload(workshop), alice, category_id=category_id)
    assert count(Registration) == 0


# --- quotas --------------------------------------------------------------------------------------

def test_each_category_fills_independently_with_its_own_waiting_list(app):
    workshop = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)])
    usagers, agents = workshop.categories[0].id, workshop.categories[1].id
    people = users(6)
    statuses = [signup.sign_up(reload(workshop), p, category_id=c).status
                for p, c in zip(people, [agents, agents, usagers, agents, usagers, usagers], strict=True)]
    assert statuses == [CONFIRMED, WAITLISTED, CONFIRMED, WAITLISTED, CONFIRMED, WAITLISTED]
    regs = {r.user_id: r for r in db.session.scalars(select(Registration))}
    assert [queries.waitlist_position(regs[p.id]) for p in (people[1], people[3], people[5])] == [1, 2, 1]
    figures = queries.seat_figures([workshop.id])[workshop.id]
    assert figures["seats_left"] == 0 and figures["waiting"] == 3
    assert figures["by_category"] == {usagers: {"seats_left": 0, "waiting": 1},
                                      agents: {"seats_left": 0, "waiting": 2}}
    assert (category(workshop, "usagers").seats_taken, category(workshop, "agents").seats_taken) == (2, 1)


# --- cancelling and offers -----------------------------------------------------------------------

def test_cancel_offers_the_seat_to_the_first_waitlisted_of_the_same_category(app):
    workshop = make_workshop(capacity=2, quotas=[("usagers", 1), ("agents", 1)])
    usagers, agents = workshop.categories[0].id, workshop.categories[1].id
    u1, a1, a2, u2, u3 = users(5)
    r_u1 = signup.sign_up(workshop, u1, category_id=usagers)
    signup.sign_up(reload(workshop), a1, category_id=agents)
    signup.sign_up(reload(workshop), a2, category_id=agents)  # waiting first, but in the other category
    signup.sign_up(reload(workshop), u2, category_id=usagers)
    signup.sign_up(reload(workshop), u3, category_id=usagers)
    before = utcnow()
    signup.cancel_registration(r_u1, u1)
    after = utcnow()
    regs = {r.user_id: r for r in db.session.scalars(select(Registration))}
    assert regs[u1.id].status is CANCELLED
    assert regs[u2.id].status is OFFERED and regs[u2.id].waitlist_number is None
    assert before + timedelta(hours=48) <= regs[u2.id].offer_expires_at <= after + timedelta(hours=48)
    assert regs[u3.id].status is WAITLISTED and queries.waitlist_position(regs[u3.id]) == 1
    assert regs[a2.id].status is WAITLISTED
    # The offered seat stays counted: it passed from the leaver to the offer.
    assert category(workshop, "usagers").seats_taken == 1
    [offer] = mails(template="seat_offered")
    assert offer.recipient == u2.email
    assert "/ateliers/mes-ateliers" in offer.body_text


def test_cancel_with_nobody_waiting_gives_the_seat_back(app):
    workshop = make_workshop(capacity=2)
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    signup.cancel_registration(registration, alice)
    assert reload(registration).status is CANCELLED
    assert category(workshop).seats_taken == 0
    assert queries.seat_figures([workshop.id])[workshop.id]["seats_left"] == 2
    assert mails(template="seat_offered") == []


def test_leaving_the_waiting_list_frees_no_seat(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.sign_up(workshop, carol)
    signup.cancel_registration(r_bob, bob)
    assert {r.user_id: r.status for r in db.session.scalars(select(Registration))} == {
        alice.id: CONFIRMED, bob.id: CANCELLED, carol.id: WAITLISTED}
    assert category(workshop).seats_taken == 1
    assert mails(template="seat_offered") == []


def test_cancel_refused_to_someone_else(app):
    workshop = make_workshop()
    alice, mallory = users(2)
    registration = signup.sign_up(workshop, alice)
    with pytest.raises(NotAllowed):
        signup.cancel_registration(registration, mallory)
    assert reload(registration).status is CONFIRMED


def test_person_cannot_cancel_after_the_start_but_staff_can(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    registration = signup.sign_up(workshop, alice)
    signup.sign_up(workshop, bob)
    move(workshop, -timedelta(minutes=10))
    with pytest.raises(TooLateToCancel):
        signup.cancel_registration(reload(registration), alice)
    assert reload(registration).status is CONFIRMED
    staff = facilitator_of(workshop)
    signup.cancel_registration(reload(registration), staff, "Absente")
    registration = reload(registration)
    assert registration.status is CANCELLED and registration.cancel_message == "Absente"
    assert [m.template for m in mails(to=alice.email)][-1] == "registration_cancelled_by_staff"
    # Once started, a freed seat is not offered on: nobody could confirm it in time.
    assert {r.user_id: r.status for r in db.session.scalars(select(Registration))}[bob.id] is WAITLISTED
    assert category(workshop).seats_taken == 0


def test_confirm_offer_takes_the_seat(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    confirmed = signup.confirm_offer(reload(r_bob), bob)
    assert confirmed.status is CONFIRMED and confirmed.offer_expires_at is None
    assert confirmed.confirmed_at is not None
    assert category(workshop).seats_taken == 1
    assert [m.template for m in mails(to=bob.email)] == [
        "registration_waitlisted", "seat_offered", "registration_confirmed"]


def test_confirm_offer_refused_to_someone_else_or_without_an_offer(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_carol = signup.sign_up(workshop, carol)
    with pytest.raises(NotOffered):
        signup.confirm_offer(r_carol, carol)
    signup.cancel_registration(r_alice, alice)
    with pytest.raises(NotAllowed):
        signup.confirm_offer(reload(r_bob), carol)
    assert reload(r_bob).status is OFFERED


def test_confirm_offer_refused_after_expiry_and_the_seat_passes_on(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_carol = signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    with pytest.raises(OfferExpired):
        signup.confirm_offer(reload(r_bob), bob)
    r_bob, r_carol = reload(r_bob), reload(r_carol)
    assert r_bob.status is CANCELLED and r_bob.offer_lapsed
    assert r_carol.status is OFFERED
    assert category(workshop).seats_taken == 1
    assert [m.template for m in mails(to=bob.email)][-1] == "offer_lapsed"
    assert [m.template for m in mails(to=carol.email)][-1] == "seat_offered"
    # Asking again says the same thing, and changes nothing.
    with pytest.raises(OfferExpired):
        signup.confirm_offer(r_bob, bob)
    assert reload(r_carol).status is OFFERED


def test_an_expired_offer_reads_as_lapsed_at_once(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    assert queries.seat_figures([workshop.id])[workshop.id]["seats_left"] == 0
    expire_offer(r_bob)
    r_bob = reload(r_bob)
    # No job has run: the row still says "offered", every read says lapsed.
    assert r_bob.status is OFFERED
    assert r_bob.effective_status() is CANCELLED
    assert queries.seat_figures([workshop.id])[workshop.id]["seats_left"] == 1
    assert queries.list_my_registrations(bob)["offered"] == []
    assert r_bob in queries.roster(reload(workshop))[CANCELLED]


def test_an_expired_offer_with_people_waiting_leaves_no_seat_free(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    # The seat belongs to carol now (she is next), even before it is passed on.
    figures = queries.seat_figures([workshop.id])[workshop.id]
    assert figures["seats_left"] == 0 and figures["waiting"] == 0


def test_next_write_on_the_workshop_passes_an_expired_offer_on(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol, dan = users(4)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_carol = signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    assert signup.sign_up(reload(workshop), dan).status is WAITLISTED
    assert reload(r_bob).status is CANCELLED and reload(r_carol).status is OFFERED


@pytest.mark.both_databases("app.workshops.jobs")
def test_process_expired_offers_is_idempotent(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_carol = signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    assert jobs.process_expired_offers() == 1
    assert jobs.process_expired_offers() == 0
    assert reload(r_bob).status is CANCELLED and reload(r_carol).status is OFFERED
    assert len(mails(template="offer_lapsed")) == 1
    assert [m.recipient for m in mails(template="seat_offered")] == [bob.email, carol.email]
    assert category(workshop).seats_taken == 1


def test_process_expired_offers_gives_the_seat_back_when_nobody_waits(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    assert jobs.process_expired_offers() == 1
    assert category(workshop).seats_taken == 0
    assert queries.seat_figures([workshop.id])[workshop.id]["seats_left"] == 1


def test_offer_window_never_runs_past_the_workshop_start(app):
    workshop = make_workshop(capacity=1, starts_in=timedelta(hours=10))
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_carol = signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    r_bob = reload(r_bob)
    assert r_bob.status is OFFERED
    assert r_bob.offer_expires_at == reload(workshop).starts_at
    # At the start the offer lapses, and the seat is not offered to anyone any more.
    travel(workshop, timedelta(hours=10, minutes=1))
    assert reload(r_bob).effective_status() is CANCELLED
    assert jobs.process_expired_offers() == 1
    assert reload(r_carol).status is WAITLISTED
    assert category(workshop).seats_taken == 0


def test_moving_the_workshop_earlier_shortens_live_offers(app):
    workshop = make_workshop(capacity=1, starts_in=timedelta(days=10))
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    new_start = utcnow() + timedelta(hours=5)
    service.update_workshop(facilitator_of(workshop), reload(workshop), starts_at=new_start,
                            ends_at=new_start + timedelta(hours=2))
    assert reload(r_bob).offer_expires_at == reload(workshop).starts_at
    # Once the workshop has started, the offer can no longer be taken.
    travel(workshop, timedelta(hours=5, minutes=1))
    with pytest.raises(OfferExpired):
        signup.confirm_offer(reload(r_bob), bob)


def test_confirm_offer_refused_once_the_workshop_is_cancelled(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    service.cancel_workshop(facilitator_of(workshop), reload(workshop), "Annulé")
    with pytest.raises(WorkshopCancelled):
        signup.confirm_offer(reload(r_bob), bob)
    assert reload(r_bob).status is OFFERED
    assert mails(template="registration_confirmed", to=bob.email) == []


def test_offer_window_is_configurable(app):
    app.config["WORKSHOP_OFFER_HOURS"] = 3
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.cancel_registration(r_alice, alice)
    remaining = reload(r_bob).offer_expires_at - utcnow()
    assert timedelta(hours=2, minutes=59) < remaining <= timedelta(hours=3)


def test_jobs_pass_an_expired_offer_on_and_the_mail_arrives_over_smtp(app, smtp):
    from app.jobs import run_once
    from tests.servers import text_body

    workshop = make_workshop(capacity=1, title="Atelier très demandé")
    alice, bob, carol = users(3)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    signup.sign_up(workshop, carol)
    signup.cancel_registration(r_alice, alice)
    expire_offer(r_bob)
    results = run_once(app)
    assert results["workshop_offers"] == 1 and results["deliver_mail"]["failed"] == 0
    offer = next(m for m in smtp.wait_for(carol.email, count=2) if "place vous est proposée" in m["Subject"])
    assert "Atelier très demandé" in offer["Subject"]
    assert "/ateliers/mes-ateliers" in text_body(offer)
    assert any("Place non confirmée" in m["Subject"] for m in smtp.wait_for(bob.email, count=3))
    assert run_once(app)["workshop_offers"] == 0


# --- creating and editing workshops --------------------------------------------------------------

def _fields(**overrides):
    from app.workshops.models import WorkshopFormat

    starts = utcnow() + timedelta(days=3)
    return {"title": "Refaire le formulaire", "format": WorkshopFormat.online, "starts_at": starts,
            "ends_at": starts + timedelta(hours=2), "meeting_link": "https://visio.example/abc", **overrides}


def test_create_workshop_makes_a_draft_with_its_pools(app):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    db.session.commit()
    workshop = service.create_workshop(staff, org, capacity=25, quotas=[("usagers", 20), ("agents", 5)],
                                       **_fields())
    assert workshop.status is WorkshopStatus.draft
    assert [(c.name, c.seats, c.seats_taken) for c in workshop.categories] == [("usagers", 20, 0), ("agents", 5, 0)]
    single = service.create_workshop(staff, org, capacity=8, **_fields())
    assert [(c.name, c.seats) for c in single.categories] == [("", 8)]
    assert not single.has_categories


def test_create_workshop_refused_to_people_outside_the_organisation(app):
    org = make_organisation()
    editor = make_member(org, Role.editor)
    outsider = make_member(make_organisation(), Role.facilitator)
    db.session.commit()
    for person in (editor, outsider):
        with pytest.raises(NotAllowed):
            service.create_workshop(person, org, capacity=5, **_fields())
    assert count(Workshop) == 0


def test_create_refuses_quotas_that_do_not_sum_to_the_capacity(app):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    db.session.commit()
    with pytest.raises(InvalidQuotas):
        service.create_workshop(staff, org, capacity=25, quotas=[("usagers", 20), ("agents", 4)], **_fields())
    assert count(Workshop) == 0


def test_create_refuses_duplicate_category_names(app):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    db.session.commit()
    with pytest.raises(InvalidQuotas):
        service.create_workshop(staff, org, capacity=4, quotas=[("Usagers", 2), (" usagers ", 2)], **_fields())
    assert count(Workshop) == 0


def test_create_refuses_an_end_before_the_start(app):
    org = make_organisation()
    staff = make_member(org, Role.facilitator)
    db.session.commit()
    starts = utcnow() + timedelta(days=3)
    for ends in (starts, starts - timedelta(hours=1)):
        with pytest.raises(InvalidInput) as refused:
            service.create_workshop(staff, org, capacity=5, **_fields(starts_at=starts, ends_at=ends))
        assert refused.value.code == "ends_before_start"
    assert count(Workshop) == 0


@pytest.mark.both_databases("app.workshops.service", "app.workshops.signup")
def test_capacity_raise_offers_the_new_seats_to_the_waiting_list(app):
    workshop = make_workshop(capacity=1)
    people = users(4)
    regs = [signup.sign_up(reload(workshop), p) for p in people]
    service.update_workshop(facilitator_of(workshop), reload(workshop), capacity=3)
    assert [reload(r).status for r in regs] == [CONFIRMED, OFFERED, OFFERED, WAITLISTED]
    assert queries.waitlist_position(reload(regs[3])) == 1
    pool = category(workshop)
    assert (pool.seats, pool.seats_taken, reload(workshop).capacity) == (3, 3, 3)
    assert sorted(m.recipient for m in mails(template="seat_offered")) == sorted([people[1].email, people[2].email])


def test_capacity_raise_with_nobody_waiting_opens_seats(app):
    workshop = make_workshop(capacity=1)
    [alice] = users(1)
    signup.sign_up(workshop, alice)
    service.update_workshop(facilitator_of(workshop), reload(workshop), capacity=4)
    assert queries.seat_figures([workshop.id])[workshop.id]["seats_left"] == 3
    assert (category(workshop).seats, category(workshop).seats_taken) == (4, 1)


def test_update_refuses_a_capacity_below_the_seats_taken(app):
    workshop = make_workshop(capacity=3)
    alice, bob = users(2)
    signup.sign_up(workshop, alice)
    signup.sign_up(workshop, bob)
    staff = facilitator_of(workshop)
    with pytest.raises(CapacityBelowTaken):
        service.update_workshop(staff, reload(workshop), capacity=1, title="Nouveau titre")
    db.session.commit()  # whatever the next transaction does, the refused edit must not leak into it
    workshop = reload(workshop)
    assert workshop.capacity == 3 and workshop.title == "Atelier de test"
    assert category(workshop).seats == 3
    service.update_workshop(staff, workshop, capacity=2)
    assert reload(workshop).capacity == 2


def test_update_refused_to_people_outside_the_organisation(app):
    workshop = make_workshop()
    outsider = make_member(make_organisation(), Role.facilitator)
    db.session.commit()
    with pytest.raises(NotAllowed):
        service.update_workshop(outsider, workshop, title="Piraté")
    assert reload(workshop).title == "Atelier de test"


def test_update_with_a_new_date_mails_registrants_with_the_new_time(app):
    workshop = make_workshop(capacity=1)
    alice, bob, carol = users(3)
    r_carol = signup.sign_up(workshop, carol)
    signup.sign_up(workshop, alice)
    signup.sign_up(workshop, bob)
    signup.cancel_registration(r_carol, carol)  # alice is offered, bob waits, carol left
    new_start = (utcnow() + timedelta(days=10)).replace(microsecond=0)
    service.update_workshop(facilitator_of(workshop), reload(workshop), starts_at=new_start,
                            ends_at=new_start + timedelta(hours=3))
    changed = mails(template="workshop_changed")
    assert sorted(m.recipient for m in changed) == sorted([alice.email, bob.email])
    for message in changed:
        [event] = ics_of(message).walk("VEVENT")
        assert event.decoded("dtstart") == new_start.replace(tzinfo=UTC)
        assert event.decoded("dtend") == (new_start + timedelta(hours=3)).replace(tzinfo=UTC)


def test_update_without_a_change_of_date_or_place_mails_nobody(app):
    workshop = make_workshop()
    [alice] = users(1)
    signup.sign_up(workshop, alice)
    service.update_workshop(facilitator_of(workshop), reload(workshop), title="Titre plus clair",
                            description_md="Plus de détails")
    assert reload(workshop).title == "Titre plus clair"
    assert mails(template="workshop_changed") == []


@pytest.mark.both_databases("app.workshops.service")
def test_cancel_workshop_mails_every_active_registrant_in_their_language(app):
    workshop = make_workshop(capacity=2)
    confirmed = make_user(locale="fr")
    offered = make_user(locale="en")
    waiting = make_user(locale="fr")
    left = make_user(locale="fr")
    db.session.commit()
    r_left = signup.sign_up(workshop, left)
    signup.sign_up(workshop, confirmed)
    signup.sign_up(workshop, offered)
    signup.sign_up(workshop, waiting)
    signup.cancel_registration(r_left, left)
    service.cancel_workshop(facilitator_of(workshop), reload(workshop), "  Grève des transports  ")
    assert reload(workshop).status is WorkshopStatus.cancelled
    sent = {m.recipient: m for m in mails(template="workshop_cancelled")}
    assert set(sent) == {confirmed.email, offered.email, waiting.email}
    assert "Grève des transports" in sent[waiting.email].body_text
    assert sent[confirmed.email].locale == "fr" and sent[offered.email].locale == "en"
    assert sent[confirmed.email].subject == "Atelier annulé : Atelier de test"
    assert "laboratoire de co-création" in sent[confirmed.email].body_text
    assert "co-creation lab for public services" in sent[offered.email].body_text
    # Cancelling twice mails nobody twice.
    service.cancel_workshop(facilitator_of(workshop), reload(workshop), "Encore")
    assert len(mails(template="workshop_cancelled")) == 3


def test_workshop_mail_subjects_are_english_for_english_speakers(app):
    workshop = make_workshop()
    [reader] = users(1, locale="en")
    signup.sign_up(workshop, reader)
    service.cancel_workshop(facilitator_of(workshop), reload(workshop), "Salle inondée")
    [mail] = mails(template="workshop_cancelled")
    assert "Atelier annulé" not in mail.subject and "Atelier de test" in mail.subject


def test_cancel_workshop_refused_to_people_outside_the_organisation(app):
    workshop = make_workshop()
    outsider = make_member(make_organisation(), Role.facilitator)
    db.session.commit()
    with pytest.raises(NotAllowed):
        service.cancel_workshop(outsider, workshop, "Non")
    assert reload(workshop).status is WorkshopStatus.published


def test_duplicate_copies_pools_and_questions_without_registrations(app):
    workshop = make_workshop(capacity=3, quotas=[("usagers", 2), ("agents", 1)], questions=[
        {"kind": QuestionKind.short_text, "label": "Besoins ?", "is_accessibility": True},
        {"kind": QuestionKind.single_choice, "label": "Créneau", "choices_text": "Matin\nSoir", "required": True}])
    [alice] = users(1)
    signup.sign_up(workshop, alice, category_id=workshop.categories[0].id,
                    answers={workshop.questions[1].id: "Matin"})
    copy = service.duplicate_workshop(facilitator_of(workshop), reload(workshop))
    original = reload(workshop)
    assert copy.id != original.id and copy.status is WorkshopStatus.draft
    assert copy.invite_token != original.invite_token
    assert copy.starts_at == original.starts_at + timedelta(days=7)
    assert [(c.name, c.seats, c.seats_taken) for c in copy.categories] == [("usagers", 2, 0), ("agents", 1, 0)]
    assert [(q.kind, q.label, q.choices_text, q.required, q.is_accessibility) for q in copy.questions] == [
        (q.kind, q.label, q.choices_text, q.required, q.is_accessibility) for q in original.questions]
    assert db.session.scalar(select(func.count(Registration.id)).where(Registration.workshop_id == copy.id)) == 0
    assert category(original, "usagers").seats_taken == 1


# --- facilitators: roster and the day ------------------------------------------------------------

def test_promote_by_hand_confirms_a_waitlisted_person_into_a_free_seat(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    staff = facilitator_of(workshop)
    move(workshop, -timedelta(minutes=5))  # on the day: a no-show's seat goes to someone at the door
    signup.cancel_registration(reload(r_alice), staff)
    promoted = signup.promote_by_hand(staff, reload(r_bob))
    assert promoted.status is CONFIRMED and promoted.waitlist_number is None
    assert category(workshop).seats_taken == 1
    assert [m.template for m in mails(to=bob.email)][-1] == "registration_confirmed"


def test_promote_by_hand_refused_when_no_seat_is_free(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    with pytest.raises(NoSeatFree):
        signup.promote_by_hand(facilitator_of(workshop), r_bob)
    assert reload(r_bob).status is WAITLISTED
    assert category(workshop).seats_taken == 1


def test_promote_by_hand_refused_for_someone_not_waiting(app):
    workshop = make_workshop(capacity=2)
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    with pytest.raises(InvalidInput) as refused:
        signup.promote_by_hand(facilitator_of(workshop), registration)
    assert refused.value.code == "not_waitlisted"


def test_promote_by_hand_refused_to_non_facilitators(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    with pytest.raises(NotAllowed):
        signup.promote_by_hand(bob, r_bob)
    assert reload(r_bob).status is WAITLISTED


def test_register_on_behalf_creates_a_guest_registration_without_mail(app):
    workshop = make_workshop(capacity=1)
    staff = facilitator_of(workshop)
    registration = signup.register_on_behalf(staff, workshop, name="  Mme Dupont ", phone=" 06 12 34 56 78 ")
    assert registration.user_id is None
    assert (registration.guest_name, registration.guest_phone) == ("Mme Dupont", "06 12 34 56 78")
    assert registration.registered_by_id == staff.id
    assert registration.status is CONFIRMED and registration.person_name == "Mme Dupont"
    second = signup.register_on_behalf(staff, reload(workshop), name="M. Martin", phone="0299999999")
    assert second.status is WAITLISTED
    assert mails() == []


def test_register_on_behalf_refused_to_non_facilitators(app):
    workshop = make_workshop()
    [citizen] = users(1)
    with pytest.raises(NotAllowed):
        signup.register_on_behalf(citizen, workshop, name="Quelqu'un", phone="0600000000")
    assert count(Registration) == 0


def test_check_in_marks_a_confirmed_person_present_and_can_be_undone(app):
    workshop = make_workshop(capacity=2)
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    staff = facilitator_of(workshop)
    move(workshop, timedelta(hours=1))  # check-in is open
    registration = reload(registration)
    assert service.check_in(staff, registration).checked_in_at is not None
    assert queries.find_for_check_in(reload(workshop), registration.code.lower()) == [reload(registration)]
    assert service.check_in(staff, reload(registration), present=False).checked_in_at is None


def test_check_in_refused_for_people_not_confirmed(app):
    workshop = make_workshop(capacity=1)
    alice, bob = users(2)
    signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    with pytest.raises(InvalidInput) as refused:
        service.check_in(facilitator_of(workshop), r_bob)
    assert refused.value.code == "not_confirmed"
    assert reload(r_bob).checked_in_at is None


def test_check_in_refused_to_non_facilitators(app):
    workshop = make_workshop()
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    with pytest.raises(NotAllowed):
        service.check_in(alice, registration)
    assert reload(registration).checked_in_at is None


def _attended(workshop, n_present, n_absent):
    """Sign people up, check some in, and end the workshop; returns (people, registrations)."""
    people = users(n_present + n_absent)
    regs = [signup.sign_up(reload(workshop), p) for p in people]
    staff = facilitator_of(workshop)
    move(workshop, timedelta(hours=1))  # check-in opens before the start
    for registration in regs[:n_present]:
        service.check_in(staff, reload(registration))
    move(workshop, -timedelta(hours=3))
    return people, regs


def test_record_attendance_freezes_the_figures_once(app):
    workshop = make_workshop(capacity=5)
    _people, regs = _attended(workshop, 2, 1)
    assert jobs.record_attendance() == 1
    assert jobs.record_attendance() == 0
    frozen = reload(workshop)
    assert (frozen.attended_count, frozen.no_show_count) == (2, 1)
    # A late correction of the live check-ins does not rewrite what was recorded.
    service.check_in(facilitator_of(workshop), reload(regs[2]))
    assert queries.attendance(reload(workshop)) == {"confirmed": 3, "present": 2, "no_shows": 1, "rate": 67}


def test_record_attendance_leaves_workshops_not_over(app):
    workshop = make_workshop(capacity=2)
    [alice] = users(1)
    signup.sign_up(workshop, alice)
    assert jobs.record_attendance() == 0
    assert reload(workshop).attended_count is None


def test_evaluation_by_someone_who_attended_is_stored_unlinked(app):
    workshop = make_workshop(capacity=5)
    people, regs = _attended(workshop, 1, 0)
    service.submit_evaluation(reload(regs[0]), people[0], overall=4, felt_heard="partly", would_return="yes",
                              comment="  Très utile  ")
    [evaluation] = db.session.scalars(select(WorkshopEvaluation)).all()
    assert (evaluation.overall, evaluation.felt_heard, evaluation.would_return, evaluation.comment) == (
        4, "partly", "yes", "Très utile")
    assert reload(regs[0]).has_evaluated
    # Nothing in the evaluation points back to a person.
    table = WorkshopEvaluation.__table__
    assert set(table.columns.keys()) == {"id", "workshop_id", "overall", "felt_heard", "would_return", "comment"}
    assert {fk.column.table.name for fk in table.foreign_keys} == {"workshops"}


def test_evaluation_refused_a_second_time(app):
    workshop = make_workshop(capacity=5)
    people, regs = _attended(workshop, 1, 0)
    service.submit_evaluation(reload(regs[0]), people[0], overall=5, felt_heard="yes", would_return="yes")
    with pytest.raises(AlreadyEvaluated):
        service.submit_evaluation(reload(regs[0]), people[0], overall=1, felt_heard="no", would_return="no")
    assert count(WorkshopEvaluation) == 1


def test_evaluation_refused_before_the_end(app):
    workshop = make_workshop(capacity=5)
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice)
    move(workshop, -timedelta(hours=1))  # started, not over
    service.check_in(facilitator_of(workshop), reload(registration))
    with pytest.raises(EvaluationNotOpen):
        service.submit_evaluation(reload(registration), alice, overall=5, felt_heard="yes", would_return="yes")
    assert count(WorkshopEvaluation) == 0 and not reload(registration).has_evaluated


def test_evaluation_refused_to_people_not_checked_in(app):
    workshop = make_workshop(capacity=5)
    people, regs = _attended(workshop, 0, 1)
    with pytest.raises(EvaluationNotOpen):
        service.submit_evaluation(reload(regs[0]), people[0], overall=5, felt_heard="yes", would_return="yes")
    assert count(WorkshopEvaluation) == 0


def test_evaluation_refused_for_someone_elses_registration_or_bad_values(app):
    workshop = make_workshop(capacity=5)
    people, regs = _attended(workshop, 2, 0)
    with pytest.raises(NotAllowed):
        service.submit_evaluation(reload(regs[0]), people[1], overall=5, felt_heard="yes", would_return="yes")
    for bad in ({"overall": 6}, {"felt_heard": "maybe"}, {"would_return": "perhaps"}):
        with pytest.raises(InvalidInput):
            service.submit_evaluation(reload(regs[0]), people[0],
                                      **{"overall": 3, "felt_heard": "yes", "would_return": "no", **bad})
    assert count(WorkshopEvaluation) == 0 and not reload(regs[0]).has_evaluated


@pytest.mark.both_databases("app.workshops.queries")
def test_evaluation_summary_is_hidden_under_five_answers_and_shown_at_five(app):
    workshop = make_workshop(capacity=6)
    people, regs = _attended(workshop, 5, 0)
    answers = [(5, "yes", "yes"), (4, "yes", "maybe"), (4, "partly", "yes"), (3, "no", "no"), (5, "yes", "yes")]
    for person, registration, (overall, heard, back) in zip(people[:4], regs, answers, strict=False):
        service.submit_evaluation(reload(registration), person, overall=overall, felt_heard=heard, would_return=back)
    assert queries.evaluation_summary(reload(workshop)) is None
    overall, heard, back = answers[4]
    service.submit_evaluation(reload(regs[4]), people[4], overall=overall, felt_heard=heard, would_return=back)
    assert queries.evaluation_summary(reload(workshop)) == {
        "count": 5, "overall": 4.2, "felt_heard_pct": 60, "would_return_pct": 60}


# --- periodic jobs -------------------------------------------------------------------------------

def test_send_reminders_mails_each_confirmed_person_once_in_the_last_24_hours(app):
    workshop = make_workshop(capacity=2, starts_in=timedelta(hours=20))
    later = make_workshop(capacity=2, starts_in=timedelta(hours=30))
    alice, bob, carol, dan = users(4)
    signup.sign_up(workshop, alice)
    signup.sign_up(workshop, bob)
    signup.sign_up(workshop, carol)  # waitlisted: no reminder
    signup.sign_up(later, dan)  # too early for a reminder
    signup.register_on_behalf(facilitator_of(later), reload(later), name="Sans courriel", phone="0600000000")
    assert jobs.send_reminders() == 2
    assert jobs.send_reminders() == 0
    reminders = mails(template="workshop_reminder")
    assert sorted(m.recipient for m in reminders) == sorted([alice.email, bob.email])
    codes = {r.user.email: r.code for r in db.session.scalars(select(Registration)) if r.user}
    assert all(codes[m.recipient] in m.body_text for m in reminders)


def test_send_reminders_skips_cancelled_workshops(app):
    workshop = make_workshop(capacity=2, starts_in=timedelta(hours=20))
    [alice] = users(1)
    signup.sign_up(workshop, alice)
    service.cancel_workshop(facilitator_of(workshop), reload(workshop), "Annulé")
    assert jobs.send_reminders() == 0
    assert mails(template="workshop_reminder") == []


def test_purge_answers_erases_answers_and_phones_only_after_the_retention_period(app):
    workshop = make_workshop(capacity=3, questions=[{"kind": QuestionKind.short_text, "label": "Besoins ?"}])
    qid = workshop.questions[0].id
    [alice] = users(1)
    r_alice = signup.sign_up(workshop, alice, answers={qid: "Interprète LSF"})
    guest = signup.register_on_behalf(facilitator_of(workshop), reload(workshop), name="Mme Dupont",
                                       phone="0612345678", answers={qid: "Rampe d'accès"})
    move(workshop, -timedelta(days=29, hours=23))  # ended 29 days and 21 hours ago
    assert jobs.purge_answers() == 0
    assert count(RegistrationAnswer) == 2 and reload(guest).guest_phone == "0612345678"
    move(workshop, -timedelta(days=31))
    assert jobs.purge_answers() == 2
    assert count(RegistrationAnswer) == 0
    guest = reload(guest)
    assert guest.guest_phone == "" and guest.guest_name == "Mme Dupont"
    assert reload(r_alice).status is CONFIRMED and count(Registration) == 2
    assert reload(workshop).answers_purged_at is not None
    assert jobs.purge_answers() == 0


def test_purge_answers_follows_the_configured_retention(app):
    app.config["WORKSHOP_ANSWER_RETENTION_DAYS"] = 5
    workshop = make_workshop(capacity=3, questions=[{"kind": QuestionKind.short_text, "label": "Besoins ?"}])
    [alice] = users(1)
    signup.sign_up(workshop, alice, answers={workshop.questions[0].id: "Grands caractères"})
    move(workshop, -timedelta(days=4))
    assert jobs.purge_answers() == 0
    move(workshop, -timedelta(days=6))
    assert jobs.purge_answers() == 1


# --- other areas ---------------------------------------------------------------------------------

def test_deleting_an_account_frees_its_upcoming_seat_and_offers_it_on(app):
    workshop = make_workshop(capacity=1)
    past = make_workshop(capacity=1)
    alice, bob = users(2)
    r_alice = signup.sign_up(workshop, alice)
    r_bob = signup.sign_up(workshop, bob)
    r_past = signup.sign_up(past, alice)
    move(past, -timedelta(days=3))
    accounts.delete_account(reload(alice), PASSWORD)
    assert reload(r_alice).status is CANCELLED
    assert reload(r_bob).status is OFFERED
    assert [m.recipient for m in mails(template="seat_offered")] == [bob.email]
    assert reload(r_past).status is CONFIRMED  # history of past workshops is kept
    assert category(workshop).seats_taken == 1


def test_personal_data_export_has_a_workshops_section(app):
    workshop = make_workshop(capacity=2, questions=[{"kind": QuestionKind.short_text, "label": "Besoins ?"}])
    [alice] = users(1)
    registration = signup.sign_up(workshop, alice, answers={workshop.questions[0].id: "Boucle magnétique"})
    data = accounts.export_personal_data(reload(alice))
    assert data["workshops"]["registrations"] == [{
        "workshop": "Atelier de test", "starts_at": reload(workshop).starts_at.isoformat() + "Z",
        "status": "confirmed", "category": None, "category_confirmed_at": None, "code": registration.code,
        "checked_in": False, "registered_at": reload(registration).created_at.isoformat() + "Z", "cancelled_at": None,
        "evaluated": False,
        "answers": [{"question": "Besoins ?", "answer": "Boucle magnétique"}]}]
    json.dumps(data)  # the download is JSON


def test_my_registrations_are_grouped(app):
    soon = make_workshop(capacity=1, title="Bientôt")
    full = make_workshop(capacity=1, title="Complet")
    offered = make_workshop(capacity=1, title="Proposé")
    done = make_workshop(capacity=1, title="Passé")
    me, other, third = users(3)
    signup.sign_up(soon, me)
    signup.sign_up(full, other)
    signup.sign_up(full, me)
    r_other = signup.sign_up(offered, other)
    signup.sign_up(offered, me)
    signup.cancel_registration(r_other, other)
    signup.sign_up(done, me)
    move(done, -timedelta(days=2))
    groups = queries.list_my_registrations(me)
    titles = {name: [r.workshop.title for r in regs] for name, regs in groups.items()}
    assert titles == {"offered": ["Proposé"], "upcoming": ["Bientôt"], "in_review": [], "waitlisted": ["Complet"],
                      "past": ["Passé"], "cancelled": []}
    assert queries.list_my_registrations(third) == {"offered": [], "upcoming": [], "in_review": [], "waitlisted": [],
                                                    "past": [], "cancelled": []}


def test_quotas_can_be_renamed_and_resized_and_new_seats_go_to_that_waiting_list(app):
    workshop = make_workshop(capacity=3, quotas=[("Usagers", 2), ("Agents", 1)])
    users, agents = workshop.categories
    people = [make_user() for _ in range(4)]
    db.session.commit()
    for person in people[:3]:
        signup.sign_up(workshop, person, category_id=users.id)  # 2 confirmed, 1 waiting
    admin = make_user(admin=True)
    db.session.commit()
    service.update_workshop(admin, workshop, capacity=4, quotas=[("Usager·es", 3), ("Agents", 1)])
    db.session.expire_all()
    users = db.session.get(type(users), users.id)
    assert users.name == "Usager·es" and users.seats == 3 and users.seats_taken == 3
    waiting = db.session.scalar(select(Registration).where(Registration.user_id == people[2].id))
    assert waiting.status is RegistrationStatus.offered
    assert db.session.get(type(workshop), workshop.id).capacity == 4


def test_quotas_cannot_shrink_below_seats_given_nor_stop_adding_up(app):
    workshop = make_workshop(capacity=3, quotas=[("Usagers", 2), ("Agents", 1)])
    users = workshop.categories[0]
    people = [make_user() for _ in range(2)]
    admin = make_user(admin=True)
    db.session.commit()
    for person in people:
        signup.sign_up(workshop, person, category_id=users.id)
    with pytest.raises(CapacityBelowTaken):
        service.update_workshop(admin, workshop, capacity=2, quotas=[("Usagers", 1), ("Agents", 1)])
    with pytest.raises(InvalidQuotas):
        service.update_workshop(admin, workshop, capacity=3, quotas=[("Usagers", 2), ("Agents", 2)])
    with pytest.raises(InvalidQuotas):
        service.update_workshop(admin, workshop, capacity=3, quotas=[("Usagers", 3)])
    db.session.expire_all()
    assert [(c.name, c.seats) for c in db.session.get(type(workshop), workshop.id).categories] == \
        [("Usagers", 2), ("Agents", 1)]
