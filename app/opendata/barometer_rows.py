"""The barometer in open data: its monthly counts per service (``barometre-mensuel``) and its figures with their
intervals for every scope (``barometre``).

Public: aggregates only, never an answer. The monthly counts are those of the last 24 months (spam left out, as the
barometer counts), one row per service, month, question and option that has at least one answer; a count under
``HIDDEN_BELOW`` is not published (empty cell and ``hidden`` true), so that no answer of a small service can be
singled out. The figures are the barometer's own (``app.barometer.serialize``: the API's JSON, flattened), over the
rolling year, for the whole country, each organisation, each life event and each service; value and interval only
from the minimum number of answers, as on the site. Figures published elsewhere (imported) are not republished.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, String, cast, func, literal, null, or_, select, union_all

from ..barometer.queries import LIFE_EVENT, NATIONAL, NATIONAL_SCOPE, ORGANISATION, SERVICE, Scope
from ..barometer.serialize import (
    NATIONAL_FR,
    SCALES,
    STATUSES,
    figure_json,
    label_text,
    month_text,
    pooled,
)
from ..barometer.service import TREND_MONTHS, barometer_from_counts, minimum_answers, window
from ..barometer.stats import EMPIRICAL_LIKELIHOOD, WILSON, indicators
from ..catalog.models import LifeEvent, Organisation, Service, life_event_services
from ..extensions import db
from ..feedback.models import FeedbackMonthlyCount
from ..feedback.questionnaire import get_questionnaire
from ..feedback.tally import RESPONDENTS, scored_fields
from .dataset import Dataset, Field

HIDDEN_BELOW = 5
"""A monthly count under this many answers is not published."""

SCOPE_KINDS = (NATIONAL, ORGANISATION, LIFE_EVENT, SERVICE)  # the order of the rows
LEVEL_COLORS = ("green", "yellow", "red")


# --- barometre-mensuel ----------------------------------------------------------------------------------------------

def _option_labels() -> dict[tuple[str, int], str]:
    """(field, code) -> the option's French label, as the questionnaire shows it."""
    return {(f.code, o.code): o.label for f in get_questionnaire().fields for o in f.options}


def _monthly_window() -> tuple[date, date]:
    return window(months=TREND_MONTHS)


def _published_cells():
    """The monthly cells published: every option, and the respondents (0) only of the checkbox question, where they
    are not the sum of its options. A single-choice question's respondents are that sum: published, they would give
    away an option hidden beside shown ones."""
    c = FeedbackMonthlyCount
    checkboxes = [f.code for f in get_questionnaire().fields if f.is_multiple]
    return [c.count > 0, or_(c.answer_item_id != RESPONDENTS, c.field_code.in_(checkboxes))]


def _monthly_statement() -> Select:
    first, last = _monthly_window()
    c = FeedbackMonthlyCount
    # In the counts' own key order: their primary key's index, no sort however many rows.
    return (select(c.service_id, Service.slug.label("service_slug"), Service.name.label("service"),
                   Organisation.slug.label("organisation_slug"), c.month, c.field_code, c.answer_item_id, c.count)
            .join(Service, Service.id == c.service_id)
            .join(Organisation, Organisation.id == Service.organisation_id)
            .where(c.month.between(first, last), *_published_cells())
            .order_by(c.service_id, c.month, c.field_code, c.answer_item_id))


def _monthly_count_statement() -> Select:
    first, last = _monthly_window()
    c = FeedbackMonthlyCount
    return select(func.count()).select_from(c).where(c.month.between(first, last), *_published_cells())


def _service_names():
    """Every service's id, slug, name and organisation slug in one string: renaming one changes the rows (and moves
    no date). Bounded by the catalogue, not by the answers."""
    names = (select((cast(Service.id, String) + ":" + Service.slug + ":" + Service.name + ":" + Organisation.slug)
                    .label("name"))
             .join(Organisation, Organisation.id == Service.organisation_id).order_by(Service.id).subquery())
    return select(func.aggregate_strings(names.c.name, "\n")).scalar_subquery()


def _counts_fingerprint(first: date, last: date, *more) -> Select:
    """Aggregates of the window's counts that change with any answer counted, taken out or moved to another option
    (the weighted sums) or service, in one pass over the window; with ``more`` columns (names, settings)."""
    c = FeedbackMonthlyCount
    return select(func.count(), func.coalesce(func.sum(c.count), 0),
                  func.coalesce(func.sum(c.count * (c.answer_item_id + 1)), 0),
                  func.coalesce(func.sum(c.count * c.service_id), 0), *more) \
        .where(c.month.between(first, last), c.count > 0)


