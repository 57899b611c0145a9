"""Decision pages over HTTP: the answer form and its errors, CSRF, the answer on the proposal page,
the awaiting list and the deadline form."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.decisions import service
from app.decisions.models import Answer, AnswerKind, AnswerSettings
from app.extensions import db
from app.proposals.models import Proposal, ProposalState
from tests.conftest import login, post_form
from tests.decisions.helpers import World, make_proposal, select_by_vote


@pytest.fixture
def world(app):
    return World()


def answers() -> int:
    return db.session.scalar(select(func.count()).select_from(Answer))


def url(proposal) -> str:
    return f"/decisions/propositions/{proposal.id}/reponse"


def signature_of(html: str) -> str:
    start = html.index('<p class="signature">')
    return html[start:html.index("</p>", start)]


def form(**extra):
    return {"kind": "adopted", "body": "Nous **simplifions** le formulaire.", "reason": "", **extra}


def test_editor_answers_and_the_answer_shows_on_the_proposal_page(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    page = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    assert url(proposal) in page and "Répondre à cette proposition" in page
    response = post_form(client, url(proposal), form(show_editor_name="y"))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/propositions/{proposal.id}")
    post_form(client, "/compte/deconnexion", {}, csrf_url="/")  # the public sees the same answer
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    assert "Réponse de l&#39;organisation" in html or "Réponse de l'organisation" in html
    assert "Adoptée" in html and "<strong>simplifions</strong>" in html
    assert world.organisation.name in signature_of(html) and world.editor.public_name in signature_of(html)
    assert url(proposal) not in html


def test_answer_text_is_sanitised_markdown(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    post_form(client, url(proposal), form(body="<script>alert(1)</script> [lien](javascript:alert(1))"))
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and 'href="javascript:' not in html


def test_editor_name_is_hidden_unless_chosen(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    post_form(client, url(proposal), form())
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    signature = signature_of(html)
    assert world.organisation.name in signature and world.editor.public_name not in signature


def test_not_adopted_without_reason_is_shown_in_the_error_summary(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    response = post_form(client, url(proposal), form(kind="not_adopted", reason=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html
    assert "Indiquez pourquoi la proposition n" in html and 'href="#reason"' in html
    assert answers() == 0
    response = post_form(client, url(proposal), form(kind="not_adopted", reason="Contrainte légale."))
    assert response.status_code == 302 and answers() == 1


def test_missing_kind_and_text_are_shown(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    response = post_form(client, url(proposal), {"body": "", "reason": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Choisissez une réponse." in html
    assert "Écrivez la réponse de l&#39;organisation." in html or "Écrivez la réponse de l'organisation." in html
    assert answers() == 0


def test_post_without_csrf_token_writes_nothing(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    response = client.post(url(proposal), data=form())
    assert response.status_code in (400, 422) and answers() == 0
    assert db.session.scalar(select(Proposal.state).where(Proposal.id == proposal.id)) is ProposalState.published


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor", "author"])
def test_people_without_the_editor_role_get_403(client, world, who):
    proposal = make_proposal(world)
    login(client, getattr(world, who).email)
    assert client.get(url(proposal)).status_code == 403
    response = post_form(client, url(proposal), form(), csrf_url="/")
    assert response.status_code == 403 and answers() == 0
    assert url(proposal) not in client.get(f"/propositions/{proposal.id}").get_data(as_text=True)


def test_anonymous_is_sent_to_login(client, world):
    proposal = make_proposal(world)
    response = client.get(url(proposal))
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_draft_cannot_be_answered_over_http(client, world):
    proposal = make_proposal(world, ProposalState.draft)
    login(client, world.editor.email)
    page = client.get(url(proposal))
    assert page.status_code == 200 and 'name="body"' not in page.get_data(as_text=True)
    response = post_form(client, url(proposal), form(), csrf_url="/")
    assert response.status_code == 400 and answers() == 0
    assert "Seule une proposition publiée ou retenue" in response.get_data(as_text=True)


def test_editing_shows_the_current_answer_and_the_history(client, world):
    proposal = make_proposal(world)
    login(client, world.editor.email)
    post_form(client, url(proposal), form(body="Première réponse."))
    page = client.get(url(proposal)).get_data(as_text=True)
    assert "Première réponse." in page and "Modifier la réponse" in page
    post_form(client, url(proposal), form(kind="partly_adopted", body="Deuxième réponse."))
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    assert "Adoptée en partie" in html and "Deuxième réponse." in html
    assert "1 version précédente de la réponse" in html and "Première réponse." in html


def test_awaiting_page_lists_due_dates_and_flags_overdue(client, world):
    late = make_proposal(world, title="Proposition en retard")
    soon = make_proposal(world, title="Proposition dans les temps")
    select_by_vote(late, utcnow() - timedelta(days=70), world.editor)
    select_by_vote(soon, utcnow() - timedelta(days=1), world.editor)
    make_proposal(world, organisation=world.other_organisation, title="Proposition d'ailleurs")
    login(client, world.editor.email)
    response = client.get(f"/decisions/organisations/{world.organisation.id}/a-repondre")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.index("Proposition en retard") < html.index("Proposition dans les temps")
    assert html.count("En retard") == 1 and "dont 1 en retard" in html
    assert "Proposition d&#39;ailleurs" not in html and "Proposition d'ailleurs" not in html
    assert url(late) in html


def answer_due_of(html: str) -> str:
    start = html.index('<p class="answer-due">')
    return " ".join(html[start:html.index("</p>", start)].split())


def test_proposal_page_says_when_the_answer_is_due_and_when_it_is_late(client, world):
    """Anyone reading a proposal sees the organisation's deadline; once it has passed, that the answer is late."""
    soon = make_proposal(world, title="Sélectionnée hier")
    late = make_proposal(world, title="Sélectionnée il y a longtemps")
    selected = utcnow() - timedelta(days=1)
    select_by_vote(soon, selected, world.editor)
    select_by_vote(late, utcnow() - timedelta(days=70), world.editor)
    due = (selected + timedelta(days=60)).date()
    html = client.get(f"/propositions/{soon.id}").get_data(as_text=True)
    text = answer_due_of(html)
    assert f'<time datetime="{due.isoformat()}">' in text and "Réponse attendue au plus tard le" in text
    assert "dans les 60 jours qui suivent la sélection" in text and "en retard" not in text
    text = answer_due_of(client.get(f"/propositions/{late.id}").get_data(as_text=True))
    assert "Réponse en retard" in text and "La réponse était attendue le" in text
    # In English too; and counted from publication where the organisation says so.
    service.set_settings(world.organisation, world.editor, deadline_days=30, from_publication=True)
    published = make_proposal(world, title="Publiée", published_at=utcnow() - timedelta(days=40))
    with client.session_transaction() as session:
        session["lang"] = "en"
    text = answer_due_of(client.get(f"/propositions/{published.id}").get_data(as_text=True))
    assert "Answer overdue" in text and "within 30 days of publication" in text


