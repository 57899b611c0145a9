"""From verbatims to co-design (issue 22, point 7): an editor turns users' verbatims, or an irritant tag, into a draft
proposal or a workshop topic, or links them to a proposal or a measure of the organisation. Each rule with its
refusal twin, on SQLite and PostgreSQL; the links are the lower areas' own rows, one per response and target; the
editors' page over HTTP (permissions, CSRF, form errors, constant query counts); the facilitators' topics page."""

import re

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app.catalog.models import Role
from app.decisions.models import Measure, MeasureFeedback
from app.errors import NotAllowed
from app.extensions import db
from app.feedback import linking, triage
from app.feedback.errors import (
    MeasureTargetForeign,
    MeasureTargetNotFound,
    OutcomeUnknown,
    ProposalTargetClosed,
    ProposalTargetForeign,
    ProposalTargetNotFound,
    ResponseIsSpam,
    ResponseWithoutVerbatim,
    SelectedResponseNotFound,
    SelectionAcrossOrganisations,
    SelectionAndTag,
    SelectionEmpty,
    SelectionTooLarge,
    TagNotFound,
    TagWithoutResponses,
)
from app.feedback.models import FeedbackResponse, IrritantTag, feedback_response_tags
from app.notifications.models import Notification
from app.proposals.merging import merge_proposals
from app.proposals.models import Follow, OriginKind, Proposal, ProposalOrigin, ProposalState
from app.workshops import topics
from app.workshops.models import WorkshopStatus, WorkshopTopic, WorkshopTopicResponse
from tests.conftest import get_csrf, login, post_form
from tests.factories import make_member, make_organisation, make_service, make_user, make_workshop
from tests.feedback.helpers import make_response
from tests.queries import count_queries


class World:
    """Organisation A (two services, an editor, a facilitator), organisation B (a service, an editor), a citizen,
    an admin; verbatims on A's first service."""

    def __init__(self):
        self.org = make_organisation(name="Caisse des démarches")
        self.other_org = make_organisation(name="Autre administration")
        self.service = make_service(self.org, name="Déclarer un déménagement")
        self.second_service = make_service(self.org, name="Changer de caisse")
        self.other_service = make_service(self.other_org, name="Demander une aide")
        self.editor = make_member(self.org, Role.editor, name="Élise Éditrice")
        self.facilitator = make_member(self.org, Role.facilitator, name="Fanny Animatrice")
        self.other_editor = make_member(self.other_org, Role.editor, name="Oscar Autre")
        self.other_facilitator = make_member(self.other_org, Role.facilitator, name="Olga Autre")
        self.citizen = make_user(name="Claude Passant")
        self.admin = make_user(name="Ada Admin", admin=True)
        self.verbatims = [make_response(self.service, satisfaction=1, verbatim=text) for text in (
            "Il faut déclarer le déménagement cinq fois.", "Le formulaire perd mes pièces jointes.",
            "Personne ne répond au téléphone.")]
        db.session.commit()

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.verbatims]

    def tag(self, label="Déclarations en double", service=None, responses=()) -> IrritantTag:
        tag = IrritantTag(service_id=(service or self.service).id, label=label)
        db.session.add(tag)
        db.session.flush()
        for response in responses:
            db.session.execute(insert(feedback_response_tags).values(response_id=response.id, tag_id=tag.id))
        db.session.commit()
        return tag

    def proposal(self, state=ProposalState.published, organisation=None, author=None, **fields) -> Proposal:
        proposal = Proposal(organisation_id=(organisation or self.org).id, title=fields.get("title", "Un formulaire"),
                            problem="p", change="c", author_id=(author or self.citizen).id, state=state,
                            hidden_at=fields.get("hidden_at"), hidden_reason="hors charte" if fields.get("hidden_at")
                            else "")
        db.session.add(proposal)
        db.session.commit()
        return proposal

    def measure(self, organisation=None, title="Changement d'adresse unique") -> Measure:
        measure = Measure(organisation_id=(organisation or self.org).id, title=title)
        db.session.add(measure)
        db.session.commit()
        return measure


