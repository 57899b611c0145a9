"""The trail, workshop -> board idea -> proposal (and a merge) -> vote -> answer -> measure, built through the
services, on SQLite and PostgreSQL: every page along it links to the next and previous items, everyone upstream
is told of each step in the app and in one digest mail (over a real SMTP sink), except who switched it off; the
measure page issues the same number of queries for 1 and 20 feeding proposals."""

import re
from datetime import date, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from app.boards.models import Board, BoardColumn, Idea, Participant
from app.catalog.models import Role
from app.clock import utcnow
from app.consultations.models import Consultation, ConsultationMethod, ConsultationProposal, ConsultationState
from app.decisions import measures, trail
from app.decisions import service as decisions
from app.decisions.models import Answer, AnswerKind, Measure, MeasureProposal, MeasureStatus
from app.extensions import db
from app.mail.models import OutboxMessage
from app.notifications import service as notifications
from app.notifications.models import Notification
from app.proposals import service as proposals
from app.proposals.merging import merge_proposals
from app.proposals.models import OriginKind, Proposal, ProposalOrigin, ProposalState
from app.reports import cache
from app.workshops import service as workshops
from app.workshops.models import Registration, Visibility, Workshop, WorkshopStatus
from tests.boards.helpers import add_participant, make_world, post, set_phase
from tests.conftest import get_csrf, login, post_form
from tests.decisions.helpers import select_by_vote
from tests.factories import make_member, make_organisation, make_user, make_workshop
from tests.queries import count_queries, recorded_statements
from tests.servers import text_body

IDEA = "Déclarer son déménagement une seule fois"
SECOND_IDEA = "Un seul formulaire pour la Caf et les impôts"
MEASURE = "Changement d'adresse unique pour tous les organismes"
TRAIL_KINDS = {"proposal_answered", "measure_created", "measure_in_progress", "measure_implemented",
               "measure_milestone_done"}


class Trail:
    """A workshop that took place (5 attended and evaluated), its board with two ideas, each promoted to a
    proposal; the second merged into the first, which is selected by a vote, answered « adopted » and fed into a
    measure that is started, reaches a milestone and is implemented."""

    def __init__(self):
        self.world = world = make_world()
        self.organisation, self.facilitator, self.workshop = world.organisation, world.facilitator, world.workshop
        self.idea_author = world.citizen
        self.editor = make_member(self.organisation, Role.editor, name="Élise Éditrice")
        db.session.commit()
        self.second_author, second_participant = add_participant(world, "Sacha Second")
        others = [add_participant(world)[0] for _ in range(3)]
        self.board_id = world.board_id
        set_phase(world, "brainstorm")
        self.idea_id = post(world, world.cit, IDEA)
        self.second_idea_id = post(world, second_participant, SECOND_IDEA)
        self.proposal = self._promote(self.idea_id, "Une seule déclaration de déménagement")
        self.merged = self._promote(self.second_idea_id, "Une déclaration commune Caf et impôts")
        self.supporter, self.follower, self.merged_supporter = (make_user(name="Sam Soutien"),
                                                                make_user(name="Fred Suivi"),
                                                                make_user(name="Mia Fusion"))
        self.opted_out = make_user(name="Olga Refus")
        self.bystander = make_user(name="Bob Ailleurs")
        db.session.commit()
        proposals.support(self.proposal, self.supporter)
        proposals.support(self.proposal, self.opted_out)
        proposals.follow(self.proposal, self.follower)
        proposals.support(self.merged, self.merged_supporter)
        notifications.set_trail(self.opted_out, False)
        merge_proposals(self.merged, self.proposal, self.facilitator)
        # The workshop took place: five attended and evaluated.
        db.session.execute(update(Workshop).where(Workshop.id == self.workshop.id).values(
            starts_at=utcnow() - timedelta(days=3, hours=2), ends_at=utcnow() - timedelta(days=3)))
        db.session.commit()
        people = [self.idea_author, self.second_author, *others]
        for person in people:
            registration = db.session.scalar(select(Registration).where(Registration.workshop_id == self.workshop.id,
                                                                        Registration.user_id == person.id))
            workshops.check_in(self.facilitator, registration)
            workshops.submit_evaluation(registration, person, overall=4, felt_heard="yes", would_return="yes")
        self.consultation = select_by_vote(self.proposal, utcnow() - timedelta(days=2), self.editor)
        self.consultation.title = "Vote de printemps"
        db.session.commit()
        decisions.answer_proposal(self.proposal, self.editor, kind=AnswerKind.adopted,
                                  body="Nous l'étendons à tous les organismes.")
        self.measure = measures.create_measure(self.organisation, self.editor, title=MEASURE,
                                               proposal_ids=[self.proposal.id])
        self.milestone = measures.add_milestone(self.measure, self.editor, title="Ouverture aux caisses",
                                                planned_on=date(2027, 1, 15))
        measures.post_update(self.measure, self.editor, body="Travaux lancés.", status="in_progress", progress=30)
        measures.complete_milestone(self.milestone, self.editor, done_on=date(2027, 1, 20))
        measures.post_update(self.measure, self.editor, body="En service partout.", status="implemented",
                             progress=100)

    def _promote(self, idea_id, title):
        draft = proposals.promote(self.facilitator, idea_id=idea_id)
        proposals.edit_proposal(draft, self.facilitator, title=title, problem=draft.problem,
                                change="Une seule déclaration pour toutes les administrations.")
        return proposals.submit_proposal(db.session.get(Proposal, draft.id), self.facilitator)


@pytest.fixture
def built(app):
    return Trail()


