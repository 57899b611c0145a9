"""Proposal pages over HTTP: forms and their errors, CSRF, the no-JavaScript review step, permissions."""

import pytest
from sqlalchemy import func, insert, select, update

from app.boards.models import Idea
from app.clock import utcnow
from app.extensions import db
from app.proposals import merging, moderation, service
from app.proposals.models import Comment, Proposal, ProposalState, Support
from tests.conftest import get_csrf, login, post_form
from tests.proposals.helpers import World, make_idea, propose
from tests.queries import recorded_statements


@pytest.fixture
def world(app):
    return World()


def count(model=Proposal):
    return db.session.scalar(select(func.count()).select_from(model))


def new_form(world, **extra):
    return {"title": "Déclarer son déménagement une seule fois", "service_id": str(world.service.id),
            "life_event_id": "0", "problem": "Cinq déclarations.", "change": "Une seule.", "benefit": "",
            "website": "", **extra}


def test_review_step_shows_similar_proposals_before_anything_is_stored(client, world):
    existing = propose(world.other, world, title="Un seul formulaire pour le déménagement")
    login(client, world.citizen.email)
    response = post_form(client, "/propositions/nouvelle", new_form(world))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Vérifiez avant d'envoyer" in html
    assert f"/propositions/{existing.id}" in html and count() == 1
    assert 'name="confirmed" type="hidden" value="1"' in html
    response = post_form(client, "/propositions/nouvelle", new_form(world, confirmed="1"))
    assert response.status_code == 302 and count() == 2
    created = db.session.scalar(select(Proposal).order_by(Proposal.id.desc()))
    assert response.headers["Location"].endswith(f"/propositions/{created.id}")
    assert created.state is ProposalState.published


