"""Users' feedback on the trail (issue 22, point 7): a measure's page, and a proposal's, say how many « Je donne mon
avis » responses they were born of (« née de 214 avis d'usagers et d'un atelier »), counting each response once
whichever way it came: a proposal's feedback origins (and those of proposals merged into it), the measure's own
links, the workshop topics its workshops took up. The decisions area reads those links only (it never imports
feedback); the pages issue the same number of queries for 1 and 30 responses."""

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import delete

from app.boards.models import Board, BoardColumn, Idea, Participant
from app.catalog.models import Role
from app.clock import utcnow
from app.decisions import measures, trail
from app.decisions.models import Measure
from app.extensions import db
from app.feedback import linking
from app.feedback.models import FeedbackResponse
from app.proposals.merging import merge_proposals
from app.proposals.models import OriginKind, Proposal, ProposalOrigin, ProposalState
from app.workshops import topics
from tests.factories import make_member, make_organisation, make_service, make_user, make_workshop
from tests.feedback.helpers import make_response
from tests.queries import count_queries, statements_of_get

_boards = itertools.count(1)


class Feedback:
    """Organisation with an editor, a facilitator and a service with users' verbatims; workshops each with a board
    whose idea became a published proposal."""

    def __init__(self, verbatims: int = 6):
        self.org = make_organisation(name="Caisse des démarches")
        self.service = make_service(self.org, name="Déclarer un déménagement")
        self.editor = make_member(self.org, Role.editor, name="Élise Éditrice")
        self.facilitator = make_member(self.org, Role.facilitator, name="Fanny Animatrice")
        self.responses = [make_response(self.service, satisfaction=1, verbatim=f"Avis d'usager {n}")
                          for n in range(verbatims)]
        self.workshops = []
        db.session.commit()

    def ids(self, *positions) -> list[int]:
        return [self.responses[k].id for k in positions]

    def workshop_proposal(self, title: str) -> Proposal:
        """A workshop that took place, its board's idea, and the published proposal promoted from it."""
        k = len(self.workshops)
        workshop = make_workshop(self.org, capacity=5, title=f"Atelier {title}", creator=self.facilitator,
                                 starts_in=timedelta(days=-3))
        board = Board(organisation_id=self.org.id, workshop_id=workshop.id, title=f"Tableau {k}",
                      join_code=f"FB{next(_boards):04d}X")
        db.session.add(board)
        db.session.flush()
        column = BoardColumn(board_id=board.id, title="Irritants")
        participant = Participant(board_id=board.id, user_id=make_user().id)
        db.session.add_all([column, participant])
        db.session.flush()
        idea = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text=f"Idée {title}",
                    sort_key=f"a{k}")
        proposal = Proposal(organisation_id=self.org.id, title=title, problem="p", change="c",
                            state=ProposalState.published, published_at=utcnow(), author_id=make_user().id)
        db.session.add_all([idea, proposal])
        db.session.flush()
        db.session.add(ProposalOrigin(proposal_id=proposal.id, kind=OriginKind.idea, idea_id=idea.id))
        db.session.commit()
        self.workshops.append(workshop)
        return proposal

    def measure(self, proposals=(), title="Changement d'adresse unique") -> Measure:
        return measures.create_measure(self.org, self.editor, title=title, proposal_ids=[p.id for p in proposals])


@pytest.fixture
def fb(app):
    return Feedback()


def measure_page(client, measure) -> str:
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    return html[html.index('id="origin-title"'):]


def proposal_page(client, proposal) -> str:
    html = client.get(f"/propositions/{proposal.id}").get_data(as_text=True)
    return html[html.index('id="trail-title"'):]


def test_a_measure_page_says_it_was_born_of_users_feedback_and_of_a_workshop(client, fb):
    proposal = fb.workshop_proposal("Une seule déclaration")
    measure = fb.measure([proposal])
    linking.link_to_proposal(fb.editor, proposal.id, response_ids=fb.ids(0, 1))
    linking.link_to_measure(fb.editor, measure.id, response_ids=fb.ids(1, 2))  # the second one counts once
    assert "Cette mesure est née de 3 avis d'usagers et d'un atelier." in measure_page(client, measure)
    assert "Cette proposition est née de 2 avis d'usagers et d'un atelier." in proposal_page(client, proposal)