def kinds(user) -> list[str]:
    return list(db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def hrefs(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_everyone_upstream_is_told_of_each_step_of_the_trail(built):
    upstream = {"idea author": built.idea_author, "author of the merged proposal's idea": built.second_author,
                "supporter": built.supporter, "follower": built.follower,
                "supporter of the merged proposal": built.merged_supporter,
                "author of the proposals": built.facilitator}
    for who, user in upstream.items():
        assert set(kinds(user)) >= TRAIL_KINDS, who
        # One notification per event, not one per path leading to the person (author, supporter and follower).
        got = [k for k in kinds(user) if k in TRAIL_KINDS]
        assert len(got) == len(set(got)), who
    # The one who switched it off, the editor who acted, someone outside the trail: none.
    assert not TRAIL_KINDS & set(kinds(built.opted_out))
    assert not TRAIL_KINDS & set(kinds(built.editor))
    assert kinds(built.bystander) == []
    measure_url = f"/decisions/mesures/{built.measure.id}"
    implemented = db.session.scalar(select(Notification).where(Notification.user_id == built.idea_author.id,
                                                                Notification.kind == "measure_implemented"))
    assert implemented.url == measure_url
    assert notifications.notification_text(implemented) == \
        f"La mesure « {MEASURE} », issue de votre participation, est réalisée."


def test_the_trail_reaches_the_digest_in_one_mail_and_never_the_opted_out(app, smtp, built):
    from app.jobs import run_once

    results = run_once(app)
    assert results["deliver_mail"]["failed"] == 0
    # Before: the workshop's confirmation mails. Then exactly one digest for the whole trail.
    digests = [m for m in smtp.wait_for(built.idea_author.email) if "nouveaut" in m["Subject"]]
    assert len(digests) == 1
    body = text_body(digests[0])
    assert f"L'organisation a répondu à « {built.proposal.title} »." in body
    assert f"Votre participation a conduit à une mesure : « {MEASURE} »." in body
    assert f"La mesure « {MEASURE} », issue de votre participation, est réalisée." in body
    assert f"Un jalon de la mesure « {MEASURE} », issue de votre participation, est franchi." in body
    assert f"/decisions/mesures/{built.measure.id}" in body
    # The opted-out supporter had nothing of the trail, so nothing of it is mailed to them.
    mailed = list(db.session.scalars(select(OutboxMessage.body_text).where(
        OutboxMessage.recipient == built.opted_out.email)))
    assert not any(MEASURE in body or "a répondu" in body for body in mailed)
    assert run_once(app)["notification_digests"] == 0


def test_the_measure_page_shows_its_whole_ancestry_with_links_back(client, built):
    html = client.get(f"/decisions/mesures/{built.measure.id}").get_data(as_text=True)
    origin = html[html.index('id="origin-title"'):]
    links = hrefs(origin)
    assert f"/propositions/{built.proposal.id}" in links
    assert f"/propositions/idees/{built.idea_id}" in links and f"/propositions/idees/{built.second_idea_id}" in links
    assert f"/ateliers/{built.workshop.id}" in links and f"/decisions/ateliers/{built.workshop.id}/bilan" in links
    assert f"/consultations/{built.consultation.id}/resultats" in links
    assert IDEA in origin and SECOND_IDEA in origin and built.merged.title in origin
    assert "Adoptée" in origin and built.workshop.title in origin
    # 5 confirmed and present; 3 supports (2, and the merged proposal's supporter carried over on merge).
    assert "5 participant·es inscrit·es" in origin and "5 présent·es" in origin
    assert "3 soutiens au total" in origin


def test_the_proposal_page_reads_its_answer_and_measures_once(client, built):
    """The answer block and the trail of a proposal page show the same answer and measures: read once."""
    with recorded_statements() as statements:
        html = client.get(f"/propositions/{built.proposal.id}").get_data(as_text=True)
    trail_html = html[html.index('class="trail"'):]
    assert "Adoptée" in trail_html and str(escape(built.measure.title)) in trail_html
    assert sum("FROM answers" in s for s in statements) == 1
    assert sum("FROM measures JOIN measure_proposals" in s or "FROM measure_proposals JOIN measures" in s
               for s in statements) == 1
    assert not any("merge_chain" in s for s in statements)  # never merged: no chain to walk


def test_a_proposal_page_with_nothing_merged_into_it_reads_its_origins_once(client, built):
    """The page's « Origine » list and its trail show the same origins: read once, and no merge tree is walked for a
    proposal that none joined (the trail still leads to the idea and its workshop)."""
    idea_id = post(built.world, built.world.cit, "Prévenir tous les organismes en une fois")
    third = built._promote(idea_id, "Un guichet unique pour le changement d'adresse")
    with recorded_statements() as statements:
        html = client.get(f"/propositions/{third.id}").get_data(as_text=True)
    section = html[html.index('id="trail-title"'):]
    assert f"/propositions/idees/{idea_id}" in hrefs(section)
    assert f"/decisions/ateliers/{built.workshop.id}/bilan" in hrefs(section)
    assert sum("FROM proposal_origins" in s for s in statements) == 1
    assert not any("merged_tree" in s for s in statements)


def test_each_page_of_the_trail_links_to_the_next_and_previous_items(client, built):
    measure_url = f"/decisions/mesures/{built.measure.id}"
    # The proposal page: where it came from and what it led to.
    html = client.get(f"/propositions/{built.proposal.id}").get_data(as_text=True)
    section = html[html.index('id="trail-title"'):]
    assert f"/decisions/ateliers/{built.workshop.id}/bilan" in hrefs(section)
    assert f"/propositions/idees/{built.idea_id}" in hrefs(section)
    assert measure_url in hrefs(section) and "Réalisée, 100 %" in section
    assert "Vote de printemps" in section and "retenue" in section
    # The merged proposal leads to the one it joined.
    outcome = trail.proposal_outcome(db.session.get(Proposal, built.merged.id))
    assert outcome.merged_into.id == built.proposal.id and [m.id for m in outcome.measures] == [built.measure.id]
    # The idea page: its workshop, and the proposal, answer and measure it led to.
    html = client.get(f"/propositions/idees/{built.second_idea_id}").get_data(as_text=True)
    section = html[html.index('id="trail-title"'):]
    assert f"/ateliers/{built.workshop.id}" in hrefs(section)
    assert f"/propositions/{built.proposal.id}" in hrefs(section)  # where the merged one led
    assert f"/propositions/{built.merged.id}" in hrefs(html)  # its card, above the trail
    assert measure_url in hrefs(section) and "Adoptée" in section
    # The workshop page links to its report; the report gives the figures and the outcomes.
    html = client.get(f"/ateliers/{built.workshop.id}").get_data(as_text=True)
    assert f"/decisions/ateliers/{built.workshop.id}/bilan" in hrefs(html)
    html = client.get(f"/decisions/ateliers/{built.workshop.id}/bilan").get_data(as_text=True)
    assert "100 %" in html  # attendance rate: 5 of 5
    assert "4 sur 5 (5 avis)" in html
    assert "2 idées déposées" in html and "2 propositions publiques en sont issues." in html
    assert f"/propositions/{built.proposal.id}" in hrefs(html) and measure_url in hrefs(html)
    assert "Fusionnée avec" in html and "Adoptée" in html
    # The consultation's results: participation and the answers given.
    html = client.get(f"/consultations/{built.consultation.id}/resultats").get_data(as_text=True)
    section = html[html.index('id="answers-title"'):]
    assert "1 proposition sur 1 a reçu une réponse." in section
    assert "Adoptée" in section and measure_url in hrefs(section)


def _text(html: str) -> str:
    """What a reader sees: inline tags vanish (a link followed by « : » reads as one), block tags part words."""
    inline = re.sub(r"</?(?:a|abbr|b|em|span|strong|time)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))


def test_the_trail_reads_as_french_with_quotes_and_spaced_punctuation(client, built):
    """French typography comes from the translated patterns (« », « : », « ; »); an idea's text stays escaped
    inside its quotes."""
    db.session.execute(update(Idea).where(Idea.id == built.idea_id).values(text="<b>Une</b> & déclaration"))
    db.session.commit()
    html = client.get(f"/decisions/mesures/{built.measure.id}").get_data(as_text=True)
    origin = html[html.index('id="origin-title"'):html.index("</main>")]
    assert "« &lt;b&gt;Une&lt;/b&gt; &amp; déclaration »</a>" in origin and "<b>Une</b>" not in origin
    assert ">Vote de printemps</a> :" in origin
    assert re.search(r"\(le [^();]+ ; 5 participant·es inscrit·es, 5 présent·es\)", _text(origin))
    html = client.get(f"/propositions/{built.proposal.id}").get_data(as_text=True)
    section = html[html.index('id="trail-title"'):html.index("</main>")]
    assert "« &lt;b&gt;Une&lt;/b&gt; &amp; déclaration »</a>" in section and ">Vote de printemps</a> :" in section
    html = client.get(f"/decisions/ateliers/{built.workshop.id}/bilan").get_data(as_text=True)
    text = _text(html)
    assert "2 idées déposées sur 1 tableau ; 2 propositions publiques en sont issues." in text
    assert "Taux de présence 100 %" in text and "Reviendraient 100 %" in text


def test_the_workshop_report_puts_one_answer_in_the_singular(client, app):
    app.config["WORKSHOP_EVALUATION_MIN"] = 1
    world = make_world()
    db.session.execute(update(Workshop).where(Workshop.id == world.workshop.id).values(
        starts_at=utcnow() - timedelta(days=1, hours=2), ends_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    url = f"/decisions/ateliers/{world.workshop.id}/bilan"
    assert "Les avis sont publiés à partir de 1 réponse, " in client.get(url).get_data(as_text=True)
    registration = db.session.scalar(select(Registration).where(Registration.user_id == world.citizen.id))
    workshops.check_in(world.facilitator, registration)
    workshops.submit_evaluation(registration, world.citizen, overall=5, felt_heard="yes", would_return="no")
    text = _text(client.get(url).get_data(as_text=True))
    assert "5 sur 5 (1 avis)" in text and "Reviendraient 0 %" in text


def test_english_trail_and_workshop_report_use_english_punctuation_and_plurals(client, built):
    """Needs the English catalog entries of the new msgids (quotes, « ; » and « : » patterns, plurals)."""
    client.post("/langue", data={"lang": "en", "csrf_token": get_csrf(client, "/")})
    html = client.get(f"/decisions/mesures/{built.measure.id}").get_data(as_text=True)
    origin = html[html.index('id="origin-title"'):html.index("</main>")]
    text = _text(origin)
    assert f"“{IDEA}”</a>" in origin and ">Vote de printemps</a>:" in origin
    assert re.search(r"\(on [^();]+; 5 registered participants, 5 present\)", text)
    assert "«" not in origin and "»" not in origin and " :" not in text and " ;" not in text
    html = client.get(f"/propositions/{built.proposal.id}").get_data(as_text=True)
    section = html[html.index('id="trail-title"'):html.index("</main>")]
    assert f"“{IDEA}”</a>" in section and "«" not in section and " :" not in _text(section)
    html = client.get(f"/decisions/ateliers/{built.workshop.id}/bilan").get_data(as_text=True)
    text = _text(html[html.index("<main"):html.index("</main>")])
    assert "2 ideas posted on 1 board; 2 public proposals came out of them." in text
    assert "Attendance rate 100%" in text and "(5 responses)" in text
    assert " %" not in text and " ;" not in text and " :" not in text and "«" not in text


def test_english_workshop_report_puts_one_answer_in_the_singular(client, app):
    """Needs the English catalog entries of the new plural msgids."""
    app.config["WORKSHOP_EVALUATION_MIN"] = 1
    world = make_world()
    db.session.execute(update(Workshop).where(Workshop.id == world.workshop.id).values(
        starts_at=utcnow() - timedelta(days=1, hours=2), ends_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    registration = db.session.scalar(select(Registration).where(Registration.user_id == world.citizen.id))
    workshops.check_in(world.facilitator, registration)
    workshops.submit_evaluation(registration, world.citizen, overall=5, felt_heard="yes", would_return="no")
    client.post("/langue", data={"lang": "en", "csrf_token": get_csrf(client, "/")})
    text = _text(client.get(f"/decisions/ateliers/{world.workshop.id}/bilan").get_data(as_text=True))
    assert "5 out of 5 (1 response)" in text and "0%" in text


# --- refusal twins -------------------------------------------------------------------------------

def test_a_progress_update_without_a_new_status_tells_no_one(built):
    before = kinds(built.idea_author)
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Un détail corrigé.",
                         status="implemented", progress=100)
    assert kinds(built.idea_author) == before


def test_correcting_a_milestone_date_is_not_news(built):
    before = kinds(built.supporter)
    measures.complete_milestone(db.session.get(type(built.milestone), built.milestone.id), built.editor,
                                done_on=date(2027, 1, 21))
    assert kinds(built.supporter) == before


def test_an_opted_out_person_gets_nothing_and_can_switch_back(client, built):
    login(client, built.opted_out.email)
    response = post_form(client, "/notifications/parcours", {"trail": "y"}, csrf_url="/notifications/")
    assert response.status_code == 302
    assert notifications.wants_trail(built.opted_out) is True
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Retour en arrière.",
                         status="in_progress", progress=90)
    assert "measure_in_progress" in kinds(built.opted_out)
    # Switching it off again (an unticked box sends nothing): the next change passes them by.
    response = post_form(client, "/notifications/parcours", {}, csrf_url="/notifications/")
    assert response.status_code == 302 and notifications.wants_trail(built.opted_out) is False
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Fini.",
                         status="implemented", progress=100)
    assert "measure_implemented" not in kinds(built.opted_out)


def test_the_trail_preference_needs_the_csrf_token(client, built):
    login(client, built.opted_out.email)
    response = client.post("/notifications/parcours", data={"trail": "y"})
    assert response.status_code in (302, 400)
    assert notifications.wants_trail(built.opted_out) is False


def test_a_hidden_proposal_is_not_republished_on_the_measure_page(client, built):
    db.session.execute(update(Proposal).where(Proposal.id == built.proposal.id).values(
        hidden_at=utcnow(), hidden_reason="doublon"))
    db.session.commit()
    html = client.get(f"/decisions/mesures/{built.measure.id}").get_data(as_text=True)
    origin = html[html.index('id="origin-title"'):]
    assert "Proposition masquée par la modération" in origin and built.proposal.title not in origin


def test_an_invitation_only_workshop_report_needs_the_link(client, app):
    world = make_world()
    db.session.execute(update(Workshop).where(Workshop.id == world.workshop.id)
                       .values(visibility=Visibility.invitation))
    db.session.commit()
    token = db.session.get(Workshop, world.workshop.id).invite_token
    assert client.get(f"/decisions/ateliers/{world.workshop.id}/bilan").status_code == 404
    assert client.get(f"/decisions/ateliers/{world.workshop.id}/bilan?invitation={token}").status_code == 200
    assert client.get("/decisions/ateliers/999999/bilan").status_code == 404


def test_evaluations_stay_unpublished_below_five_answers(client, app):
    world = make_world()
    db.session.execute(update(Workshop).where(Workshop.id == world.workshop.id).values(
        starts_at=utcnow() - timedelta(days=1, hours=2), ends_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    registration = db.session.scalar(select(Registration).where(Registration.user_id == world.citizen.id))
    workshops.check_in(world.facilitator, registration)
    workshops.submit_evaluation(registration, world.citizen, overall=5, felt_heard="yes", would_return="yes")
    html = client.get(f"/decisions/ateliers/{world.workshop.id}/bilan").get_data(as_text=True)
    assert "Les avis sont publiés à partir de 5 réponses" in html and "(1 avis)" not in html
    # (French plural forms come with the catalogue; before it, the English rule applies to 0.)
    assert re.search(r"0 idées? déposées?", html)
    assert re.search(r"0 propositions? publiques? en (est|sont) issues?", html)


def test_a_draft_from_an_idea_is_left_out_of_the_idea_trail(client, app):
    world = make_world()
    set_phase(world, "brainstorm")
    idea_id = post(world, world.cit, IDEA)
    draft = proposals.promote(world.facilitator, idea_id=idea_id)
    outcome = trail.idea_outcomes(db.session.get(Idea, idea_id), world.citizen)
    assert [o.proposal.id for o in outcome["outcomes"]] == []
    assert [o.proposal.id for o in trail.idea_outcomes(db.session.get(Idea, idea_id), world.facilitator)
            ["outcomes"]] == [draft.id]


# --- bounded queries -----------------------------------------------------------------------------

def workshop_boards(organisation, n: int, tag: str) -> list[tuple]:
    """Up to three workshops, each with a board, a column and a participant: (workshop, board, column,
    participant)."""
    out = []
    for k in range(min(n, 3)):
        workshop = make_workshop(organisation, capacity=5, title=f"Atelier {tag}{n}-{k}")
        board = Board(organisation_id=organisation.id, workshop_id=workshop.id, title=f"Tableau {tag}{n}-{k}",
                      join_code=f"{tag or 'C'}{n:03d}{k}X")
        db.session.add(board)
        db.session.flush()
        column = BoardColumn(board_id=board.id, title="Irritants")
        participant = Participant(board_id=board.id, user_id=make_user().id)
        db.session.add_all([column, participant])
        db.session.flush()
        out.append((workshop, board, column, participant))
    return out


def feeding_measure(organisation, editor, n: int) -> Measure:
    """A measure fed by ``n`` proposals, each from its own idea on one of three workshops' boards, each with a
    proposal merged into it, an answer and a closed vote."""
    boards = [(board, column, participant) for _w, board, column, participant in workshop_boards(organisation, n, "")]
    consultation = Consultation(organisation_id=organisation.id, title=f"Vote {n}", method=ConsultationMethod.support,
                                opens_at=utcnow() - timedelta(days=9), closes_at=utcnow() - timedelta(days=2),
                                state=ConsultationState.closed, closed_at=utcnow() - timedelta(days=2))
    measure = Measure(organisation_id=organisation.id, title=f"Mesure {n}", status=MeasureStatus.implemented,
                      progress=100)
    db.session.add_all([consultation, measure])
    db.session.flush()
    for i in range(n):
        board, column, participant = boards[i % len(boards)]
        idea = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text=f"Idée {i}",
                    sort_key=f"a{i:03d}")
        root = Proposal(organisation_id=organisation.id, title=f"Proposition {n}-{i}", problem="p", change="c",
                        state=ProposalState.answered, published_at=utcnow(), author_id=make_user().id)
        db.session.add_all([idea, root])
        db.session.flush()
        merged = Proposal(organisation_id=organisation.id, title=f"Doublon {n}-{i}", problem="p", change="c",
                          state=ProposalState.merged, merged_into_id=root.id, merged_at=utcnow(),
                          published_at=utcnow())
        db.session.add(merged)
        db.session.flush()
        db.session.add_all([
            ProposalOrigin(proposal_id=root.id, kind=OriginKind.idea, idea_id=idea.id),
            ProposalOrigin(proposal_id=merged.id, kind=OriginKind.idea, idea_id=idea.id),
            Answer(proposal_id=root.id, organisation_id=organisation.id, kind=AnswerKind.adopted, body_md="Oui.",
                   editor_id=editor.id),
            ConsultationProposal(consultation_id=consultation.id, proposal_id=root.id, rank=i + 1, score=n - i,
                                 backers=n - i, selected=True),
            MeasureProposal(measure_id=measure.id, proposal_id=root.id)])
    db.session.commit()
    return measure


def test_the_measure_page_issues_the_same_number_of_queries_for_1_and_20_feeding_proposals(client, app):
    world = make_world()
    editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    one = feeding_measure(world.organisation, editor, 1)
    twenty = feeding_measure(world.organisation, editor, 20)
    assert len(trail.measure_ancestry(twenty).proposals) == 20
    assert all(step.merged and step.origins and step.answer and step.votes
               for step in trail.measure_ancestry(twenty).proposals)
    few = count_queries(client, f"/decisions/mesures/{one.id}")
    many = count_queries(client, f"/decisions/mesures/{twenty.id}")
    assert many == few
    html = client.get(f"/decisions/mesures/{twenty.id}").get_data(as_text=True)
    assert "Proposition 20-19" in html and "Doublon 20-19" in html and "Atelier 20-2" in html


# --- review: what the trail must not republish, who it must not tell ------------------------------

def origin_section(client, measure_id) -> str:
    html = client.get(f"/decisions/mesures/{measure_id}").get_data(as_text=True)
    return html[html.index('id="origin-title"'):html.index("</section>", html.index('id="origin-title"'))]


def test_a_merged_proposal_hidden_by_moderation_keeps_its_title_off_the_measure_page(client, built):
    before = origin_section(client, built.measure.id)
    assert built.merged.title in before  # the twin: shown while not hidden
    db.session.execute(update(Proposal).where(Proposal.id == built.merged.id).values(
        hidden_at=utcnow(), hidden_reason="propos injurieux"))
    db.session.commit()
    assert built.merged.title not in origin_section(client, built.measure.id)


def test_a_proposal_withdrawn_after_feeding_a_measure_is_neither_named_nor_linked(client, built):
    author = make_user(name="Wanda Retrait")
    withdrawn = Proposal(organisation_id=built.organisation.id, title="Une proposition retirée ensuite",
                         problem="p", change="c", author_id=author.id, state=ProposalState.published,
                         published_at=utcnow())
    db.session.add(withdrawn)
    db.session.commit()
    measure = measures.create_measure(built.organisation, built.editor, title="Mesure sans suite",
                                      proposal_ids=[withdrawn.id, built.proposal.id])
    assert withdrawn.title in origin_section(client, measure.id)  # the twin: public, so named
    proposals.withdraw_proposal(db.session.get(Proposal, withdrawn.id), author)
    section = origin_section(client, measure.id)
    assert withdrawn.title not in section and f"/propositions/{withdrawn.id}" not in hrefs(section)
    assert built.proposal.title in section  # the other feeding proposal is still shown


def test_a_hidden_merge_target_is_not_named_by_what_the_merged_proposal_led_to(client, built):
    def pages():
        idea = client.get(f"/propositions/idees/{built.second_idea_id}").get_data(as_text=True)
        report = client.get(f"/decisions/ateliers/{built.workshop.id}/bilan").get_data(as_text=True)
        return idea[idea.index('id="trail-title"'):], report[report.index('id="ideas-title"'):]

    assert all(built.proposal.title in page for page in pages())  # the twin: named while not hidden
    db.session.execute(update(Proposal).where(Proposal.id == built.proposal.id).values(
        hidden_at=utcnow(), hidden_reason="doublon"))
    db.session.commit()
    for page in pages():
        assert built.proposal.title not in page and "Fusionnée avec" in page


def test_the_idea_trail_does_not_name_a_hidden_proposal_to_board_participants(client, built):
    login(client, built.idea_author.email)

    def section():
        html = client.get(f"/propositions/idees/{built.idea_id}").get_data(as_text=True)
        return html[html.index('id="trail-title"'):]

    assert built.proposal.title in section()  # the twin
    db.session.execute(update(Proposal).where(Proposal.id == built.proposal.id).values(
        hidden_at=utcnow(), hidden_reason="doublon"))
    db.session.commit()
    assert built.proposal.title not in section()
    # Its moderators still see what it led to.
    assert [o.proposal.id for o in trail.idea_outcomes(db.session.get(Idea, built.idea_id), built.editor)
            ["outcomes"]] == [built.proposal.id]


def test_a_deleted_account_is_not_told_of_the_trail(built):
    from app.accounts import service as accounts
    from tests.factories import PASSWORD

    gone = make_user(name="Gaston Parti")
    db.session.commit()
    proposals.follow(db.session.get(Proposal, built.proposal.id), gone)
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Retour.",
                         status="in_progress", progress=90)
    assert "measure_in_progress" in kinds(gone)  # the twin: told while the account exists
    accounts.delete_account(gone, PASSWORD)
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Fini.",
                         status="implemented", progress=100)
    assert "measure_implemented" not in kinds(gone)
    assert gone.id not in trail.trail_audience([built.proposal.id])


def test_an_anonymous_boards_idea_author_is_never_named_along_the_trail(client, app):
    from app.boards import service as boards

    world = make_world()
    boards.update_settings(world.board_id, world.fac, settings={"anonymous": True})
    set_phase(world, "brainstorm")
    idea_id = post(world, world.cit, IDEA)
    editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    draft = proposals.promote(world.facilitator, idea_id=idea_id)
    proposals.edit_proposal(draft, world.facilitator, title="Une proposition d'un tableau anonyme",
                            problem=draft.problem, change="Une seule déclaration.")
    proposal = proposals.submit_proposal(db.session.get(Proposal, draft.id), world.facilitator)
    decisions.answer_proposal(proposal, editor, kind=AnswerKind.adopted, body="Oui.")
    measure = measures.create_measure(world.organisation, editor, title=MEASURE, proposal_ids=[proposal.id])
    assert "measure_created" in kinds(world.citizen)  # told, privately
    name = world.citizen.display_name
    for url in (f"/decisions/mesures/{measure.id}", f"/propositions/{proposal.id}", f"/propositions/idees/{idea_id}",
                f"/decisions/ateliers/{world.workshop.id}/bilan"):
        html = client.get(url).get_data(as_text=True)
        assert IDEA in html or url.endswith("bilan"), url  # the pages do show the trail
        assert name not in html, url


def trail_history(organisation, editor, n: int) -> dict:
    """Every page showing a trail, with ``n`` of each thing on it: a proposal with ``n`` proposals merged into
    it (each from its own idea on one of up to three workshops' boards) feeding ``n`` measures; an idea that led
    to ``n`` answered proposals each feeding a measure; a workshop whose board they all came from; a closed
    consultation with all of them on its ballot."""
    boards = workshop_boards(organisation, n, "H")
    consultation = Consultation(organisation_id=organisation.id, title=f"Vote H{n}",
                                method=ConsultationMethod.support, opens_at=utcnow() - timedelta(days=9),
                                closes_at=utcnow() - timedelta(days=2), state=ConsultationState.closed,
                                closed_at=utcnow() - timedelta(days=2))
    db.session.add(consultation)
    workshop, board, column, participant = boards[0]
    shared = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text=f"Idée commune {n}",
                  sort_key="a")
    root = Proposal(organisation_id=organisation.id, title=f"Racine {n}", problem="p", change="c",
                    state=ProposalState.answered, published_at=utcnow(), author_id=make_user().id)
    db.session.add_all([shared, root])
    db.session.flush()
    db.session.add_all([ProposalOrigin(proposal_id=root.id, kind=OriginKind.idea, idea_id=shared.id),
                        Answer(proposal_id=root.id, organisation_id=organisation.id, kind=AnswerKind.adopted,
                               body_md="Oui.", editor_id=editor.id),
                        ConsultationProposal(consultation_id=consultation.id, proposal_id=root.id, rank=1,
                                             score=n + 1, backers=n + 1, selected=True)])
    for i in range(n):
        _workshop, board, column, participant = boards[i % len(boards)]
        idea = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text=f"Idée H{i}",
                    sort_key=f"b{i:03d}")
        sibling = Proposal(organisation_id=organisation.id, title=f"Sœur {n}-{i}", problem="p", change="c",
                           state=ProposalState.answered, published_at=utcnow(), author_id=make_user().id)
        merged = Proposal(organisation_id=organisation.id, title=f"Fusion {n}-{i}", problem="p", change="c",
                          state=ProposalState.merged, merged_into_id=root.id, merged_at=utcnow(),
                          published_at=utcnow(), author_id=make_user().id)
        measure = Measure(organisation_id=organisation.id, title=f"Mesure H{n}-{i}", status=MeasureStatus.planned,
                          progress=10)
        db.session.add_all([idea, sibling, merged, measure])
        db.session.flush()
        db.session.add_all([
            ProposalOrigin(proposal_id=merged.id, kind=OriginKind.idea, idea_id=idea.id),
            ProposalOrigin(proposal_id=root.id, kind=OriginKind.idea, idea_id=idea.id),  # merges copy origins
            ProposalOrigin(proposal_id=sibling.id, kind=OriginKind.idea, idea_id=shared.id),
            Answer(proposal_id=sibling.id, organisation_id=organisation.id, kind=AnswerKind.partly_adopted,
                   body_md="En partie.", editor_id=editor.id),
            ConsultationProposal(consultation_id=consultation.id, proposal_id=sibling.id, rank=i + 2, score=n - i,
                                 backers=n - i, selected=False),
            MeasureProposal(measure_id=measure.id, proposal_id=root.id),
            MeasureProposal(measure_id=measure.id, proposal_id=sibling.id)])
    db.session.commit()
    return {"proposal": f"/propositions/{root.id}", "idea": f"/propositions/idees/{shared.id}",
            "report": f"/decisions/ateliers/{boards[0][0].id}/bilan",
            "results": f"/consultations/{consultation.id}/resultats"}


@pytest.mark.parametrize("page", ["proposal", "idea", "report", "results"])
def test_every_page_showing_a_trail_issues_the_same_number_of_queries_for_1_and_20_items(client, app, page):
    world = make_world()
    editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    one = trail_history(world.organisation, editor, 1)
    twenty = trail_history(world.organisation, editor, 20)
    # The large page does show the twenty of everything (so the count below is not of an empty page).
    html = client.get(twenty[page]).get_data(as_text=True)
    section = html[html.index('id="ideas-title"' if page == "report" else 'class="trail"'):]
    assert "Mesure H20-19" in section
    if page == "proposal":
        assert "Idée H19" in section and "Atelier H20-2" in section
    cache.clear()  # the pages as computed, not as kept between views (tests/reports/test_cache.py)
    computed = count_queries(client, twenty[page])
    cache.clear()
    assert computed == count_queries(client, one[page])


def test_a_proposal_linked_to_a_measure_later_tells_its_people_once(built):
    author = make_user(name="Léa Tardive")
    late = Proposal(organisation_id=built.organisation.id, title="Une proposition arrivée après", problem="p",
                    change="c", author_id=author.id, state=ProposalState.published, published_at=utcnow())
    db.session.add(late)
    db.session.commit()
    before = kinds(built.idea_author)
    measures.edit_measure(db.session.get(Measure, built.measure.id), built.editor, title=MEASURE,
                          proposal_ids=[built.proposal.id, late.id])
    assert kinds(author) == ["measure_created"]
    # Those already upstream of the measure are not told again; nor is anyone when a proposal is unlinked.
    assert kinds(built.idea_author) == before
    measures.edit_measure(db.session.get(Measure, built.measure.id), built.editor, title=MEASURE,
                          proposal_ids=[built.proposal.id])
    assert kinds(author) == ["measure_created"] and kinds(built.idea_author) == before


def test_a_draft_workshops_title_stays_off_the_trail(client, built):
    def origin():
        return origin_section(client, built.measure.id)

    assert built.workshop.title in origin()  # the twin: a published workshop is named and linked
    title = "Atelier secret en préparation"
    db.session.execute(update(Workshop).where(Workshop.id == built.workshop.id).values(
        status=WorkshopStatus.draft, title=title))
    db.session.commit()
    assert title not in origin() and f"/ateliers/{built.workshop.id}" not in hrefs(origin())
    assert "5 participant·es inscrit·es" in origin()  # its figures still count


def test_a_draft_workshops_report_is_its_facilitators_only(client, app):
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator)
    workshop = make_workshop(organisation, published=False, title="Atelier en préparation")
    db.session.commit()
    url = f"/decisions/ateliers/{workshop.id}/bilan"
    assert client.get(url).status_code == 404
    login(client, make_user().email)
    assert client.get(url).status_code == 404
    login(client, facilitator.email)
    response = client.get(url)
    assert response.status_code == 200 and "Atelier en préparation" in response.get_data(as_text=True)


