"""Demo decisions: answers to a few demo proposals (by Étienne Éditeur for DINUM, by the admin for other
organisations) and one measure, owned by the organisation of the adopted proposal, with its milestones and
updates. Idempotent: nothing is answered once a demo answer exists, and the measure is found by its title
before anything is created."""

from datetime import date

from sqlalchemy import select

from ..accounts.models import User
from ..boards import service as boards
from ..catalog.models import Organisation, Service
from ..clock import utcnow
from ..consultations.models import ConsultationProposal
from ..decisions import measures, service
from ..decisions.models import Answer, AnswerKind, Measure
from ..extensions import db
from ..proposals import service as proposals
from ..proposals.models import Proposal, ProposalState
from ..proposals.moderation import approve_proposal
from ..workshops.models import Registration, Workshop

MEASURE_TITLE = "Déclarer son changement d'adresse une seule fois"
# The trail, end to end: the past demo workshop's board -> an idea -> a proposal -> an answer -> an implemented
# measure (found by these titles; tests/browser/test_trail_journey.py follows it back).
TRAIL_WORKSHOP_PREFIX = "Carte grise"
TRAIL_BOARD_TITLE = "Carte grise : ce qui bloque"
TRAIL_IDEA = "Le site refuse ma nouvelle adresse car elle n'est pas encore connue de la base nationale"
TRAIL_PROPOSAL_TITLE = "Accepter une adresse récente pour la carte grise"
TRAIL_MEASURE_TITLE = "Adresses récentes acceptées pour la carte grise"
# A measure implemented five months ago on a service whose demo answers cover the past year (app/demo/barometer.py):
# its page and the service's barometer show the six months before and the months after so far.
EFFECT_MEASURE_TITLE = "Vote par internet depuis l'étranger : une seule page d'identification"
EFFECT_SERVICE_SLUG = "vote-francais-etranger"
ANSWERS = [
    (AnswerKind.adopted, "Nous étendons le service de changement d'adresse à **tous les organismes** publics. "
                         "Le suivi de la mesure est publié ci-dessous.", ""),
    (AnswerKind.not_adopted, "Nous ne pouvons pas donner suite pour l'instant.",
     "Le transfert des contrats d'énergie relève des fournisseurs privés : la loi ne nous permet pas de le "
     "faire à leur place."),
    (AnswerKind.partly_adopted, "La mise à jour de la carte grise sera gratuite ; elle ne sera pas encore "
                                "automatique.", "L'automatisation attend la refonte du système d'immatriculation."),
]


def seed_decisions() -> bool:
    """Answer up to three demo proposals and create the demo measure; True when anything was created."""
    dinum = db.session.scalar(select(Organisation).where(Organisation.slug == "dinum"))
    editor = db.session.scalar(select(User).where(User.email == "editeur@atelier.example"))
    admin = db.session.scalar(select(User).where(User.email == "admin@atelier.example"))
    if dinum is None or editor is None or admin is None:
        return False

    def actor(organisation_id):
        return editor if organisation_id == dinum.id else admin

    created = False
    if db.session.scalar(select(Answer.id).limit(1)) is None:
        # Published proposals outside any consultation: the demo keeps its selected proposals (shown as awaiting
        # an answer) and its consultations as they are.
        in_consultation = select(ConsultationProposal.proposal_id)
        candidates = list(db.session.scalars(
            select(Proposal).where(Proposal.hidden_at.is_(None), Proposal.state == ProposalState.published,
                                   Proposal.id.not_in(in_consultation))
            .order_by(Proposal.id).limit(len(ANSWERS))))
        for proposal, (kind, body, reason) in zip(candidates, ANSWERS, strict=False):
            who = actor(proposal.organisation_id)
            service.answer_proposal(proposal, who, kind=kind, body=body, reason=reason,
                                    show_editor_name=who is editor)
            created = True
    adopted = db.session.scalar(select(Proposal).join(Answer, Answer.proposal_id == Proposal.id)
                                .where(Answer.kind == AnswerKind.adopted).order_by(Proposal.id).limit(1))
    if db.session.scalar(select(Measure.id).where(Measure.title == MEASURE_TITLE)) is None:
        owner = adopted.organisation if adopted else dinum
        editor = actor(owner.id)
        measure = measures.create_measure(owner, editor, title=MEASURE_TITLE,
                                          proposal_ids=[adopted.id] if adopted else [],
                                          description="Un seul formulaire pour prévenir la CAF, les impôts, "
                                                      "l'Assurance Maladie et la préfecture.")
        first = measures.add_milestone(measure, editor, title="Ouverture aux caisses de sécurité sociale",
                                       planned_on=date(2026, 9, 1))
        measures.add_milestone(measure, editor, title="Ouverture à tous les organismes", planned_on=date(2027, 6, 1))
        measures.complete_milestone(first, editor, done_on=date(2026, 9, 15))
        measures.post_update(measure, editor, body="Le service est ouvert aux caisses de sécurité sociale.",
                             status="in_progress", progress=40)
        created = True
    created |= seed_trail(dinum, editor if dinum else admin)
    created |= seed_measure_effect(dinum, editor)
    return created


