"""Demo decisions: answers to a few demo proposals (by Étienne Éditeur for DINUM, by the admin for other
organisations) and one measure, owned by the organisation of the adopted proposal, with its milestones and
updates. Idempotent: nothing is answered once a demo answer exists, and the measure is found by its title
before anything is created."""

from datetime import date

from sqlalchemy import select

from ..accounts.models import User
from ..catalog.models import Organisation
from ..consultations.models import ConsultationProposal
from ..extensions import db
from ..proposals.models import Proposal, ProposalState
from . import service
from .models import Answer, AnswerKind, Measure

MEASURE_TITLE = "Déclarer son changement d'adresse une seule fois"
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
        measure = service.create_measure(owner, editor, title=MEASURE_TITLE,
                                         proposal_ids=[adopted.id] if adopted else [],
                                         description="Un seul formulaire pour prévenir la CAF, les impôts, "
                                                     "l'Assurance Maladie et la préfecture.")
        first = service.add_milestone(measure, editor, title="Ouverture aux caisses de sécurité sociale",
                                      planned_on=date(2026, 9, 1))
        service.add_milestone(measure, editor, title="Ouverture à tous les organismes", planned_on=date(2027, 6, 1))
        service.complete_milestone(first, editor, done_on=date(2026, 9, 15))
        service.post_update(measure, editor, body="Le service est ouvert aux caisses de sécurité sociale.",
                            status="in_progress", progress=40)
        created = True
    return created
