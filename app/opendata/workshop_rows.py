"""The public workshops as a dataset, aggregate figures only: published (or cancelled) public workshops, their seats,
registrations and attendance, and their evaluation figures only once ``MIN_EVALUATIONS`` people answered, so that
no one's opinion can be singled out.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, func, select

from ..catalog.models import Organisation
from ..workshops.models import (
    Registration,
    RegistrationStatus,
    Visibility,
    Workshop,
    WorkshopEvaluation,
    WorkshopFormat,
    WorkshopStatus,
)
from .dataset import ORG_ID, ORG_NAME, Dataset, Field, id_field, organisation_names, url_field

MIN_EVALUATIONS = 5
"""Evaluation figures of a workshop are published only from this many answers on."""


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
                  evaluations, organisation_names()).where(_public_workshop())


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
        id_field("Identifiant de l'atelier"),
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
        url_field("Page de l'atelier"),
    ),
    primary_key=("id",),
    statement=_workshops_statement,
    fingerprint_statement=_workshops_fingerprint,
    finish=_finish_workshop,
    url=("workshops.show_workshop", "workshop_id", "id"),
    key_column=lambda: Workshop.id,
    exact_dates=False,  # registrations and evaluations are counted without a date
)

