"""Triage of a service's answers (app/feedback/triage.py): the editors of its organisation list, filter and export
them, mark spam, keep irritant tags and tag responses; every rule has its refusal twin (a citizen, a facilitator of
the organisation, an editor of another organisation)."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.catalog.models import Role
from app.clock import utcnow
from app.csvsafe import write_csv
from app.errors import InvalidInput, NotAllowed
from app.extensions import db
from app.feedback import triage
from app.feedback.errors import TagExists, TagLabelRequired, TagNotFound
from app.feedback.models import ExperienceStatus, FeedbackResponse, IrritantTag, Source
from tests.concurrency import run_together, threads_app_fixture
from tests.factories import make_member, make_organisation, make_service, make_user
from tests.feedback.helpers import make_response


class World:
    """Organisation A (two services, an editor, a facilitator), organisation B (a service, an editor), a citizen and
    an admin."""

    def __init__(self):
        self.org = make_organisation(name="Agence A")
        self.other_org = make_organisation(name="Agence B")
        self.service = make_service(self.org, name="Carte grise")
        self.second_service = make_service(self.org, name="Permis")
        self.other_service = make_service(self.other_org, name="Passeport")
        self.editor = make_member(self.org, Role.editor, name="Élise Éditrice")
        self.facilitator = make_member(self.org, Role.facilitator, name="Fanny Animatrice")
        self.other_editor = make_member(self.other_org, Role.editor, name="Oscar Autre")
        self.citizen = make_user(name="Claude Passant")
        self.admin = make_user(name="Ada Admin", admin=True)
        db.session.commit()

    def outsiders(self):
        return [self.citizen, self.facilitator, self.other_editor]


@pytest.fixture
def world(app):
    return World()


def test_editor_lists_responses_newest_first_with_their_answers_as_labels(world):
    old = make_response(world.service, satisfaction=1, verbatim="Trop de pièces",
                        created_at=utcnow() - timedelta(days=2))
    new = make_response(world.service, satisfaction=3)
    make_response(world.other_service, satisfaction=2)
    db.session.commit()
    rows, total = triage.list_responses(world.service, world.editor)
    assert total == 2
    assert [row.response.id for row in rows] == [new.id, old.id]
    assert rows[1].answers == [("Satisfaction", ["Pas bien"])]  # the comment is shown apart, as the verbatim
    assert rows[1].verbatim == "Trop de pièces" and rows[1].satisfaction == 1
    assert triage.list_responses(world.service, world.admin)[1] == 2


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_list_its_responses(world, who):
    make_response(world.service)
    db.session.commit()
    with pytest.raises(NotAllowed):
        triage.list_responses(world.service, getattr(world, who))
    with pytest.raises(NotAllowed):
        triage.export_table(world.service, getattr(world, who))


def test_filters_keep_the_period_source_satisfaction_text_and_tag_asked(world):
    now = utcnow()
    march = make_response(world.service, satisfaction=1, verbatim="Lent", source=Source.qr,
                          created_at=now - timedelta(days=30))
    april = make_response(world.service, satisfaction=3, source=Source.embed, created_at=now - timedelta(days=3))
    empty_text = make_response(world.service, satisfaction=2, created_at=now - timedelta(days=1))
    db.session.commit()
    tag = triage.add_tag(world.service, world.editor, "Délais")
    triage.set_response_tags(db.session.get(FeedbackResponse, april.id), world.editor, [tag.id])

    def ids(**filters):
        rows, total = triage.list_responses(world.service, world.editor, triage.ResponseFilters(**filters))
        assert total == len(rows)
        return {row.response.id for row in rows}

    assert ids() == {march.id, april.id, empty_text.id}
    assert ids(start=now - timedelta(days=5)) == {april.id, empty_text.id}
    assert ids(end=now - timedelta(days=2)) == {march.id, april.id}
    assert ids(source=Source.qr) == {march.id}
    assert ids(satisfaction=3) == {april.id}
    assert ids(with_text=True) == {march.id}
    assert ids(tag_id=tag.id) == {april.id}
    assert ids(satisfaction=3, source=Source.qr) == set()


def test_list_pages_hold_per_page_rows_and_the_total(world):
    for n in range(5):
        make_response(world.service, created_at=utcnow() - timedelta(minutes=n))
    db.session.commit()
    first, total = triage.list_responses(world.service, world.editor, page=1, per_page=2)
    third, _ = triage.list_responses(world.service, world.editor, page=3, per_page=2)
    assert total == 5 and len(first) == 2 and len(third) == 1


def test_spam_leaves_every_list_count_and_export_but_the_spam_filter(world):
    kept = make_response(world.service, verbatim="Utile", consent=True)
    spam = make_response(world.service, verbatim="Achetez", consent=True)
    db.session.commit()
    triage.mark_spam(db.session.get(FeedbackResponse, spam.id), world.editor)
    rows, total = triage.list_responses(world.service, world.editor)
    assert total == 1 and [row.response.id for row in rows] == [kept.id]
    header, table = triage.export_table(world.service, world.editor)
    assert [line[0] for line in table] == [kept.id]
    spam_rows, spam_total = triage.list_responses(world.service, world.editor, triage.ResponseFilters(spam=True))
    assert spam_total == 1 and spam_rows[0].response.id == spam.id
    [counts] = [row for row in triage.triageable_services(world.editor) if row.service.id == world.service.id]
    assert (counts.responses, counts.with_text, counts.pending) == (1, 1, 1)
    marked = db.session.get(FeedbackResponse, spam.id)
    assert marked.is_spam and marked.spam_marked_at is not None
    triage.unmark_spam(marked, world.editor)
    assert triage.list_responses(world.service, world.editor)[1] == 2
    assert db.session.get(FeedbackResponse, spam.id).spam_marked_at is None


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_mark_spam(world, who):
    response = make_response(world.service)
    db.session.commit()
    with pytest.raises(NotAllowed):
        triage.mark_spam(response, getattr(world, who))
    assert db.session.get(FeedbackResponse, response.id).is_spam is False
    db.session.get(FeedbackResponse, response.id).is_spam = True
    db.session.commit()
    with pytest.raises(NotAllowed):
        triage.unmark_spam(db.session.get(FeedbackResponse, response.id), getattr(world, who))
    assert db.session.get(FeedbackResponse, response.id).is_spam is True


def test_overview_lists_the_services_a_person_triages_with_their_counts(world):
    make_response(world.service, verbatim="Bien", consent=True, created_at=utcnow() - timedelta(hours=2))
    make_response(world.service, verbatim="Publié", experience=ExperienceStatus.published)
    make_response(world.service)
    make_response(world.other_service)
    db.session.commit()
    rows = triage.triageable_services(world.editor)
    assert [row.service.name for row in rows] == ["Carte grise", "Permis"]
    assert [(r.responses, r.with_text, r.pending, r.awaiting_reply) for r in rows] == [(3, 2, 1, 1), (0, 0, 0, 0)]
    assert {row.service.name for row in triage.triageable_services(world.admin)} == {"Carte grise", "Permis",
                                                                                    "Passeport"}
    assert triage.triageable_services(world.citizen) == []
    assert triage.triageable_services(world.facilitator) == []
    assert (triage.triages_any(world.editor), triage.triages_any(world.admin)) == (True, True)
    assert (triage.triages_any(world.citizen), triage.triages_any(world.facilitator)) == (False, False)


def test_export_holds_the_filtered_responses_and_no_cell_reads_as_a_formula(world):
    make_response(world.service, satisfaction=1, verbatim='=HYPERLINK("http://evil", "clic")', source=Source.button)
    make_response(world.service, satisfaction=3, verbatim="Rapide")
    db.session.commit()
    tag = triage.add_tag(world.service, world.editor, "@Délais")
    first = db.session.scalar(select(FeedbackResponse).where(FeedbackResponse.source == Source.button))
    triage.set_response_tags(first, world.editor, [tag.id])
    header, table = triage.export_table(world.service, world.editor, triage.ResponseFilters(satisfaction=1))
    text = write_csv(table, header).decode("utf-8-sig")
    [line] = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert line["Commentaire"] == "'=HYPERLINK(\"http://evil\", \"clic\")"
    assert line["Irritants"] == "'@Délais"
    assert line["Source"] == "Bouton" and line["Satisfaction"] == "Pas bien"
    assert line["Adresse laissée"] == "Non"


# --- irritant tags -------------------------------------------------------------------------------------------

def test_editors_keep_a_list_of_irritants_per_service(world):
    tag = triage.add_tag(world.service, world.editor, "  Pièce   refusée ")
    assert tag.label == "Pièce refusée"
    other = triage.add_tag(world.second_service, world.editor, "Pièce refusée")  # another service's list
    assert other.service_id == world.second_service.id
    triage.rename_tag(tag, world.editor, "Justificatif refusé")
    assert [t.label for t in triage.list_tags(world.service)] == ["Justificatif refusé"]
    triage.remove_tag(db.session.get(IrritantTag, tag.id), world.editor)
    assert triage.list_tags(world.service) == []


def test_a_tag_name_is_unique_per_service_whatever_the_case(world):
    triage.add_tag(world.service, world.editor, "Délais")
    with pytest.raises(TagExists):
        triage.add_tag(world.service, world.editor, "DÉLAIS")
    second = triage.add_tag(world.service, world.editor, "Accueil")
    with pytest.raises(TagExists):
        triage.rename_tag(second, world.editor, "délais")
    triage.rename_tag(second, world.editor, "ACCUEIL")  # its own name in other case is fine
    assert sorted(t.label for t in triage.list_tags(world.service)) == ["ACCUEIL", "Délais"]


def test_a_tag_needs_a_name_of_at_most_80_characters(world):
    with pytest.raises(TagLabelRequired):
        triage.add_tag(world.service, world.editor, "   ")
    with pytest.raises(InvalidInput) as too_long:
        triage.add_tag(world.service, world.editor, "x" * 81)
    assert too_long.value.code == "tag_label_too_long"
    tag = triage.add_tag(world.service, world.editor, "x" * 80)
    with pytest.raises(TagLabelRequired):
        triage.rename_tag(tag, world.editor, "")
    assert db.session.scalar(select(func.count()).select_from(IrritantTag)) == 1


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_change_its_irritants(world, who):
    person = getattr(world, who)
    tag = triage.add_tag(world.service, world.editor, "Délais")
    response = make_response(world.service)
    db.session.commit()
    with pytest.raises(NotAllowed):
        triage.add_tag(world.service, person, "Accueil")
    with pytest.raises(NotAllowed):
        triage.rename_tag(tag, person, "Attente")
    with pytest.raises(NotAllowed):
        triage.remove_tag(tag, person)
    with pytest.raises(NotAllowed):
        triage.set_response_tags(response, person, [tag.id])
    with pytest.raises(NotAllowed):
        triage.get_tag(tag.id, person)
    assert [t.label for t in triage.list_tags(world.service)] == ["Délais"]
    assert db.session.get(FeedbackResponse, response.id).tags == []


def test_tagging_a_response_replaces_its_tags_and_removing_a_tag_untags(world):
    response = make_response(world.service)
    db.session.commit()
    slow, rude, lost = (triage.add_tag(world.service, world.editor, label) for label in ("Lent", "Accueil", "Perdu"))
    response = triage.set_response_tags(response, world.editor, [slow.id, rude.id, slow.id])
    assert [t.label for t in response.tags] == ["Accueil", "Lent"]
    response = triage.set_response_tags(response, world.editor, [lost.id])
    assert [t.label for t in response.tags] == ["Perdu"]
    assert triage.tag_counts(world.service) == {lost.id: 1}
    triage.remove_tag(db.session.get(IrritantTag, lost.id), world.editor)
    assert db.session.get(FeedbackResponse, response.id).tags == []
    assert triage.set_response_tags(response, world.editor, []).tags == []


def test_a_response_cannot_get_a_tag_of_another_service(world):
    response = make_response(world.service)
    db.session.commit()
    own = triage.add_tag(world.service, world.editor, "Lent")
    foreign = triage.add_tag(world.second_service, world.editor, "Lent")
    triage.set_response_tags(response, world.editor, [own.id])
    with pytest.raises(TagNotFound):
        triage.set_response_tags(response, world.editor, [own.id, foreign.id])
    with pytest.raises(TagNotFound):
        triage.set_response_tags(response, world.editor, [2_000_000_000])
    assert [t.id for t in db.session.get(FeedbackResponse, response.id).tags] == [own.id]


# --- concurrency -----------------------------------------------------------------------------------------------

N = 6
threads_app = threads_app_fixture(N, name="threads_app")


@pytest.mark.both_databases("app.feedback.triage")
def test_editors_adding_one_tag_at_once_leave_one_tag(threads_app):
    world = World()
    service_id, editor_id = world.service.id, world.editor.id

    def job(barrier):
        from app.catalog.models import Service

        service, editor = db.session.get(Service, service_id), db.session.get(User, editor_id)
        db.session.rollback()
        barrier.wait()
        return triage.add_tag(service, editor, "Délais").id

    results, errors = run_together(threads_app, [job] * N)
    assert len([r for r in results if r is not None]) == 1
    assert len(errors) == N - 1 and all(isinstance(exc, TagExists) for _i, exc in errors), errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(IrritantTag)) == 1