def test_missing_fields_are_shown_in_the_error_summary(client, world):
    login(client, world.citizen.email)
    response = post_form(client, "/propositions/nouvelle", new_form(world, title="", problem="", confirmed="1"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="error-summary"' in html
    assert "Donnez un titre à votre proposition." in html and "Décrivez le problème rencontré." in html
    assert count() == 0


def test_honeypot_post_is_refused_with_a_message(client, world):
    login(client, world.citizen.email)
    response = post_form(client, "/propositions/nouvelle", new_form(world, website="spam", confirmed="1"))
    assert response.status_code == 200 and "champ caché" in response.get_data(as_text=True)
    assert count() == 0


def test_post_without_csrf_is_refused(client, world):
    login(client, world.citizen.email)
    response = client.post("/propositions/nouvelle", data=new_form(world, confirmed="1"))
    assert response.status_code == 400 and count() == 0


def test_anonymous_is_sent_to_login(client, world):
    response = client.get("/propositions/nouvelle")
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_support_button_and_refusal_message(client, world):
    proposal = propose(world.other, world)
    login(client, world.citizen.email)
    url = f"/propositions/{proposal.id}"
    assert post_form(client, url + "/soutenir", {}, csrf_url=url).status_code == 302
    assert count(Support) == 1
    post_form(client, url + "/soutenir", {}, csrf_url=url)
    assert count(Support) == 1
    assert "Vous soutenez déjà cette proposition." in client.get(url).get_data(as_text=True)


def test_support_without_csrf_changes_nothing(client, world):
    proposal = propose(world.other, world)
    login(client, world.citizen.email)
    response = client.post(f"/propositions/{proposal.id}/soutenir")
    assert response.status_code == 400 and count(Support) == 0


def test_similar_json(client, world):
    propose(world.other, world, title="Déménagement : une seule déclaration")
    response = client.get("/propositions/similaires?q=déménagement")
    items = response.get_json()["items"]
    assert response.status_code == 200 and [i["title"] for i in items] == ["Déménagement : une seule déclaration"]


def test_similar_json_refuses_a_too_long_query(client, world):
    response = client.get("/propositions/similaires?q=" + "a" * 300)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_input"


def test_draft_is_hidden_from_others(client, world):
    proposal = propose(world.citizen, world, submit=False)
    assert client.get(f"/propositions/{proposal.id}").status_code == 404
    login(client, world.citizen.email)
    assert client.get(f"/propositions/{proposal.id}").status_code == 200


def test_merged_proposal_redirects_and_shows_the_merge(client, world):
    a, b = propose(world.citizen, world, title="Adresse A"), propose(world.other, world, title="Adresse B")
    merging.merge_proposals(b, a, world.editor)
    response = client.get(f"/propositions/{b.id}")
    assert response.status_code == 302 and f"/propositions/{a.id}?fusion={b.id}" in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "« Adresse B » a été fusionnée avec celle-ci" in html


def test_merge_form_shows_refusal(client, world):
    a = propose(world.citizen, world)
    login(client, world.editor.email)
    url = f"/propositions/{a.id}/fusionner"
    html = post_form(client, url, {"target_id": str(a.id)}).get_data(as_text=True)
    assert "ne peut pas être fusionnée avec elle-même" in html


def test_comment_reply_and_hidden_comment_shown_with_reason(client, world):
    proposal = propose(world.citizen, world)
    login(client, world.other.email)
    url = f"/propositions/{proposal.id}"
    post_form(client, url + "/commentaires", {"body": "Très bonne idée", "website": ""}, csrf_url=url)
    comment = service.list_comments(proposal)[0][0]
    moderation.hide_comment(comment, world.editor, "Hors sujet")
    html = client.get(url).get_data(as_text=True)
    assert "Masqué par la modération : Hors sujet" in html and "Très bonne idée" not in html


def test_hide_form_requires_a_reason(client, world):
    proposal = propose(world.citizen, world)
    login(client, world.editor.email)
    url = f"/propositions/{proposal.id}/masquer"
    html = post_form(client, url, {"reason": ""}).get_data(as_text=True)
    assert "Indiquez la raison" in html and not db.session.get(Proposal, proposal.id).is_hidden


def test_citizen_cannot_open_the_hide_form(client, world):
    proposal = propose(world.citizen, world)
    login(client, world.other.email)
    assert client.get(f"/propositions/{proposal.id}/masquer").status_code == 403


def test_facilitator_promotes_from_the_board_page_and_the_idea_page_links_back(client, world):
    board, idea, _ = make_idea(world)
    login(client, world.facilitator.email)
    page = f"/propositions/tableaux/{board.id}"
    assert "Créer une proposition" in client.get(page).get_data(as_text=True)
    response = post_form(client, page + "/promouvoir", {"idea_id": str(idea.id)}, csrf_url=page)
    assert response.status_code == 302
    proposal = db.session.scalar(select(Proposal))
    assert proposal.state is ProposalState.draft and proposal.change == ""  # the facilitator completes it
    service.edit_proposal(proposal, world.facilitator, title=proposal.title, problem=proposal.problem,
                          change="Une seule déclaration")
    service.submit_proposal(db.session.get(Proposal, proposal.id), world.facilitator)
    html = client.get(f"/propositions/idees/{idea.id}").get_data(as_text=True)
    assert f"/propositions/{proposal.id}" in html
    # Under the page's h1, each proposal's title is a level-2 heading (the HTML checker refuses a jump to h3).
    assert f'<h2 class="h3"><a href="/propositions/{proposal.id}">' in html


def test_citizen_cannot_open_the_board_promotion_page(client, world):
    board, _idea, _ = make_idea(world)
    login(client, world.citizen.email)
    assert client.get(f"/propositions/tableaux/{board.id}").status_code == 403


def test_idea_page_is_hidden_from_strangers_until_a_proposal_is_public(client, world):
    _board, idea, _ = make_idea(world)
    url = f"/propositions/idees/{idea.id}"
    assert client.get(url).status_code == 404
    draft = service.promote(world.facilitator, idea_id=idea.id)
    assert client.get(url).status_code == 404  # a draft is not public yet
    service.edit_proposal(db.session.get(Proposal, draft.id), world.facilitator, title=draft.title,
                          problem=draft.problem, change="Une seule déclaration pour toutes les administrations.")
    service.submit_proposal(db.session.get(Proposal, draft.id), world.facilitator)
    page = client.get(url)
    assert page.status_code == 200 and f'href="/propositions/{draft.id}"' in page.get_data(as_text=True)


def promoted_and_submitted(world, idea) -> Proposal:
    """The facilitator promotes the idea, completes the draft and submits it."""
    draft = service.promote(world.facilitator, idea_id=idea.id)
    service.edit_proposal(db.session.get(Proposal, draft.id), world.facilitator, title="Titre de la proposition",
                          problem="Le problème, reformulé par l'animation.",
                          change="Une seule déclaration pour toutes les administrations.")
    return service.submit_proposal(db.session.get(Proposal, draft.id), world.facilitator)


def test_hidden_ideas_and_hidden_proposals_keep_their_text_out_of_each_others_pages(client, world):
    from app.boards.models import IdeaStatus

    _board, idea, _ = make_idea(world, text="Texte de l idée masquée")
    proposal = promoted_and_submitted(world, idea)
    page, idea_url = f"/propositions/{proposal.id}", f"/propositions/idees/{idea.id}"
    assert "Texte de l idée masquée" in client.get(page).get_data(as_text=True)
    # The facilitators hide the idea on its board: the proposal keeps its origin, without the idea's text.
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(status=IdeaStatus.hidden))
    db.session.commit()
    html = client.get(page).get_data(as_text=True)
    assert "Texte de l idée masquée" not in html and "retirée du tableau" in html and idea_url not in html
    assert client.get(idea_url).status_code == 404
    # The moderators hide the proposal: a board participant reading the idea page does not see its title.
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(status=IdeaStatus.visible))
    db.session.commit()
    moderation.hide_proposal(db.session.get(Proposal, proposal.id), world.editor, "Hors sujet")
    login(client, world.facilitator.email)  # manages the board: still sees it, as moderator
    assert "Titre de la proposition" in client.get(idea_url).get_data(as_text=True)
    from app.boards import service as boards

    boards.join(boards.get_board(idea.board_id), world.other, by_code=True)  # a participant of that board
    client.post("/compte/deconnexion", data={"csrf_token": get_csrf(client, "/")})
    login(client, world.other.email)
    html = client.get(idea_url).get_data(as_text=True)
    assert "Texte de l idée masquée" in html and "Titre de la proposition" not in html
    assert f'href="/propositions/{proposal.id}"' not in html


