"""The editors' pages (app/feedback/manage.py): the overview, a service's responses (filters, spam, irritant tags, CSV
export), its irritant list and its experiences (publish, refuse, reply), for its organisation's editors only, checked
on every request; a constant number of queries whatever the number of responses."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.catalog.models import Membership, Role
from app.clock import utcnow
from app.extensions import db
from app.feedback import triage
from app.feedback.models import Experience, ExperienceStatus, FeedbackResponse, IrritantTag, Source
from tests.conftest import get_csrf, login
from tests.factories import make_member, make_organisation, make_service, make_user
from tests.feedback.helpers import make_response
from tests.queries import count_queries

HOURS_AGO = timedelta(hours=2)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app):
    class World:
        org = make_organisation(name="Agence A")
        other_org = make_organisation(name="Agence B")
        service = make_service(org, name="Carte grise", slug="carte-grise")
        other_service = make_service(other_org, name="Passeport", slug="passeport")
        editor = make_member(org, Role.editor, name="Élise Éditrice", email="elise@example.org")
        facilitator = make_member(org, Role.facilitator, email="fanny@example.org")
        other_editor = make_member(other_org, Role.editor, email="oscar@example.org")
        citizen = make_user(email="claude@example.org")
    db.session.commit()
    return World


def post(client, url, data=None, **kwargs):
    return client.post(url, data={**(data or {}), "csrf_token": get_csrf(client, "/")}, **kwargs)


def experience_of(response) -> Experience:
    return db.session.scalar(select(Experience).where(Experience.response_id == response.id))


# --- the overview and the menu -------------------------------------------------------------------------------

def test_editors_find_the_overview_in_the_menu_with_their_services_counts(client, world):
    make_response(world.service, verbatim="Trop long", consent=True, created_at=utcnow() - HOURS_AGO)
    make_response(world.other_service)
    db.session.commit()
    login(client, world.editor.email)
    home = text(client.get("/"))
    assert 'href="/avis/gestion"' in home and "Avis des usagers" in home
    page = client.get("/avis/gestion")
    assert page.status_code == 200
    body = text(page)
    assert "Carte grise" in body and "Passeport" not in body
    assert 'href="/avis/gestion/carte-grise/reponses"' in body
    assert 'href="/avis/gestion/carte-grise/experiences"' in body


@pytest.mark.parametrize("who", ["citizen", "facilitator"])
def test_people_who_triage_nothing_have_no_menu_link_and_no_overview(client, world, who):
    login(client, getattr(world, who).email)
    assert 'href="/avis/gestion"' not in text(client.get("/"))
    assert client.get("/avis/gestion").status_code == 403


def test_the_permission_is_checked_again_on_every_request(client, world):
    login(client, world.editor.email)
    assert client.get("/avis/gestion/carte-grise/reponses").status_code == 200
    db.session.execute(Membership.__table__.delete().where(Membership.user_id == world.editor.id))
    db.session.commit()
    assert client.get("/avis/gestion/carte-grise/reponses").status_code == 403
    assert client.get("/avis/gestion").status_code == 403


# --- responses -----------------------------------------------------------------------------------------------

def test_responses_list_shows_answers_as_labels_verbatims_and_filters(client, world):
    make_response(world.service, satisfaction=1, verbatim="Le site plante au paiement", source=Source.qr)
    make_response(world.service, satisfaction=3, source=Source.embed)
    db.session.commit()
    login(client, world.editor.email)
    body = text(client.get("/avis/gestion/carte-grise/reponses"))
    assert "2 réponses" in body and "Le site plante au paiement" in body
    assert "Pas bien" in body and "Très bien" in body and "QR code" in body
    filtered = text(client.get("/avis/gestion/carte-grise/reponses?satisfaction=1&texte=y"))
    assert "1 réponse" in filtered and "<dd>Très bien</dd>" not in filtered and "<dd>Pas bien</dd>" in filtered
    by_source = text(client.get("/avis/gestion/carte-grise/reponses?source=qr"))
    assert "Source : QR code" in by_source and "Source : Formulaire intégré" not in by_source


def test_the_period_counts_in_the_readers_days_paris_time(client, world):
    from datetime import datetime

    make_response(world.service, verbatim="Juste après minuit à Paris", created_at=datetime(2026, 3, 9, 23, 30))
    db.session.commit()
    login(client, world.editor.email)
    assert "Juste après minuit" in text(client.get("/avis/gestion/carte-grise/reponses?du=2026-03-10&au=2026-03-10"))
    assert "Juste après minuit" not in text(client.get("/avis/gestion/carte-grise/reponses?au=2026-03-09"))


def test_a_bad_filter_is_shown_on_its_field(client, world):
    login(client, world.editor.email)
    response = client.get("/avis/gestion/carte-grise/reponses?du=2026-05-01&au=2026-04-01&source=fax")
    assert response.status_code == 422
    body = text(response)
    assert 'class="error-summary"' in body
    assert "La fin de la période doit venir après son début." in body
    assert "Choisissez une source de la liste." in body
    assert client.get("/avis/gestion/carte-grise/reponses?du=hier").status_code == 422


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_only_the_organisations_editors_open_its_pages(client, world, who):
    response = make_response(world.service, verbatim="Bien", consent=True, created_at=utcnow() - HOURS_AGO)
    db.session.commit()
    tag = triage.add_tag(world.service, world.editor, "Délais")
    experience_id = experience_of(response).id
    login(client, getattr(world, who).email)
    for url in ("/avis/gestion/carte-grise/reponses", "/avis/gestion/carte-grise/reponses.csv",
                "/avis/gestion/carte-grise/irritants", "/avis/gestion/carte-grise/experiences",
                f"/avis/gestion/experiences/{experience_id}"):
        assert client.get(url).status_code == 403, url
    for url in (f"/avis/gestion/reponses/{response.id}/indesirable", f"/avis/gestion/irritants/{tag.id}/supprimer",
                f"/avis/gestion/experiences/{experience_id}/publier"):
        assert post(client, url).status_code == 403, url
    db.session.expire_all()
    assert db.session.get(FeedbackResponse, response.id).is_spam is False
    assert db.session.get(IrritantTag, tag.id) is not None
    assert experience_of(response).status is ExperienceStatus.pending


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for url in ("/avis/gestion", "/avis/gestion/carte-grise/reponses", "/avis/gestion/carte-grise/irritants"):
        response = client.get(url)
        assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_marking_spam_keeps_the_lists_filters_and_unmarking_brings_it_back(client, world):
    response = make_response(world.service, satisfaction=1, verbatim="Achetez des montres")
    db.session.commit()
    login(client, world.editor.email)
    back = post(client, f"/avis/gestion/reponses/{response.id}/indesirable",
                {"retour": "satisfaction=1&texte=y&evil=https://example.com"})
    assert back.status_code == 302
    assert back.headers["Location"] == "/avis/gestion/carte-grise/reponses?satisfaction=1&texte=y"
    assert db.session.get(FeedbackResponse, response.id).is_spam
    assert "0 réponse" in text(client.get("/avis/gestion/carte-grise/reponses"))
    spam_page = text(client.get("/avis/gestion/carte-grise/reponses?indesirables=y"))
    assert "Achetez des montres" in spam_page and "Ce n'est pas indésirable" in spam_page
    post(client, f"/avis/gestion/reponses/{response.id}/pas-indesirable")
    assert not db.session.get(FeedbackResponse, response.id).is_spam


def test_a_post_without_csrf_token_changes_nothing(client, world):
    response = make_response(world.service)
    db.session.commit()
    login(client, world.editor.email)
    assert client.post(f"/avis/gestion/reponses/{response.id}/indesirable").status_code == 400
    assert client.post("/avis/gestion/carte-grise/irritants", data={"label": "Délais"}).status_code == 400
    assert not db.session.get(FeedbackResponse, response.id).is_spam
    assert triage.list_tags(world.service) == []


def test_csv_export_keeps_the_filters_and_is_formula_safe(client, world):
    make_response(world.service, satisfaction=1, verbatim="=1+1 ou -2", source=Source.button)
    make_response(world.service, satisfaction=3, verbatim="Parfait")
    db.session.commit()
    login(client, world.editor.email)
    response = client.get("/avis/gestion/carte-grise/reponses.csv?satisfaction=1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="avis-carte-grise.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))
    assert [row["Commentaire"] for row in rows] == ["'=1+1 ou -2"]
    assert client.get("/avis/gestion/carte-grise/reponses.csv?du=hier").status_code == 422


def test_responses_page_costs_the_same_queries_for_10_and_200_responses(client, world):
    small = make_service(world.org, slug="petite")
    tag_small, tag_large = IrritantTag(service_id=small.id, label="Lent"), IrritantTag(service_id=world.service.id,
                                                                                     label="Lent")
    db.session.add_all([tag_small, tag_large])
    db.session.flush()
    for service, count, tag in ((small, 10, tag_small), (world.service, 200, tag_large)):
        for n in range(count):
            response = make_response(service, satisfaction=1 + n % 3, verbatim=f"Texte {n}", consent=n % 2 == 0,
                                     email=f"p{n}@example.org" if n % 5 == 0 else None,
                                     created_at=utcnow() - timedelta(minutes=n))
            response.tags = [tag]
    db.session.commit()
    login(client, world.editor.email)
    few = count_queries(client, "/avis/gestion/petite/reponses")
    many = count_queries(client, "/avis/gestion/carte-grise/reponses")
    assert few == many
    assert count_queries(client, "/avis/gestion/petite/reponses?texte=y&satisfaction=2") == \
        count_queries(client, "/avis/gestion/carte-grise/reponses?texte=y&satisfaction=2")
    assert count_queries(client, "/avis/gestion/petite/experiences") == \
        count_queries(client, "/avis/gestion/carte-grise/experiences")
    assert count_queries(client, "/avis/gestion") == count_queries(client, "/avis/gestion")


# --- irritant tags -------------------------------------------------------------------------------------------

def test_editors_add_rename_remove_irritants_and_tag_responses(client, world):
    response = make_response(world.service, verbatim="Toujours en attente")
    db.session.commit()
    login(client, world.editor.email)
    added = post(client, "/avis/gestion/carte-grise/irritants", {"label": "Délais"})
    assert added.status_code == 302
    tag = db.session.scalar(select(IrritantTag))
    assert tag.label == "Délais"
    tag_id = tag.id
    duplicate = post(client, "/avis/gestion/carte-grise/irritants", {"label": "délais"})
    assert duplicate.status_code == 409 and "Cet irritant existe déjà pour cette démarche." in text(duplicate)
    assert post(client, "/avis/gestion/carte-grise/irritants", {"label": ""}).status_code == 422
    tagged = post(client, f"/avis/gestion/reponses/{response.id}/irritants",
                  {f"r{response.id}-tags": str(tag.id), "retour": "texte=y"})
    assert tagged.headers["Location"] == f"/avis/gestion/carte-grise/reponses?texte=y#reponse-{response.id}"
    assert [t.label for t in db.session.get(FeedbackResponse, response.id).tags] == ["Délais"]
    page = text(client.get(f"/avis/gestion/carte-grise/reponses?irritant={tag.id}"))
    assert "Toujours en attente" in page and 'checked' in page
    post(client, f"/avis/gestion/irritants/{tag.id}/renommer", {f"t{tag.id}-label": "Attente trop longue"})
    assert db.session.get(IrritantTag, tag.id).label == "Attente trop longue"
    tags_page = text(client.get("/avis/gestion/carte-grise/irritants"))
    assert "Attente trop longue" in tags_page and "1 réponse" in tags_page
    post(client, f"/avis/gestion/irritants/{tag_id}/supprimer")
    assert db.session.get(IrritantTag, tag_id) is None
    assert db.session.get(FeedbackResponse, response.id).tags == []


def test_a_response_cannot_be_tagged_with_another_services_irritant(client, world):
    response = make_response(world.service)
    db.session.commit()
    foreign = triage.add_tag(world.other_service, world.other_editor, "Accueil")
    login(client, world.editor.email)
    post(client, f"/avis/gestion/reponses/{response.id}/irritants", {f"r{response.id}-tags": str(foreign.id)})
    assert db.session.get(FeedbackResponse, response.id).tags == []


# --- experiences ---------------------------------------------------------------------------------------------

def test_editor_publishes_then_replies_and_corrects_the_reply(client, world):
    response = make_response(world.service, verbatim="Photo refusée trois fois", consent=True,
                             created_at=utcnow() - HOURS_AGO)
    db.session.commit()
    experience_id = experience_of(response).id
    login(client, world.editor.email)
    queue = text(client.get("/avis/gestion/carte-grise/experiences"))
    assert "À modérer (1)" in queue and f"/avis/gestion/experiences/{experience_id}" in queue
    page = text(client.get(f"/avis/gestion/experiences/{experience_id}"))
    assert "Publier l'expérience" in page and "/avis/charte" in page
    assert post(client, f"/avis/gestion/experiences/{experience_id}/publier").status_code == 302
    assert experience_of(response).status is ExperienceStatus.published
    page = text(client.get(f"/avis/gestion/experiences/{experience_id}"))
    assert 'value="Élise Éditrice, Agence A"' in page  # the signature proposed from the account
    replied = post(client, f"/avis/gestion/experiences/{experience_id}/repondre",
                   {"text": "Le contrôle des photos est corrigé.", "signature": "Élise Éditrice, cheffe de projet"})
    assert replied.status_code == 302
    assert experience_of(response).reply_signature == "Élise Éditrice, cheffe de projet"
    post(client, f"/avis/gestion/experiences/{experience_id}/repondre",
         {"text": "Le contrôle des photos est corrigé depuis mars.", "signature": "Élise Éditrice, cheffe de projet"})
    experience = experience_of(response)
    assert experience.reply_text.endswith("depuis mars.") and experience.reply_edited_at is not None
    assert "modifiée le" in text(client.get(f"/avis/gestion/experiences/{experience_id}"))


def test_refusing_without_a_reason_shows_the_form_with_its_error(client, world):
    response = make_response(world.service, verbatim="Hors sujet", consent=True, created_at=utcnow() - HOURS_AGO)
    db.session.commit()
    experience_id = experience_of(response).id
    login(client, world.editor.email)
    refused = post(client, f"/avis/gestion/experiences/{experience_id}/refuser", {"reason": "  "})
    assert refused.status_code == 422 and 'class="error-summary"' in text(refused)
    assert experience_of(response).status is ExperienceStatus.pending
    done = post(client, f"/avis/gestion/experiences/{experience_id}/refuser", {"reason": "Hors sujet (charte)"})
    assert done.status_code == 302 and done.headers["Location"] == "/avis/gestion/carte-grise/experiences"
    assert experience_of(response).refusal_reason == "Hors sujet (charte)"


def test_replying_without_text_or_to_an_unpublished_experience_is_refused(client, world):
    response = make_response(world.service, verbatim="En attente", consent=True, created_at=utcnow() - HOURS_AGO)
    db.session.commit()
    experience_id = experience_of(response).id
    login(client, world.editor.email)
    early = post(client, f"/avis/gestion/experiences/{experience_id}/repondre", {"text": "Merci", "signature": "É"})
    assert early.status_code == 409
    assert "Seule une expérience publiée reçoit une réponse publique." in text(early)
    client.post(f"/avis/gestion/experiences/{experience_id}/publier", data={"csrf_token": get_csrf(client, "/")})
    empty = post(client, f"/avis/gestion/experiences/{experience_id}/repondre", {"text": "", "signature": ""})
    assert empty.status_code == 422 and 'class="error-summary"' in text(empty)
    assert experience_of(response).replied_at is None


def test_an_experience_still_editable_by_its_author_says_so_and_is_not_published(client, world):
    response = make_response(world.service, verbatim="J'écris encore", consent=True)
    db.session.commit()
    experience_id = experience_of(response).id
    login(client, world.editor.email)
    page = text(client.get(f"/avis/gestion/experiences/{experience_id}"))
    assert "peut encore corriger ou retirer ce texte" in page and "Publier l'expérience" not in page
    post(client, f"/avis/gestion/experiences/{experience_id}/publier")
    assert experience_of(response).status is ExperienceStatus.pending