def test_a_proposal_without_a_running_deadline_says_nothing_of_one(client, world):
    """Published where the organisation counts from selection, or answered: no due date is shown."""
    waiting = make_proposal(world, title="Publiée seulement")
    answered = make_proposal(world, title="Répondue")
    select_by_vote(answered, utcnow() - timedelta(days=70), world.editor)
    login(client, world.editor.email)
    post_form(client, url(answered), form())
    for proposal in (waiting, answered):
        assert 'class="answer-due"' not in client.get(f"/propositions/{proposal.id}").get_data(as_text=True)


@pytest.mark.parametrize("who", ["citizen", "facilitator", "other_editor"])
def test_awaiting_and_deadline_pages_are_for_the_organisations_editors(client, world, who):
    login(client, getattr(world, who).email)
    assert client.get(f"/decisions/organisations/{world.organisation.id}/a-repondre").status_code == 403
    deadline = f"/decisions/organisations/{world.organisation.id}/delai"
    assert client.get(deadline).status_code == 403
    response = post_form(client, deadline, {"deadline_days": "10"}, csrf_url="/")
    assert response.status_code == 403 and db.session.get(AnswerSettings, world.organisation.id) is None


def test_deadline_form_saves_and_shows_errors(client, world):
    deadline = f"/decisions/organisations/{world.organisation.id}/delai"
    login(client, world.editor.email)
    response = post_form(client, deadline, {"deadline_days": "400"})
    assert response.status_code == 422 and 'id="error-summary"' in response.get_data(as_text=True)
    assert db.session.get(AnswerSettings, world.organisation.id) is None
    response = post_form(client, deadline, {"deadline_days": "30", "from_publication": "y"})
    assert response.status_code == 302
    stored = db.session.get(AnswerSettings, world.organisation.id, populate_existing=True)
    assert (stored.deadline_days, stored.from_publication) == (30, True)
    html = client.get(f"/decisions/organisations/{world.organisation.id}/a-repondre").get_data(as_text=True)
    assert "30 jours après la publication" in html


def test_unknown_organisation_or_proposal_is_404(client, world):
    login(client, world.admin.email)
    assert client.get("/decisions/organisations/999999/a-repondre").status_code == 404
    assert client.get("/decisions/propositions/999999/reponse").status_code == 404


def test_answer_kind_in_the_form_matches_the_model():
    assert {k.value for k in AnswerKind} == {"adopted", "partly_adopted", "not_adopted", "already_exists"}


def test_an_answered_proposal_hidden_later_shows_neither_text_nor_answer(client, world):
    from app.proposals import moderation

    proposal = make_proposal(world)
    login(client, world.editor.email)
    post_form(client, url(proposal), form(body="Réponse au texte injurieux."))
    moderation.hide_proposal(db.session.get(Proposal, proposal.id), world.editor, "Propos injurieux")
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    assert "Masqué par la modération : Propos injurieux" in html and "Réponse au texte injurieux." not in html
    refused = post_form(client, url(proposal), form(body="Autre réponse."))
    assert refused.status_code == 409 and "Autre réponse." not in client.get(
        f"/propositions/{proposal.id}").get_data(as_text=True)
    assert answers() == 1 and db.session.scalar(select(Answer.body_md)) == "Réponse au texte injurieux."