@pytest.mark.parametrize(("status", "french", "english"), [
    ("pending", "en attente de validation sur le tableau", "awaiting approval on the board"),
    ("withdrawn", "retirée par son auteur ou son autrice", "withdrawn by its author"),
    ("hidden", "retirée du tableau", "since removed from the board"),
])
def test_an_unshown_origin_idea_says_why_in_both_languages(client, world, status, french, english):
    """An idea still awaiting approval was not « removed »: each reason is named, and the text stays off."""
    from app.boards.models import IdeaStatus

    _board, idea, _ = make_idea(world, text="Texte de l idée d origine")
    proposal = promoted_and_submitted(world, idea)
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(status=IdeaStatus(status)))
    db.session.commit()
    page = f"/propositions/{proposal.id}"
    html = client.get(page).get_data(as_text=True)
    assert "Texte de l idée d origine" not in html
    assert f"Idée d'un tableau d'atelier, {french}" in html.replace("&#39;", "'")
    reasons = {"en attente de validation sur le tableau", "retirée par son auteur ou son autrice", "retirée du tableau"}
    assert [reason for reason in reasons if reason in html] == [french]
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    assert english in client.get(page).get_data(as_text=True)


def test_settings_page_renames_a_state(client, world):
    login(client, world.editor.email)
    url = f"/propositions/organisations/{world.organisation.id}/reglages"
    assert post_form(client, url, {"moderation": "before", "label_selected": "Retenue par le jury",
                                   "label_en_selected": "Chosen by the jury"}).status_code == 302
    proposal = propose(world.citizen, world)
    assert proposal.state is ProposalState.awaiting_moderation
    db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=ProposalState.selected))
    db.session.commit()
    page = f"/propositions/{proposal.id}"
    assert "Retenue par le jury" in client.get(page).get_data(as_text=True)
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    html = client.get(page).get_data(as_text=True)
    assert "Chosen by the jury" in html and "Retenue par le jury" not in html
    assert 'value="Chosen by the jury"' in client.get(url).get_data(as_text=True)  # shown again for editing


