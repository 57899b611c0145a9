"""The barometer's monthly counts under concurrent writers (app/feedback/tally.py through the form's service and the
spam marking): many people starting responses on one service at once, the same steps corrected at once, a spam mark
racing its undoing. Each time the counts equal the recount from the answers (``tally.verify() == []``)."""

import secrets

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.catalog.models import Role, Service
from app.extensions import db
from app.feedback import service, tally, triage
from app.feedback.models import FeedbackMonthlyCount, FeedbackResponse, Source
from tests.concurrency import run_together, threads_app_fixture
from tests.factories import make_member, make_service

pytestmark = pytest.mark.both_databases("app.database", "app.feedback.service", "app.feedback.triage")

N = 12
threads_app = threads_app_fixture(N, name="threads_app")
RESPONDENTS = tally.RESPONDENTS


def counts(service_id: int) -> dict[tuple[str, int], int]:
    """The service's counts (all months): (field, item) -> count, zero cells left out."""
    db.session.rollback()
    rows = db.session.execute(select(FeedbackMonthlyCount.field_code, FeedbackMonthlyCount.answer_item_id,
                                     FeedbackMonthlyCount.count)
                              .where(FeedbackMonthlyCount.service_id == service_id))
    return {(field, item): n for field, item, n in rows if n}


def new_service() -> int:
    svc = make_service()
    db.session.commit()
    return svc.id


def test_many_first_steps_at_once_on_one_service(threads_app):
    service_id = new_service()
    double_click = secrets.token_urlsafe(24)  # four threads send the same first step: one response

    def job_for(i):
        def job(barrier):
            target = db.session.get(Service, service_id)
            db.session.rollback()
            key = double_click if i < 4 else secrets.token_urlsafe(24)
            barrier.wait()
            return service.start_response(target, key, Source.link, {"satisfaction": 3 if i < 4 else 1 + i % 3})[1]
        return job

    tokens, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    assert errors == []
    assert len(set(tokens)) == N - 3
    assert tally.verify() == []
    expected = {("satisfaction", RESPONDENTS): N - 3}
    for i in range(4, N):
        expected[("satisfaction", 1 + i % 3)] = expected.get(("satisfaction", 1 + i % 3), 0) + 1
    expected[("satisfaction", 3)] = expected.get(("satisfaction", 3), 0) + 1
    assert counts(service_id) == expected


def test_the_same_steps_corrected_at_once(threads_app):
    service_id = new_service()
    target = db.session.get(Service, service_id)
    tokens = [service.start_response(target, secrets.token_urlsafe(24), Source.link, {"satisfaction": 2})[1]
              for _ in range(3)]
    channels = [[9], [10, 11], [9, 12, 16], [17], [13], [9, 10, 11, 12]]

    def job_for(i):
        token = tokens[i % 3]

        def job(barrier):
            barrier.wait()
            if i % 2:
                service.store_step(token, 2, {"comprehension": 4 + i % 5})
            else:
                # Different responses moving overlapping cells at once: each writer takes them in one order.
                service.store_step(token, 3, {"contact_tried": channels[i % len(channels)]})
            return i
        return job

    _results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    assert errors == []
    assert tally.verify() == []
    stored = counts(service_id)
    # Each response holds one answer per step, whichever write came last: three respondents of each question.
    assert stored[("satisfaction", RESPONDENTS)] == stored[("comprehension", RESPONDENTS)] == 3
    assert stored[("contact_tried", RESPONDENTS)] == 3
    assert sum(n for (field, item), n in stored.items() if field == "comprehension" and item) == 3


def test_a_spam_mark_racing_its_undoing_leaves_counts_that_follow_the_final_flag(threads_app):
    service_id = new_service()
    target = db.session.get(Service, service_id)
    editor_id = make_member(target.organisation, Role.editor).id
    db.session.commit()
    response, token = service.start_response(target, secrets.token_urlsafe(24), Source.link, {"satisfaction": 3})
    service.store_step(token, 3, {"contact_tried": [10]})
    response_id = response.id
    full = counts(service_id)

    def job_for(i):
        def job(barrier):
            answer, editor = db.session.get(FeedbackResponse, response_id), db.session.get(User, editor_id)
            db.session.rollback()
            barrier.wait()
            (triage.mark_spam if i % 2 else triage.unmark_spam)(answer, editor)
            return i
        return job

    for round_ in range(3):  # from unmarked, then from whatever the previous round left
        _results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
        assert errors == [], round_
        assert tally.verify() == [], round_
        db.session.rollback()
        spam = db.session.scalar(select(FeedbackResponse.is_spam).where(FeedbackResponse.id == response_id))
        assert counts(service_id) == ({} if spam else full), round_


def test_many_marks_at_once_subtract_once(threads_app):
    service_id = new_service()
    target = db.session.get(Service, service_id)
    editor_id = make_member(target.organisation, Role.editor).id
    db.session.commit()
    response, _token = service.start_response(target, secrets.token_urlsafe(24), Source.link, {"satisfaction": 1})
    service.start_response(target, secrets.token_urlsafe(24), Source.link, {"satisfaction": 1})
    response_id = response.id

    def job(barrier):
        answer, editor = db.session.get(FeedbackResponse, response_id), db.session.get(User, editor_id)
        db.session.rollback()
        barrier.wait()
        triage.mark_spam(answer, editor)

    _results, errors = run_together(threads_app, [job] * N)
    assert errors == []
    assert tally.verify() == []
    assert counts(service_id) == {("satisfaction", 1): 1, ("satisfaction", RESPONDENTS): 1}