def test_a_two_step_merge_chain_is_followed_both_ways(app):
    world = make_world()
    editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    (workshop, board, column, participant), = workshop_boards(world.organisation, 1, "M")
    idea = Idea(board_id=board.id, column_id=column.id, participant_id=participant.id, text="Idée au bout",
                sort_key="a")
    end = Proposal(organisation_id=world.organisation.id, title="C", problem="p", change="c",
                   state=ProposalState.answered, published_at=utcnow())
    db.session.add_all([idea, end])
    db.session.flush()
    middle = Proposal(organisation_id=world.organisation.id, title="B", problem="p", change="c",
                      state=ProposalState.merged, merged_into_id=end.id, published_at=utcnow())
    db.session.add(middle)
    db.session.flush()
    first = Proposal(organisation_id=world.organisation.id, title="A", problem="p", change="c",
                     state=ProposalState.merged, merged_into_id=middle.id, published_at=utcnow(),
                     author_id=participant.user_id)
    one, two = (Measure(organisation_id=world.organisation.id, title=t, status=MeasureStatus.planned)
                for t in ("Un", "Deux"))
    db.session.add_all([first, one, two])
    db.session.flush()
    db.session.add_all([ProposalOrigin(proposal_id=first.id, kind=OriginKind.idea, idea_id=idea.id),
                        Answer(proposal_id=end.id, organisation_id=world.organisation.id, kind=AnswerKind.adopted,
                               body_md="Oui.", editor_id=editor.id),
                        MeasureProposal(measure_id=one.id, proposal_id=end.id),
                        MeasureProposal(measure_id=two.id, proposal_id=middle.id)])
    db.session.commit()
    # Up from the measure: the end of the chain, both proposals merged into it, the first one's idea and workshop.
    [step] = trail.measure_ancestry(one).proposals
    assert step.proposal.id == end.id and {p.id for p in step.merged} == {middle.id, first.id}
    assert [o.idea.id for o in step.origins] == [idea.id] and step.origins[0].workshop.workshop.id == workshop.id
    # Down from the first proposal: where the chain ended, its answer, and the measures fed along it.
    outcome = trail.proposal_outcome(db.session.get(Proposal, first.id))
    assert outcome.merged_into.id == end.id and outcome.answer.kind is AnswerKind.adopted
    assert [m.id for m in outcome.measures] == [one.id, two.id]
    # Everyone upstream of the end hears of it, down to the idea's author.
    assert participant.user_id in trail.trail_audience([end.id])


