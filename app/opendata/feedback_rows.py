"""The published experiences (« Je donne mon avis ») and the organisations' replies to them, as a dataset; with the
filters of the API's list and of the replies' Atom feed (organisation, service, publication day).

Public: experiences that moderation published, whose response is not marked as spam. Published per experience:
its own id (never the response's), the service and its organisation, the day it was published, the satisfaction
the person gave (the stored JDMA code and its label), the text they agreed to publish, and the organisation's
reply with its signature (the civil servant's public signature, as typed and shown on the site) and its time.

Nothing about the respondent: no response id, no link token, no contact, no time of answer, no other answer, and
not the source (button, link, embed, QR code, Atelier): on one service and one day, « QR code at the counter »
narrows down who wrote; the barometer publishes sources in aggregate. The publication date is a day, without the
time: the minute, set against the service's own logs, could point to the person (moderation can follow the
answer closely).
"""

import csv
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, String, and_, cast, func, select

from ..catalog.models import Organisation, Service
from ..feedback.models import FORM_VERSION, Experience, ExperienceStatus, FeedbackAnswer, FeedbackResponse
from .dataset import ORG_ID, ORG_NAME, Dataset, Field, Filter, id_field, url_field

JDMA_FORM = Path(__file__).resolve().parents[1] / "data" / "reference" / "jdma_form.csv"


def _satisfaction_labels() -> dict[int, str]:
    """The stored codes of « De façon générale, comment ça s'est passé ? » and their French labels, as the JDMA
    questionnaire the form asks has them."""
    with JDMA_FORM.open(encoding="utf-8", newline="") as handle:
        return {int(row["stored_answer_item_id"]): row["stored_answer_text"] for row in csv.DictReader(handle)
                if row["form_version"] == FORM_VERSION and row["field_code"] == "satisfaction"}


SATISFACTION_LABELS = _satisfaction_labels()


def public_experience():
    """An experience anyone may read: published by moderation, from a response not marked as spam."""
    return and_(Experience.status == ExperienceStatus.published, FeedbackResponse.is_spam.is_(False))


def _satisfaction():
    """The response's satisfaction code (one per response: the form stores a step's answers once)."""
    return (select(func.min(FeedbackAnswer.answer_item_id))
            .where(FeedbackAnswer.response_id == FeedbackResponse.id, FeedbackAnswer.field_code == "satisfaction")
            .correlate(FeedbackResponse).scalar_subquery())


def _statement() -> Select:
    return (select(Experience.id, Service.organisation_id, Organisation.slug.label("organisation_slug"),
                   Organisation.name.label("organisation"), Service.id.label("service_id"),
                   Service.slug.label("service_slug"), Service.name.label("service"), Experience.published_at,
                   _satisfaction().label("satisfaction"), Experience.text, Experience.reply_text.label("reply"),
                   Experience.reply_signature, Experience.replied_at, Experience.reply_edited_at)
            .join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .join(Service, Service.id == FeedbackResponse.service_id)
            .join(Organisation, Organisation.id == Service.organisation_id)
            .where(public_experience())
            .order_by(Experience.id))


def _names():
    """The ids, slugs and names of the services that have a public experience, with their organisations': renaming
    one changes the rows (and moves no date). Bounded by the catalogue, not by the number of experiences."""
    with_experiences = (select(FeedbackResponse.service_id)
                        .join(Experience, Experience.response_id == FeedbackResponse.id).where(public_experience()))
    names = (select((cast(Service.id, String) + ":" + Service.slug + ":" + Service.name + ":" + Organisation.slug
                     + ":" + Organisation.name).label("name"))
             .join(Organisation, Organisation.id == Service.organisation_id)
             .where(Service.id.in_(with_experiences)).order_by(Service.id).subquery())
    return select(func.aggregate_strings(names.c.name, "\n")).scalar_subquery()


def _fingerprint() -> Select:
    """Count, sum and highest id (an experience published and another withdrawn or marked as spam change the sum),
    the latest dates (a reply corrected moves ``reply_edited_at``), and the texts' lengths."""
    return (select(func.count(Experience.id), func.coalesce(func.sum(Experience.id), 0), func.max(Experience.id),
                   func.max(Experience.published_at), func.max(Experience.moderated_at),
                   func.max(Experience.replied_at), func.max(Experience.reply_edited_at),
                   func.coalesce(func.sum(func.length(Experience.text)), 0),
                   func.coalesce(func.sum(func.length(Experience.reply_text)), 0),
                   func.coalesce(func.sum(func.length(Experience.reply_signature)), 0), _names())
            .join(FeedbackResponse, FeedbackResponse.id == Experience.response_id)
            .where(public_experience()))


def _finish(row: dict) -> dict:
    published = row["published_at"]
    row["published_at"] = published.date() if published is not None else None  # the day only (see above)
    row["satisfaction_label"] = SATISFACTION_LABELS.get(row["satisfaction"])
    # No reply yet: empty cells (CSV) and nulls (JSON), not empty strings.
    for name in ("reply", "reply_signature"):
        row[name] = row[name] or None
    return row


