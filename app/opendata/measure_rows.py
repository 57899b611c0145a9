"""The measures as datasets: every measure with its state and progress, the links to the public proposals it comes
from, its milestones, and its public timeline updates (without their authors).
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from ..catalog.models import Organisation
from ..decisions.models import Measure, MeasureProposal, MeasureStatus, MeasureUpdate, Milestone
from ..proposals.models import Proposal
from .dataset import ORG_ID, ORG_NAME, Dataset, Field, id_field, organisation_names, url_field
from .proposal_rows import last_hidden, public_proposal


def _measures_statement() -> Select:
    return (select(Measure.id, Measure.organisation_id, Organisation.name.label("organisation"), Measure.title,
                   Measure.description_md.label("description"), Measure.status, Measure.abandon_reason,
                   Measure.progress, Measure.created_at, Measure.updated_at)
            .join(Organisation, Organisation.id == Measure.organisation_id)
            .order_by(Measure.id))


def _measures_fingerprint() -> Select:
    return select(func.count(Measure.id), func.max(Measure.id), func.max(Measure.updated_at), organisation_names())


def _finish_status(row: dict) -> dict:
    row["status"] = row["status"].value
    return row


MEASURE_STATUSES = tuple(s.value for s in MeasureStatus)

MEASURES = Dataset(
    name="measures",
    title=_l("Mesures"),
    description=_l("Les mesures adoptées par les organisations, leur état et leur avancement."),
    fields=(
        id_field("Identifiant de la mesure"),
        ORG_ID, ORG_NAME,
        Field("title", "string", "Intitulé", required=True, max_length=200),
        Field("description", "string", "Description (Markdown)"),
        Field("status", "string", "État : planned (prévue), in_progress (en cours), implemented (réalisée), "
              "abandoned (abandonnée)", required=True, enum=MEASURE_STATUSES),
        Field("abandon_reason", "string", "Motif de l'abandon"),
        Field("progress", "integer", "Avancement en pourcentage", required=True, minimum=0, maximum=100),
        Field("created_at", "datetime", "Date de création (UTC)", required=True),
        Field("updated_at", "datetime", "Dernière modification (UTC)", required=True),
        url_field("Page de la mesure"),
    ),
    primary_key=("id",),
    statement=_measures_statement,
    fingerprint_statement=_measures_fingerprint,
    finish=_finish_status,
    url=("decisions.show_measure", "measure_id", "id"),
    key_column=lambda: Measure.id,
)


def _measure_proposals_statement() -> Select:
    return (select(MeasureProposal.measure_id, MeasureProposal.proposal_id)
            .join(Proposal, Proposal.id == MeasureProposal.proposal_id)
            .where(public_proposal())
            .order_by(MeasureProposal.measure_id, MeasureProposal.proposal_id))


def _measure_proposals_fingerprint() -> Select:
    links = (select(func.count()).select_from(MeasureProposal)
             .join(Proposal, Proposal.id == MeasureProposal.proposal_id).where(public_proposal()).scalar_subquery())
    return select(links, select(func.max(Measure.updated_at)).scalar_subquery(),
                  select(func.count(Proposal.id)).where(public_proposal()).scalar_subquery(), last_hidden())


MEASURE_PROPOSALS = Dataset(
    name="measure-proposals",
    title=_l("Propositions à l'origine des mesures"),
    description=_l("Les liens entre chaque mesure et les propositions publiques dont elle est issue."),
    fields=(
        Field("measure_id", "integer", "Identifiant de la mesure", required=True, minimum=1),
        Field("proposal_id", "integer", "Identifiant de la proposition", required=True, minimum=1),
    ),
    primary_key=("measure_id", "proposal_id"),
    statement=_measure_proposals_statement,
    fingerprint_statement=_measure_proposals_fingerprint,
    exact_dates=False,  # a linked proposal may leave the public states without a date
)


def _milestones_statement() -> Select:
    return (select(Milestone.id, Milestone.measure_id, Milestone.title, Milestone.planned_on, Milestone.done_on)
            .order_by(Milestone.id))


def _milestones_fingerprint() -> Select:
    return select(func.count(Milestone.id), func.max(Milestone.id), func.count(Milestone.done_on),
                  func.max(Milestone.done_on), func.max(Milestone.created_at),
                  select(func.max(Measure.updated_at)).scalar_subquery())


MILESTONES = Dataset(
    name="milestones",
    title=_l("Jalons des mesures"),
    description=_l("Les étapes datées de chaque mesure : prévue le, réalisée le."),
    fields=(
        id_field("Identifiant du jalon"),
        Field("measure_id", "integer", "Identifiant de la mesure", required=True, minimum=1),
        Field("title", "string", "Intitulé", required=True, max_length=200),
        Field("planned_on", "date", "Date prévue", required=True),
        Field("done_on", "date", "Date de réalisation (vide si pas encore réalisé)"),
    ),
    primary_key=("id",),
    statement=_milestones_statement,
    fingerprint_statement=_milestones_fingerprint,
    key_column=lambda: Milestone.id,
    exact_dates=False,  # completing a milestone, or correcting its done date, moves no timestamp
)


def _updates_statement() -> Select:
    return (select(MeasureUpdate.id, MeasureUpdate.measure_id, MeasureUpdate.status, MeasureUpdate.progress,
                   MeasureUpdate.body_md.label("body"), MeasureUpdate.created_at)
            .order_by(MeasureUpdate.id))


def _updates_fingerprint() -> Select:
    return select(func.count(MeasureUpdate.id), func.max(MeasureUpdate.id), func.max(MeasureUpdate.created_at))


MEASURE_UPDATES = Dataset(
    name="measure-updates",
    title=_l("Actualités des mesures"),
    description=_l("Le fil public de chaque mesure : ce qui s'est passé, avec l'état et l'avancement atteints."),
    fields=(
        id_field("Identifiant de l'actualité"),
        Field("measure_id", "integer", "Identifiant de la mesure", required=True, minimum=1),
        Field("status", "string", "État de la mesure après cette actualité", required=True, enum=MEASURE_STATUSES),
        Field("progress", "integer", "Avancement en pourcentage après cette actualité", required=True, minimum=0,
              maximum=100),
        Field("body", "string", "Texte (Markdown)"),
        Field("created_at", "datetime", "Date de publication (UTC)", required=True),
        url_field("Page de la mesure"),
    ),
    primary_key=("id",),
    statement=_updates_statement,
    fingerprint_statement=_updates_fingerprint,
    finish=_finish_status,
    url=("decisions.show_measure", "measure_id", "measure_id"),
    key_column=lambda: MeasureUpdate.id,
)