def test_notifications_page_and_digest_preference(client, world):
    proposal = propose(world.citizen, world)
    service.add_comment(proposal, world.other, "Bonjour")
    login(client, world.citizen.email)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "Nouveau commentaire sur" in html and "non lue" in html
    assert post_form(client, "/notifications/preferences", {"digest": "none"},
                     csrf_url="/notifications/").status_code == 302
    from app.notifications.service import get_digest_frequency

    assert get_digest_frequency(world.citizen).value == "none"
    post_form(client, "/notifications/lues", {}, csrf_url="/notifications/")
    assert "non lue" not in client.get("/notifications/").get_data(as_text=True)


def test_bad_digest_value_is_refused(client, world):
    login(client, world.citizen.email)
    post_form(client, "/notifications/preferences", {"digest": "hourly"}, csrf_url="/notifications/")
    from app.notifications.service import get_digest_frequency

    assert get_digest_frequency(world.citizen).value == "daily"


def _seed(world, n, start=0):
    """``n`` published proposals spread over 30 authors and 3 organisations with their services, so that a
    query per distinct author, organisation or service would show as a different count."""
    from tests.factories import make_organisation, make_service, make_user

    if not hasattr(world, "spread"):
        orgs = [world.organisation] + [make_organisation(name=f"Organisation {k}") for k in range(2)]
        services = [world.service] + [make_service(org, name=f"Démarche {k}") for k, org in enumerate(orgs[1:])]
        world.spread = (list(zip(orgs, services, strict=True)), [make_user(name=f"Auteur {k}") for k in range(30)])
        db.session.commit()
    subjects, authors = world.spread
    now = utcnow()
    db.session.execute(insert(Proposal), [
        {"organisation_id": subjects[i % 3][0].id, "service_id": subjects[i % 3][1].id, "title": f"Proposition {i}",
         "problem": "p", "change": "c", "benefit": "", "author_id": authors[i % 30].id,
         "state": ProposalState.published, "support_count": i % 7, "version": 1, "created_at": now,
         "updated_at": now, "published_at": now, "follower_count": 0, "comment_count": 0, "hidden_reason": ""}
        for i in range(start, start + n)])
    db.session.commit()


def _queries(client, url) -> int:
    with recorded_statements() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


@pytest.mark.parametrize("url, small", [("/propositions/", 10), ("/propositions/?tri=supported&q=proposition", 10),
                                        ("/propositions/?etat=published&page=2", 25)])
def test_list_issues_the_same_number_of_queries_with_10_and_1000_proposals(client, world, url, small):
    """(25 for page 2, so that it is not empty.)"""
    login(client, world.citizen.email)
    _seed(world, small)
    few = _queries(client, url)
    _seed(world, 1000 - small, start=small)
    assert count() == 1000
    assert _queries(client, url) == few


@pytest.mark.parametrize("url", ["/propositions/", "/ateliers/"])
def test_list_filters_read_names_only(client, world, url):
    """The life event and service filters of the proposal and workshop lists need names: no life event's services
    are read, and services come as (id, name) rows, not objects."""
    _seed(world, 3)
    with recorded_statements() as statements:
        html = client.get(url).get_data(as_text=True)
    assert f'<option value="{world.service.id}"' in html and f'<option value="{world.life_event.id}"' in html
    assert not any("life_event_services" in s for s in statements)
    assert any(s.startswith("SELECT services.id, services.name \nFROM services") for s in statements)


def test_comments_are_rate_limited_per_account_not_per_address(request, backend):
    """Spam protection: past the limit one account is refused (429); someone else behind the same address is not."""
    from tests.conftest import make_app, prepared_db

    app = make_app(backend, request, RATELIMIT_ENABLED=True, PROPOSAL_COMMENT_RATE_LIMIT="2 per hour")
    with prepared_db(app, backend):
        world = World()
        proposal = propose(world.citizen, world)
        url = f"/propositions/{proposal.id}"
        first = app.test_client()
        login(first, world.other.email)
        statuses = [post_form(first, url + "/commentaires", {"body": f"Commentaire {n}", "website": ""},
                              csrf_url=url).status_code for n in range(3)]
        assert statuses == [302, 302, 429]
        second = app.test_client()  # same address (the test client's), another account
        login(second, world.citizen.email)
        assert post_form(second, url + "/commentaires", {"body": "Moi aussi", "website": ""},
                         csrf_url=url).status_code == 302
        assert count(Comment) == 3