@pytest.fixture
def world(app):
    return World()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def feedback_origins(proposal_id) -> list[int]:
    return sorted(db.session.scalars(select(ProposalOrigin.response_id).where(
        ProposalOrigin.proposal_id == proposal_id, ProposalOrigin.kind == OriginKind.feedback)))


def nothing_written() -> bool:
    return (count(Proposal), count(ProposalOrigin), count(MeasureFeedback), count(WorkshopTopic),
            count(WorkshopTopicResponse)) == (0, 0, 0, 0, 0)


# --- a draft proposal ------------------------------------------------------------------------------

@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_editor_turns_verbatims_into_a_draft_proposal_written_for_the_organisation(world):
    result = linking.create_proposal(world.editor, response_ids=world.ids)
    proposal = db.session.get(Proposal, result.target.id)
    assert (proposal.state, proposal.author_id, proposal.organisation_id, proposal.service_id) == (
        ProposalState.draft, world.editor.id, world.org.id, world.service.id)
    # The newest verbatim first gives the title; every verbatim is quoted as the problem; the change is the editor's.
    assert proposal.title == "Personne ne répond au téléphone."
    assert proposal.problem.splitlines() == ["- « Personne ne répond au téléphone. »",
                                             "- « Le formulaire perd mes pièces jointes. »",
                                             "- « Il faut déclarer le déménagement cinq fois. »"]
    assert proposal.change == ""
    assert feedback_origins(proposal.id) == sorted(world.ids)
    assert (result.selected, result.added) == (3, 3)
    assert db.session.scalar(select(Follow.id).where(Follow.proposal_id == proposal.id,
                                                     Follow.user_id == world.editor.id))
    # The editor completes it and sends it as any draft: its origins stay.
    assert proposal.can_edit(world.editor)


def test_a_proposal_takes_the_title_the_editor_gives(world):
    result = linking.create_proposal(world.editor, response_ids=world.ids[:1], title="  Une seule déclaration  ")
    assert result.target.title == "Une seule déclaration"


def test_a_long_selection_is_quoted_within_the_proposals_text_limit(world):
    many = [make_response(world.service, verbatim=f"Avis numéro {n} : " + "trop de papiers " * 20) for n in range(40)]
    db.session.commit()
    result = linking.create_proposal(world.editor, response_ids=[r.id for r in many])
    problem = result.target.problem
    assert len(problem) <= linking.QUOTE_MAX
    assert re.search(r"… et \d+ autres avis\.$", problem)
    assert len(feedback_origins(result.target.id)) == 40  # every response is an origin, quoted or not


def test_one_very_long_verbatim_is_quoted_in_part(world):
    long = make_response(world.service, verbatim="Trop de papiers. " * 400)
    db.session.commit()
    problem = linking.create_proposal(world.editor, response_ids=[long.id, world.ids[0]]).target.problem
    assert len(problem) <= linking.QUOTE_MAX and problem.startswith("- « Trop de papiers.")
    assert "… »\n… et 1 autre avis." in problem


def test_nothing_is_made_of_an_empty_selection(world):
    with pytest.raises(SelectionEmpty):
        linking.create_proposal(world.editor, response_ids=[])
    assert nothing_written()


@pytest.mark.parametrize("who", ["facilitator", "citizen", "other_editor"])
def test_only_the_editors_of_the_responses_organisation_use_them(world, who):
    with pytest.raises(NotAllowed):
        linking.create_proposal(getattr(world, who), response_ids=world.ids)
    assert nothing_written()


def test_an_editor_cannot_pick_a_response_of_another_organisation(world):
    foreign = make_response(world.other_service, verbatim="Ailleurs aussi.")
    db.session.commit()
    with pytest.raises(NotAllowed):
        linking.create_proposal(world.editor, response_ids=[world.ids[0], foreign.id])
    assert nothing_written()


def test_responses_of_two_organisations_are_refused_even_to_an_admin(world):
    foreign = make_response(world.other_service, verbatim="Ailleurs aussi.")
    db.session.commit()
    with pytest.raises(SelectionAcrossOrganisations):
        linking.create_proposal(world.admin, response_ids=[world.ids[0], foreign.id])
    assert nothing_written()


