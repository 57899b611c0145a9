"""Consultation pages through the app (both backends): listing, ballots with their review step, errors,
results, and the organisers' pages."""

from datetime import timedelta

from app.accounts.models import utcnow
from app.catalog.models import Role
from app.consultations import service
from app.consultations.models import Consultation, ConsultationMethod, ConsultationState
from app.extensions import db
from app.proposals.models import ProposalState
from tests.conftest import get_csrf, post_form
from tests.consultations.helpers import make_consultation, make_proposal, move
from tests.factories import make_member, make_organisation, make_user

SUPPORT, DOTS, MAJORITY = ConsultationMethod.support, ConsultationMethod.dots, ConsultationMethod.majority


def vote_url(c):
    return f"/consultations/{c.id}/vote"


def text(response):
    return response.get_data(as_text=True)


def stored(consultation, user):
    db.session.expire_all()
    return service.ballot_values(service.ballot_for(consultation, user))


def test_list_groups_open_upcoming_closed_and_hides_drafts(app, client):
    running, _, _ = make_consultation(title="Vote en cours A")
    upcoming, _, _ = make_consultation(title="Vote à venir B", opens_in=timedelta(days=2))
    make_consultation(title="Brouillon C", open_=False)
    closed, organiser, _ = make_consultation(title="Vote clos D")
    service.close_consultation(closed.id, actor=organiser, force=True)
    page = text(client.get("/consultations/"))
    assert page.index("Vote en cours A") < page.index("Vote à venir B") < page.index("Vote clos D")
    assert "Brouillon C" not in page


def test_draft_page_is_404_for_the_public_and_shown_to_organisers(app, client, login_as):
    draft, organiser, _ = make_consultation(open_=False)
    assert client.get(f"/consultations/{draft.id}").status_code == 404
    login_as(organiser)
    assert client.get(f"/consultations/{draft.id}").status_code == 200


def test_consultation_page_explains_the_method_and_hides_counts(app, client):
    consultation, _, (a, _b, _c) = make_consultation(DOTS)
    person = make_user()
    db.session.commit()
    service.cast_ballot(consultation, person, {a.id: 3})
    page = text(client.get(f"/consultations/{consultation.id}"))
    assert "5 points à répartir" in page and "au plus 3" in page
    assert "Résultats partiels" not in page and "<strong>ici</strong>" in page


def test_counts_shown_while_open_when_the_organiser_chose_so(app, client):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT, counts_visible_while_open=True)
    person = make_user()
    db.session.commit()
    service.cast_ballot(consultation, person, {a.id: 1})
    page = text(client.get(f"/consultations/{consultation.id}"))
    assert "Résultats partiels : 1 vote exprimé." in page
    assert f'<th scope="row">{a.title}</th>\n      <td>1</td>' in page


def test_support_vote_review_then_confirm_then_change(app, client, login_as):
    consultation, _, (a, b, c) = make_consultation(SUPPORT)
    person = make_user()
    login_as(person)
    page = text(client.get(vote_url(consultation)))
    assert f'name="p-{a.id}"' in page and "<legend>" in page
    review = post_form(client, vote_url(consultation), {f"p-{a.id}": "1", f"p-{c.id}": "1", "action": "review"})
    assert review.status_code == 200 and "Vérifiez votre vote" in text(review)
    assert stored(consultation, person) == {}  # nothing stored before the confirmation
    done = post_form(client, vote_url(consultation), {f"p-{a.id}": "1", f"p-{c.id}": "1", "action": "confirm"})
    assert done.status_code == 302
    assert stored(consultation, person) == {a.id: 1, c.id: 1}
    post_form(client, vote_url(consultation), {f"p-{b.id}": "1", "action": "confirm"})
    assert stored(consultation, person) == {b.id: 1}
    assert "Modifier mon vote" in text(client.get(f"/consultations/{consultation.id}"))


def test_dots_over_budget_shows_the_error_and_stores_nothing(app, client, login_as):
    consultation, _, (a, b, _c) = make_consultation(DOTS)
    person = make_user()
    login_as(person)
    response = post_form(client, vote_url(consultation), {f"p-{a.id}": "3", f"p-{b.id}": "3", "action": "confirm"})
    assert response.status_code == 422
    page = text(response)
    assert 'class="error-summary"' in page and "6 points pour un budget de 5" in page
    assert stored(consultation, person) == {}


