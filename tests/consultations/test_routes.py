"""Consultation pages through the app (both backends): listing, ballots with their review step, errors,
results, and the organisers' pages."""

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from app.catalog.models import Role
from app.clock import utcnow
from app.consultations import service
from app.consultations.models import (
    Consultation,
    ConsultationMethod,
    ConsultationProposal,
    ConsultationState,
    SelectionRule,
)
from app.extensions import db
from app.proposals.models import Proposal, ProposalState
from tests.conftest import get_csrf, post_form
from tests.consultations.helpers import make_consultation, make_proposal, move
from tests.factories import make_member, make_organisation, make_user
from tests.queries import count_queries

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
    assert "vote exprimé" not in page and "Points" not in page  # neither participation nor scores


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
    # Proposition 2: graded « Passable » twice, left ungraded once (counted « À rejeter »): median Passable.
    profile_b = page[page.index("Profil de mérite : « Proposition 2 »"):]
    profile_b = profile_b[:profile_b.index("</table>")]
    assert '<tr class="median"><th scope="row">Passable (médiane)</th><td>2</td><td>67 %</td></tr>' in profile_b
    assert '<th scope="row">À rejeter</th><td>1</td><td>33 %</td>' in profile_b
    assert '<th scope="row">Excellent</th><td>0</td>' in profile_b
    assert "<svg" in page and "<script" not in page.split("<main")[1]


@pytest.mark.parametrize("path", ["/resultats", ""])
def test_a_closed_consultation_speaks_of_its_vote_in_the_past(app, client, path):
    """Once closed, the results and the consultation's page no longer promise hidden results or a vote that
    can still be changed; while open, they do."""
    consultation, organiser, (a, _b, _c) = make_consultation(SUPPORT)
    voter = make_user()
    db.session.commit()
    service.cast_ballot(consultation, voter, {a.id: 1})
    while_open = text(client.get(f"/consultations/{consultation.id}"))
    assert "Vous pouvez modifier votre vote jusqu'à la clôture." in while_open.replace("&#39;", "'")
    service.close_consultation(consultation.id, actor=organiser, force=True)
    page = text(client.get(f"/consultations/{consultation.id}{path}")).replace("&#39;", "'")
    assert "Le vote est clos : les résultats sont définitifs" in page
    assert "jusqu'à la clôture" not in page and "modifier votre vote" not in page


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


# --- the consultation's list of proposals: sort, search, pagination ------------------------------

def retitle(proposals, titles, *, supports=None):
    """Distinct titles, publication times one day apart (the first oldest) and support counts."""
    now = utcnow()
    for i, (proposal, title) in enumerate(zip(proposals, titles, strict=True)):
        values = {"title": title, "published_at": now - timedelta(days=len(proposals) - i)}
        if supports is not None:
            values["support_count"] = supports[i]
        db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(**values))
    db.session.commit()
    db.session.expire_all()


def order_in(page: str, titles) -> list[str]:
    """``titles`` in the order they appear in the list of proposals (after the search form)."""
    listing = page[page.index('id="proposals-title"'):]
    listing = listing[:listing.index("</ul>")] if "</ul>" in listing else ""
    return sorted((t for t in titles if t in listing), key=listing.index)


TITLES = ["Carte grise en ligne", "Déménagement déclaré une fois", "Rendez-vous en préfecture"]


def test_consultation_proposals_sorted_by_newest_or_most_supported(app, client):
    consultation, _, proposals = make_consultation(SUPPORT)
    retitle(proposals, TITLES, supports=[5, 1, 3])
    url = f"/consultations/{consultation.id}"
    assert order_in(text(client.get(url)), TITLES) == TITLES[::-1]  # newest first by default
    assert order_in(text(client.get(url + "?tri=supported")), TITLES) == [TITLES[0], TITLES[2], TITLES[1]]
    # An unknown sort is the default one.
    assert order_in(text(client.get(url + "?tri=n'importe")), TITLES) == TITLES[::-1]


