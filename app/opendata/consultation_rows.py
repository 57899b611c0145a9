"""The closed consultations as datasets: the consultations, their published results, and their anonymised ballots
(one row per choice, named by the ballot's random ``public_id``, never by the voter) from which anyone can
recompute every published result with ``app.consultations.results.compute``.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, select

from ..catalog.models import Organisation
from ..consultations.models import (
    Ballot,
    BallotChoice,
    Consultation,
    ConsultationMethod,
    ConsultationProposal,
    ConsultationState,
    SelectionRule,
)
from ..consultations.results import EXCELLENT, NUM_GRADES
from ..proposals.models import Proposal
from .dataset import ORG_ID, ORG_NAME, Dataset, Field, id_field, organisation_names, url_field


def _closed():
    return Consultation.state == ConsultationState.closed


def _consultations_statement() -> Select:
    return (select(Consultation.id, Consultation.organisation_id, Organisation.name.label("organisation"),
                   Consultation.title, Consultation.method, Consultation.selection_rule, Consultation.selection_value,
                   Consultation.dots_budget, Consultation.dots_max_per_proposal, Consultation.opens_at,
                   Consultation.closes_at, Consultation.closed_at, Consultation.ballots_cast)
            .join(Organisation, Organisation.id == Consultation.organisation_id)
            .where(_closed())
            .order_by(Consultation.id))


def _consultations_fingerprint() -> Select:
    return select(func.count(Consultation.id), func.max(Consultation.id), func.max(Consultation.updated_at),
                  func.max(Consultation.closed_at), func.sum(Consultation.ballots_cast),
                  organisation_names()).where(_closed())


def _finish_consultation(row: dict) -> dict:
    row["method"] = row["method"].value
    row["selection_rule"] = row["selection_rule"].value
    row["ballots_cast"] = row["ballots_cast"] or 0
    return row


CONSULTATIONS = Dataset(
    name="consultations",
    title=_l("Consultations closes"),
    description=_l("Les consultations terminées : méthode de vote, règle de sélection et participation."),
    fields=(
        id_field("Identifiant de la consultation"),
        ORG_ID, ORG_NAME,
        Field("title", "string", "Titre", required=True, max_length=200),
        Field("method", "string", "Méthode : support (approbation), dots (budget de points), majority (jugement "
              "majoritaire, notes de 0 « À rejeter » à 6 « Excellent »)", required=True,
              enum=tuple(m.value for m in ConsultationMethod)),
        Field("selection_rule", "string", "Règle de sélection : threshold (seuil) ou top_k (les k premiers)",
              required=True, enum=tuple(r.value for r in SelectionRule)),
        Field("selection_value", "integer", "Seuil, ou nombre de propositions retenues (vide : aucune sélection)",
              minimum=0),
        Field("dots_budget", "integer", "Budget de points par votant (méthode dots)", minimum=1),
        Field("dots_max_per_proposal", "integer", "Points au plus par proposition (méthode dots)", minimum=1),
        Field("opens_at", "datetime", "Ouverture du vote (UTC)", required=True),
        Field("closes_at", "datetime", "Clôture prévue (UTC)", required=True),
        Field("closed_at", "datetime", "Clôture effective et publication des résultats (UTC)"),
        Field("ballots_cast", "integer", "Nombre de bulletins", required=True, minimum=0),
        url_field("Page de la consultation"),
    ),
    primary_key=("id",),
    statement=_consultations_statement,
    fingerprint_statement=_consultations_fingerprint,
    finish=_finish_consultation,
    url=("consultations.show_consultation", "consultation_id", "id"),
    key_column=lambda: Consultation.id,
)


def _results_statement() -> Select:
    cp = ConsultationProposal
    return (select(cp.consultation_id, cp.proposal_id, cp.position, cp.rank, cp.score, cp.backers, cp.selected,
                   cp.profile)
            .join(Consultation, Consultation.id == cp.consultation_id)
            .where(_closed())
            .order_by(cp.consultation_id, cp.proposal_id))


def _finish_result(row: dict) -> dict:
    row["counted"] = row["rank"] is not None
    profile = row.pop("profile", None) or [None] * NUM_GRADES
    for grade in range(NUM_GRADES):
        row[f"grade_{grade}"] = profile[grade]
    row["selected"] = bool(row["selected"])
    return row


RESULTS = Dataset(
    name="consultation-results",
    title=_l("Résultats des consultations"),
    description=_l("Le résultat publié de chaque proposition soumise à une consultation close : rang, score, "
                   "sélection, et pour le jugement majoritaire le nombre de chaque mention."),
    fields=(
        Field("consultation_id", "integer", "Identifiant de la consultation", required=True, minimum=1),
        Field("proposal_id", "integer", "Identifiant de la proposition", required=True, minimum=1),
        Field("position", "integer", "Place sur le bulletin", required=True, minimum=0),
        Field("counted", "boolean", "false : proposition retirée du vote par la modération, non décomptée",
              required=True),
        Field("rank", "integer", "Rang (les ex aequo partagent un rang)", minimum=1),
        Field("score", "integer", "Approbations (support), points (dots) ou mention médiane de 0 à 6 (majority)",
              minimum=0),
        Field("backers", "integer", "Bulletins qui lui ont donné quelque chose (majority : qui l'ont notée)",
              minimum=0),
        Field("selected", "boolean", "Retenue à l'issue du vote", required=True),
        *(Field(f"grade_{g}", "integer", f"Jugement majoritaire : nombre de mentions {g} "
                f"(0 = À rejeter, {EXCELLENT} = Excellent ; un oubli compte « À rejeter »)", minimum=0)
          for g in range(NUM_GRADES)),
    ),
    primary_key=("consultation_id", "proposal_id"),
    statement=_results_statement,
    fingerprint_statement=_consultations_fingerprint,
    finish=_finish_result,
)


def _ballots_statement() -> Select:
    # As counted: choices on a proposal withdrawn by the moderators before closing are left out (see
    # ConsultationProposal.withdrawn); a ballot left with no choice is one row with empty proposal and value.
    withdrawn = exists().where(Proposal.id == BallotChoice.proposal_id, Proposal.hidden_at.is_not(None),
                               Proposal.hidden_at <= Consultation.closed_at)
    return (select(Ballot.public_id.label("ballot_id"), Ballot.consultation_id, BallotChoice.proposal_id,
                   BallotChoice.value)
            .join(Consultation, Consultation.id == Ballot.consultation_id)
            .outerjoin(BallotChoice, and_(BallotChoice.ballot_id == Ballot.id, ~withdrawn))
            .where(_closed())
            .order_by(Ballot.consultation_id, Ballot.public_id, BallotChoice.proposal_id))


BALLOTS = Dataset(
    name="ballots",
    title=_l("Bulletins anonymisés"),
    description=_l("Chaque choix de chaque bulletin des consultations closes, sous un identifiant de bulletin "
                   "aléatoire (jamais celui du votant) : de quoi recalculer chaque résultat publié."),
    fields=(
        Field("ballot_id", "string", "Identifiant aléatoire du bulletin (sans lien avec le votant)", required=True,
              max_length=32),
        Field("consultation_id", "integer", "Identifiant de la consultation", required=True, minimum=1),
        Field("proposal_id", "integer", "Proposition choisie (vide : bulletin sans aucun choix décompté)",
              minimum=1),
        Field("value", "integer", "1 (support), points (dots) ou mention de 0 à 6 (majority)", minimum=0),
    ),
    primary_key=(),  # (ballot_id, proposal_id) is unique, but proposal_id is empty on an empty ballot
    statement=_ballots_statement,
    fingerprint_statement=_consultations_fingerprint,
)

