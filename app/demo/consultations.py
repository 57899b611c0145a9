"""Demo consultations (DINUM, run by Étienne Éditeur): one of each method and state. Idempotent: a
consultation is found by its title before anything is created."""

from datetime import timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..catalog.models import Organisation
from ..clock import utcnow
from ..consultations import service
from ..consultations.models import Consultation, ConsultationMethod, SelectionRule
from ..extensions import db
from ..proposals.models import Proposal, ProposalState

MOVING = [
    ("Une seule déclaration de changement d'adresse",
     "Il faut signaler son déménagement séparément à la CAF, aux impôts, à l'Assurance Maladie et à la banque.",
     "Déclarer une fois son changement d'adresse, transmis à tous les organismes choisis.",
     "Moins d'oublis, moins de courriers perdus et de droits suspendus."),
    ("Transférer automatiquement les contrats d'énergie",
     "Chaque fournisseur demande les mêmes relevés et pièces.",
     "Proposer le transfert des contrats depuis le service de changement d'adresse.",
     "Gain de temps le jour du déménagement."),
    ("Mettre à jour la carte grise sans frais ni délai",
     "La carte grise doit être modifiée dans le mois, sous peine d'amende.",
     "Mise à jour automatique à partir de la déclaration d'adresse.",
     "Plus d'amende pour un oubli."),
]
PRIORITIES = [
    ("Un numéro unique pour joindre les services publics",
     "On ne sait pas qui appeler ; on est renvoyé d'un numéro à l'autre.",
     "Un numéro unique qui oriente vers le bon interlocuteur.", "Moins d'appels perdus."),
    ("Ne plus fournir de justificatif de domicile",
     "Chaque démarche demande un justificatif de moins de trois mois.",
     "Les administrations vérifient l'adresse entre elles.", "Moins de pièces à chercher."),
    ("Suivre l'avancement de ses démarches en ligne",
     "On ne sait pas où en est un dossier déposé.",
     "Un suivi en ligne de chaque dossier avec un délai indicatif.", "Moins d'inquiétude et de relances."),
]
BUDGET = [
    ("Rendez-vous en soirée dans les services d'accueil",
     "Les horaires d'ouverture coïncident avec les heures de travail.",
     "Des créneaux après 18 h une fois par semaine.", "Accès pour les personnes qui travaillent."),
    ("Formulaires lisibles en français clair",
     "Les formulaires emploient un vocabulaire administratif difficile.",
     "Réécrire les dix formulaires les plus utilisés en langage clair.", "Moins d'erreurs de saisie."),
    ("Accompagnement numérique près de chez soi",
     "Certaines personnes n'ont ni ordinateur ni aide pour les démarches en ligne.",
     "Des permanences d'aide dans chaque canton.", "Personne n'est laissé de côté."),
]
OPEN_SUPPORT = [
    ("Prendre rendez-vous en ligne dans toutes les préfectures",
     "Certaines préfectures ne proposent de rendez-vous qu'au guichet ou par téléphone.",
     "Une prise de rendez-vous en ligne commune à toutes les préfectures.", "Moins de déplacements inutiles."),
    ("Un accusé de réception pour chaque dossier envoyé",
     "On ne sait pas si un dossier envoyé par courrier est bien arrivé.",
     "Un accusé de réception par courriel ou SMS à l'arrivée du dossier.", "Moins de relances et d'inquiétude."),
    ("Des courriers administratifs datés et signés d'une personne",
     "Les courriers ne disent pas qui contacter en cas de question.",
     "Chaque courrier indique un nom et un moyen de contact direct.", "Un interlocuteur identifié."),
]
CLOSED_MAJORITY = [
    ("Prévenir avant la fin d'un droit",
     "On découvre qu'une aide s'est arrêtée au moment où elle n'est plus versée.",
     "Un message deux mois avant la fin d'un droit, avec la démarche pour le renouveler.",
     "Pas de rupture de ressources."),
    ("Un seul justificatif d'identité pour toute une démarche",
     "Chaque étape d'une même démarche redemande une pièce d'identité.",
     "La pièce déposée au début vaut pour toutes les étapes.", "Moins de téléversements."),
    ("Des délais de traitement affichés avant de déposer",
     "On dépose un dossier sans savoir combien de temps il faudra attendre.",
     "Le délai moyen constaté est affiché sur la page de chaque démarche.", "On s'organise en connaissance de cause."),
]
OPEN_DOTS = [
    ("Traduire les démarches essentielles en langues étrangères",
     "Les personnes qui lisent mal le français renoncent à certaines démarches.",
     "Les vingt démarches les plus courantes traduites dans cinq langues.", "Un accès plus égal aux droits."),
    ("Garder ses pièces justificatives dans un coffre-fort numérique",
     "Il faut téléverser les mêmes pièces pour chaque démarche.",
     "Un espace personnel où les pièces sont déposées une fois et réutilisées.", "Moins de saisie."),
    ("Rappeler par SMS les échéances importantes",
     "On oublie les dates limites (renouvellement, déclaration).",
     "Un rappel facultatif par SMS quelques jours avant l'échéance.", "Moins de pénalités de retard."),
]


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _proposals(org: Organisation, author: User, texts) -> list[Proposal]:
    out = []
    for title, problem, change, benefit in texts:
        proposal = db.session.scalar(select(Proposal).where(Proposal.title == title,
                                                            Proposal.organisation_id == org.id))
        if proposal is None:
            proposal = Proposal(organisation_id=org.id, title=title, problem=problem, change=change, benefit=benefit,
                                author_id=author.id, state=ProposalState.published, published_at=utcnow())
            db.session.add(proposal)
        out.append(proposal)
    db.session.commit()
    return out