def test_vote_rank_sort_is_offered_only_once_results_are_published(app, client):
    consultation, organiser, proposals = make_consultation(SUPPORT)
    retitle(proposals, TITLES)
    url = f"/consultations/{consultation.id}"
    # While voting: no rank option, and asking for it gives the newest first.
    page = text(client.get(url + "?tri=rank"))
    assert 'value="rank"' not in page
    assert order_in(page, TITLES) == TITLES[::-1]
    for person, chosen in ((make_user(), [0, 1]), (make_user(), [0, 1]), (make_user(), [0])):
        db.session.commit()
        service.cast_ballot(consultation, person, {proposals[i].id: 1 for i in chosen})
    service.close_consultation(consultation.id, actor=organiser, force=True)
    page = text(client.get(url))  # closed: ranked by the vote by default
    assert 'value="rank" selected' in page
    assert order_in(page, TITLES) == TITLES  # 3, 2 and 0 supports in the vote
    assert "Rang 1" in page and "Rang 3" in page
    assert order_in(text(client.get(url + "?tri=newest")), TITLES) == TITLES[::-1]


@pytest.mark.both_databases("app.proposals.search")
def test_consultation_proposals_full_text_search(app, client):
    consultation, _, proposals = make_consultation(SUPPORT)
    retitle(proposals, TITLES)
    # The same word in a proposal outside this consultation: not listed here.
    outsider = make_proposal(consultation.organisation, title="Déménagement sans justificatif")
    db.session.commit()
    page = text(client.get(f"/consultations/{consultation.id}?q=d%C3%A9m%C3%A9nagement"))
    assert order_in(page, TITLES + [outsider.title]) == [TITLES[1]]
    assert "1 proposition correspond à « déménagement »." in page
    assert "3 propositions soumises au vote" in page  # the heading still counts the whole ballot
    assert 'value="déménagement"' in page


@pytest.mark.both_databases("app.proposals.search")
def test_consultation_proposals_search_without_match_says_so(app, client):
    consultation, _, proposals = make_consultation(SUPPORT)
    retitle(proposals, TITLES)
    page = text(client.get(f"/consultations/{consultation.id}?q=hippopotame"))
    assert order_in(page, TITLES) == []
    assert "Aucune proposition de ce vote ne correspond à ces mots-clés." in page


@pytest.mark.both_databases("app.proposals.search")
def test_consultation_proposals_paginated_keeping_search_and_sort(app, client):
    app.config["CONSULTATION_ITEMS_PER_PAGE"] = 2
    consultation, _, proposals = make_consultation(SUPPORT)
    retitle(proposals, TITLES, supports=[5, 1, 3])
    url = f"/consultations/{consultation.id}"
    first = text(client.get(url + "?tri=supported"))
    assert order_in(first, TITLES) == [TITLES[0], TITLES[2]]
    assert "Page 1 sur 2" in first
    assert f'href="/consultations/{consultation.id}?tri=supported&amp;page=2#proposals-title"' in first
    second = text(client.get(url + "?tri=supported&page=2"))
    assert order_in(second, TITLES) == [TITLES[1]] and "Page 2 sur 2" in second
    assert "Page suivante" not in second and "Page précédente" in second
    # Past the last page: an empty page, not an error.
    beyond = client.get(url + "?tri=supported&page=9")
    assert beyond.status_code == 200 and order_in(text(beyond), TITLES) == []


def test_consultations_list_paginates_the_closed_votes(app, client):
    app.config["CONSULTATIONS_PER_PAGE"] = 1
    make_consultation(title="Vote en cours A")
    for title, closes_in in (("Vote clos ancien", timedelta(days=1)), ("Vote clos récent", timedelta(days=2))):
        closed, organiser, _ = make_consultation(title=title, closes_in=closes_in)
        service.close_consultation(closed.id, actor=organiser, force=True)
    first = text(client.get("/consultations/"))
    assert "Vote en cours A" in first and "Vote clos récent" in first and "Vote clos ancien" not in first
    assert "Page 1 sur 2" in first and 'href="/consultations/?page=2"' in first
    second = text(client.get("/consultations/?page=2"))
    assert "Vote clos ancien" in second and "Vote clos récent" not in second
    assert "Vote en cours A" not in second  # the running votes are on the first page only
    assert "Page 2 sur 2" in second


