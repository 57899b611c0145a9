"""Demo proposals about « Je déménage » and other life events, in several states, with supports, comments,
a merged duplicate, a withdrawn one, a hidden comment and a reported one. Idempotent: nothing is done once the
first demo proposal exists. Everything goes through the service, so the demo obeys the same rules as people do."""

from datetime import timedelta

from sqlalchemy import select, update

from ..accounts.models import User
from ..catalog.models import LifeEvent, Organisation, Service
from ..clock import utcnow
from ..extensions import db
from ..proposals import merging, moderation, service, settings
from ..proposals.models import ModerationMode, Proposal, ProposalState

OVERDUE_SELECTED_DAYS_AGO = 90
# title, service slug (or None), life event slug, author (participant number or "camille"), problem, change, benefit
PROPOSALS = [
    ("Déclarer son déménagement une seule fois pour tous les organismes", "changement-adresse", "je-demenage",
     "camille", "Quand on déménage, il faut prévenir séparément la Caf, les impôts, l'Assurance Maladie, "
     "la préfecture pour la carte grise et les fournisseurs d'énergie.",
     "Étendre le service de changement d'adresse à tous les organismes publics, avec un récapitulatif de ce "
     "qui a été transmis.", "Moins d'oublis, pas de droits suspendus faute d'adresse à jour."),
    ("Mettre à jour la carte grise automatiquement après un déménagement", "carte-grise", "je-demenage", 1,
     "Il faut refaire une démarche en ligne dans le mois qui suit le déménagement, sous peine d'amende.",
     "Modifier l'adresse du certificat d'immatriculation à partir de la déclaration de changement d'adresse.",
     "Plus d'amende pour un oubli, une démarche de moins."),
    ("Conserver son aide au logement sans nouveau dossier quand on déménage", "aide-au-logement", "je-demenage", 2,
     "À chaque déménagement, l'aide au logement est interrompue le temps de refaire un dossier complet.",
     "Reprendre le dossier existant et ne demander que le nouveau bail.",
     "Pas de mois sans aide au moment où les frais sont les plus lourds."),
    ("Un justificatif de domicile partagé entre administrations", "changement-adresse", "je-demenage", 3,
     "Chaque administration demande un justificatif de domicile de moins de trois mois.",
     "Les administrations vérifient l'adresse entre elles au lieu de la redemander.",
     "Moins de pièces à chercher et à numériser."),
    ("S'inscrire sur les listes électorales en même temps que le changement d'adresse", "inscription-electorale",
     "je-demenage", 4, "Beaucoup de personnes qui déménagent oublient de s'inscrire dans leur nouvelle commune.",
     "Proposer l'inscription électorale dans le parcours de déclaration de changement d'adresse.",
     "Moins de personnes privées de vote après un déménagement."),
    ("Transmettre l'adresse aux fournisseurs d'énergie depuis service-public.fr", "changement-adresse",
     "je-demenage", 5, "Chaque fournisseur d'électricité et de gaz demande les mêmes informations.",
     "Permettre de choisir ses fournisseurs dans le service de changement d'adresse.",
     "Un seul formulaire le jour du déménagement."),
    ("Déclarer un seul changement d'adresse pour la Caf et les impôts", "changement-adresse", "je-demenage", 6,
     "Prévenir la Caf et les impôts séparément fait double emploi.",
     "Une déclaration unique transmise aux deux.", "Moins de démarches."),
    ("Demander la prime de naissance sans ressaisir ses informations", "prestations-caf", "je-deviens-parent", 7,
     "La Caf redemande des informations déjà transmises par l'Assurance Maladie.",
     "Pré-remplir la demande avec la déclaration de grossesse.", "Une aide versée plus vite."),
    ("Un dossier social étudiant plus court pour les boursiers déjà connus", "dossier-social-etudiant",
     "je-deviens-etudiant", 8, "Il faut refaire tout le dossier chaque année, même si rien n'a changé.",
     "Ne demander que ce qui a changé depuis l'année précédente.", "Moins d'abandons de dossier."),
    ("Prendre rendez-vous en préfecture en ligne pour le permis", "permis-de-conduire", "je-deviens-etudiant",
     "camille", "Les créneaux sont difficiles à trouver et les informations dispersées.",
     "Un calendrier unique de rendez-vous en ligne.", "Moins d'attente."),
    ("Simuler sa retraite avec toutes ses carrières à l'étranger", "simulateur-retraite", "je-prepare-ma-retraite",
     2, "Les périodes travaillées à l'étranger n'apparaissent pas dans le simulateur.",
     "Permettre de déclarer ces périodes dans le simulateur.", "Une estimation plus juste."),
    ("Un guichet unique pour les démarches après un décès", None, "je-perds-un-proche", 1,
     "Après un décès, les proches doivent prévenir une dizaine d'organismes, souvent avec les mêmes pièces.",
     "Une déclaration unique de décès transmise aux organismes concernés.",
     "Moins de démarches dans un moment difficile."),
]


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def seed_proposals() -> bool:
    """Create the demo proposals once; returns True when anything was created."""
    if db.session.scalar(select(Proposal.id).where(Proposal.title == PROPOSALS[0][0])) is not None:
        return False
    admin, camille = _user("admin@atelier.example"), _user("citoyenne@atelier.example")
    editor = _user("editeur@atelier.example")
    people = [_user(f"participant{n}@atelier.example") for n in range(1, 9)]
    if admin is None or camille is None or None in people:
        return False
    dila = db.session.scalar(select(Organisation).where(Organisation.slug == "dila"))
    db.session.rollback()
    made = []
    for title, service_slug, event_slug, author, problem, change, benefit in PROPOSALS:
        svc = db.session.scalar(select(Service).where(Service.slug == service_slug)) if service_slug else None
        event = db.session.scalar(select(LifeEvent).where(LifeEvent.slug == event_slug))
        who = camille if author == "camille" else people[author - 1]
        actor = who if svc is not None else admin  # only an admin assigns the organisation of a life event
        db.session.rollback()
        proposal = service.create_proposal(actor, title=title, problem=problem, change=change, benefit=benefit,
                                           service_id=svc.id if svc else None,
                                           life_event_id=event.id if event else None,
                                           organisation_id=None if svc else dila.id)
        made.append(proposal)
    # Supports: the first proposals are the most supported.
    everyone = [camille, *people]
    for i, proposal in enumerate(made):
        for person in everyone[: max(0, 9 - i)]:
            if proposal.author_id != person.id:
                service.support(proposal, person)
    # A discussion with an official reply and a reply to it.
    first = made[0]
    question = service.add_comment(first, people[0], "Est-ce que cela marcherait aussi pour les résidences "
                                   "secondaires ?")
    service.add_comment(first, admin, "Bonne question : le service actuel ne couvre que la résidence principale. "
                        "Nous l'ajoutons aux points à étudier.", parent_id=question.id)
    testimony = service.add_comment(first, people[2], "Indispensable, j'ai perdu deux mois d'aide au logement "
                                    "l'an dernier.")
    # A report waiting for the moderators (nothing wrong with the comment: they may close it without hiding it).
    moderation.report(first, people[6], "Ce témoignage personnel est-il à sa place ici ?", comment_id=testimony.id)
    spam = service.add_comment(made[1], people[4], "Visitez mon site pour des cartes grises pas chères !")
    moderation.hide_comment(spam, admin, "publicité sans rapport avec la proposition")
    # The author improves a supported text: the first version is kept and shown.
    service.edit_proposal(made[3], people[2], title=made[3].title, problem=made[3].problem,
                          change="Les administrations vérifient l'adresse entre elles (API Adresse et "
                          "FranceConnect) au lieu de la redemander.", benefit=made[3].benefit)
    # A duplicate merged into the first proposal, one withdrawn, one in a vote, one selected.
    merging.merge_proposals(made[6], made[0], admin)
    service.withdraw_proposal(made[10], people[1])
    for proposal, state in ((made[7], ProposalState.selected), (made[8], ProposalState.answered)):
        db.session.execute(update(Proposal).where(Proposal.id == proposal.id).values(state=state))
    # The selected one was kept three months ago and is still unanswered: past the default 60-day answer deadline,
    # so the demo shows an overdue answer (on its page and in its organisation's list of proposals to answer).
    db.session.execute(update(Proposal).where(Proposal.id == made[7].id)
                       .values(updated_at=utcnow() - timedelta(days=OVERDUE_SELECTED_DAYS_AGO)))
    db.session.commit()
    # DINUM moderates before publication: a proposal awaits its editor.
    dinum = db.session.scalar(select(Organisation).where(Organisation.slug == "dinum"))
    if editor is not None and dinum is not None:
        settings.update_settings(dinum, editor, ModerationMode.before,
                                 labels={ProposalState.selected: ("Retenue pour 2027", "Kept for 2027")})
        svc = db.session.scalar(select(Service).where(Service.slug == "demarches-simplifiees"))
        db.session.rollback()
        if svc is not None:
            service.create_proposal(people[5], title="Reprendre un brouillon de dossier sur un autre appareil",
                                    problem="Un dossier commencé sur le téléphone ne se retrouve pas sur "
                                    "l'ordinateur.", change="Enregistrer les brouillons dans le compte.",
                                    benefit="Moins de dossiers abandonnés.", service_id=svc.id)
    return True