def test_feedback_a_workshop_took_up_as_its_topic_counts_once_downstream(client, fb):
    proposal = fb.workshop_proposal("Une seule déclaration")
    measure = fb.measure([proposal])
    linking.link_to_proposal(fb.editor, proposal.id, response_ids=fb.ids(0, 1))
    topic = linking.propose_workshop_topic(fb.editor, response_ids=fb.ids(1, 2, 3)).target
    assert trail.measure_ancestry(measure).feedback_count == 2  # not taken up yet: not upstream
    topics.take_up_topic(topic.id, fb.workshops[0].id, fb.facilitator)
    assert trail.measure_ancestry(db.session.get(Measure, measure.id)).feedback_count == 4
    assert "Cette mesure est née de 4 avis d'usagers et d'un atelier." in measure_page(client, measure)
    assert "Cette proposition est née de 4 avis d'usagers et d'un atelier." in proposal_page(client, proposal)


def test_the_wording_follows_the_numbers(client, fb):
    first, second = fb.workshop_proposal("Première"), fb.workshop_proposal("Seconde")
    measure = fb.measure([first, second])
    linking.link_to_measure(fb.editor, measure.id, response_ids=fb.ids(0))
    assert "Cette mesure est née d'un avis d'usager et de 2 ateliers." in measure_page(client, measure)
    linking.link_to_measure(fb.editor, measure.id, response_ids=fb.ids(1, 2, 3, 4))
    assert "Cette mesure est née de 5 avis d'usagers et de 2 ateliers." in measure_page(client, measure)


def test_a_measure_born_of_feedback_alone(client, fb):
    measure = fb.measure()
    linking.link_to_measure(fb.editor, measure.id, response_ids=fb.ids(0, 1))
    section = measure_page(client, measure)
    assert "Cette mesure est née de 2 avis d'usagers." in section and "Aucune proposition liée." in section


def test_without_feedback_the_trail_says_nothing_of_it(client, fb):
    proposal = fb.workshop_proposal("Une seule déclaration")
    measure = fb.measure([proposal])
    assert 'class="trail-born"' not in measure_page(client, measure)
    assert 'class="trail-born"' not in proposal_page(client, proposal)
    assert "vient de 1 proposition" in measure_page(client, measure)


def test_the_feedback_of_a_merged_proposal_counts_once(client, fb):
    target, source = fb.workshop_proposal("Cible"), fb.workshop_proposal("Source")
    linking.link_to_proposal(fb.editor, target.id, response_ids=fb.ids(0, 1))
    linking.link_to_proposal(fb.editor, source.id, response_ids=fb.ids(1, 2))
    merge_proposals(db.session.get(Proposal, source.id), db.session.get(Proposal, target.id), fb.editor)
    measure = fb.measure([db.session.get(Proposal, target.id)])
    assert "Cette mesure est née de 3 avis d'usagers et de 2 ateliers." in measure_page(client, measure)
    assert "Cette proposition est née de 3 avis d'usagers et de 2 ateliers." in proposal_page(client, target)


@pytest.mark.both_databases()
def test_an_erased_response_leaves_the_count(fb):
    proposal = fb.workshop_proposal("Une seule déclaration")
    measure = fb.measure([proposal])
    linking.link_to_proposal(fb.editor, proposal.id, response_ids=fb.ids(0, 1))
    linking.link_to_measure(fb.editor, measure.id, response_ids=fb.ids(1, 2))
    db.session.execute(delete(FeedbackResponse).where(FeedbackResponse.id == fb.responses[1].id))
    db.session.commit()
    assert trail.measure_ancestry(db.session.get(Measure, measure.id)).feedback_count == 2


def test_the_trail_pages_read_as_many_queries_for_1_and_30_responses(client, app):
    small, large = Feedback(verbatims=1), Feedback(verbatims=30)
    pages = {}
    for fb in (small, large):
        proposal = fb.workshop_proposal(f"Proposition {len(fb.responses)}")
        measure = fb.measure([proposal], title=f"Mesure {len(fb.responses)}")
        everyone = [r.id for r in fb.responses]
        linking.link_to_proposal(fb.editor, proposal.id, response_ids=everyone)
        linking.link_to_measure(fb.editor, measure.id, response_ids=everyone)
        topic = linking.propose_workshop_topic(fb.editor, response_ids=everyone).target
        topics.take_up_topic(topic.id, fb.workshops[0].id, fb.facilitator)
        pages[fb] = (f"/decisions/mesures/{measure.id}", f"/propositions/{proposal.id}")
    assert "née de 30 avis d'usagers" in client.get(pages[large][0]).get_data(as_text=True)
    for small_url, large_url in zip(pages[small], pages[large], strict=True):
        client.get(small_url)
        assert count_queries(client, small_url) == count_queries(client, large_url), large_url
    # The proposal page reads its origins once, users' feedback included.
    _response, statements = statements_of_get(client, pages[large][1])
    assert sum("FROM proposal_origins" in s for s in statements) == 1
