"""The public pages (app/feedback/public.py): the moderation charter, the published experiences with the
organisations' replies (all of them, filtered, per service; paged, constant queries), and the reply delay, also on the
catalogue's organisation page. Nothing shown identifies a respondent, and a refusal reason is never shown."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.catalog.models import Role
from app.clock import utcnow
from app.extensions import db
from app.feedback import experiences
from app.feedback.models import Experience, ExperienceStatus, FeedbackResponse
from app.mail.service import deliver_pending
from tests.conftest import get_csrf, login
from tests.factories import make_member, make_organisation, make_service
from tests.feedback.helpers import make_response
from tests.queries import count_queries
from tests.servers import text_body


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app):
    class World:
        org = make_organisation(name="Agence A", slug="agence-a")
        other_org = make_organisation(name="Agence B", slug="agence-b")
        service = make_service(org, name="Carte grise", slug="carte-grise")
        other_service = make_service(other_org, name="Passeport", slug="passeport")
        editor = make_member(org, Role.editor, name="Élise Éditrice", email="elise@example.org")
    db.session.commit()
    return World


def shown(service, text_, *, days_ago=1, satisfaction=3, **kwargs) -> Experience:
    response = make_response(service, verbatim=text_, satisfaction=satisfaction, experience=ExperienceStatus.published,
                             created_at=utcnow() - timedelta(days=days_ago), **kwargs)
    db.session.commit()
    return db.session.scalar(select(Experience).where(Experience.response_id == response.id))


def english(client):
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})


def test_the_charter_is_public_in_french_and_english(client, app):
    page = client.get("/avis/charte")
    assert page.status_code == 200
    body = text(page)
    assert "Charte de modération des expériences" in body and "Ce qui est refusé" in body
    assert "7 jours" in body and 'href="/avis/experiences"' in body
    english(client)
    assert client.get("/avis/charte").status_code == 200
    assert '<html lang="en">' in text(client.get("/avis/charte"))


def test_published_experiences_show_service_date_satisfaction_text_and_signed_reply(client, world):
    answered = shown(world.service, "Ma photo a été refusée trois fois.", satisfaction=1, days_ago=3)
    experiences.reply_to_experience(answered, world.editor, "Nous avons corrigé le contrôle.",
                                    "Élise Éditrice, cheffe de projet, Agence A")
    shown(world.other_service, "Rendez-vous obtenu vite.", days_ago=1)
    make_response(world.service, verbatim="En attente de modération", consent=True)
    refused = shown(world.service, "Appelez Mme Martin au 06 00 00 00 00")
    experiences.refuse_experience(refused, world.editor, "RAISON-SECRÈTE données personnelles")
    spam = shown(world.service, "Achetez des montres")
    db.session.execute(update(FeedbackResponse).where(FeedbackResponse.id == spam.response_id).values(is_spam=True))
    db.session.commit()
    body = text(client.get("/avis/experiences"))
    assert "2 expériences publiées" in body
    assert body.index("Rendez-vous obtenu vite.") < body.index("Ma photo a été refusée trois fois.")
    assert "Nous avons corrigé le contrôle." in body and "Élise Éditrice, cheffe de projet, Agence A" in body
    assert "Satisfaction : Pas bien" in body and 'href="/avis/experiences/carte-grise"' in body
    for hidden in ("En attente de modération", "Appelez Mme Martin", "RAISON-SECRÈTE", "Achetez des montres"):
        assert hidden not in body
    assert "L'organisation n'a pas encore répondu." in body


def test_a_corrected_reply_shows_the_last_version_with_its_date(client, world):
    experience = shown(world.service, "Trop d'attente au guichet.")
    experiences.reply_to_experience(experience, world.editor, "Première version.", "Agence A")
    db.session.execute(update(Experience).where(Experience.id == experience.id)
                       .values(replied_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    experiences.reply_to_experience(db.session.get(Experience, experience.id), world.editor, "Version corrigée.",
                                    "Agence A")
    body = text(client.get("/avis/experiences/carte-grise"))
    assert "Version corrigée." in body and "Première version." not in body and "modifiée le" in body


def test_experiences_are_filtered_by_organisation_or_service_and_per_service(client, world):
    shown(world.service, "Texte A")
    shown(world.other_service, "Texte B")
    by_org = text(client.get(f"/avis/experiences?organisation={world.other_org.id}"))
    assert "Texte B" in by_org and "Texte A" not in by_org
    by_service = text(client.get(f"/avis/experiences?demarche={world.service.id}"))
    assert "Texte A" in by_service and "Texte B" not in by_service
    page = client.get("/avis/experiences/passeport")
    assert page.status_code == 200 and "Texte B" in text(page) and "Texte A" not in text(page)
    assert client.get("/avis/experiences/nulle-part").status_code == 404
    ignored = text(client.get("/avis/experiences?organisation=99999&demarche=abc"))  # unknown: not filtered
    assert "Texte A" in ignored and "Texte B" in ignored


def test_experiences_are_paged_and_cost_the_same_queries_for_10_and_200(client, world):
    small = make_service(world.other_org, slug="petite")
    for service, count in ((small, 10), (world.service, 200)):
        for n in range(count):
            shown(service, f"Expérience {service.slug} {n}", days_ago=1 + n / 1000)
    answered = db.session.scalars(select(Experience).limit(50)).all()
    for experience in answered:
        experience.reply_text, experience.reply_signature, experience.replied_at = "Merci", "Agence", utcnow()
    db.session.commit()
    assert "Page 1 sur 10" in text(client.get("/avis/experiences/carte-grise"))
    last = text(client.get("/avis/experiences/carte-grise?page=10"))
    assert "Expérience carte-grise 199" in last and "Expérience carte-grise 0<" not in last
    assert count_queries(client, "/avis/experiences/petite") == count_queries(client, "/avis/experiences/carte-grise")
    assert count_queries(client, f"/avis/experiences?organisation={world.other_org.id}") == \
        count_queries(client, f"/avis/experiences?organisation={world.org.id}")


def test_the_reply_delay_is_on_the_experiences_pages_and_the_organisation_page(client, world):
    now = utcnow()
    for published_days, replied_days in ((10, 8), (9, None)):  # answered in 2 days; one unanswered for 9 days
        experience = shown(world.service, "Texte", days_ago=published_days)
        db.session.execute(update(Experience).where(Experience.id == experience.id).values(
            replied_at=None if replied_days is None else now - timedelta(days=replied_days),
            reply_text="Merci" if replied_days else "", reply_signature="Agence A" if replied_days else ""))
    db.session.commit()
    for url in ("/avis/experiences", "/avis/experiences/carte-grise", "/organisations/agence-a"):
        body = text(client.get(url)).replace("\u202f", " ").replace("\xa0", " ")
        assert "2 jours" in body, url
        assert "50 %" in body, url
    organisation_page = text(client.get("/organisations/agence-a"))
    assert "Réponses aux avis des usagers" in organisation_page
    assert f'href="/avis/experiences?organisation={world.org.id}"' in organisation_page
    assert "Aucune expérience d'usager n'est encore publiée" in text(client.get("/organisations/agence-b"))


def test_the_citizen_reads_the_reply_the_mail_told_them_of(client, world, smtp):
    experience = shown(world.service, "Le paiement en ligne a échoué.", email="auteur@example.org")
    login(client, world.editor.email)
    client.post(f"/avis/gestion/experiences/{experience.id}/repondre", data={
        "csrf_token": get_csrf(client, "/"), "text": "Le paiement est réparé.", "signature": "Élise, Agence A"})
    assert deliver_pending()["sent"] == 1
    [mail] = smtp.wait_for("auteur@example.org")
    link = next(word for word in text_body(mail).split() if "/avis/experiences/" in word)
    path = link.split("://", 1)[1].split("/", 1)[1]
    visitor = client.application.test_client()
    page = text(visitor.get("/" + path.split("#")[0]))
    assert f'id="experience-{experience.id}"' in page and "Le paiement est réparé." in page
    assert "auteur@example.org" not in page
