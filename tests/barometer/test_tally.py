"""The barometer's monthly counts (app/feedback/tally.py) kept by every path that stores answers, each checked
against the recount from the answers (``tally.verify() == []``); and the barometer's figures read from them
(app/barometer/service.py): the minimum, the pooled scopes, the 12-month window, a query count that does not grow
with the answers."""

import secrets
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.barometer.queries import NATIONAL_SCOPE, Scope, add_months
from app.barometer.service import barometer, window
from app.barometer.stats import estimate, indicator
from app.catalog.models import Role
from app.extensions import db
from app.feedback import service, tally, triage
from app.feedback.errors import InvalidAnswers
from app.feedback.models import FeedbackAnswer, FeedbackMonthlyCount, FeedbackResponse, Source
from tests.factories import make_life_event, make_member, make_organisation, make_service
from tests.queries import recorded_statements

RESPONDENTS = tally.RESPONDENTS
NOW = datetime(2026, 3, 14, 10, 0)
MARCH = date(2026, 3, 1)


def stored(service_id: int) -> dict[tuple[date, str, int], int]:
    """The service's monthly counts, as stored: (month, field, item) -> count, zero cells left out."""
    db.session.expire_all()
    rows = db.session.execute(select(FeedbackMonthlyCount.month, FeedbackMonthlyCount.field_code,
                                     FeedbackMonthlyCount.answer_item_id, FeedbackMonthlyCount.count)
                              .where(FeedbackMonthlyCount.service_id == service_id))
    return {(month, field, item): n for month, field, item, n in rows if n}


def checked(service_id: int, month: date = MARCH) -> dict[tuple[str, int], int]:
    """The counts equal the recount from the answers; the service's counts of ``month``: (field, item) -> count."""
    assert tally.verify() == []
    counts = stored(service_id)
    assert all(m == month for m, _, _ in counts), counts
    return {(field, item): n for (_m, field, item), n in counts.items()}


def start(svc, satisfaction=3, now=NOW, key=None):
    return service.start_response(svc, key or secrets.token_urlsafe(24), Source.link, {"satisfaction": satisfaction},
                                  now=now)


@pytest.fixture
def svc(app):
    made = make_service()
    db.session.commit()
    return made


# --- every path that stores answers ---------------------------------------------------------------------------------