def _monthly_fingerprint() -> Select:
    first, last = _monthly_window()
    # The window moves each month: its first month is part of the fingerprint.
    return _counts_fingerprint(first, last, literal(month_text(first)), _service_names())


OPTION_LABELS = _option_labels()


def _finish_monthly(row: dict) -> dict:
    row["month"] = month_text(row["month"])
    row["option_label"] = OPTION_LABELS.get((row["field_code"], row["answer_item_id"]))
    row["hidden"] = row["count"] < HIDDEN_BELOW
    if row["hidden"]:
        row["count"] = None
    return row


def monthly_rows(service_id: int) -> list[dict]:
    """One service's rows of ``barometre-mensuel``, as published (24 months hold a few hundred cells)."""
    return MONTHLY.page(1, 1_000_000, (Service.id == service_id,))


def _field_codes() -> str:
    return ", ".join(scored_fields())


MONTHLY = Dataset(
    name="barometre-mensuel",
    title=_l("Baromètre : réponses par mois"),
    description=_l("Pour chaque démarche, chaque mois des 24 derniers mois, chaque question à choix du "
                   "questionnaire « Je donne mon avis » et chaque option : le nombre de réponses (les réponses "
                   "marquées comme indésirables ne comptent pas). Un nombre inférieur à 5 n'est pas publié : la "
                   "case est vide et « hidden » vaut true, pour qu'aucune réponse d'une petite démarche ne puisse "
                   "être isolée. Une option sans aucune réponse ce mois-là n'a pas de ligne. Le nombre de réponses à "
                   "une question (option 0) n'est publié que pour la question à cases à cocher : pour les autres, "
                   "il est la somme de leurs options et révélerait une option cachée."),
    fields=(
        Field("service_id", "integer", "Identifiant de la démarche", required=True, minimum=1),
        Field("service_slug", "string", "Identifiant d'adresse de la démarche", required=True, max_length=120),
        Field("service", "string", "Nom de la démarche", required=True),
        Field("organisation_slug", "string", "Identifiant d'adresse de l'organisation", required=True,
              max_length=80),
        Field("month", "yearmonth", "Mois des réponses (AAAA-MM ; le mois où la réponse a été commencée, UTC)",
              required=True),
        Field("field_code", "string", "Question du questionnaire JDMA (" + _field_codes() + ")", required=True,
              enum=scored_fields()),
        Field("answer_item_id", "integer", "Option : code enregistré par le questionnaire JDMA ; 0 = les réponses "
              "à la question à cases à cocher (contact_tried), toutes options confondues (une réponse peut y cocher "
              "plusieurs options)", required=True, minimum=RESPONDENTS),
        Field("option_label", "string", "Libellé de l'option, en français, tel que le questionnaire l'affiche "
              "(vide pour 0)"),
        Field("count", "integer", "Nombre de réponses ; vide quand il est inférieur à 5 (voir hidden)",
              minimum=HIDDEN_BELOW),
        Field("hidden", "boolean", "true : moins de 5 réponses, nombre non publié", required=True),
    ),
    primary_key=("service_id", "month", "field_code", "answer_item_id"),
    statement=_monthly_statement,
    fingerprint_statement=_monthly_fingerprint,
    # Every count has its service (a required key, inner joins that drop nothing): counted without the joins.
    count_statement=_monthly_count_statement,
    finish=_finish_monthly,
    # Counts move without a date (an answer corrected, a response marked as spam).
    exact_dates=False,
)


# --- barometre --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scope:
    kind: str
    id: int | None
    slug: str | None
    name: str
    counts: dict  # (field, item) -> answers of the rolling year, its services pooled


def _members_statement() -> Select:
    """Every organisation, life event and service with the services it pools (one row per pair; an organisation or
    life event without a service has one row with none)."""
    organisations = (select(literal(ORGANISATION, String).label("kind"), Organisation.id.label("id"),
                            Organisation.slug.label("slug"), Organisation.name.label("name"),
                            Service.id.label("service_id"))
                     .outerjoin(Service, Service.organisation_id == Organisation.id))
    events = (select(literal(LIFE_EVENT, String), LifeEvent.id, LifeEvent.slug, LifeEvent.name_fr,
                     life_event_services.c.service_id)
              .outerjoin(life_event_services, life_event_services.c.life_event_id == LifeEvent.id))
    services = select(literal(SERVICE, String), Service.id, Service.slug, Service.name, Service.id)
    return union_all(organisations, events, services)