def test_responses_of_several_services_of_one_organisation_make_one_proposal(world):
    second = make_response(world.second_service, verbatim="Changer de caisse prend des mois.")
    db.session.commit()
    result = linking.create_proposal(world.editor, response_ids=[*world.ids, second.id])
    # The service most of them are about.
    assert result.target.service_id == world.service.id
    assert len(feedback_origins(result.target.id)) == 4


def test_a_spam_response_is_refused(world):
    spam = make_response(world.service, verbatim="Achetez nos montres !", spam=True)
    db.session.commit()
    with pytest.raises(ResponseIsSpam):
        linking.create_proposal(world.editor, response_ids=[world.ids[0], spam.id])
    assert nothing_written()


def test_a_response_without_a_verbatim_is_refused_when_picked_one_by_one(world):
    silent = make_response(world.service, satisfaction=1)
    db.session.commit()
    with pytest.raises(ResponseWithoutVerbatim):
        linking.create_proposal(world.editor, response_ids=[world.ids[0], silent.id])
    assert nothing_written()


def test_an_unknown_response_is_refused(world):
    with pytest.raises(SelectedResponseNotFound):
        linking.create_proposal(world.editor, response_ids=[world.ids[0], 999_999])
    assert nothing_written()


def test_responses_and_a_tag_at_once_are_refused(world):
    tag = world.tag(responses=world.verbatims[:1])
    with pytest.raises(SelectionAndTag):
        linking.create_proposal(world.editor, response_ids=world.ids, tag_id=tag.id)
    assert nothing_written()


def test_at_most_500_responses_are_picked_one_by_one(world):
    with pytest.raises(SelectionTooLarge):
        linking.create_proposal(world.editor, response_ids=range(1, linking.MAX_SELECTED + 2))
    assert nothing_written()


def test_an_unknown_outcome_is_refused(world):
    with pytest.raises(OutcomeUnknown):
        linking.give_outcome(world.editor, None, response_ids=world.ids)
    assert nothing_written()


# --- an irritant tag -------------------------------------------------------------------------------

@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_a_tag_brings_all_its_non_spam_responses_with_or_without_verbatim(world):
    silent = make_response(world.service, satisfaction=1)
    spam = make_response(world.service, verbatim="Achetez nos montres !", spam=True)
    db.session.commit()
    tag = world.tag(responses=[*world.verbatims[:2], silent, spam])
    result = linking.create_proposal(world.editor, tag_id=tag.id)
    assert feedback_origins(result.target.id) == sorted([*world.ids[:2], silent.id])
    assert result.target.title == "Déclarations en double"
    assert "1 avis sans commentaire porte l'irritant « Déclarations en double »." in result.target.problem
    assert "montres" not in result.target.problem


def test_an_unknown_tag_is_refused(world):
    with pytest.raises(TagNotFound):
        linking.create_proposal(world.editor, tag_id=999_999)
    assert nothing_written()


def test_a_tag_carried_only_by_spam_is_refused(world):
    spam = make_response(world.service, verbatim="Achetez nos montres !", spam=True)
    db.session.commit()
    tag = world.tag(responses=[spam])
    with pytest.raises(TagWithoutResponses):
        linking.create_proposal(world.editor, tag_id=tag.id)
    assert nothing_written()


def test_a_tag_of_another_organisations_service_is_refused(world):
    foreign = make_response(world.other_service, verbatim="Ailleurs aussi.")
    db.session.commit()
    tag = world.tag(service=world.other_service, responses=[foreign])
    with pytest.raises(NotAllowed):
        linking.create_proposal(world.editor, tag_id=tag.id)
    assert nothing_written()


# --- linking to a proposal -------------------------------------------------------------------------

@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_linking_to_a_proposal_adds_each_response_once(world):
    proposal = world.proposal()
    first = linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids[:2])
    assert (first.selected, first.added) == (2, 2)
    again = linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids)
    assert (again.selected, again.added) == (3, 1)
    assert feedback_origins(proposal.id) == sorted(world.ids)
    twice = linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids)
    assert twice.added == 0 and feedback_origins(proposal.id) == sorted(world.ids)