def test_first_step_counts_its_answer_and_its_respondent(svc):
    start(svc, satisfaction=2)
    assert checked(svc.id) == {("satisfaction", 2): 1, ("satisfaction", RESPONDENTS): 1}
    start(svc, satisfaction=2)
    start(svc, satisfaction=3)
    assert checked(svc.id) == {("satisfaction", 2): 2, ("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 3}


def test_first_step_sent_again_counts_once_and_corrects(svc):
    key = secrets.token_urlsafe(24)
    start(svc, satisfaction=3, key=key)
    start(svc, satisfaction=3, key=key)  # a double click
    assert checked(svc.id) == {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1}
    start(svc, satisfaction=1, key=key, now=NOW + timedelta(minutes=5))  # the first page sent again, corrected
    assert checked(svc.id) == {("satisfaction", 1): 1, ("satisfaction", RESPONDENTS): 1}


def test_later_steps_add_their_answers_and_free_text_is_never_counted(svc):
    _response, token = start(svc)
    service.store_step(token, 2, {"comprehension": 7}, now=NOW)
    assert checked(svc.id) == {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1,
                               ("comprehension", 7): 1, ("comprehension", RESPONDENTS): 1}
    service.store_step(token, 3, {"contact_tried": [9, 11, 16]}, page="main", now=NOW)
    service.store_step(token, 3, {"contact_tried_verbatim": "Un forum", "contact_reached": 17,
                                  "contact_satisfaction": 22}, page="follow_up", now=NOW)
    service.store_step(token, 4, {"verbatim": "Trop long.", "contact_email": "a@example.org"}, consent=True, now=NOW)
    assert checked(svc.id) == {
        ("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1,
        ("comprehension", 7): 1, ("comprehension", RESPONDENTS): 1,
        # three channels ticked: three option counts, one respondent
        ("contact_tried", 9): 1, ("contact_tried", 11): 1, ("contact_tried", 16): 1, ("contact_tried", RESPONDENTS): 1,
        ("contact_reached", 17): 1, ("contact_reached", RESPONDENTS): 1,
        ("contact_satisfaction", 22): 1, ("contact_satisfaction", RESPONDENTS): 1,
    }


def test_a_corrected_step_moves_its_counts_from_the_old_option_to_the_new(svc):
    _response, token = start(svc)
    _other, other_token = start(svc)
    service.store_step(token, 2, {"comprehension": 5}, now=NOW)
    service.store_step(other_token, 2, {"comprehension": 5}, now=NOW)
    service.store_step(token, 2, {"comprehension": 8}, now=NOW + timedelta(minutes=10))
    counts = checked(svc.id)
    assert (counts[("comprehension", 5)], counts[("comprehension", 8)], counts[("comprehension", RESPONDENTS)]) == \
        (1, 1, 2)
    service.store_step(token, 3, {"contact_tried": [9, 10]}, now=NOW)
    service.store_step(token, 3, {"contact_tried": [10, 12]}, now=NOW)  # one channel unticked, another ticked
    counts = checked(svc.id)
    assert {k: v for k, v in counts.items() if k[0] == "contact_tried"} == {
        ("contact_tried", 10): 1, ("contact_tried", 12): 1, ("contact_tried", RESPONDENTS): 1}


def test_an_answer_emptied_leaves_the_counts(svc):
    _response, token = start(svc)
    service.store_step(token, 2, {"comprehension": 6}, now=NOW)
    service.store_step(token, 2, {}, now=NOW)  # the step sent again without its answer
    assert checked(svc.id) == {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1}


def test_a_refused_step_changes_no_count(svc):
    _response, token = start(svc)
    service.store_step(token, 2, {"comprehension": 6}, now=NOW)
    before = checked(svc.id)
    with pytest.raises(InvalidAnswers):
        service.store_step(token, 3, {"contact_tried": [17], "contact_satisfaction": 22}, now=NOW)
    with pytest.raises(InvalidAnswers):
        service.store_step(token, 2, {"comprehension": [5, 6]}, now=NOW)
    assert checked(svc.id) == before


def test_the_follow_up_page_and_a_dropped_conditional_answer(svc):
    _response, token = start(svc)
    service.store_step(token, 3, {"contact_tried": [10, 13]}, page="main", now=NOW)
    service.store_step(token, 3, {"contact_reached": 18, "contact_satisfaction": 20}, page="follow_up", now=NOW)
    counts = checked(svc.id)
    assert counts[("contact_reached", 18)] == counts[("contact_satisfaction", 20)] == 1
    # The main page again, the administration no longer ticked: its follow-up answers are dropped, and leave the
    # counts with them.
    service.store_step(token, 3, {"contact_tried": [13]}, page="main", now=NOW)
    assert checked(svc.id) == {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1,
                               ("contact_tried", 13): 1, ("contact_tried", RESPONDENTS): 1}
    # Ticked again: the follow-up page answers anew.
    service.store_step(token, 3, {"contact_tried": [11]}, page="main", now=NOW)
    service.store_step(token, 3, {"contact_reached": 17}, page="follow_up", now=NOW)
    assert checked(svc.id)[("contact_reached", 17)] == 1


@pytest.fixture
def editor(svc):
    user = make_member(svc.organisation, Role.editor)
    db.session.commit()
    return user


@pytest.mark.both_databases("app.database", "app.feedback.triage")
def test_spam_marked_leaves_the_counts_and_unmarked_comes_back(svc, editor):
    response, token = start(svc)
    service.store_step(token, 2, {"comprehension": 8}, now=NOW)
    start(svc, satisfaction=1)
    full = checked(svc.id)
    triage.mark_spam(response, editor)
    assert checked(svc.id) == {("satisfaction", 1): 1, ("satisfaction", RESPONDENTS): 1}
    triage.mark_spam(response, editor)  # marked twice: subtracted once
    assert checked(svc.id) == {("satisfaction", 1): 1, ("satisfaction", RESPONDENTS): 1}
    triage.unmark_spam(response, editor)
    assert checked(svc.id) == full
    triage.unmark_spam(response, editor)  # taken back twice: added once
    assert checked(svc.id) == full


def test_a_step_stored_while_marked_as_spam_counts_once_taken_back(svc, editor):
    response, token = start(svc)
    triage.mark_spam(response, editor)
    service.store_step(token, 2, {"comprehension": 4}, now=NOW)  # the link still works: the answers are kept
    assert checked(svc.id) == {}
    triage.unmark_spam(response, editor)
    assert checked(svc.id) == {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1,
                               ("comprehension", 4): 1, ("comprehension", RESPONDENTS): 1}


@pytest.mark.both_databases("app.database", "app.feedback.service", "app.feedback.triage")
def test_a_response_corrected_across_the_end_of_its_month_counts_in_the_month_it_started(svc, editor):
    started_at = datetime(2026, 1, 31, 23, 40)
    response, token = start(svc, satisfaction=2, now=started_at)
    service.store_step(token, 1, {"satisfaction": 3}, now=datetime(2026, 2, 1, 0, 10))
    service.store_step(token, 2, {"comprehension": 5}, now=datetime(2026, 2, 1, 0, 20))
    january = {("satisfaction", 3): 1, ("satisfaction", RESPONDENTS): 1, ("comprehension", 5): 1,
               ("comprehension", RESPONDENTS): 1}
    assert checked(svc.id, month=date(2026, 1, 1)) == january
    triage.mark_spam(response, editor)  # marked and taken back in another month: still January's
    triage.unmark_spam(response, editor)
    assert checked(svc.id, month=date(2026, 1, 1)) == january


@pytest.mark.both_databases("app.database")
def test_verify_names_a_count_altered_by_hand_and_rebuild_restores_it(svc):
    start(svc, satisfaction=3)
    start(svc, satisfaction=3)
    db.session.execute(update(FeedbackMonthlyCount).where(FeedbackMonthlyCount.service_id == svc.id,
                                                          FeedbackMonthlyCount.answer_item_id == 3)
                       .values(count=5))
    db.session.commit()
    assert tally.verify() == [tally.Difference(svc.id, MARCH, "satisfaction", 3, 5, 2)]
    # An answer written without the form is a difference too: the recount sees it.
    response = db.session.scalar(select(FeedbackResponse))
    db.session.add(FeedbackAnswer(response_id=response.id, field_code="comprehension", answer_item_id=6,
                                  answer_text="3"))
    db.session.commit()
    assert {(d.field_code, d.answer_item_id, d.stored, d.recounted) for d in tally.verify()} == {
        ("satisfaction", 3, 5, 2), ("comprehension", 6, 0, 1), ("comprehension", RESPONDENTS, 0, 1)}
    tally.rebuild([svc.id])
    db.session.commit()
    assert tally.verify() == []


# --- the barometer's figures ----------------------------------------------------------------------------------------

@pytest.fixture
def three(app):
    """The minimum set low: 3 answers."""
    app.config["BAROMETER_MIN_ANSWERS"] = 3
    return 3


def test_a_figure_is_shown_from_the_minimum(svc, three):
    start(svc, satisfaction=3)
    start(svc, satisfaction=2)
    figure = barometer(Scope("service", svc.id), now=NOW).figures["satisfaction"]
    assert (figure.count, figure.shown, figure.value, figure.interval, figure.level) == (2, False, None, None, None)
    start(svc, satisfaction=3)
    result = barometer(Scope("service", svc.id), now=NOW)
    figure = result.figures["satisfaction"]
    assert (figure.count, figure.shown, result.responses) == (3, True, 3)
    assert figure.value == pytest.approx(25 / 3)  # (10 + 5 + 10) / 3
    assert figure.interval.low < figure.value < figure.interval.high
    assert figure.level is not None
    # The other indicators, without an answer, stay unshown.
    assert [slug for slug, f in result.figures.items() if f.shown] == ["satisfaction"]


def test_pooled_scopes_sum_their_services(app, three):
    org, other_org = make_organisation(), make_organisation()
    event = make_life_event()
    first = make_service(org, life_events=[event])
    second = make_service(org)
    third = make_service(other_org, life_events=[event])
    db.session.commit()
    plan = {first: [3, 3], second: [1, 2, 2], third: [1]}
    for target, answers in plan.items():
        for answer in answers:
            start(target, satisfaction=answer)

    def satisfaction(scope):
        return barometer(scope, now=NOW).figures["satisfaction"]

    def expected(*services):
        levels = {1: 0.0, 2: 5.0, 3: 10.0}
        scores = [levels[a] for s in services for a in plan[s]]
        return len(scores), sum(scores) / len(scores)

    organisation = satisfaction(Scope("organisation", org.id))
    assert (organisation.count, organisation.value) == (5, pytest.approx(expected(first, second)[1]))
    life_event = satisfaction(Scope("life_event", event.id))
    assert (life_event.count, life_event.shown) == (3, True)
    assert life_event.value == pytest.approx(expected(first, third)[1])
    national = satisfaction(NATIONAL_SCOPE)
    assert (national.count, national.value) == (6, pytest.approx(expected(first, second, third)[1]))
    # A pooled figure is the figure of the pooled counts: the same interval as the answers put together.
    pooled = {("satisfaction", 1): 2, ("satisfaction", 2): 2, ("satisfaction", 3): 2}
    assert national.estimate == estimate(indicator("satisfaction"), pooled)
    assert satisfaction(Scope("service", second.id)).count == 3
    assert satisfaction(Scope("organisation", other_org.id)).shown is False


@pytest.mark.both_databases("app.database")
def test_the_window_is_the_current_month_and_the_eleven_before(svc, three):
    assert window(NOW) == (date(2025, 4, 1), MARCH)
    moments = [
        datetime(2025, 3, 31, 23, 59),  # twelve months ago: out
        datetime(2025, 4, 1, 0, 0),  # eleven months ago, its first minute: in
        datetime(2025, 9, 15, 12, 0),
        datetime(2026, 3, 31, 23, 0),  # later this month than now: the month counts whole
    ]
    for moment in moments:
        start(svc, satisfaction=3, now=moment)
    start(svc, satisfaction=1, now=datetime(2025, 3, 1))  # out
    assert tally.verify() == []
    figure = barometer(Scope("service", svc.id), now=NOW).figures["satisfaction"]
    assert (figure.count, figure.value) == (3, 10.0)
    # A month later, April 2025 leaves the window.
    figure = barometer(Scope("service", svc.id), now=datetime(2026, 4, 1, 0, 0)).figures["satisfaction"]
    assert figure.count == 2


def test_the_barometer_query_count_does_not_grow_with_the_answers(app):
    org = make_organisation()
    event = make_life_event()
    services = [make_service(org, life_events=[event]) for _ in range(3)]
    db.session.commit()
    scopes = [Scope("service", services[0].id), Scope("organisation", org.id), Scope("life_event", event.id),
              NATIONAL_SCOPE]

    def statements() -> list[int]:
        out = []
        for scope in scopes:
            db.session.expire_all()
            with recorded_statements() as seen:
                result = barometer(scope, now=NOW)
            assert result.figures["satisfaction"].count > 0
            out.append(len(seen))
        return out

    bulk_answers(services, 10)
    few = statements()
    bulk_answers(services, 990)
    assert db.session.scalar(select(db.func.count()).select_from(FeedbackResponse)) == 1000
    assert statements() == few


def bulk_answers(services, n: int) -> None:
    """``n`` responses over the services and the last 12 months, every question answered in turn, written as rows
    and counted by ``tally.rebuild`` (as a bulk load does)."""
    options = {"satisfaction": [1, 2, 3], "comprehension": [4, 5, 6, 7, 8], "contact_tried": [[9, 10], [17], [11]],
               "contact_reached": [17, 18], "contact_satisfaction": [19, 20, 21, 22, 23]}
    start_count = db.session.scalar(select(db.func.count()).select_from(FeedbackResponse))
    responses = {}
    for i in range(start_count, start_count + n):
        created = datetime.combine(add_months(MARCH, -(i % 12)), datetime.min.time()) + timedelta(hours=i % 500)
        responses[i] = FeedbackResponse(service_id=services[i % len(services)].id, source=Source.link,
                                        submission_key=secrets.token_urlsafe(24), token_hash=secrets.token_hex(32),
                                        steps_done=3, created_at=created, updated_at=created,
                                        editable_until=created + timedelta(hours=1))
    db.session.add_all(responses.values())
    db.session.flush()
    for i, response in responses.items():
        for field, choices in options.items():
            chosen = choices[i % len(choices)]
            for item in chosen if isinstance(chosen, list) else [chosen]:
                db.session.add(FeedbackAnswer(response_id=response.id, field_code=field, answer_item_id=item,
                                              answer_text=str(item)))
    tally.rebuild()
    db.session.commit()
    assert tally.verify() == []