def _scopes_statement() -> Select:
    """The scopes with their services, and each service's counts over the rolling year, in one round trip: the
    members' rows (``count`` null) then the counts' rows (grouped by service only: cheaper than grouping the
    members' joined rows, which repeat each service's counts in its organisation, life events and itself)."""
    first, last = window()
    members = _members_statement().subquery()
    c = FeedbackMonthlyCount
    no_text, no_int = null().cast(String), null().cast(Integer)
    return union_all(
        select(members.c.kind, members.c.id, members.c.slug, members.c.name, members.c.service_id,
               no_text.label("field_code"), no_int.label("answer_item_id"), no_int.label("count")),
        select(no_text, no_int, no_text, no_text, c.service_id, c.field_code, c.answer_item_id,
               func.sum(c.count).cast(Integer))
        .where(c.month.between(first, last))
        .group_by(c.service_id, c.field_code, c.answer_item_id))


def _scopes() -> list[_Scope]:
    """The scopes and their counts, in the order of the rows: the nation (every service's answers), then
    organisations, life events and services by slug."""
    named: dict[tuple[str, int], tuple[str, str]] = {}
    members: dict[tuple[str, int], list[int]] = {}
    by_service: dict[int, dict] = {}
    for kind, scope_id, slug, name, service_id, field, item, total in db.session.execute(_scopes_statement()):
        if kind is None:
            if total:
                by_service.setdefault(service_id, {})[(field, item)] = int(total)
            continue
        named[(kind, scope_id)] = (slug, name)
        found = members.setdefault((kind, scope_id), [])
        if service_id is not None:
            found.append(service_id)
    order = {kind: position for position, kind in enumerate(SCOPE_KINDS)}
    keys = sorted(named, key=lambda key: (order[key[0]], named[key][0]))
    return [_Scope(NATIONAL, None, None, NATIONAL_FR, dict(pooled(by_service.values())))] + \
        [_Scope(kind, scope_id, *named[(kind, scope_id)],
                dict(pooled(by_service[sid] for sid in members[(kind, scope_id)] if sid in by_service)))
         for kind, scope_id in keys]


def _scope_count_statement() -> Select:
    return select(1 + select(func.count(Organisation.id)).scalar_subquery()
                  + select(func.count(LifeEvent.id)).scalar_subquery()
                  + select(func.count(Service.id)).scalar_subquery())


def _figure_rows(scopes: list[_Scope]) -> Iterator[dict]:
    first, last = window()
    minimum = minimum_answers()
    for scope in scopes:
        barometer = barometer_from_counts(NATIONAL_SCOPE if scope.id is None else Scope(scope.kind, scope.id), first,
                                          last, scope.counts, minimum)
        for figure in barometer.figures.values():
            shown = figure_json(figure)
            interval, level = shown["interval"], shown["level"]
            yield {
                "scope_kind": scope.kind, "scope_slug": scope.slug, "scope": scope.name,
                "indicator": figure.slug, "first_month": month_text(first), "last_month": month_text(last),
                "minimum_answers": minimum, "count": figure.count, "status": shown["status"],
                "value": shown["value"], "ci_low": interval and interval["low"],
                "ci_high": interval and interval["high"], "method": interval and interval["method"],
                "scale": shown["scale"], "level": level and level["code"], "level_label": label_text(figure),
                "uncertain": shown["uncertain"],
            }


def _barometer_fingerprint() -> Select:
    first, last = window()
    members = (select((cast(life_event_services.c.life_event_id, String) + ":"
                       + cast(life_event_services.c.service_id, String)).label("pair"))
               .order_by(life_event_services.c.life_event_id, life_event_services.c.service_id).subquery())
    names = (select((cast(Organisation.id, String) + ":" + Organisation.slug + ":" + Organisation.name)
                    .label("name")).order_by(Organisation.id).subquery())
    events = (select((cast(LifeEvent.id, String) + ":" + LifeEvent.slug + ":" + LifeEvent.name_fr).label("name"))
              .order_by(LifeEvent.id).subquery())
    return _counts_fingerprint(first, last,
                               literal(f"{month_text(first)}/{minimum_answers()}"),  # the window, and the minimum
                               _service_names(),
                               select(func.aggregate_strings(names.c.name, "\n")).scalar_subquery(),
                               select(func.aggregate_strings(events.c.name, "\n")).scalar_subquery(),
                               select(func.aggregate_strings(members.c.pair, "\n")).scalar_subquery())


