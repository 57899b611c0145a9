"""The form's service (app/feedback/service.py): a response started at its first step, each step stored as sent and
corrected within the hour, the contact e-mail kept apart, the consent to publish; a refusal test beside each rule."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.feedback import service
from app.feedback.errors import InvalidAnswers, InvalidSubmissionKey, ResponseClosed, ResponseNotFound
from app.feedback.models import (
    Experience,
    ExperienceStatus,
    FeedbackAnswer,
    FeedbackContact,
    FeedbackResponse,
    Source,
)
from tests.concurrency import run_together, threads_app_fixture
from tests.factories import make_service

KEY = "k" * 32


def answers_of(response) -> list[tuple[str, int, str]]:
    db.session.expire_all()
    return [(a.field_code, a.answer_item_id, a.answer_text) for a in db.session.scalars(
        select(FeedbackAnswer).where(FeedbackAnswer.response_id == response.id).order_by(FeedbackAnswer.id))]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def started(satisfaction=3, key=KEY, source=Source.link, now=None):
    svc = make_service()
    db.session.commit()
    response, token = service.start_response(svc, key, source, {"satisfaction": satisfaction}, now=now)
    return svc, response, token


def problems(err) -> set[tuple[str, str]]:
    return {(p.field, p.code) for p in err.value.problems}


# --- starting a response --------------------------------------------------------------------------------------------

def test_first_step_stores_a_response_with_its_answer_and_a_link_for_an_hour(app):
    svc, response, token = started(satisfaction="2", source=Source.qr)
    assert (response.service_id, response.source, response.steps_done) == (svc.id, Source.qr, 1)
    assert response.editable_until == response.created_at + timedelta(hours=1)
    assert answers_of(response) == [("satisfaction", 2, "Moyen")]
    # The token is derived from the key, never stored: only its hash is.
    assert token == service.link_token(KEY) and response.token_hash == service.token_hash(token)
    assert token not in (response.submission_key, response.token_hash)
    assert service.find_response(token).id == response.id


def test_first_step_sent_again_finds_its_response_and_stores_its_answer_once(app):
    svc, response, token = started(satisfaction=3)
    again, token_again = service.start_response(svc, KEY, Source.link, {"satisfaction": 3})
    assert (again.id, token_again) == (response.id, token)
    assert count(FeedbackResponse) == 1
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


def test_first_step_sent_again_with_another_answer_corrects_it(app):
    svc, response, _token = started(satisfaction=3)
    service.start_response(svc, KEY, Source.link, {"satisfaction": "1"})
    assert answers_of(response) == [("satisfaction", 1, "Pas bien")]


def test_first_step_sent_again_after_the_hour_is_refused(app):
    svc, response, _token = started(satisfaction=3, now=utcnow() - timedelta(hours=2))
    with pytest.raises(ResponseClosed):
        service.start_response(svc, KEY, Source.link, {"satisfaction": 1})
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


def test_a_key_used_on_another_service_is_refused(app):
    _svc, response, _token = started()
    other = make_service()
    db.session.commit()
    with pytest.raises(InvalidSubmissionKey):
        service.start_response(other, KEY, Source.link, {"satisfaction": 1})
    assert count(FeedbackResponse) == 1
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


@pytest.mark.parametrize("key", ["", "short", "k" * 65, "clé-non-ascii-éééééééééééééé", None, "a b" * 8])
def test_a_missing_or_malformed_submission_key_is_refused(app, key):
    svc = make_service()
    db.session.commit()
    with pytest.raises(InvalidSubmissionKey):
        service.start_response(svc, key, Source.link, {"satisfaction": 3})
    assert count(FeedbackResponse) == 0


@pytest.mark.parametrize(("answers", "expected"), [
    ({}, {("satisfaction", "answer_required")}),
    ({"satisfaction": ""}, {("satisfaction", "answer_required")}),
    ({"satisfaction": 4}, {("satisfaction", "unknown_option")}),  # a code of another question
    ({"satisfaction": "trois"}, {("satisfaction", "unknown_option")}),
    ({"satisfaction": [1, 3]}, {("satisfaction", "one_answer_only")}),
    ({"satisfaction": 3, "comprehension": 6}, {("comprehension", "unknown_field")}),  # a question of step 2
])
def test_first_step_answers_are_checked_and_nothing_is_stored_when_refused(app, answers, expected):
    svc = make_service()
    db.session.commit()
    with pytest.raises(InvalidAnswers) as err:
        service.start_response(svc, KEY, Source.link, answers)
    assert problems(err) == expected
    assert count(FeedbackResponse) == count(FeedbackAnswer) == 0


def test_the_refusal_says_which_field_in_the_json_body(app):
    svc = make_service()
    db.session.commit()
    with pytest.raises(InvalidAnswers) as err:
        service.start_response(svc, KEY, Source.link, {"satisfaction": 9})
    body = err.value.to_dict()["error"]
    assert body["code"] == "invalid_answers"
    assert body["fields"] == [{"field": "satisfaction", "code": "unknown_option",
                               "message": "Cette réponse ne fait pas partie des choix proposés."}]


# --- later steps ----------------------------------------------------------------------------------------------------

def test_a_step_replaces_its_answers_and_a_resent_step_stores_them_once(app):
    _svc, response, token = started()
    service.store_step(token, 2, {"comprehension": "6"})
    service.store_step(token, 2, {"comprehension": "8"})
    service.store_step(token, 2, {"comprehension": "8"})
    assert answers_of(response) == [("satisfaction", 3, "Très bien"), ("comprehension", 8, "5")]
    assert db.session.get(FeedbackResponse, response.id).steps_done == 2


def test_steps_done_is_the_furthest_step_and_an_unanswered_step_empties_its_answers(app):
    _svc, response, token = started()
    service.store_step(token, 2, {"comprehension": 5})
    service.store_step(token, 3, {"contact_tried": ["13"]})
    service.store_step(token, 2, {"comprehension": None})  # corrected to no answer
    assert db.session.get(FeedbackResponse, response.id).steps_done == 3
    assert answers_of(response) == [("satisfaction", 3, "Très bien"), ("contact_tried", 13, "Une personne proche")]


def test_updated_at_follows_each_step(app):
    start = utcnow() - timedelta(minutes=30)
    _svc, response, token = started(now=start)
    later = start + timedelta(minutes=10)
    service.store_step(token, 2, {"comprehension": 5}, now=later)
    stored = db.session.get(FeedbackResponse, response.id)
    assert (stored.created_at, stored.updated_at) == (start, later)


def test_a_step_after_the_hour_is_refused_and_changes_nothing(app):
    start = utcnow() - timedelta(minutes=59)
    _svc, response, token = started(now=start)
    service.store_step(token, 2, {"comprehension": 5}, now=start + timedelta(minutes=59, seconds=59))
    with pytest.raises(ResponseClosed):
        service.store_step(token, 2, {"comprehension": 8}, now=start + timedelta(hours=1))
    assert answers_of(response)[-1] == ("comprehension", 5, "2")
    with pytest.raises(ResponseClosed):
        service.open_response(token, now=start + timedelta(hours=1))
    assert service.open_response(token, now=start + timedelta(minutes=30)).id == response.id


@pytest.mark.parametrize("token", ["", "x" * 43, "x" * 44, "not a token", None])
def test_an_unknown_token_is_refused(app, token):
    started()
    with pytest.raises(ResponseNotFound):
        service.store_step(token, 2, {"comprehension": 5})
    with pytest.raises(ResponseNotFound):
        service.find_response(token)


def test_an_unknown_step_is_refused(app):
    _svc, response, token = started()
    for step in (0, 5):
        with pytest.raises(ResponseNotFound):
            service.store_step(token, step, {})
    assert db.session.get(FeedbackResponse, response.id).steps_done == 1


@pytest.mark.parametrize(("step", "answers", "expected"), [
    (2, {"comprehension": 9}, ("comprehension", "unknown_option")),
    (2, {"comprehension": -1}, ("comprehension", "unknown_option")),
    (2, {"comprehension": [5, 6]}, ("comprehension", "one_answer_only")),
    (3, {"contact_tried": [9, 99]}, ("contact_tried", "unknown_option")),
    (3, {"contact_tried": "18"}, ("contact_tried", "unknown_option")),  # « Non » of the next question
    (2, {"satisfaction": 1}, ("satisfaction", "unknown_field")),
])
def test_codes_are_checked_against_the_questionnaire_and_nothing_is_written(app, step, answers, expected):
    _svc, response, token = started()
    service.store_step(token, 2, {"comprehension": 7})
    with pytest.raises(InvalidAnswers) as err:
        service.store_step(token, step, answers)
    assert problems(err) == {expected}
    assert answers_of(response) == [("satisfaction", 3, "Très bien"), ("comprehension", 7, "4")]


def test_the_exclusive_option_is_ticked_alone(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": [17]})
    assert answers_of(response)[-1] == ("contact_tried", 17, "Je n'ai pas eu besoin d'aide")


def test_the_exclusive_option_with_another_is_refused(app):
    _svc, response, token = started()
    with pytest.raises(InvalidAnswers) as err:
        service.store_step(token, 3, {"contact_tried": [9, 17]})
    assert problems(err) == {("contact_tried", "exclusive_option")}
    assert "« Je n'ai pas eu besoin d'aide » se coche seul" in str(err.value.problems[0].message)
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


def test_several_channels_are_stored_once_each_in_the_questionnaires_order(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": ["15", 9, "9"]})
    assert [a[1] for a in answers_of(response)[1:]] == [9, 15]


def test_conditional_questions_are_stored_when_their_condition_holds(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": [10, 16], "contact_tried_verbatim": " La mairie ",
                                  "contact_reached": 18, "contact_satisfaction": "21"})
    assert answers_of(response)[1:] == [
        ("contact_tried", 10, "Par téléphone avec l’administration"), ("contact_tried", 16, "Autres, précisez"),
        ("contact_tried_verbatim", 0, "La mairie"), ("contact_reached", 18, "Non"),
        ("contact_satisfaction", 21, "Ni bonne, ni mauvaise")]


@pytest.mark.parametrize(("tried", "answers", "field"), [
    ([13], {"contact_reached": 17}, "contact_reached"),  # someone close: no administration to reach
    ([17], {"contact_satisfaction": 22}, "contact_satisfaction"),
    ([9], {"contact_tried_verbatim": "Autre chose"}, "contact_tried_verbatim"),  # « Autres » not ticked
    ([], {"contact_reached": 17}, "contact_reached"),
])
def test_a_conditional_question_whose_condition_does_not_hold_is_refused(app, tried, answers, field):
    _svc, response, token = started()
    with pytest.raises(InvalidAnswers) as err:
        service.store_step(token, 3, {"contact_tried": tried, **answers})
    assert problems(err) == {(field, "not_asked")}
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


def test_the_main_page_keeps_the_follow_up_answers_that_still_apply_and_drops_the_others(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": [9, 16], "contact_tried_verbatim": "Un forum",
                                  "contact_reached": 17, "contact_satisfaction": 23})
    service.store_step(token, 3, {"contact_tried": [9]}, page="main")  # « Autres » unticked
    assert answers_of(response)[1:] == [("contact_tried", 9, "Au guichet avec l’administration"),
                                        ("contact_reached", 17, "Oui"), ("contact_satisfaction", 23, "Excellente")]
    service.store_step(token, 3, {"contact_tried": [17]}, page="main")  # no help needed after all
    assert answers_of(response)[1:] == [("contact_tried", 17, "Je n'ai pas eu besoin d'aide")]


def test_the_follow_up_page_keeps_the_main_answer_and_is_checked_against_it(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": [11]}, page="main")
    service.store_step(token, 3, {"contact_reached": 17, "contact_satisfaction": 22}, page="follow_up")
    assert [a[:2] for a in answers_of(response)[1:]] == [("contact_tried", 11), ("contact_reached", 17),
                                                         ("contact_satisfaction", 22)]
    with pytest.raises(InvalidAnswers) as err:  # « Autres » was not ticked
        service.store_step(token, 3, {"contact_tried_verbatim": "Un forum"}, page="follow_up")
    assert problems(err) == {("contact_tried_verbatim", "not_asked")}
    with pytest.raises(InvalidAnswers) as err:  # the main question is not on the follow-up page
        service.store_step(token, 3, {"contact_tried": [16]}, page="follow_up")
    assert problems(err) == {("contact_tried", "unknown_field")}
    assert len(answers_of(response)) == 4


def test_a_free_text_is_kept_to_its_length(app):
    _svc, response, token = started()
    service.store_step(token, 3, {"contact_tried": [16], "contact_tried_verbatim": "a" * 250})
    with pytest.raises(InvalidAnswers) as err:
        service.store_step(token, 3, {"contact_tried": [16], "contact_tried_verbatim": "b" * 251})
    assert problems(err) == {("contact_tried_verbatim", "text_too_long")}
    assert answers_of(response)[-1] == ("contact_tried_verbatim", 0, "a" * 250)


# --- the last step: comment, contact e-mail, consent ----------------------------------------------------------------

def contact_of(response):
    db.session.expire_all()
    return db.session.scalar(select(FeedbackContact).where(FeedbackContact.response_id == response.id))


def experience_of(response):
    db.session.expire_all()
    return db.session.scalar(select(Experience).where(Experience.response_id == response.id))


def test_the_contact_email_is_kept_apart_from_the_answers(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"verbatim": "Trop d'attente", "contact_email": " Camille@Exemple.FR "}, locale="en")
    contact = contact_of(response)
    assert (contact.email, contact.locale) == ("Camille@exemple.fr", "en")
    assert answers_of(response)[1:] == [("verbatim", 0, "Trop d'attente")]  # not among the answers
    assert db.session.get(FeedbackResponse, response.id).steps_done == 4


def test_a_contact_email_sent_again_replaces_it_and_an_empty_one_removes_it(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"contact_email": "a@exemple.fr"})
    service.store_step(token, 4, {"contact_email": "b@exemple.fr"})
    assert count(FeedbackContact) == 1 and contact_of(response).email == "b@exemple.fr"
    service.store_step(token, 4, {"contact_email": ""})
    assert contact_of(response) is None


@pytest.mark.parametrize("email", ["pas-une-adresse", "a@", "@exemple.fr", "a@b@c.fr", "x" * 250 + "@exemple.fr"])
def test_an_invalid_contact_email_is_refused_and_nothing_is_written(app, email):
    _svc, response, token = started()
    service.store_step(token, 4, {"contact_email": "a@exemple.fr", "verbatim": "Bien"})
    with pytest.raises(InvalidAnswers) as err:
        service.store_step(token, 4, {"contact_email": email, "verbatim": "Autre texte"})
    assert {p[0] for p in problems(err)} == {"contact_email"}
    assert contact_of(response).email == "a@exemple.fr"
    assert answers_of(response)[-1] == ("verbatim", 0, "Bien")


def test_consent_and_a_comment_make_a_pending_experience(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"verbatim": " Le formulaire est clair. "}, consent=True)
    experience = experience_of(response)
    assert (experience.text, experience.status) == ("Le formulaire est clair.", ExperienceStatus.pending)
    assert db.session.get(FeedbackResponse, response.id).publish_consent is True


def test_without_consent_or_without_a_comment_no_experience_is_made(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"verbatim": "Un commentaire"}, consent=False)
    service.store_step(token, 4, {"verbatim": ""}, consent=True)
    assert experience_of(response) is None
    assert count(Experience) == 0
    assert db.session.get(FeedbackResponse, response.id).publish_consent is False


def test_a_corrected_comment_updates_the_pending_experience_and_a_withdrawn_consent_deletes_it(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"verbatim": "Premier jet"}, consent=True)
    first = experience_of(response).id
    service.store_step(token, 4, {"verbatim": "Texte corrigé"}, consent=True)
    assert (experience_of(response).id, experience_of(response).text) == (first, "Texte corrigé")
    assert count(Experience) == 1
    service.store_step(token, 4, {"verbatim": "Texte corrigé"}, consent=False)
    assert experience_of(response) is None
    assert db.session.get(FeedbackResponse, response.id).publish_consent is False


def test_a_comment_corrected_after_moderation_is_moderated_again(app):
    _svc, response, token = started()
    service.store_step(token, 4, {"verbatim": "Premier jet"}, consent=True)
    experience = experience_of(response)
    experience.status, experience.published_at, experience.moderated_at = (ExperienceStatus.published, utcnow(),
                                                                           utcnow())
    db.session.commit()
    service.store_step(token, 4, {"verbatim": "Premier jet"}, consent=True)  # unchanged: stays published
    assert experience_of(response).status is ExperienceStatus.published
    service.store_step(token, 4, {"verbatim": "Texte changé"}, consent=True)
    experience = experience_of(response)
    assert (experience.status, experience.published_at, experience.text) == (ExperienceStatus.pending, None,
                                                                             "Texte changé")


def test_consent_is_refused_before_the_last_step(app):
    _svc, response, token = started()
    with pytest.raises(ValueError, match="last step"):
        service.store_step(token, 2, {"comprehension": 5}, consent=True)
    assert answers_of(response) == [("satisfaction", 3, "Très bien")]


def test_the_last_step_after_the_hour_changes_neither_contact_nor_experience(app):
    start = utcnow() - timedelta(minutes=30)
    _svc, response, token = started(now=start)
    service.store_step(token, 4, {"verbatim": "Texte", "contact_email": "a@exemple.fr"}, consent=True, now=start)
    with pytest.raises(ResponseClosed):
        service.store_step(token, 4, {"verbatim": "", "contact_email": ""}, consent=False,
                           now=start + timedelta(hours=1, seconds=1))
    assert contact_of(response).email == "a@exemple.fr"
    assert experience_of(response).text == "Texte"


# --- erasing contacts -----------------------------------------------------------------------------------------------

def test_contacts_are_erased_after_90_days_and_kept_before(app):
    now = utcnow()
    for days, key in ((91, "a" * 32), (89, "b" * 32)):
        svc = make_service()
        db.session.commit()
        _response, token = service.start_response(svc, key, Source.link, {"satisfaction": 3},
                                                  now=now - timedelta(days=days))
        service.store_step(token, 4, {"contact_email": f"{days}@exemple.fr"}, now=now - timedelta(days=days))
    assert service.erase_old_contacts(now) == 1
    assert [c.email for c in db.session.scalars(select(FeedbackContact))] == ["89@exemple.fr"]
    assert service.erase_old_contacts(now) == 0
    assert count(FeedbackResponse) == 2  # the answers stay


def test_the_periodic_job_erases_old_contacts(app):
    from app.jobs import run_once

    svc = make_service()
    db.session.commit()
    old = utcnow() - timedelta(days=100)
    _response, token = service.start_response(svc, KEY, Source.link, {"satisfaction": 3}, now=old)
    service.store_step(token, 4, {"contact_email": "vieux@exemple.fr"}, now=old)
    assert run_once(app)["feedback_contacts_erase"] == 1
    assert count(FeedbackContact) == 0


# --- under concurrency ----------------------------------------------------------------------------------------------

THREADS = 12
threads_app = threads_app_fixture(THREADS, name="threads_app")


@pytest.mark.both_databases("app.feedback.service")
def test_the_same_first_step_sent_at_once_from_many_threads_makes_one_response(threads_app):
    svc = make_service()
    db.session.commit()
    service_id = svc.id

    def job(barrier):
        from app.catalog.models import Service

        target = db.session.get(Service, service_id)
        db.session.rollback()
        barrier.wait()
        return service.start_response(target, KEY, Source.button, {"satisfaction": 2})[1]

    tokens, errors = run_together(threads_app, [job] * THREADS)
    assert errors == []
    assert set(tokens) == {service.link_token(KEY)}
    db.session.rollback()
    assert count(FeedbackResponse) == 1
    response = db.session.scalar(select(FeedbackResponse))
    assert answers_of(response) == [("satisfaction", 2, "Moyen")]


@pytest.mark.both_databases("app.feedback.service")
def test_one_step_sent_at_once_from_many_threads_is_stored_once(threads_app):
    svc = make_service()
    db.session.commit()
    _response, token = service.start_response(svc, KEY, Source.link, {"satisfaction": 3})

    def job(barrier):
        barrier.wait()
        return service.store_step(token, 3, {"contact_tried": [9, 16], "contact_tried_verbatim": "Forum"}).id

    ids, errors = run_together(threads_app, [job] * THREADS)
    assert errors == [] and len(set(ids)) == 1
    db.session.rollback()
    assert [a[:2] for a in answers_of(_response)] == [("satisfaction", 3), ("contact_tried", 9),
                                                      ("contact_tried", 16), ("contact_tried_verbatim", 0)]