def test_an_editor_adds_feedback_to_their_own_draft(world):
    draft = linking.create_proposal(world.editor, response_ids=world.ids[:1]).target
    result = linking.link_to_proposal(world.editor, draft.id, response_ids=world.ids[1:])
    assert result.added == 2 and feedback_origins(draft.id) == sorted(world.ids)


def test_linking_to_an_unknown_proposal_is_refused(world):
    with pytest.raises(ProposalTargetNotFound):
        linking.link_to_proposal(world.editor, 999_999, response_ids=world.ids)
    with pytest.raises(ProposalTargetNotFound):
        linking.link_to_proposal(world.editor, None, response_ids=world.ids)
    assert count(ProposalOrigin) == 0


def test_linking_to_another_organisations_proposal_is_refused(world):
    proposal = world.proposal(organisation=world.other_org)
    with pytest.raises(ProposalTargetForeign):
        linking.link_to_proposal(world.admin, proposal.id, response_ids=world.ids)
    assert count(ProposalOrigin) == 0


@pytest.mark.parametrize("state", [ProposalState.merged, ProposalState.withdrawn, "hidden", "someone's draft"])
def test_a_proposal_that_can_no_longer_change_takes_no_feedback(world, state):
    from app.clock import utcnow

    if state == "hidden":
        proposal = world.proposal(hidden_at=utcnow())
    elif state == "someone's draft":
        proposal = world.proposal(ProposalState.draft)
    else:
        proposal = world.proposal(state)
    with pytest.raises(ProposalTargetClosed):
        linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids)
    assert count(ProposalOrigin) == 0


def test_merging_carries_the_feedback_over_each_response_once(world):
    target, source = world.proposal(title="Cible"), world.proposal(title="Source")
    linking.link_to_proposal(world.editor, target.id, response_ids=world.ids[:2])
    linking.link_to_proposal(world.editor, source.id, response_ids=world.ids[1:])
    merge_proposals(db.session.get(Proposal, source.id), db.session.get(Proposal, target.id), world.editor)
    assert feedback_origins(target.id) == sorted(world.ids)


@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_the_database_keeps_one_origin_per_proposal_and_response(world):
    proposal = world.proposal()
    linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids[:1])
    with pytest.raises(IntegrityError):
        db.session.execute(insert(ProposalOrigin).values(proposal_id=proposal.id, kind="feedback",
                                                         response_id=world.ids[0]))
    db.session.rollback()
    with pytest.raises(IntegrityError):  # a feedback origin names its response
        db.session.execute(insert(ProposalOrigin).values(proposal_id=proposal.id, kind="feedback"))
    db.session.rollback()


# --- linking to a measure --------------------------------------------------------------------------

@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_linking_to_a_measure_adds_each_response_once(world):
    measure = world.measure()
    first = linking.link_to_measure(world.editor, measure.id, response_ids=world.ids[:1])
    again = linking.link_to_measure(world.editor, measure.id, response_ids=world.ids)
    assert (first.added, again.selected, again.added) == (1, 3, 2)
    rows = db.session.execute(select(MeasureFeedback.response_id, MeasureFeedback.linked_by_id)
                              .where(MeasureFeedback.measure_id == measure.id)).all()
    assert sorted(rows) == sorted((rid, world.editor.id) for rid in world.ids)
    with pytest.raises(IntegrityError):
        db.session.execute(insert(MeasureFeedback).values(measure_id=measure.id, response_id=world.ids[0]))
    db.session.rollback()


def test_linking_to_an_unknown_measure_is_refused(world):
    with pytest.raises(MeasureTargetNotFound):
        linking.link_to_measure(world.editor, 999_999, response_ids=world.ids)
    assert count(MeasureFeedback) == 0


def test_linking_to_another_organisations_measure_is_refused(world):
    measure = world.measure(organisation=world.other_org)
    with pytest.raises(MeasureTargetForeign):
        linking.link_to_measure(world.admin, measure.id, response_ids=world.ids)
    assert count(MeasureFeedback) == 0