def seed_consultations() -> bool:
    """Returns True when anything was created."""
    org = db.session.scalar(select(Organisation).where(Organisation.slug == "dinum"))
    editor, camille = _user("editeur@atelier.example"), _user("citoyenne@atelier.example")
    if org is None or editor is None or camille is None:
        return False
    voters = [_user(f"participant{n}@atelier.example") for n in range(1, 9)]
    voters = [v for v in voters if v is not None]
    now = utcnow()
    created = False

    def exists(title):
        return db.session.scalar(select(Consultation.id).where(Consultation.title == title)) is not None

    title = "Simplifier les démarches de déménagement — vote en cours"
    if not exists(title):
        proposals = _proposals(org, camille, MOVING)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.majority, opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=14), selection_rule=SelectionRule.top_k, selection_value=1,
            description_md="Trois propositions issues de l'atelier « Je déménage ». **Attribuez une mention à "
                           "chacune** : la mieux classée sera étudiée en priorité par les administrations concernées.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        ids = [p.id for p in proposals]
        for i, voter in enumerate(voters[:5]):
            service.cast_ballot(c, voter, {ids[0]: 6 - (i % 3), ids[1]: 3 + (i % 2), ids[2]: i % 4})
        created = True

    title = "Priorités 2026 — vote par soutien (clos)"
    if not exists(title):
        proposals = _proposals(org, camille, PRIORITIES)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.support, opens_at=now - timedelta(days=20),
            closes_at=now + timedelta(days=1), selection_rule=SelectionRule.threshold, selection_value=4,
            description_md="Soutenez les simplifications que vous jugez prioritaires pour 2026.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        ids = [p.id for p in proposals]
        for i, voter in enumerate(voters):
            service.cast_ballot(c, voter, {ids[0]: 1, **({ids[1]: 1} if i % 2 else {}),
                                           **({ids[2]: 1} if i % 3 == 0 else {})})
        service.close_consultation(c.id, actor=editor, force=True)
        created = True

    title = "Droits et justificatifs — jugement majoritaire (clos)"
    if not exists(title):
        proposals = _proposals(org, camille, CLOSED_MAJORITY)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.majority, opens_at=now - timedelta(days=30),
            closes_at=now + timedelta(days=1), selection_rule=SelectionRule.top_k, selection_value=1,
            description_md="Une mention pour chaque proposition ; la médiane décide, départagée par la règle "
                           "habituelle du jugement majoritaire.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        ids = [p.id for p in proposals]
        for i, voter in enumerate(voters):
            grades = {ids[0]: 5 - (i % 2), ids[1]: 3 + (i % 3) - 1, ids[2]: 4 - (i % 4)}
            if i == 0:
                grades.pop(ids[2])  # left ungraded: counted « À rejeter »
            service.cast_ballot(c, voter, grades)
        service.close_consultation(c.id, actor=editor, force=True)
        created = True

    title = "Répartir 10 points entre les simplifications de l'accueil"
    if not exists(title):
        proposals = _proposals(org, camille, BUDGET)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.dots, dots_budget=10, dots_max_per_proposal=5,
            opens_at=now + timedelta(days=3), closes_at=now + timedelta(days=17), selection_rule=SelectionRule.top_k,
            selection_value=2, counts_visible_while_open=True,
            description_md="Chaque personne dispose de 10 points, au plus 5 par proposition.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        created = True

    title = "Améliorer le suivi des dossiers — vote par soutien en cours"
    if not exists(title):
        proposals = _proposals(org, camille, OPEN_SUPPORT)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.support, opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=14), selection_rule=SelectionRule.threshold, selection_value=3,
            description_md="Soutenez les améliorations du suivi des dossiers que vous voulez voir en premier.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        created = True

    title = "Répartir 6 points entre les services numériques — vote en cours"
    if not exists(title):
        proposals = _proposals(org, camille, OPEN_DOTS)
        c = service.create_consultation(
            editor, org, title=title, method=ConsultationMethod.dots, dots_budget=6, dots_max_per_proposal=4,
            opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=14), selection_rule=SelectionRule.top_k,
            selection_value=1, description_md="Chaque personne dispose de 6 points, au plus 4 par proposition.")
        service.add_proposals(editor, c, [p.id for p in proposals])
        service.open_consultation(editor, c)
        created = True

    title = "Consultation en préparation"
    if not exists(title):
        service.create_consultation(editor, org, title=title, method=ConsultationMethod.support,
                                    opens_at=now + timedelta(days=30), closes_at=now + timedelta(days=45),
                                    selection_rule=SelectionRule.top_k, selection_value=3)
        created = True
    return created
