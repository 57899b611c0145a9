"""The public proposals and the answers to them, as datasets: which proposals are public (published, in a vote,
selected, answered or merged, and not hidden by the moderators), their columns without any personal data (no author,
no supporter, no follower), and the organisations' answers to those proposals only, signed by the organisation,
never by the editor.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, select

from ..catalog.models import LifeEvent, Organisation, Service
from ..decisions.models import Answer as AnswerModel
from ..decisions.models import AnswerKind
from ..proposals.models import PUBLIC_STATES, Proposal, ProposalState
from .dataset import ORG_ID, ORG_NAME, Dataset, Field, id_field, organisation_names, url_field

# The states of a proposal people may see (hidden ones excepted), as plain values for the schemas.
PUBLIC_STATE_VALUES = tuple(s.value for s in ProposalState if s in PUBLIC_STATES)


def public_proposal():
    """A proposal anyone may see: in a public state and not hidden by the moderators."""
    return and_(Proposal.state.in_(PUBLIC_STATES), Proposal.hidden_at.is_(None))


def last_hidden():
    """When a proposal was last hidden by the moderators: hiding moves no ``updated_at``, and the rows it removes
    (the proposal, its answer, its links to measures) must not stay in a copy revalidated by date."""
    return select(func.max(Proposal.hidden_at)).scalar_subquery()


# --- proposals ----------------------------------------------------------------------------------------

def _proposals_statement() -> Select:
    return (select(Proposal.id, Proposal.title, Proposal.problem, Proposal.change, Proposal.benefit,
                   Proposal.state, Proposal.organisation_id, Organisation.name.label("organisation"),
                   Proposal.service_id, Service.name.label("service"), Proposal.life_event_id,
                   LifeEvent.name_fr.label("life_event"), Proposal.on_behalf_of_workshop_id.label("workshop_id"),
                   Proposal.merged_into_id, Proposal.support_count, Proposal.comment_count, Proposal.published_at,
                   Proposal.updated_at)
            .join(Organisation, Organisation.id == Proposal.organisation_id)
            .outerjoin(Service, Service.id == Proposal.service_id)
            .outerjoin(LifeEvent, LifeEvent.id == Proposal.life_event_id)
            .where(public_proposal())
            .order_by(Proposal.id))


def _proposals_count() -> Select:
    return select(func.count(Proposal.id)).where(public_proposal())


def _proposals_fingerprint() -> Select:
    return select(func.count(Proposal.id), func.max(Proposal.id), func.max(Proposal.updated_at),
                  func.sum(Proposal.support_count), func.sum(Proposal.comment_count), last_hidden(),
                  organisation_names()).where(public_proposal())


def _finish_proposal(row: dict) -> dict:
    row["state"] = row["state"].value
    return row


PROPOSALS = Dataset(
    name="proposals",
    title=_l("Propositions"),
    description=_l("Les propositions publiques (publiées, soumises au vote, retenues, répondues ou fusionnées), "
                   "sans donnée personnelle : ni auteur, ni soutiens nominatifs."),
    fields=(
        id_field("Identifiant de la proposition"),
        Field("title", "string", "Titre", required=True, max_length=200),
        Field("problem", "string", "Le problème rencontré aujourd'hui (irritant)"),
        Field("change", "string", "Le changement proposé"),
        Field("benefit", "string", "Le bénéfice attendu"),
        Field("state", "string", "État : published, in_vote, selected, answered ou merged", required=True,
              enum=PUBLIC_STATE_VALUES),
        ORG_ID, ORG_NAME,
        Field("service_id", "integer", "Identifiant de la démarche concernée", minimum=1),
        Field("service", "string", "Démarche concernée"),
        Field("life_event_id", "integer", "Identifiant du moment de vie concerné", minimum=1),
        Field("life_event", "string", "Moment de vie concerné"),
        Field("workshop_id", "integer", "Atelier au nom duquel la proposition a été déposée", minimum=1),
        Field("merged_into_id", "integer", "Proposition dans laquelle celle-ci a été fusionnée", minimum=1),
        Field("support_count", "integer", "Nombre de soutiens", required=True, minimum=0),
        Field("comment_count", "integer", "Nombre de commentaires", required=True, minimum=0),
        Field("published_at", "datetime", "Date de publication (UTC)"),
        Field("updated_at", "datetime", "Dernière modification (UTC)", required=True),
        url_field("Page de la proposition"),
    ),
    primary_key=("id",),
    statement=_proposals_statement,
    fingerprint_statement=_proposals_fingerprint,
    count_statement=_proposals_count,
    finish=_finish_proposal,
    url=("proposals.show_proposal", "proposal_id", "id"),
    key_column=lambda: Proposal.id,
    exact_dates=False,
)


# --- answers ------------------------------------------------------------------------------------------

def _answers_statement() -> Select:
    return (select(AnswerModel.id, AnswerModel.proposal_id, AnswerModel.organisation_id,
                   Organisation.name.label("organisation"), AnswerModel.kind, AnswerModel.body_md.label("body"),
                   AnswerModel.reason, AnswerModel.revision, AnswerModel.answered_at, AnswerModel.updated_at)
            .join(Proposal, Proposal.id == AnswerModel.proposal_id)
            .join(Organisation, Organisation.id == AnswerModel.organisation_id)
            .where(public_proposal())
            .order_by(AnswerModel.id))


def _answers_fingerprint() -> Select:
    return (select(func.count(AnswerModel.id), func.max(AnswerModel.id), func.max(AnswerModel.updated_at),
                   last_hidden(), organisation_names())
            .join(Proposal, Proposal.id == AnswerModel.proposal_id).where(public_proposal()))


def _finish_answer(row: dict) -> dict:
    row["kind"] = row["kind"].value
    return row


ANSWERS = Dataset(
    name="answers",
    title=_l("Réponses aux propositions"),
    description=_l("La réponse publique de l'organisation à chaque proposition, avec ses motifs."),
    fields=(
        id_field("Identifiant de la réponse"),
        Field("proposal_id", "integer", "Proposition à laquelle l'organisation répond", required=True, minimum=1),
        ORG_ID, ORG_NAME,
        Field("kind", "string", "Réponse : adopted (adoptée), partly_adopted (en partie), not_adopted (non adoptée), "
              "already_exists (existe déjà ou déjà prévue)", required=True, enum=tuple(k.value for k in AnswerKind)),
        Field("body", "string", "Texte de la réponse (Markdown)"),
        Field("reason", "string", "Motif (obligatoire quand la proposition n'est pas adoptée)"),
        Field("revision", "integer", "Numéro de version de la réponse (1 = jamais modifiée)", required=True,
              minimum=1),
        Field("answered_at", "datetime", "Date de la première réponse (UTC)", required=True),
        Field("updated_at", "datetime", "Date de la version en vigueur (UTC)", required=True),
        url_field("Page de la proposition, où la réponse est publiée"),
    ),
    primary_key=("id",),
    statement=_answers_statement,
    fingerprint_statement=_answers_fingerprint,
    finish=_finish_answer,
    url=("proposals.show_proposal", "proposal_id", "proposal_id"),
    key_column=lambda: AnswerModel.id,
)

