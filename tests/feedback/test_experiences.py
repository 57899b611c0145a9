"""Experiences (app/feedback/experiences.py): moderation against the charter (publish, or refuse with a reason), the
organisation's signed and dated public reply (corrected: the last version, « modifiée le … »), the author told of the
first reply by mail (their e-mail then erased), and the public reply delay. Each rule has its refusal twin."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.accounts.models import User
from app.catalog.models import Role
from app.clock import utcnow
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.feedback import experiences, triage
from app.feedback.errors import (
    ExperienceNotFound,
    ExperienceNotPending,
    ExperienceNotPublished,
    ExperienceStillEditable,
    RefusalReasonRequired,
    ReplyRequired,
    ResponseIsSpam,
    SignatureRequired,
)
from app.feedback.models import Experience, ExperienceStatus, FeedbackContact, FeedbackResponse
from app.mail.models import OutboxMessage
from app.mail.service import deliver_pending
from tests.concurrency import run_together, threads_app_fixture
from tests.factories import make_member, make_organisation, make_service, make_user
from tests.feedback.helpers import make_response
from tests.servers import text_body

HOURS_AGO = timedelta(hours=2)  # past the hour its author may correct or withdraw the text in


class World:
    def __init__(self):
        self.org = make_organisation(name="Agence A")
        self.other_org = make_organisation(name="Agence B")
        self.service = make_service(self.org, name="Carte grise", slug="carte-grise")
        self.other_service = make_service(self.other_org, name="Passeport", slug="passeport")
        self.editor = make_member(self.org, Role.editor, name="Élise Éditrice")
        self.second_editor = make_member(self.org, Role.editor, name="Émile Éditeur")
        self.facilitator = make_member(self.org, Role.facilitator, name="Fanny Animatrice")
        self.other_editor = make_member(self.other_org, Role.editor, name="Oscar Autre")
        self.citizen = make_user(name="Claude Passant")
        self.admin = make_user(name="Ada Admin", admin=True)
        db.session.commit()


@pytest.fixture
def world(app):
    return World()


def experience_of(response) -> Experience:
    return db.session.scalar(select(Experience).where(Experience.response_id == response.id))


def pending(world, text="Le site a refusé ma photo trois fois.", **kwargs) -> Experience:
    response = make_response(world.service, verbatim=text, consent=True, created_at=utcnow() - HOURS_AGO, **kwargs)
    db.session.commit()
    return experience_of(response)


def published(world, service=None, *, text="Tout s'est bien passé.", days_ago=1, **kwargs) -> Experience:
    response = make_response(service or world.service, verbatim=text, experience=ExperienceStatus.published,
                             created_at=utcnow() - timedelta(days=days_ago), **kwargs)
    db.session.commit()
    return experience_of(response)


# --- moderation ------------------------------------------------------------------------------------------------

def test_editor_publishes_a_pending_experience(world):
    experience = pending(world)
    experience = experiences.publish_experience(experience, world.editor)
    assert experience.status is ExperienceStatus.published
    assert experience.published_at is not None and experience.moderated_at == experience.published_at
    assert experience.moderated_by_id == world.editor.id
    items, total = experiences.list_published()
    assert total == 1 and items[0][0].id == experience.id


def test_an_experience_waits_for_the_end_of_its_authors_hour(world):
    response = make_response(world.service, verbatim="Encore en train d'écrire", consent=True)
    db.session.commit()
    with pytest.raises(ExperienceStillEditable):
        experiences.publish_experience(experience_of(response), world.editor)
    with pytest.raises(ExperienceStillEditable):
        experiences.refuse_experience(experience_of(response), world.editor, "Hors sujet")
    assert experience_of(response).status is ExperienceStatus.pending
    db.session.execute(update(FeedbackResponse).where(FeedbackResponse.id == response.id)
                       .values(editable_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert experiences.publish_experience(experience_of(response), world.editor).status is ExperienceStatus.published


def test_a_moderated_experience_is_not_published_again(world):
    experience = experiences.publish_experience(pending(world), world.editor)
    with pytest.raises(ExperienceNotPending):
        experiences.publish_experience(experience, world.second_editor)
    refused = experiences.refuse_experience(pending(world, "Mon numéro de dossier est 12345"), world.editor,
                                            "Donnée personnelle")
    with pytest.raises(ExperienceNotPending):
        experiences.publish_experience(refused, world.editor)
    assert db.session.get(Experience, refused.id).status is ExperienceStatus.refused


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_moderate_and_reply(world, who):
    person = getattr(world, who)
    waiting, shown = pending(world), published(world)
    with pytest.raises(NotAllowed):
        experiences.publish_experience(waiting, person)
    with pytest.raises(NotAllowed):
        experiences.refuse_experience(waiting, person, "Hors sujet")
    with pytest.raises(NotAllowed):
        experiences.reply_to_experience(shown, person, "Merci", "Personne")
    with pytest.raises(NotAllowed):
        experiences.get_experience(waiting.id, person)
    with pytest.raises(NotAllowed):
        experiences.moderation_queue(world.service, person)
    db.session.expire_all()
    assert db.session.get(Experience, waiting.id).status is ExperienceStatus.pending
    assert db.session.get(Experience, shown.id).replied_at is None


def test_admins_moderate_every_organisation(world):
    assert experiences.publish_experience(pending(world), world.admin).status is ExperienceStatus.published


def test_refusing_needs_a_reason_that_is_kept_and_never_published(world):
    experience = pending(world, "Appelez M. Dupont au 06 00 00 00 00")
    with pytest.raises(RefusalReasonRequired):
        experiences.refuse_experience(experience, world.editor, "   ")
    with pytest.raises(InvalidInput) as too_long:
        experiences.refuse_experience(experience, world.editor, "x" * (experiences.REASON_MAX + 1))
    assert too_long.value.code == "refusal_reason_too_long"
    assert db.session.get(Experience, experience.id).status is ExperienceStatus.pending
    refused = experiences.refuse_experience(experience, world.editor, "Données personnelles (charte)")
    assert (refused.status, refused.refusal_reason, refused.moderated_by_id) == (
        ExperienceStatus.refused, "Données personnelles (charte)", world.editor.id)
    assert experiences.list_published() == ([], 0)
    with pytest.raises(ExperienceNotPending):
        experiences.refuse_experience(refused, world.editor, "Encore")


def test_a_published_experience_can_be_withdrawn_with_a_reason(world):
    experience = published(world)
    withdrawn = experiences.refuse_experience(experience, world.editor, "Signalé : nom d'un agent")
    assert withdrawn.status is ExperienceStatus.refused and withdrawn.published_at is None
    assert experiences.list_published() == ([], 0)
    assert experiences.reply_delays() == {}


def test_a_spam_response_is_neither_published_nor_answered_nor_listed(world):
    waiting, shown = pending(world), published(world)
    for experience in (waiting, shown):
        triage.mark_spam(db.session.get(FeedbackResponse, experience.response_id), world.editor)
    with pytest.raises(ResponseIsSpam):
        experiences.publish_experience(waiting, world.editor)
    with pytest.raises(ResponseIsSpam):
        experiences.reply_to_experience(shown, world.editor, "Merci", "Élise")
    queue = experiences.moderation_queue(world.service, world.editor)
    assert (queue.pending, queue.awaiting_reply, queue.counts[ExperienceStatus.pending]) == ([], [], 0)
    assert experiences.list_published() == ([], 0)
    assert experiences.reply_delays() == {}


def test_moderation_queue_sorts_experiences_by_what_they_wait_for(world):
    older, newer = pending(world, "Premier"), pending(world, "Second")
    db.session.execute(update(Experience).where(Experience.id == newer.id).values(created_at=utcnow()))
    db.session.commit()
    shown = published(world)
    answered = experiences.reply_to_experience(published(world), world.editor, "Merci", "Élise")
    refused = experiences.refuse_experience(pending(world, "Hors sujet"), world.editor, "Hors sujet")
    published(world, world.other_service)
    queue = experiences.moderation_queue(world.service, world.editor)
    assert [e.id for e in queue.pending] == [older.id, newer.id]
    assert [e.id for e in queue.awaiting_reply] == [shown.id]
    assert [e.id for e in queue.replied] == [answered.id]
    assert [e.id for e in queue.refused] == [refused.id]
    assert queue.counts == {ExperienceStatus.pending: 2, ExperienceStatus.published: 2,
                            ExperienceStatus.refused: 1, "awaiting_reply": 1}


def test_an_unknown_experience_is_not_found(world):
    with pytest.raises(ExperienceNotFound):
        experiences.get_experience(2_000_000_000, world.editor)


# --- replies ---------------------------------------------------------------------------------------------------

def test_reply_is_signed_dated_and_a_correction_shows_its_date(world):
    experience = published(world)
    assert experiences.default_signature(world.editor, world.org) == "Élise Éditrice, Agence A"
    replied = experiences.reply_to_experience(experience, world.editor, "  Merci, nous simplifions l'envoi.  ",
                                              "Élise Éditrice, cheffe de projet, Agence A")
    first_at = replied.replied_at
    assert (replied.reply_text, replied.reply_signature, replied.reply_author_id, replied.reply_edited_at) == (
        "Merci, nous simplifions l'envoi.", "Élise Éditrice, cheffe de projet, Agence A", world.editor.id, None)
    same = experiences.reply_to_experience(replied, world.editor, "Merci, nous simplifions l'envoi.",
                                           "Élise Éditrice, cheffe de projet, Agence A")
    assert same.reply_edited_at is None  # sent again unchanged: no correction
    corrected = experiences.reply_to_experience(replied, world.second_editor, "Merci : c'est corrigé depuis mars.",
                                                "Émile Éditeur, Agence A")
    assert corrected.replied_at == first_at and corrected.reply_edited_at is not None
    assert (corrected.reply_text, corrected.reply_author_id) == ("Merci : c'est corrigé depuis mars.",
                                                                 world.second_editor.id)


def test_only_a_published_experience_gets_a_reply(world):
    waiting = pending(world)
    refused = experiences.refuse_experience(pending(world, "Hors sujet"), world.editor, "Hors sujet")
    for experience in (waiting, refused):
        with pytest.raises(ExperienceNotPublished):
            experiences.reply_to_experience(experience, world.editor, "Merci", "Élise")
        assert db.session.get(Experience, experience.id).replied_at is None


def test_a_reply_needs_a_text_and_a_signature(world):
    experience = published(world)
    with pytest.raises(ReplyRequired):
        experiences.reply_to_experience(experience, world.editor, " ", "Élise")
    with pytest.raises(SignatureRequired):
        experiences.reply_to_experience(experience, world.editor, "Merci", "")
    with pytest.raises(InvalidInput) as too_long:
        experiences.reply_to_experience(experience, world.editor, "x" * (experiences.REPLY_MAX + 1), "Élise")
    assert too_long.value.code == "reply_too_long"
    assert db.session.get(Experience, experience.id).replied_at is None


def test_the_author_is_told_of_the_first_reply_once_and_their_address_is_erased(world, smtp):
    experience = published(world, text="Ma photo a été refusée trois fois.", email="auteur@example.org")
    db.session.execute(update(FeedbackContact).values(locale="en"))
    db.session.commit()
    experiences.reply_to_experience(experience, world.editor, "Nous avons corrigé le contrôle des photos.",
                                    "Élise Éditrice, Agence A")
    assert db.session.scalar(select(func.count()).select_from(FeedbackContact)) == 0
    assert deliver_pending()["sent"] == 1
    [mail] = smtp.wait_for("auteur@example.org")
    assert mail["Content-Language"] == "en"
    body = text_body(mail)
    assert "Nous avons corrigé le contrôle des photos." in body and "Élise Éditrice, Agence A" in body
    assert f"/avis/experiences/carte-grise#experience-{experience.id}" in body
    experiences.reply_to_experience(experience, world.editor, "Corrigé.", "Élise Éditrice, Agence A")
    assert deliver_pending()["sent"] == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_no_mail_when_the_author_left_no_address(world, smtp):
    experiences.reply_to_experience(published(world), world.editor, "Merci.", "Élise")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_refused_reply_neither_mails_nor_erases_the_address(world):
    experience = pending(world, email="auteur@example.org")
    with pytest.raises(ExperienceNotPublished):
        experiences.reply_to_experience(experience, world.editor, "Merci", "Élise")
    assert db.session.scalar(select(func.count()).select_from(FeedbackContact)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


# --- public lists and the reply delay --------------------------------------------------------------------------

def test_published_experiences_newest_first_by_organisation_or_service(world):
    old = published(world, days_ago=5, satisfaction=1)
    new = published(world, days_ago=1, satisfaction=3)
    elsewhere = published(world, world.other_service, days_ago=3)
    pending(world)
    items, total = experiences.list_published()
    assert total == 3 and [(e.id, s) for e, s in items] == [(new.id, 3), (elsewhere.id, 3), (old.id, 1)]
    assert [e.id for e, _s in experiences.list_published(organisation_id=world.other_org.id)[0]] == [elsewhere.id]
    assert [e.id for e, _s in experiences.list_published(service_id=world.service.id)[0]] == [new.id, old.id]
    page_two, total = experiences.list_published(page=2, per_page=2)
    assert total == 3 and [e.id for e, _s in page_two] == [old.id]


def _answered_after(experience, published_days_ago: float, replied_days_ago: float | None, now):
    db.session.execute(update(Experience).where(Experience.id == experience.id).values(
        published_at=now - timedelta(days=published_days_ago),
        replied_at=None if replied_days_ago is None else now - timedelta(days=replied_days_ago),
        reply_text="" if replied_days_ago is None else "Merci", reply_signature="Élise"))


@pytest.mark.both_databases("app.feedback.experiences")
def test_reply_delay_is_the_median_and_the_share_answered_within_seven_days(world):
    now = utcnow()
    timings = [(10, 9), (20, 10), (8, None), (2, None), (1, 0.5)]  # days: 1, 10, never (settled), too soon, 0.5
    for published_ago, replied_ago in timings:
        _answered_after(published(world), published_ago, replied_ago, now)
    spam = published(world)
    _answered_after(spam, 30, 0, now)
    db.session.execute(update(FeedbackResponse).where(FeedbackResponse.id == spam.response_id).values(is_spam=True))
    for published_ago, replied_ago in [(5, 3), (9, 5)]:  # 2 and 4 days: an even count
        _answered_after(published(world, world.other_service), published_ago, replied_ago, now)
    db.session.commit()
    delays = experiences.reply_delays(now=now)
    mine, theirs = delays[world.org.id], delays[world.other_org.id]
    assert (mine.published, mine.answered, mine.settled, mine.within) == (5, 3, 4, 2)
    assert mine.median_days == pytest.approx(1.0, abs=1e-6) and mine.within_share == 0.5
    assert theirs.median_days == pytest.approx(3.0, abs=1e-6) and theirs.within_share == 1.0
    assert experiences.reply_delay(world.org.id, now=now).median_days == pytest.approx(1.0, abs=1e-6)
    assert set(experiences.reply_delays([world.other_org.id], now=now)) == {world.other_org.id}
    nothing = experiences.reply_delay(make_organisation().id)
    assert (nothing.published, nothing.median_days, nothing.within_share) == (0, None, None)


def test_personal_data_holds_the_moderations_and_replies_of_an_editor(world):
    experiences.refuse_experience(pending(world), world.editor, "Hors sujet")
    experiences.reply_to_experience(published(world), world.editor, "Merci.", "Élise, Agence A")
    data = experiences.personal_data(world.editor)
    assert [(m["service"], m["status"], m["refusal_reason"]) for m in data["moderations"]] == [
        ("Carte grise", "refused", "Hors sujet")]
    assert [(r["reply"], r["signature"]) for r in data["replies"]] == [("Merci.", "Élise, Agence A")]
    assert experiences.personal_data(world.citizen) == {"moderations": [], "replies": []}


# --- concurrency -----------------------------------------------------------------------------------------------

N = 6
threads_app = threads_app_fixture(N, name="threads_app")


@pytest.mark.both_databases("app.feedback.experiences")
@pytest.mark.parametrize("action", ["publish", "refuse"])
def test_editors_moderating_at_once_leave_one_moderation(threads_app, action):
    world = World()
    experience_id = pending(world).id
    editor_ids = [world.editor.id, world.second_editor.id]

    def job_for(i):
        def job(barrier):
            editor, experience = db.session.get(User, editor_ids[i % 2]), db.session.get(Experience, experience_id)
            db.session.rollback()
            barrier.wait()
            if action == "refuse":
                return experiences.refuse_experience(experience, editor, f"Raison {i}").moderated_by_id
            return experiences.publish_experience(experience, editor).moderated_by_id
        return job

    results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    assert len([r for r in results if r is not None]) == 1
    assert len(errors) == N - 1 and all(isinstance(exc, ExperienceNotPending) for _i, exc in errors), errors
    db.session.rollback()
    experience = db.session.get(Experience, experience_id)
    assert experience.status is (ExperienceStatus.refused if action == "refuse" else ExperienceStatus.published)
    assert [experience.moderated_by_id] == [r for r in results if r is not None]


@pytest.mark.both_databases("app.feedback.experiences")
def test_editors_replying_at_once_send_one_mail(threads_app):
    world = World()
    experience_id = published(world, email="auteur@example.org").id
    editor_ids = [world.editor.id, world.second_editor.id]

    def job_for(i):
        def job(barrier):
            editor, experience = db.session.get(User, editor_ids[i % 2]), db.session.get(Experience, experience_id)
            db.session.rollback()
            barrier.wait()
            return experiences.reply_to_experience(experience, editor, f"Réponse {i}", "Agence A").id
        return job

    _results, errors = run_together(threads_app, [job_for(i) for i in range(N)])
    assert errors == []
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert db.session.scalar(select(func.count()).select_from(FeedbackContact)) == 0
    experience = db.session.get(Experience, experience_id)
    assert experience.replied_at is not None and experience.reply_text.startswith("Réponse ")