def test_dots_not_a_number_is_a_field_error(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(DOTS)
    login_as(make_user())
    response = post_form(client, vote_url(consultation), {f"p-{a.id}": "deux", "action": "review"})
    assert response.status_code == 422
    assert f'href="#p-{a.id}"' in text(response) and 'aria-invalid="true"' in text(response)


def test_majority_ballot_warns_about_ungraded_and_review_shows_reject(app, client, login_as):
    consultation, _, (a, b, _c) = make_consultation(MAJORITY)
    person = make_user()
    login_as(person)
    page = text(client.get(vote_url(consultation)))
    assert "comptera comme « À rejeter »" in page and page.count("<fieldset") == 3
    review = text(post_form(client, vote_url(consultation), {f"p-{a.id}": "5", "action": "review"}))
    assert "Très bien" in review and review.count("(aucune mention attribuée)") == 2
    post_form(client, vote_url(consultation), {f"p-{a.id}": "5", f"p-{b.id}": "0", "action": "confirm"})
    assert stored(consultation, person) == {a.id: 5, b.id: 0}


def test_majority_grade_out_of_range_refused(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(MAJORITY)
    person = make_user()
    login_as(person)
    response = post_form(client, vote_url(consultation), {f"p-{a.id}": "9", "action": "confirm"})
    assert response.status_code == 422 and "Choisissez une des mentions proposées." in text(response)
    assert stored(consultation, person) == {}


def test_edit_from_review_keeps_what_was_entered(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(DOTS)
    login_as(make_user())
    page = text(post_form(client, vote_url(consultation), {f"p-{a.id}": "2", "action": "edit"}))
    assert f'id="p-{a.id}" name="p-{a.id}" min="0" max="3" step="1" value="2"' in page


def test_vote_without_csrf_refused(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    person = make_user()
    login_as(person)
    response = client.post(vote_url(consultation), data={f"p-{a.id}": "1", "action": "confirm"})
    assert response.status_code == 400
    assert stored(consultation, person) == {}


def test_unverified_is_sent_back_with_a_message(app, client, login_as):
    consultation, _, _ = make_consultation(SUPPORT)
    login_as(make_user(verified=False))
    response = client.get(vote_url(consultation), follow_redirects=True)
    assert "abord votre adresse électronique" in text(response)


def test_anonymous_must_log_in_to_vote(app, client):
    consultation, _, _ = make_consultation(SUPPORT)
    response = client.get(vote_url(consultation))
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_vote_after_closing_time_refused(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    person = make_user()
    login_as(person)
    token = get_csrf(client, vote_url(consultation))
    move(consultation, closes_in=timedelta(seconds=-1))
    response = client.post(vote_url(consultation), data={"csrf_token": token, f"p-{a.id}": "1", "action": "confirm"})
    assert response.status_code == 400 and "Le vote est clos." in text(response)
    assert stored(consultation, person) == {}


def test_results_page_with_merit_profiles(app, client):
    consultation, organiser, (a, b, _c) = make_consultation(MAJORITY)
    voters = [make_user() for _ in range(3)]
    db.session.commit()
    for person, grades in zip(voters, ({a.id: 6, b.id: 2}, {a.id: 5, b.id: 2}, {a.id: 4}), strict=True):
        service.cast_ballot(consultation, person, grades)
    assert client.get(f"/consultations/{consultation.id}/resultats").status_code == 302  # not before closing
    service.close_consultation(consultation.id, actor=organiser, force=True)
    page = text(client.get(f"/consultations/{consultation.id}/resultats"))
    assert "3 votes exprimés" in page and "Profil de mérite : « Proposition 1 »" in page
    assert page.count('<table class="table merit-table">') == 3 and "(médiane)" in page
    assert page.index("Proposition 1") < page.index("Proposition 2")
    assert "<svg" in page and "<script" not in page.split("<main")[1]


def test_organiser_creates_adds_opens_and_closes_through_the_pages(app, client, login_as):
    org = make_organisation()
    editor = make_member(org, Role.editor)
    proposals = [make_proposal(org, title=f"Idée {i}") for i in range(2)]
    unpublished = make_proposal(org, state=ProposalState.awaiting_moderation, title="Pas encore")
    db.session.commit()
    login_as(editor)
    now = utcnow() + timedelta(hours=3)
    response = post_form(client, "/consultations/nouvelle", {
        "organisation_id": org.id, "title": "Simplifier le déménagement", "description_md": "",
        "opens_at": (now - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"), "method": "support",
        "selection_rule": "top_k", "selection_value": "1"})
    assert response.status_code == 302
    consultation = db.session.scalar(db.select(Consultation))
    manage = text(client.get(f"/consultations/{consultation.id}/gestion"))
    assert "Idée 0" in manage and "Pas encore" not in manage
    response = post_form(client, f"/consultations/{consultation.id}/gestion",
                         {"proposal_ids": [str(p.id) for p in proposals]})
    assert response.status_code == 302
    assert service.proposal_ids(consultation) == [p.id for p in proposals]
    response = post_form(client, f"/consultations/{consultation.id}/gestion", {"proposal_ids": [str(unpublished.id)]},
                         csrf_url=f"/consultations/{consultation.id}/gestion")
    assert response.status_code == 422  # not among the choices offered
    post_form(client, f"/consultations/{consultation.id}/ouvrir", {}, csrf_url=f"/consultations/{consultation.id}")
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.open
    response = post_form(client, f"/consultations/{consultation.id}/clore", {},
                         csrf_url=f"/consultations/{consultation.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/resultats")
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.closed


def test_new_consultation_form_errors_are_shown(app, client, login_as):
    org = make_organisation()
    login_as(make_member(org, Role.facilitator))
    response = post_form(client, "/consultations/nouvelle", {"organisation_id": org.id, "title": "", "method": "dots",
                                                            "selection_rule": "top_k"})
    assert response.status_code == 422
    page = text(response)
    assert 'class="error-summary"' in page and "Indiquez le budget de points." in page


def test_editing_an_open_consultation_method_is_refused_on_the_form(app, client, login_as):
    consultation, organiser, _ = make_consultation(SUPPORT)
    login_as(organiser)
    c = db.session.get(Consultation, consultation.id)
    from app.workshops.forms import to_local

    data = {"organisation_id": c.organisation_id, "title": "Titre modifié", "description_md": "",
            "opens_at": to_local(c.opens_at).strftime("%Y-%m-%dT%H:%M"),
            "closes_at": to_local(c.closes_at).strftime("%Y-%m-%dT%H:%M"), "method": "majority",
            "selection_rule": "top_k", "selection_value": "1"}
    response = post_form(client, f"/consultations/{c.id}/modifier", data)
    assert response.status_code == 422 and "ne peut plus changer de méthode" in text(response)
    assert db.session.get(Consultation, c.id).method is SUPPORT
    response = post_form(client, f"/consultations/{c.id}/modifier", {**data, "method": "support"})
    assert response.status_code == 302
    assert db.session.get(Consultation, c.id).title == "Titre modifié"


def test_other_organisation_cannot_manage(app, client, login_as):
    consultation, _, _ = make_consultation(open_=False)
    login_as(make_member(make_organisation(), Role.editor))
    assert client.get(f"/consultations/{consultation.id}/gestion").status_code == 403
    response = post_form(client, f"/consultations/{consultation.id}/ouvrir", {}, csrf_url="/consultations/")
    assert response.status_code == 403
    assert db.session.get(Consultation, consultation.id).state is ConsultationState.draft


def test_review_step_refused_once_closed(app, client, login_as):
    consultation, _, (a, _b, _c) = make_consultation(SUPPORT)
    login_as(make_user())
    token = get_csrf(client, vote_url(consultation))
    move(consultation, closes_in=timedelta(seconds=-1))
    response = client.post(vote_url(consultation), data={"csrf_token": token, f"p-{a.id}": "1", "action": "review"})
    assert response.status_code == 400 and "Vérifiez votre vote" not in text(response)