def test_forgetting_a_responses_links_removes_them_everywhere(world):
    proposal, measure = world.proposal(), world.measure()
    linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids)
    linking.link_to_measure(world.editor, measure.id, response_ids=world.ids)
    linking.propose_workshop_topic(world.editor, response_ids=world.ids)
    linking.forget_links(world.ids[:1])
    db.session.commit()
    assert feedback_origins(proposal.id) == sorted(world.ids[1:])
    assert count(MeasureFeedback) == count(WorkshopTopicResponse) == 2


def test_marking_a_linked_response_as_spam_takes_it_off_the_trail(world):
    proposal, measure = world.proposal(), world.measure()
    linking.link_to_proposal(world.editor, proposal.id, response_ids=world.ids)
    linking.link_to_measure(world.editor, measure.id, response_ids=world.ids)
    triage.mark_spam(db.session.get(FeedbackResponse, world.ids[0]), world.editor)
    assert feedback_origins(proposal.id) == sorted(world.ids[1:])
    assert count(MeasureFeedback) == len(world.ids) - 1
    triage.unmark_spam(db.session.get(FeedbackResponse, world.ids[0]), world.editor)
    assert feedback_origins(proposal.id) == sorted(world.ids[1:])  # taken back, but to be linked again


# --- a workshop topic ------------------------------------------------------------------------------

@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_verbatims_become_a_workshop_topic_the_facilitators_are_told_of(world):
    result = linking.propose_workshop_topic(world.editor, response_ids=world.ids, title="Déclarer une fois")
    topic = db.session.get(WorkshopTopic, result.target.id)
    assert (topic.organisation_id, topic.service_id, topic.title, topic.proposed_by_id, topic.workshop_id) == (
        world.org.id, world.service.id, "Déclarer une fois", world.editor.id, None)
    assert "« Le formulaire perd mes pièces jointes. »" in topic.description
    assert sorted(db.session.scalars(select(WorkshopTopicResponse.response_id)
                                     .where(WorkshopTopicResponse.topic_id == topic.id))) == sorted(world.ids)
    told = db.session.execute(select(Notification.user_id, Notification.kind, Notification.url)).all()
    assert told == [(world.facilitator.id, "workshop_topic_proposed", "/ateliers/gestion/sujets")]


def test_a_workshop_topic_needs_an_editor_of_the_organisation(world):
    with pytest.raises(NotAllowed):
        linking.propose_workshop_topic(world.facilitator, response_ids=world.ids)
    assert nothing_written() and count(Notification) == 0


@pytest.mark.both_databases("app.feedback.linking", "app.workshops.topics")
def test_a_facilitator_takes_a_topic_up_with_a_workshop_of_the_organisation(world):
    topic = linking.propose_workshop_topic(world.editor, response_ids=world.ids).target
    workshop = make_workshop(world.org, creator=world.facilitator)
    db.session.commit()
    topics.take_up_topic(topic.id, workshop.id, world.facilitator)
    topic = db.session.get(WorkshopTopic, topic.id, populate_existing=True)
    assert (topic.workshop_id, topic.taken_up_by_id) == (workshop.id, world.facilitator.id)
    assert topic.taken_up_at is not None


def test_only_the_organisations_facilitators_take_a_topic_up(world):
    topic = linking.propose_workshop_topic(world.editor, response_ids=world.ids).target
    workshop = make_workshop(world.org, creator=world.facilitator)
    db.session.commit()
    for who in (world.other_facilitator, world.editor, world.citizen):
        with pytest.raises(NotAllowed):
            topics.take_up_topic(topic.id, workshop.id, who)
    assert db.session.get(WorkshopTopic, topic.id, populate_existing=True).workshop_id is None