@dataclass(frozen=True)
class FiguresDataset(Dataset):
    """A dataset whose rows are computed, not selected: the figures' intervals are no SQL. Every scope's services and
    every service's counts are read in one round trip (``statement``), a page computes the figures of the scopes it
    shows only, and the rows are counted from the catalogue (``count_statement``: one row per scope and indicator)."""

    def _scope_rows(self, scopes) -> Iterator[dict]:
        names = self.field_names
        for row in _figure_rows(scopes):
            yield {name: row.get(name) for name in names}

    def iter_rows(self) -> Iterator[dict]:
        return self._scope_rows(_scopes())

    def count(self, where: tuple = ()) -> int:
        return db.session.scalar(self.count_statement()) * len(indicators())

    def page(self, page: int, per_page: int, where: tuple = ()) -> list[dict]:
        per_scope = len(indicators())
        start = (page - 1) * per_page
        scopes = _scopes()[start // per_scope:-(-(start + per_page) // per_scope)]
        skip = start - start // per_scope * per_scope
        return list(self._scope_rows(scopes))[skip:skip + per_page]

    def get(self, key: int) -> dict | None:
        return None


def _indicator_list() -> str:
    return ", ".join(i.slug for i in indicators())


FIGURES = FiguresDataset(
    name="barometre",
    title=_l("Baromètre : indicateurs et intervalles de confiance"),
    description=_l("Les six indicateurs de « Je donne mon avis », calculés comme l'observatoire de la qualité "
                   "des démarches en ligne, sur les 12 derniers mois, pour l'ensemble des démarches, chaque "
                   "organisation, chaque moment de vie et chaque démarche ; avec leur intervalle de confiance à "
                   "95 %, ainsi que la méthode qui le calcule. La valeur, l'intervalle et le niveau ne sont "
                   "publiés qu'à partir du nombre minimal de réponses (minimum_answers) ; le nombre de réponses "
                   "l'est toujours."),
    fields=(
        Field("scope_kind", "string", "Périmètre : national (toutes les démarches), organisation, life_event "
              "(moment de vie) ou service (démarche)", required=True, enum=SCOPE_KINDS),
        Field("scope_slug", "string", "Identifiant d'adresse de l'organisation, du moment de vie ou de la "
              "démarche (vide pour national)", max_length=120),
        Field("scope", "string", "Nom du périmètre", required=True),
        Field("indicator", "string", "Indicateur (" + _indicator_list() + ")", required=True,
              enum=tuple(i.slug for i in indicators())),
        Field("first_month", "yearmonth", "Premier mois de la période (AAAA-MM)", required=True),
        Field("last_month", "yearmonth", "Dernier mois de la période (AAAA-MM, le mois en cours)", required=True),
        Field("minimum_answers", "integer", "Nombre de réponses à partir duquel la valeur est publiée",
              required=True, minimum=1),
        Field("count", "integer", "Nombre de réponses sur lesquelles repose l'indicateur", required=True,
              minimum=0),
        Field("status", "string", "shown (publié), insufficient (moins de réponses que minimum_answers) ou "
              "no_answers (aucune réponse)", required=True, enum=STATUSES),
        Field("value", "number", "Valeur, non arrondie, à l'échelle publiée par JDMA (voir scale) ; vide sauf "
              "si status vaut shown", minimum=0, maximum=10),
        Field("ci_low", "number", "Borne basse de l'intervalle de confiance à 95 %", minimum=0, maximum=10),
        Field("ci_high", "number", "Borne haute de l'intervalle de confiance à 95 %", minimum=0, maximum=10),
        Field("method", "string", "Méthode de l'intervalle : empirical_likelihood (vraisemblance empirique, Owen "
              "1988, pour les moyennes) ou wilson (score de Wilson, 1927, pour les parts)",
              enum=(EMPIRICAL_LIKELIHOOD, WILSON)),
        Field("scale", "string", "Échelle : note_10 (moyenne sur 10), share (part de 0 à 1) ou share_10 (part "
              "multipliée par 10, comme JDMA publie l'autonomie)", required=True, enum=SCALES),
        Field("level", "string", "Niveau de l'observatoire, par sa couleur : green, yellow, red (vide sans "
              "valeur, ou pour l'indicateur contact, que l'observatoire ne classe pas)", enum=LEVEL_COLORS),
        Field("level_label", "string", "Nom du niveau, tel que l'observatoire l'écrit (Très bien, "
              "Insuffisant, Critique)"),
        Field("uncertain", "boolean", "true : l'intervalle de confiance s'étend sur deux niveaux", required=True),
    ),
    primary_key=(),  # scope_kind, scope_slug and indicator: scope_slug is empty for the national scope
    statement=_scopes_statement,
    fingerprint_statement=_barometer_fingerprint,
    count_statement=_scope_count_statement,
    exact_dates=False,
)