def test_new_proposals_are_rate_limited_per_account(request, backend):
    """Past PROPOSAL_POST_RATE_LIMIT one account gets 429 and nothing is stored; another account is not held back."""
    from tests.conftest import make_app, prepared_db

    app = make_app(backend, request, RATELIMIT_ENABLED=True, PROPOSAL_POST_RATE_LIMIT="2 per hour")
    with prepared_db(app, backend):
        world = World()
        first = app.test_client()
        login(first, world.citizen.email)
        statuses = [post_form(first, "/propositions/nouvelle", new_form(world, title=f"Idée numéro {n}",
                                                                            confirmed="1")).status_code
                    for n in range(3)]
        assert statuses == [302, 302, 429] and count() == 2
        assert first.get("/propositions/nouvelle").status_code == 200  # reading the form is not limited
        second = app.test_client()
        login(second, world.other.email)
        assert post_form(second, "/propositions/nouvelle", new_form(world, confirmed="1")).status_code == 302
        assert count() == 3


def test_a_hidden_proposal_shows_neither_its_title_nor_its_old_versions(client, world):
    proposal = propose(world.citizen, world, title="TITRE-INJURIEUX")
    service.support(proposal, world.other)
    service.edit_proposal(db.session.get(Proposal, proposal.id), world.citizen, title="TITRE-INJURIEUX 2",
                          problem="TEXTE-INJURIEUX", change="c")
    url = f"/propositions/{proposal.id}"
    assert "TEXTE-INJURIEUX" in client.get(url).get_data(as_text=True)  # versions shown while visible
    moderation.hide_proposal(db.session.get(Proposal, proposal.id), world.editor, "Propos injurieux")
    html = client.get(url).get_data(as_text=True)
    assert "Masqué par la modération : Propos injurieux" in html
    assert "INJURIEUX" not in html and "Proposition masquée par la modération" in html
    login(client, world.editor.email)  # moderators still see what they hid
    assert "TITRE-INJURIEUX 2" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("field", ["parent_id", "comment_id"])
def test_ids_beyond_the_database_range_are_refused_cleanly(client, world, field):
    proposal = propose(world.citizen, world)
    login(client, world.other.email)
    url = f"/propositions/{proposal.id}"
    target = url + ("/commentaires" if field == "parent_id" else "/signaler")
    response = post_form(client, target, {"body": "Réponse", "reason": "Spam", "website": "",
                                          field: "9" * 25}, csrf_url=url)
    assert response.status_code == 302
    assert count(Comment) == 0
    from app.proposals.models import Report
    assert count(Report) == 0


def test_promoting_an_id_beyond_the_database_range_is_not_found(client, world):
    board, idea, _ = make_idea(world)
    login(client, world.facilitator.email)
    url = f"/propositions/tableaux/{board.id}"
    response = post_form(client, url + "/promouvoir", {"idea_id": "9" * 25}, csrf_url=url)
    assert response.status_code == 404 and count() == 0


def test_admins_read_the_moderation_log_in_words_with_the_public_reason(client, world):
    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Propos injurieux")
    login(client, world.admin.email)
    html = client.get("/propositions/moderation").get_data(as_text=True)
    assert "Proposition masquée" in html and "Propos injurieux" in html and "hide_proposal" not in html
    assert f"Proposition n° {proposal.id}" in html


def test_editors_read_the_moderation_log_of_their_organisation_only(client, world):
    from app.catalog.models import Role
    from tests.factories import make_member, make_organisation, make_service

    proposal = propose(world.citizen, world)
    moderation.hide_proposal(proposal, world.editor, "Propos injurieux")
    elsewhere = make_organisation(name="Autre ministère")
    other_editor = make_member(elsewhere, Role.editor, name="Éditeur Ailleurs")
    elsewhere_service = make_service(elsewhere)
    db.session.commit()
    foreign = propose(world.citizen, world, title="Ailleurs", service_id=elsewhere_service.id)
    moderation.hide_proposal(foreign, other_editor, "Hors sujet ailleurs")
    login(client, world.editor.email)
    html = client.get("/propositions/moderation").get_data(as_text=True)
    assert "Propos injurieux" in html and "Élise Éditrice" in html and "Proposition masquée" in html
    assert "Hors sujet ailleurs" not in html