def test_an_idea_taken_back_by_its_author_no_longer_brings_them_news(built):
    from app.boards.models import IdeaStatus

    assert built.second_author.id in trail.trail_audience([built.proposal.id])  # the twin
    db.session.execute(update(Idea).where(Idea.id == built.second_idea_id).values(status=IdeaStatus.withdrawn))
    db.session.commit()
    before = {who: len(kinds(who)) for who in (built.idea_author, built.second_author)}
    measures.post_update(db.session.get(Measure, built.measure.id), built.editor, body="Retour.",
                         status="in_progress", progress=90)
    assert len(kinds(built.idea_author)) == before[built.idea_author] + 1
    assert len(kinds(built.second_author)) == before[built.second_author]


def test_a_cluster_promoted_to_a_proposal_brings_news_to_its_ideas_authors_not_to_a_hidden_ideas(client, app):
    from app.boards import service as boards

    world = make_world()
    editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    kept_author, kept = add_participant(world, "Kim Groupée")
    hidden_author, hidden = add_participant(world, "Hugo Masqué")
    set_phase(world, "brainstorm")
    ideas = [post(world, world.cit, IDEA), post(world, kept, SECOND_IDEA), post(world, hidden, "Propos hors sujet")]
    cluster_id = boards.group_ideas(world.board_id, world.fac, idea_ids=ideas, name="Un seul guichet")["cluster_id"]
    boards.moderate_idea(world.board_id, world.fac, idea_id=ideas[2], action="hide", reason="hors sujet")
    draft = proposals.promote(world.facilitator, cluster_id=cluster_id)
    proposals.edit_proposal(draft, world.facilitator, title="Un seul guichet", problem=draft.problem, change="c")
    proposal = proposals.submit_proposal(db.session.get(Proposal, draft.id), world.facilitator)
    measure = measures.create_measure(world.organisation, editor, title=MEASURE, proposal_ids=[proposal.id])
    assert kinds(world.citizen) == ["measure_created"] and kinds(kept_author) == ["measure_created"]
    assert kinds(hidden_author) == []
    # The idea page of a grouped idea leads to the measure; the measure counts the visible ideas of the group.
    html = client.get(f"/propositions/idees/{ideas[1]}").get_data(as_text=True)
    assert f"/decisions/mesures/{measure.id}" in hrefs(html[html.index('id="trail-title"'):])
    section = origin_section(client, measure.id)
    assert "« Un seul guichet » (2 idées)" in section and "Propos hors sujet" not in section