def seed_measure_effect(dinum, editor) -> bool:
    """DINUM's measure on « Voter depuis l'étranger », implemented in the middle of the month five months ago."""
    vote = db.session.scalar(select(Service).where(Service.slug == EFFECT_SERVICE_SLUG))
    if vote is None or vote.organisation_id != dinum.id or db.session.scalar(
            select(Measure.id).where(Measure.title == EFFECT_MEASURE_TITLE)) is not None:
        return False
    measure = measures.create_measure(dinum, editor, title=EFFECT_MEASURE_TITLE, service_ids=[vote.id],
                                      description="L'identification, le choix du bureau et la confirmation tiennent "
                                                  "sur une seule page.")
    today = utcnow().date()
    month = date(today.year, today.month, 1)
    index = month.year * 12 + month.month - 1 - 5
    measures.post_update(measure, editor, body="La nouvelle page est en ligne pour tous les électeurs.",
                         status="implemented", progress=100, implemented_on=date(index // 12, index % 12 + 1, 15))
    return True


def seed_trail(dinum, editor) -> bool:
    """Through the services: the past demo workshop gets a board where its participants posted ideas; one idea
    becomes a proposal, supported, answered « adopted » and fed into a measure that is implemented. Idempotent
    (found by the measure's title); False when the demo workshop or its people are missing."""
    if db.session.scalar(select(Measure.id).where(Measure.title == TRAIL_MEASURE_TITLE)) is not None:
        return False
    facilitator = db.session.scalar(select(User).where(User.email == "animatrice@atelier.example"))
    workshop = db.session.scalar(select(Workshop).where(Workshop.title.startswith(TRAIL_WORKSHOP_PREFIX),
                                                        Workshop.organisation_id == dinum.id))
    if facilitator is None or workshop is None:
        return False
    attendees = list(db.session.scalars(select(User).join(Registration, Registration.user_id == User.id)
                                        .where(Registration.workshop_id == workshop.id,
                                               Registration.checked_in_at.is_not(None)).order_by(Registration.id)))
    if len(attendees) < 3:
        return False
    board = boards.create_board(facilitator, dinum, TRAIL_BOARD_TITLE, "irritants", workshop=workshop)
    board_id, column_id = board.id, board.columns[0].id
    lead = boards.participant_for(boards.get_board(board_id), facilitator).id
    boards.set_phase(board_id, lead, phase="brainstorm")
    ideas = [TRAIL_IDEA, "Il faut attendre le courrier pour savoir si la démarche a marché",
             "On ne sait pas quel justificatif de domicile envoyer"]
    idea_ids = []
    for person, text in zip(attendees, ideas, strict=False):
        participant = boards.join(boards.get_board(board_id), person)
        idea_ids.append(boards.post_idea(board_id, participant.id, column_id=column_id, text=text)["idea_id"])
    boards.set_phase(board_id, lead, phase="closed")
    draft = proposals.promote(facilitator, idea_id=idea_ids[0])
    proposals.edit_proposal(draft, facilitator, title=TRAIL_PROPOSAL_TITLE, problem=draft.problem,
                            change="Accepter l'adresse déclarée avec un justificatif de domicile récent, sans attendre "
                                   "la mise à jour de la base nationale des adresses.",
                            benefit="Plus de blocage ni d'amende pour une adresse trop récente.")
    proposal = proposals.submit_proposal(db.session.get(Proposal, draft.id), facilitator)
    if proposal.state is ProposalState.awaiting_moderation:  # DINUM reads proposals before publishing them
        proposal = approve_proposal(proposal, editor)
    for person in attendees[1:]:
        proposals.support(db.session.get(Proposal, proposal.id), person)
    proposals.follow(db.session.get(Proposal, proposal.id), attendees[0])
    service.answer_proposal(db.session.get(Proposal, proposal.id), editor, kind=AnswerKind.adopted,
                            body="Le site accepte désormais une adresse récente, avec un justificatif de domicile.",
                            show_editor_name=True)
    measure = measures.create_measure(dinum, editor, title=TRAIL_MEASURE_TITLE, proposal_ids=[proposal.id],
                                      description="Le formulaire de changement d'adresse de la carte grise accepte "
                                                  "une adresse absente de la base nationale, sur justificatif.")
    milestone = measures.add_milestone(measure, editor, title="Mise en ligne du nouveau formulaire",
                                       planned_on=date(2026, 10, 1))
    measures.complete_milestone(milestone, editor, done_on=date(2026, 10, 6))
    measures.post_update(measure, editor, body="Le nouveau formulaire est en ligne pour tout le monde.",
                         status="implemented", progress=100)
    return True