def test_a_topic_is_taken_up_by_a_workshop_of_its_organisation_that_is_not_cancelled(world):
    topic = linking.propose_workshop_topic(world.editor, response_ids=world.ids).target
    foreign = make_workshop(world.other_org, creator=world.other_facilitator)
    cancelled = make_workshop(world.org, creator=world.facilitator)
    cancelled.status = WorkshopStatus.cancelled
    db.session.commit()
    for workshop_id in (foreign.id, cancelled.id, 999_999):
        with pytest.raises(topics.TopicWorkshopMismatch):
            topics.take_up_topic(topic.id, workshop_id, world.admin)
    assert db.session.get(WorkshopTopic, topic.id, populate_existing=True).workshop_id is None


# --- the editors' page -----------------------------------------------------------------------------

def page_url(world) -> str:
    return f"/avis/gestion/{world.service.slug}/suites"


def test_the_page_lists_the_services_verbatims_to_choose_from(client, world):
    make_response(world.service, verbatim="Achetez nos montres !", spam=True)
    make_response(world.service, satisfaction=2)
    foreign = make_response(world.other_service, verbatim="Texte d'une autre organisation.")
    db.session.commit()
    login(client, world.editor.email)
    html = client.get(page_url(world)).get_data(as_text=True)
    for response in world.verbatims:
        assert f'name="response_ids" value="{response.id}"' in html
    assert html.count('name="response_ids"') == 3  # no spam, no response without a verbatim
    # Sent from a list page: chosen, and only those of this organisation are shown.
    html = client.get(page_url(world) + f"?response_ids={world.ids[0]}&response_ids={foreign.id}"
                      ).get_data(as_text=True)
    assert f'value="{world.ids[0]}" id="response-{world.ids[0]}" checked' in html
    assert "autre organisation" not in html and html.count('name="response_ids"') == 1


def test_the_page_reads_the_same_number_of_queries_for_few_and_many_verbatims(client, world):
    login(client, world.editor.email)
    linking.link_to_proposal(world.editor, world.proposal().id, response_ids=world.ids)
    client.get(page_url(world))  # warm up
    few = count_queries(client, page_url(world))
    more = [make_response(world.service, verbatim=f"Avis {n}") for n in range(20)]
    db.session.commit()
    tag = world.tag(responses=more)
    linking.link_to_measure(world.editor, world.measure().id, tag_id=tag.id)
    linking.propose_workshop_topic(world.editor, tag_id=tag.id)
    many = count_queries(client, page_url(world))
    html = client.get(page_url(world)).get_data(as_text=True)
    assert html.count('name="response_ids"') == 23 and "déjà lié à" in html
    assert many == few


def test_an_editor_makes_a_proposal_from_the_page(client, world):
    login(client, world.editor.email)
    response = post_form(client, page_url(world), {"response_ids": world.ids[:2], "action": "new_proposal",
                                                   "title": "Une seule déclaration", "tag_id": "0",
                                                   "proposal_id": "0", "measure_id": "0"})
    proposal = db.session.scalar(select(Proposal))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/propositions/{proposal.id}")
    assert feedback_origins(proposal.id) == sorted(world.ids[:2])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Brouillon de proposition créé à partir de 2 avis" in page
    assert "2 avis d'usagers laissés sur « Je donne mon avis »" in page


