"""The public datasets, defined once: used by the downloads (CSV, JSON, ``datapackage.json``) and the JSON API.

Each dataset has a Table Schema (fields, types, constraints, primary key), one SQL statement that selects its
public rows in primary-key order (columns labelled with the field names), an optional per-row finishing step
(URLs, derived rates), and a *fingerprint*: one cheap aggregate row (counts, latest timestamps) that changes
whenever the rows do, from which the downloads' and the API's ETag and Last-Modified are made.

What is public, and nothing more:

- proposals: published, in a vote, selected, answered or merged, and not hidden by the moderators; no author,
  no supporter, no follower (no personal data);
- answers: to those proposals only; signed by the organisation, never by the editor;
- measures, their milestones, their public updates (without their authors), the proposals they come from;
- workshops: published (or cancelled) public workshops, aggregate figures only; evaluation figures only once
  ``MIN_EVALUATIONS`` people answered, so that no one's opinion can be singled out;
- consultations: closed ones only, their results, and their anonymised ballots (one row per choice, named by the
  ballot's random ``public_id``, never by the voter) from which anyone can recompute every published result with
  ``app.consultations.results.compute``.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, String, and_, case, cast, exists, func, select

from ..catalog.models import LifeEvent, Organisation, Service
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
from ..decisions.models import Answer as AnswerModel
from ..decisions.models import AnswerKind, Measure, MeasureProposal, MeasureStatus, MeasureUpdate, Milestone
from ..extensions import db
from ..inputs import DB_INT_MAX
from ..proposals.models import PUBLIC_STATES, Proposal, ProposalState
from ..workshops.models import (
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopEvaluation,
    WorkshopFormat,
    WorkshopStatus,
)

LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
MIN_EVALUATIONS = 5
"""Evaluation figures of a workshop are published only from this many answers on."""
STREAM_BATCH = 500
"""Rows fetched per round trip when a whole dataset is streamed (server-side cursor on PostgreSQL)."""
MAX_INT = DB_INT_MAX

# The states of a proposal people may see (hidden ones excepted), as plain values for the schemas.
PUBLIC_STATE_VALUES = tuple(s.value for s in ProposalState if s in PUBLIC_STATES)


@dataclass(frozen=True)
class Field:
    """One column. ``description`` is French: the data's documentation, the same whatever the reader's language."""

    name: str
    type: str  # Table Schema type: integer, number, string, boolean, date, datetime
    description: str
    required: bool = False
    enum: tuple = ()
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    format: str | None = None  # Table Schema string format ("uri")

    def table_schema(self) -> dict:
        out = {"name": self.name, "type": self.type, "description": self.description}
        if self.format:
            out["format"] = self.format
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.minimum is not None:
            constraints["minimum"] = self.minimum
        if self.maximum is not None:
            constraints["maximum"] = self.maximum
        if self.max_length is not None:
            constraints["maxLength"] = self.max_length
        if constraints:
            out["constraints"] = constraints
        return out

    def json_schema(self) -> dict:
        """The field as JSON Schema 2020-12 (OpenAPI 3.1): nullable unless required."""
        kinds = {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean",
                 "date": "string", "datetime": "string"}
        out: dict = {"type": kinds[self.type] if self.required else [kinds[self.type], "null"],
                     "description": self.description}
        if self.type == "date":
            out["format"] = "date"
        elif self.type == "datetime":
            out["format"] = "date-time"
        elif self.format == "uri":
            out["format"] = "uri"
        if self.enum:
            out["enum"] = list(self.enum) + ([] if self.required else [None])
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


@dataclass(frozen=True)
class Dataset:
    name: str  # file name and API path segment
    title: object  # lazy string (the page is translated; the datapackage is written in French)
    description: object
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    statement: Callable[[], Select]
    fingerprint_statement: Callable[[], Select]
    finish: Callable[[dict], dict] | None = None
    url: tuple[str, str, str] | None = None  # (endpoint, its id argument, the row key): adds an absolute ``url``
    key_column: Callable[[], object] | None = None  # single integer key: the API has a detail endpoint
    # Whether every change of the rows moves a date of the fingerprint. When not (supports and comments are
    # counted without a date, a milestone's done date can be corrected to an earlier day), Last-Modified is only
    # informative and If-Modified-Since alone never answers 304: a stale copy is worse than a full download.
    exact_dates: bool = True
    # The same number of rows as ``statement`` without its joins (which cannot drop a row: a required foreign key,
    # outer joins): counting 10,000 proposals then reads one index instead of joining every row.
    count_statement: Callable[[], Select] | None = None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def has_detail(self) -> bool:
        return self.key_column is not None

    def table_schema(self) -> dict:
        schema = {"fields": [f.table_schema() for f in self.fields], "missingValues": [""]}
        if self.primary_key:
            schema["primaryKey"] = list(self.primary_key)
        return schema

    def json_schema(self) -> dict:
        return {"type": "object", "additionalProperties": False, "required": self.field_names,
                "properties": {f.name: f.json_schema() for f in self.fields}}

    # --- reading --------------------------------------------------------------------------------

    def _rows(self, stmt: Select, stream: bool = False) -> Iterator[dict]:
        finish = self.finish
        names = self.field_names
        # url_for once per call, not once per row (the host is the request's).
        make_url = _url_maker(*self.url[:2]) if self.url else None
        if stream:
            stmt = stmt.execution_options(yield_per=STREAM_BATCH)
        for row in db.session.execute(stmt).mappings():
            values = dict(row)
            if finish:
                values = finish(values)
            if make_url:
                values["url"] = make_url(values[self.url[2]])
            yield {name: values.get(name) for name in names}

    def iter_rows(self) -> Iterator[dict]:
        """Every public row, in primary-key order, fetched ``STREAM_BATCH`` at a time (bounded memory)."""
        return self._rows(self.statement(), stream=True)

    def count(self) -> int:
        if self.count_statement is not None:
            return db.session.scalar(self.count_statement())
        stmt = self.statement().order_by(None)
        return db.session.scalar(select(func.count()).select_from(stmt.subquery()))

    def page(self, page: int, per_page: int) -> list[dict]:
        return list(self._rows(self.statement().limit(per_page).offset((page - 1) * per_page)))

    def get(self, key: int) -> dict | None:
        if self.key_column is None or not 1 <= key <= MAX_INT:
            return None
        rows = list(self._rows(self.statement().where(self.key_column() == key)))
        return rows[0] if rows else None

    def fingerprint(self) -> tuple:
        """A cheap aggregate that changes when the rows do (counts, sums, latest timestamps)."""
        return tuple(db.session.execute(self.fingerprint_statement()).one())


def last_modified(fingerprint: tuple) -> datetime | None:
    """The latest timestamp in a fingerprint (UTC), for Last-Modified."""
    stamps = []
    for value in fingerprint:
        if isinstance(value, datetime):
            stamps.append(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
        elif isinstance(value, date):
            stamps.append(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return max(stamps) if stamps else None


# --- shared pieces ----------------------------------------------------------------------------------

def _public_proposal():
    return and_(Proposal.state.in_(PUBLIC_STATES), Proposal.hidden_at.is_(None))


def _last_hidden():
    """When a proposal was last hidden by the moderators: hiding moves no ``updated_at``, and the rows it removes
    (the proposal, its answer, its links to measures) must not stay in a copy revalidated by date."""
    return select(func.max(Proposal.hidden_at)).scalar_subquery()


def _organisation_names():
    """Every organisation's name in one string: a renamed organisation changes the rows that carry its name (and
    moves no date). Organisations are few: this stays small whatever the data size."""
    names = select((cast(Organisation.id, String) + ":" + Organisation.name).label("name")) \
        .order_by(Organisation.id).subquery()
    return select(func.aggregate_strings(names.c.name, "\n")).scalar_subquery()


def _url_maker(endpoint: str, arg: str) -> Callable[[int], str]:
    """id -> absolute URL of ``endpoint`` (url_for once, not once per row)."""
    sample = url_for(endpoint, **{arg: 987654321}, _external=True)
    head, tail = sample.rsplit("987654321", 1)
    return lambda key: f"{head}{key}{tail}"


def _id(description="Identifiant") -> Field:
    return Field("id", "integer", description, required=True, minimum=1)


ORG_ID = Field("organisation_id", "integer", "Identifiant de l'organisation", required=True, minimum=1)
ORG_NAME = Field("organisation", "string", "Nom de l'organisation", required=True)


def _url(description: str) -> Field:
    return Field("url", "string", description, required=True, format="uri")


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
            .where(_public_proposal())
            .order_by(Proposal.id))


def _proposals_count() -> Select:
    return select(func.count(Proposal.id)).where(_public_proposal())


def _proposals_fingerprint() -> Select:
    return select(func.count(Proposal.id), func.max(Proposal.id), func.max(Proposal.updated_at),
                  func.sum(Proposal.support_count), func.sum(Proposal.comment_count), _last_hidden(),
                  _organisation_names()).where(_public_proposal())


def _finish_proposal(row: dict) -> dict:
    row["state"] = row["state"].value
    return row


PROPOSALS = Dataset(
    name="proposals",
    title=_l("Propositions"),
    description=_l("Les propositions publiques (publiées, soumises au vote, retenues, répondues ou fusionnées), "
                   "sans donnée personnelle : ni auteur, ni soutiens nominatifs."),
    fields=(
        _id("Identifiant de la proposition"),
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
        _url("Page de la proposition"),
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
            .where(_public_proposal())
            .order_by(AnswerModel.id))


def _answers_fingerprint() -> Select:
    return (select(func.count(AnswerModel.id), func.max(AnswerModel.id), func.max(AnswerModel.updated_at),
                   _last_hidden(), _organisation_names())
            .join(Proposal, Proposal.id == AnswerModel.proposal_id).where(_public_proposal()))


def _finish_answer(row: dict) -> dict:
    row["kind"] = row["kind"].value
    return row


ANSWERS = Dataset(
    name="answers",
    title=_l("Réponses aux propositions"),
    description=_l("La réponse publique de l'organisation à chaque proposition, avec ses motifs."),
    fields=(
        _id("Identifiant de la réponse"),
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
        _url("Page de la proposition, où la réponse est publiée"),
    ),
    primary_key=("id",),
    statement=_answers_statement,
    fingerprint_statement=_answers_fingerprint,
    finish=_finish_answer,
    url=("proposals.show_proposal", "proposal_id", "proposal_id"),
    key_column=lambda: AnswerModel.id,
)


# --- measures, their proposals, milestones and updates ---------------------------------------------------

def _measures_statement() -> Select:
    return (select(Measure.id, Measure.organisation_id, Organisation.name.label("organisation"), Measure.title,
                   Measure.description_md.label("description"), Measure.status, Measure.abandon_reason,
                   Measure.progress, Measure.created_at, Measure.updated_at)
            .join(Organisation, Organisation.id == Measure.organisation_id)
            .order_by(Measure.id))


def _measures_fingerprint() -> Select:
    return select(func.count(Measure.id), func.max(Measure.id), func.max(Measure.updated_at), _organisation_names())


def _finish_status(row: dict) -> dict:
    row["status"] = row["status"].value
    return row


MEASURE_STATUSES = tuple(s.value for s in MeasureStatus)

MEASURES = Dataset(
    name="measures",
    title=_l("Mesures"),
    description=_l("Les mesures adoptées par les organisations, leur état et leur avancement."),
    fields=(
        _id("Identifiant de la mesure"),
        ORG_ID, ORG_NAME,
        Field("title", "string", "Intitulé", required=True, max_length=200),
        Field("description", "string", "Description (Markdown)"),
        Field("status", "string", "État : planned (prévue), in_progress (en cours), implemented (réalisée), "
              "abandoned (abandonnée)", required=True, enum=MEASURE_STATUSES),
        Field("abandon_reason", "string", "Motif de l'abandon"),
        Field("progress", "integer", "Avancement en pourcentage", required=True, minimum=0, maximum=100),
        Field("created_at", "datetime", "Date de création (UTC)", required=True),
        Field("updated_at", "datetime", "Dernière modification (UTC)", required=True),
        _url("Page de la mesure"),
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
            .where(_public_proposal())
            .order_by(MeasureProposal.measure_id, MeasureProposal.proposal_id))


def _measure_proposals_fingerprint() -> Select:
    links = (select(func.count()).select_from(MeasureProposal)
             .join(Proposal, Proposal.id == MeasureProposal.proposal_id).where(_public_proposal()).scalar_subquery())
    return select(links, select(func.max(Measure.updated_at)).scalar_subquery(),
                  select(func.count(Proposal.id)).where(_public_proposal()).scalar_subquery(), _last_hidden())


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
        _id("Identifiant du jalon"),
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
        _id("Identifiant de l'actualité"),
        Field("measure_id", "integer", "Identifiant de la mesure", required=True, minimum=1),
        Field("status", "string", "État de la mesure après cette actualité", required=True, enum=MEASURE_STATUSES),
        Field("progress", "integer", "Avancement en pourcentage après cette actualité", required=True, minimum=0,
              maximum=100),
        Field("body", "string", "Texte (Markdown)"),
        Field("created_at", "datetime", "Date de publication (UTC)", required=True),
        _url("Page de la mesure"),
    ),
    primary_key=("id",),
    statement=_updates_statement,
    fingerprint_statement=_updates_fingerprint,
    finish=_finish_status,
    url=("decisions.show_measure", "measure_id", "measure_id"),
    key_column=lambda: MeasureUpdate.id,
)


# --- workshops (aggregate figures only) ------------------------------------------------------------------

def _public_workshop():
    return and_(Workshop.status.in_([WorkshopStatus.published, WorkshopStatus.cancelled]),
                Workshop.visibility == Visibility.public)


def _workshops_statement() -> Select:
    confirmed = (select(Registration.workshop_id, func.count(Registration.id).label("n"))
                 .where(Registration.status == RegistrationStatus.confirmed)
                 .group_by(Registration.workshop_id).subquery())
    evaluations = (select(WorkshopEvaluation.workshop_id, func.count(WorkshopEvaluation.id).label("n"),
                          func.avg(WorkshopEvaluation.overall).label("overall"),
                          func.sum(case((WorkshopEvaluation.felt_heard == "yes", 1), else_=0)).label("heard"),
                          func.sum(case((WorkshopEvaluation.would_return == "yes", 1), else_=0)).label("back"))
                   .group_by(WorkshopEvaluation.workshop_id).subquery())
    return (select(Workshop.id, Workshop.organisation_id, Organisation.name.label("organisation"), Workshop.title,
                   Workshop.format, Workshop.status, Workshop.starts_at, Workshop.ends_at,
                   Workshop.capacity.label("seats"),
                   func.coalesce(confirmed.c.n, 0).label("registrations_confirmed"),
                   Workshop.attended_count.label("attended"), Workshop.no_show_count.label("no_show"),
                   func.coalesce(evaluations.c.n, 0).label("evaluations"),
                   evaluations.c.overall, evaluations.c.heard, evaluations.c.back)
            .join(Organisation, Organisation.id == Workshop.organisation_id)
            .outerjoin(confirmed, confirmed.c.workshop_id == Workshop.id)
            .outerjoin(evaluations, evaluations.c.workshop_id == Workshop.id)
            .where(_public_workshop())
            .order_by(Workshop.id))


def _workshops_fingerprint() -> Select:
    public_ids = select(Workshop.id).where(_public_workshop())
    registrations = (select(func.count(Registration.id))
                     .where(Registration.workshop_id.in_(public_ids),
                            Registration.status == RegistrationStatus.confirmed).scalar_subquery())
    evaluations = (select(func.count(WorkshopEvaluation.id))
                   .where(WorkshopEvaluation.workshop_id.in_(public_ids)).scalar_subquery())
    return select(func.count(Workshop.id), func.max(Workshop.id), func.max(Workshop.updated_at),
                  func.sum(Workshop.attended_count), func.sum(Workshop.no_show_count), registrations,
                  evaluations, _organisation_names()).where(_public_workshop())


def _rate(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def _finish_workshop(row: dict) -> dict:
    row["format"] = row["format"].value
    row["status"] = row["status"].value
    attended, no_show = row["attended"], row["no_show"]
    row["attendance_rate"] = _rate(attended, attended + no_show) if attended is not None and no_show is not None \
        else None
    enough = row["evaluations"] >= MIN_EVALUATIONS
    n = row["evaluations"]
    row["evaluation_overall_average"] = round(float(row["overall"]), 2) if enough else None
    row["evaluation_felt_heard_rate"] = _rate(int(row["heard"]), n) if enough else None
    row["evaluation_would_return_rate"] = _rate(int(row["back"]), n) if enough else None
    return row


WORKSHOPS = Dataset(
    name="workshops",
    title=_l("Ateliers"),
    description=_l("Les ateliers publics et leurs chiffres agrégés : places, inscriptions, présence, et les moyennes "
                   "des évaluations lorsqu'au moins cinq participants ont répondu. Aucune donnée individuelle."),
    fields=(
        _id("Identifiant de l'atelier"),
        ORG_ID, ORG_NAME,
        Field("title", "string", "Titre", required=True, max_length=200),
        Field("format", "string", "Format : in_person (sur place), online (en ligne), hybrid", required=True,
              enum=tuple(f.value for f in WorkshopFormat)),
        Field("status", "string", "published (publié) ou cancelled (annulé)", required=True,
              enum=(WorkshopStatus.published.value, WorkshopStatus.cancelled.value)),
        Field("starts_at", "datetime", "Début (UTC)", required=True),
        Field("ends_at", "datetime", "Fin (UTC)", required=True),
        Field("seats", "integer", "Nombre de places", required=True, minimum=1),
        Field("registrations_confirmed", "integer", "Inscriptions confirmées", required=True, minimum=0),
        Field("attended", "integer", "Participants présents (renseigné après l'atelier)", minimum=0),
        Field("no_show", "integer", "Inscrits absents (renseigné après l'atelier)", minimum=0),
        Field("attendance_rate", "number", "Taux de présence : présents / (présents + absents)", minimum=0,
              maximum=1),
        Field("evaluations", "integer", "Nombre d'évaluations reçues", required=True, minimum=0),
        Field("evaluation_overall_average", "number",
              f"Note globale moyenne sur 5 (à partir de {MIN_EVALUATIONS} évaluations)", minimum=1, maximum=5),
        Field("evaluation_felt_heard_rate", "number",
              f"Part des évaluations « je me suis senti écouté : oui » (à partir de {MIN_EVALUATIONS} évaluations)",
              minimum=0, maximum=1),
        Field("evaluation_would_return_rate", "number",
              f"Part des évaluations « je reviendrais : oui » (à partir de {MIN_EVALUATIONS} évaluations)",
              minimum=0, maximum=1),
        _url("Page de l'atelier"),
    ),
    primary_key=("id",),
    statement=_workshops_statement,
    fingerprint_statement=_workshops_fingerprint,
    finish=_finish_workshop,
    url=("workshops.show_workshop", "workshop_id", "id"),
    key_column=lambda: Workshop.id,
    exact_dates=False,  # registrations and evaluations are counted without a date
)


# --- consultations, results, anonymised ballots ----------------------------------------------------------

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
                  _organisation_names()).where(_closed())


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
        _id("Identifiant de la consultation"),
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
        _url("Page de la consultation"),
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


DATASETS: tuple[Dataset, ...] = (PROPOSALS, ANSWERS, MEASURES, MEASURE_PROPOSALS, MILESTONES, MEASURE_UPDATES,
                                 WORKSHOPS, CONSULTATIONS, RESULTS, BALLOTS)
BY_NAME = {dataset.name: dataset for dataset in DATASETS}