def test_the_notifications_page_gives_each_visible_control_its_own_id(client, built):
    login(client, built.supporter.email)
    html = client.get("/notifications/").get_data(as_text=True)
    controls = [tag for tag in re.findall(r"<(?:input|button|select|textarea)\b[^>]*>", html)
                if 'type="hidden"' not in tag]
    ids = [re.search(r'id="([^"]+)"', tag).group(1) for tag in controls if 'id="' in tag]
    assert "trail" in ids and len(ids) == len(set(ids)), ids
    assert 'checked' in next(tag for tag in controls if 'id="trail"' in tag)  # on unless switched off


def test_a_merge_target_withdrawn_later_is_not_named_by_the_workshop_report(client, app):
    world = make_world()
    set_phase(world, "brainstorm")
    idea_id = post(world, world.cit, IDEA)
    author = make_user()
    target = Proposal(organisation_id=world.organisation.id, title="Cible retirée ensuite", problem="p", change="c",
                      state=ProposalState.published, published_at=utcnow(), author_id=author.id)
    db.session.add(target)
    db.session.flush()
    merged = Proposal(organisation_id=world.organisation.id, title="Fusionnée dans la cible", problem="p",
                      change="c", state=ProposalState.merged, merged_into_id=target.id, published_at=utcnow())
    db.session.add(merged)
    db.session.flush()
    db.session.add(ProposalOrigin(proposal_id=merged.id, kind=OriginKind.idea, idea_id=idea_id))
    db.session.commit()

    def report():
        html = client.get(f"/decisions/ateliers/{world.workshop.id}/bilan").get_data(as_text=True)
        return html[html.index('id="ideas-title"'):]

    assert target.title in report()  # the twin
    proposals.withdraw_proposal(db.session.get(Proposal, target.id), author)
    assert target.title not in report() and merged.title in report()
    assert f"/propositions/{target.id}" not in hrefs(report())