def test_an_editor_links_a_tag_to_a_measure_from_the_page(client, world):
    tag, measure = world.tag(responses=world.verbatims), world.measure()
    login(client, world.editor.email)
    response = post_form(client, page_url(world), {"tag_id": str(tag.id), "action": "link_measure",
                                                   "measure_id": str(measure.id)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/decisions/mesures/{measure.id}")
    assert count(MeasureFeedback) == 3
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 avis liés à la mesure." in page and "Cette mesure est née de 3 avis d&#39;usagers." not in page
    assert "Cette mesure est née de 3 avis d'usagers." in page


def test_the_page_shows_a_refusal_on_its_field(client, world):
    login(client, world.editor.email)
    response = post_form(client, page_url(world), {"action": "new_proposal"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'class="error-summary"' in html
    assert 'href="#response_ids"' in html and "Choisissez au moins un avis, ou un irritant." in html
    response = post_form(client, page_url(world), {"response_ids": world.ids, "action": "link_proposal"})
    assert response.status_code == 422 and "Choisissez la proposition à compléter." in response.get_data(as_text=True)
    other = world.proposal(organisation=world.other_org)
    response = post_form(client, page_url(world), {"response_ids": world.ids, "action": "link_proposal",
                                                   "proposal_id": str(other.id)})
    assert response.status_code == 422
    assert "Cette proposition relève d&#39;une autre organisation" in response.get_data(as_text=True)
    assert count(ProposalOrigin) == 0


@pytest.mark.parametrize("who", ["facilitator", "other_editor", "citizen"])
def test_the_page_is_for_the_services_editors(client, world, who):
    login(client, getattr(world, who).email)
    assert client.get(page_url(world)).status_code == 403
    response = client.post(page_url(world), data={"response_ids": world.ids, "action": "new_proposal",
                                                  "csrf_token": get_csrf(client, "/")})
    assert response.status_code == 403 and nothing_written()


def test_the_page_asks_a_visitor_to_sign_in(client, world):
    response = client.get(page_url(world))
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]


def test_a_follow_up_without_its_csrf_token_is_refused(client, world):
    login(client, world.editor.email)
    response = client.post(page_url(world), data={"response_ids": world.ids, "action": "new_proposal"})
    assert response.status_code == 400 and nothing_written()


# --- the facilitators' topics page -----------------------------------------------------------------

def test_facilitators_see_their_topics_and_take_one_up(client, world):
    topic = linking.propose_workshop_topic(world.editor, response_ids=world.ids, title="Déclarer une fois").target
    elsewhere = make_response(world.other_service, verbatim="Ailleurs.")
    db.session.commit()
    linking.propose_workshop_topic(world.other_editor, response_ids=[elsewhere.id], title="Sujet d'ailleurs")
    workshop = make_workshop(world.org, creator=world.facilitator, title="Atelier déménagement")
    db.session.commit()
    login(client, world.facilitator.email)
    html = client.get("/ateliers/gestion/sujets").get_data(as_text=True)
    assert "Déclarer une fois" in html and "issu de 3 avis d'usagers" in html
    assert "Sujet d&#39;ailleurs" not in html
    response = post_form(client, f"/ateliers/gestion/sujets/{topic.id}/atelier", {"workshop_id": str(workshop.id)},
                         csrf_url="/ateliers/gestion/sujets")
    assert response.status_code == 302
    assert db.session.get(WorkshopTopic, topic.id, populate_existing=True).workshop_id == workshop.id
    assert "est confié à l&#39;atelier choisi" in client.get("/ateliers/gestion/sujets").get_data(as_text=True)


def test_a_topic_is_taken_up_by_its_organisations_facilitators_only(client, world):
    topic = linking.propose_workshop_topic(world.editor, response_ids=world.ids).target
    workshop = make_workshop(world.org, creator=world.facilitator)
    db.session.commit()
    login(client, world.other_facilitator.email)
    response = post_form(client, f"/ateliers/gestion/sujets/{topic.id}/atelier", {"workshop_id": str(workshop.id)},
                         csrf_url="/ateliers/gestion/sujets")
    assert response.status_code == 403
    assert db.session.get(WorkshopTopic, topic.id, populate_existing=True).workshop_id is None


def test_the_topics_page_reads_the_same_number_of_queries_for_one_and_many_topics(client, world):
    workshop = make_workshop(world.org, creator=world.facilitator)
    db.session.commit()
    first = linking.propose_workshop_topic(world.editor, response_ids=world.ids[:1]).target
    topics.take_up_topic(first.id, workshop.id, world.facilitator)
    login(client, world.facilitator.email)
    client.get("/ateliers/gestion/sujets")  # warm up
    one = count_queries(client, "/ateliers/gestion/sujets")
    for n in range(9):
        linking.propose_workshop_topic(world.editor, response_ids=world.ids, title=f"Sujet {n}")
    many = count_queries(client, "/ateliers/gestion/sujets")
    assert client.get("/ateliers/gestion/sujets").get_data(as_text=True).count('<li id="topic-') == 10
    assert many == one