def test_proposals_list_links_to_consultations(app, client):
    page = text(client.get("/propositions/"))
    assert 'href="/consultations/">Par consultation</a>' in page


def _seed_consultation(n: int, *, closed: bool):
    """A consultation on ``n`` proposals inserted in bulk, opened; with one ballot; closed if asked."""
    organisation = make_organisation()
    organiser = make_member(organisation, Role.editor)
    author = make_user()
    db.session.commit()
    now = utcnow()
    consultation = service.create_consultation(
        organiser, organisation, title=f"Vote sur {n} propositions", opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=7), method=SUPPORT, selection_rule=SelectionRule.top_k, selection_value=3,
        counts_visible_while_open=True)
    db.session.execute(insert(Proposal), [
        {"organisation_id": organisation.id, "title": f"Proposition numéro {i}", "problem": "p", "change": "c",
         "benefit": "", "author_id": author.id, "state": ProposalState.published, "support_count": i % 7,
         "version": 1, "created_at": now, "updated_at": now, "published_at": now - timedelta(minutes=i),
         "follower_count": 0, "comment_count": i % 3, "hidden_reason": ""} for i in range(n)])
    ids = list(db.session.scalars(select(Proposal.id).where(Proposal.organisation_id == organisation.id)))
    db.session.execute(insert(ConsultationProposal), [
        {"consultation_id": consultation.id, "proposal_id": pid, "position": i} for i, pid in enumerate(ids)])
    db.session.commit()
    service.open_consultation(organiser, consultation)
    voter = make_user()
    db.session.commit()
    service.cast_ballot(consultation, voter, dict.fromkeys(ids[::2], 1))
    if closed:
        service.close_consultation(consultation.id, actor=organiser, force=True)
    return consultation


@pytest.mark.parametrize("closed", [False, True], ids=["open-with-live-counts", "closed"])
@pytest.mark.parametrize("query", ["", "?tri=supported&q=proposition", "?page=2", "?tri=rank"])
def test_consultation_page_issues_the_same_number_of_queries_with_10_and_300_proposals(app, client, login_as,
                                                                                       closed, query):
    login_as(make_user())
    small = _seed_consultation(10, closed=closed)
    large = _seed_consultation(300, closed=closed)
    db.session.expire_all()
    assert service.item_count(small) == 10 and service.item_count(large) == 300
    small_count = count_queries(client, f"/consultations/{small.id}{query}")
    large_count = count_queries(client, f"/consultations/{large.id}{query}")
    assert small_count == large_count


def test_a_proposal_hidden_during_the_vote_leaves_the_ballot_and_shows_as_withdrawn(app, client, login_as):
    from app.proposals import moderation

    consultation, organiser, (a, b, c) = make_consultation(MAJORITY)
    editor = make_member(consultation.organisation, Role.editor)
    person = make_user()
    db.session.commit()
    moderation.hide_proposal(db.session.get(Proposal, b.id), editor, "Propos injurieux")
    listing = text(client.get(f"/consultations/{consultation.id}"))
    assert "Proposition masquée par la modération" in listing and "Proposition 2" not in listing
    login_as(person)
    ballot = text(client.get(vote_url(consultation)))
    assert f'name="p-{a.id}"' in ballot and f'name="p-{b.id}"' not in ballot
    assert "1 proposition a été retirée du vote par la modération" in ballot
    # A form loaded before the hiding still sends a grade for it: the vote goes through without it.
    done = post_form(client, vote_url(consultation),
                     {f"p-{a.id}": "5", f"p-{b.id}": "6", f"p-{c.id}": "4", "action": "confirm"})
    assert done.status_code == 302 and stored(consultation, person) == {a.id: 5, c.id: 4}
    service.close_consultation(consultation.id, actor=organiser, force=True)
    results_page = text(client.get(f"/consultations/{consultation.id}/resultats"))
    assert "Retirée du vote par la modération : non comptée." in results_page
    assert "Proposition 2" not in results_page and results_page.count('<table class="table merit-table">') == 2
    assert "Propositions retenues" in results_page and "/ 2</dd>" in results_page