# --- the API's filters (and the feed's) ---------------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9-]{1,120}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_slug(raw: str) -> str | None:
    return raw if SLUG.fullmatch(raw) else None


def parse_day(raw: str) -> date | None:
    if not DAY.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _published_until(day: date):
    """Published on ``day`` or before (stored times are naive UTC)."""
    if day == date.max:
        return Experience.published_at.is_not(None)
    return Experience.published_at < datetime.combine(day + timedelta(days=1), time.min)


SLUG_SCHEMA = {"type": "string", "pattern": "^[a-z0-9-]{1,120}$"}
DAY_SCHEMA = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
SLUG_MESSAGE = _l("L'identifiant d'adresse (%(name)s) ne contient que des lettres minuscules sans accent, des "
                  "chiffres et des tirets.")
DAY_MESSAGE = _l("La date (%(name)s) doit être un jour existant au format AAAA-MM-JJ.")

BY_ORGANISATION = Filter("organisation", "Seulement les expériences des démarches de cette organisation "
                         "(son identifiant d'adresse, organisation_slug).", SLUG_SCHEMA, SLUG_MESSAGE,
                         parse_slug, lambda slug: Organisation.slug == slug)
BY_SERVICE = Filter("service", "Seulement les expériences de cette démarche (son identifiant d'adresse, "
                    "service_slug).", SLUG_SCHEMA, SLUG_MESSAGE, parse_slug, lambda slug: Service.slug == slug)
PUBLISHED_FROM = Filter("published_from", "Seulement les expériences publiées ce jour-là ou après (AAAA-MM-JJ, "
                        "jour UTC).", DAY_SCHEMA, DAY_MESSAGE, parse_day,
                        lambda day: Experience.published_at >= datetime.combine(day, time.min))
PUBLISHED_TO = Filter("published_to", "Seulement les expériences publiées ce jour-là ou avant (AAAA-MM-JJ, "
                      "jour UTC).", DAY_SCHEMA, DAY_MESSAGE, parse_day, _published_until)


EXPERIENCES = Dataset(
    name="experiences",
    title=_l("Expériences d'usagers et réponses"),
    description=_l("Les avis que leurs auteurs ont accepté de publier (« Je donne mon avis »), publiés après "
                   "modération, avec la réponse signée de l'organisation. Rien qui désigne la personne : ni "
                   "identifiant de réponse, ni contact, ni heure de réponse, ni canal ; la publication est datée "
                   "au jour près."),
    fields=(
        id_field("Identifiant de l'expérience publiée (pas celui de la réponse au questionnaire)"),
        ORG_ID,
        Field("organisation_slug", "string", "Identifiant d'adresse de l'organisation", required=True,
              max_length=80),
        ORG_NAME,
        Field("service_id", "integer", "Identifiant de la démarche", required=True, minimum=1),
        Field("service_slug", "string", "Identifiant d'adresse de la démarche", required=True, max_length=120),
        Field("service", "string", "Nom de la démarche", required=True),
        Field("published_at", "date", "Jour de publication après modération (jour UTC, sans l'heure : l'heure, "
              "recoupée avec les journaux de la démarche, pourrait désigner la personne)"),
        Field("satisfaction", "integer", "Réponse à « De façon générale, comment ça s'est passé ? » : code "
              "enregistré par le questionnaire JDMA (" + ", ".join(f"{code} = {label}" for code, label in
                                                                    sorted(SATISFACTION_LABELS.items())) + ")",
              enum=tuple(sorted(SATISFACTION_LABELS))),
        Field("satisfaction_label", "string", "Libellé de la réponse de satisfaction",
              enum=tuple(label for _code, label in sorted(SATISFACTION_LABELS.items()))),
        Field("text", "string", "Le texte que son auteur a accepté de publier", required=True),
        Field("reply", "string", "Réponse publique de l'organisation (vide tant qu'elle n'a pas répondu)"),
        Field("reply_signature", "string", "Signature de la réponse (nom et fonction de l'agent qui l'a signée)",
              max_length=200),
        Field("replied_at", "datetime", "Date de la réponse (UTC)"),
        Field("reply_edited_at", "datetime", "Date de la dernière correction de la réponse (UTC ; vide si elle n'a "
              "pas été corrigée)"),
        url_field("Page publique des expériences de la démarche, à l'endroit de celle-ci"),
    ),
    primary_key=("id",),
    statement=_statement,
    fingerprint_statement=_fingerprint,
    finish=_finish,
    url=("feedback.service_experiences", "service_slug", "service_slug", "#experience-{id}"),
    key_column=lambda: Experience.id,
    # An experience withdrawn or marked as spam, a service renamed: not every change moves a date.
    exact_dates=False,
    filters=(BY_ORGANISATION, BY_SERVICE, PUBLISHED_FROM, PUBLISHED_TO),
)
