"""The read-only JSON API (``/api/v1/``): the open datasets, paginated (and filtered, for the datasets that have
filters: ``Dataset.filters``), and the barometer (``/api/v1/barometer…``: its JSON is ``barometer.serialize``'s),
cacheable, open to every origin.

GET only (HEAD and the CORS preflight OPTIONS are answered by Flask): there is nothing to protect with CSRF, and
a POST added here later would be CSRF-checked like any other. Responses never depend on who is signed in, so
CORS allows every origin and never credentials. Errors are ``{"error": {"code", "message"}}`` with the message in
the reader's language (``Accept-Language``).
"""

import json
import math

from flask import Response, current_app, g, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..barometer.published import latest_published
from ..barometer.queries import LIFE_EVENT, NATIONAL_SCOPE, ORGANISATION, SERVICE, Scope
from ..barometer.serialize import (
    barometer_json,
    month_text,
    national_scope_json,
    published_json,
    scope_json,
    services_page,
)
from ..barometer.service import TREND_MONTHS, barometer, window
from ..catalog.models import LifeEvent, Organisation, Service
from ..errors import DomainError
from ..errors import NotFound as _NotFound
from ..extensions import db
from ..i18n import localized
from ..inputs import parse_int
from ..opendata.barometer_rows import HIDDEN_BELOW, monthly_rows
from ..opendata.dataset import Dataset, read_filters
from ..opendata.datasets import BY_NAME, DATASETS
from ..opendata.files import json_row, not_modified, open_cors, set_validators, strong_etag, validators
from . import bp
from .openapi import PAGE_MAX, PER_PAGE_DEFAULT, PER_PAGE_MAX, document


class InvalidParameter(DomainError):
    code = "invalid_parameter"
    status = 400


class UnknownResource(_NotFound):
    code = "unknown_resource"
    message = _l("Cette ressource n'existe pas. La liste des ressources est à l'adresse /api/v1/.")


class UnknownItem(_NotFound):
    code = "not_found"
    message = _l("Aucun élément de cette ressource ne porte cet identifiant.")


def _dataset(resource: str) -> Dataset:
    dataset = BY_NAME.get(resource)
    if dataset is None:
        raise UnknownResource()
    return dataset


def _bounded_int(name: str, default: int, maximum: int, message) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = parse_int(raw, 1, maximum)
    if value is None:
        raise InvalidParameter(message, code=f"invalid_{name}")
    return value


def _filters(dataset: Dataset) -> tuple[dict, tuple]:
    """The dataset's filters sent in the query string: their texts (for the links and the ETag) and the conditions
    they add. A malformed or repeated one is a 400, never a silently wider list."""
    sent, where, bad = read_filters(dataset.filters, request.args)
    if bad is not None:
        raise InvalidParameter(str(bad.message) % {"name": bad.name}, code=f"invalid_{bad.name}")
    return sent, where


def _not_modified(etag, modified):
    return set_validators(Response(status=304), etag, modified)


def _json(body: dict, etag: str, modified):
    # Fields in the schema's order (jsonify would sort them).
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")
    return set_validators(response, etag, modified)


@bp.get("/")
def index():
    body = {
        "data": [{"name": d.name, "title": str(d.title), "description": str(d.description),
                  "url": url_for("api.list_resource", resource=d.name, _external=True),
                  "csv": url_for("opendata.download", name=d.name, fmt="csv", _external=True),
                  "detail": d.has_detail} for d in DATASETS],
        "links": {"self": url_for("api.index", _external=True),
                  "openapi": url_for("api.openapi", _external=True),
                  "licence": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
    }
    etag = strong_etag("api-index", body)
    if not_modified(etag, None):
        return _not_modified(etag, None)
    return _json(body, etag, None)


@bp.get("/openapi.json")
def openapi():
    body = document()
    etag = strong_etag("openapi", body)
    if not_modified(etag, None):
        return _not_modified(etag, None)
    return _json(body, etag, None)


def _page_arguments() -> tuple[int, int]:
    page = _bounded_int("page", 1, PAGE_MAX, _l("Le numéro de page doit être un entier entre 1 et %(max)d.",
                                                   max=PAGE_MAX))
    per_page = _bounded_int("per_page", PER_PAGE_DEFAULT, PER_PAGE_MAX,
                            _l("Le nombre d'éléments par page (per_page) doit être un entier entre 1 et %(max)d.",
                               max=PER_PAGE_MAX))
    return page, per_page


def _page_links(endpoint: str, page: int, per_page: int, pages: int, **args) -> dict:
    def link(number):
        return url_for(endpoint, page=number, per_page=per_page, **args, _external=True)

    return {"self": link(page), "first": link(1), "last": link(pages),
            "prev": link(page - 1) if 1 < page <= pages + 1 else None,
            "next": link(page + 1) if page < pages else None}


@bp.get("/<resource>")
def list_resource(resource: str):
    dataset = _dataset(resource)
    page, per_page = _page_arguments()
    sent, where = _filters(dataset)
    etag, modified = validators(dataset, "list", page, per_page, *sorted(sent.items()))
    if not_modified(etag, modified if dataset.exact_dates else None):
        return _not_modified(etag, modified)
    total = dataset.count(where)
    pages = max(1, math.ceil(total / per_page))
    body = {
        "data": [json_row(row) for row in dataset.page(page, per_page, where)],
        "meta": {"page": page, "per_page": per_page, "total": total, "pages": pages},
        "links": _page_links("api.list_resource", page, per_page, pages, resource=resource, **sent),
    }
    return _json(body, etag, modified)


@bp.get("/<resource>/<int:item_id>")
def show_resource(resource: str, item_id: int):
    dataset = _dataset(resource)
    if not dataset.has_detail:
        raise UnknownResource()
    etag, modified = validators(dataset, "item", item_id)
    if not_modified(etag, modified if dataset.exact_dates else None):
        # Only a client that had the item can hold this ETag; a deleted item changes the fingerprint.
        return _not_modified(etag, modified)
    row = dataset.get(item_id)
    if row is None:
        raise UnknownItem()
    body = {"data": json_row(row),
            "links": {"self": url_for("api.show_resource", resource=resource, item_id=item_id, _external=True),
                      "collection": url_for("api.list_resource", resource=resource, _external=True)}}
    return _json(body, etag, modified)


# --- the barometer (app.barometer.serialize: the JSON of a barometer, the same as the open data's) ------------------

def _computed(tag: str, body: dict):
    """A computed answer: its ETag is its body's (the figures move with every answer and with the month)."""
    etag = strong_etag(tag, body)
    if not_modified(etag, None):
        return _not_modified(etag, None)
    return _json(body, etag, None)


def _by_slug(model, slug: str):
    found = db.session.scalar(select(model).where(model.slug == slug))
    if found is None:
        raise UnknownItem()
    return found


@bp.get("/barometer")
def national_barometer():
    return _computed("barometer", barometer_json(barometer(NATIONAL_SCOPE), national_scope_json()))


@bp.get("/barometer/services")
def service_barometers():
    page, per_page = _page_arguments()
    total, data = services_page(page, per_page)
    pages = max(1, math.ceil(total / per_page))
    return _computed("barometer-services", {
        "data": data,
        "meta": {"page": page, "per_page": per_page, "total": total, "pages": pages},
        "links": _page_links("api.service_barometers", page, per_page, pages),
    })


@bp.get("/barometer/services/<slug>")
def service_barometer(slug: str):
    service = _by_slug(Service, slug)
    body = barometer_json(barometer(Scope(SERVICE, service.id)), scope_json(SERVICE, service.slug, service.name),
                          published=published_json(latest_published(service.id)))
    return _computed("barometer-service", body)


@bp.get("/barometer/organisations/<slug>")
def organisation_barometer(slug: str):
    organisation = _by_slug(Organisation, slug)
    body = barometer_json(barometer(Scope(ORGANISATION, organisation.id)),
                          scope_json(ORGANISATION, organisation.slug, organisation.name))
    return _computed("barometer-organisation", body)


@bp.get("/barometer/life-events/<slug>")
def life_event_barometer(slug: str):
    event = _by_slug(LifeEvent, slug)
    body = barometer_json(barometer(Scope(LIFE_EVENT, event.id)), scope_json(LIFE_EVENT, event.slug,
                                                                                localized(event, "name")))
    return _computed("barometer-life-event", body)


@bp.get("/barometer/services/<slug>/monthly")
def service_monthly(slug: str):
    """A service's monthly counts over 24 months, as the open data publishes them (a count under 5 hidden)."""
    service = _by_slug(Service, slug)
    first, last = window(months=TREND_MONTHS)
    fields = ("month", "field_code", "answer_item_id", "option_label", "count", "hidden")
    body = {"service": {"slug": service.slug, "name": service.name, "organisation_slug": service.organisation.slug},
            "window": {"first_month": month_text(first), "last_month": month_text(last)},
            "hidden_below": HIDDEN_BELOW,
            "data": [{name: row[name] for name in fields} for row in monthly_rows(service.id)]}
    return _computed("barometer-monthly", body)


@bp.before_app_request
def language_from_accept_language():
    """API clients have no session to carry a language choice: on /api/, Accept-Language chooses (French or
    English) when sent, for the error messages and the titles of the resources."""
    if not request.path.startswith("/api/"):
        return
    language = request.accept_languages.best_match(current_app.config["LANGUAGES"])
    if language:
        chosen = force_locale(language)
        chosen.__enter__()
        g.api_locale = chosen


@bp.teardown_app_request
def restore_language(_exc=None):
    chosen = g.pop("api_locale", None)
    if chosen is not None:
        chosen.__exit__(None, None, None)


@bp.after_app_request
def cors_and_cache(response):
    """Every /api/ answer, errors included: open CORS for reading, and the language the error is in."""
    if not request.path.startswith("/api/"):
        return response
    headers = open_cors(response).headers
    headers.add("Vary", "Accept-Language")
    if g.get("api_locale") is not None:
        headers["Content-Language"] = str(get_locale())
    headers.setdefault("Cache-Control", "no-store")
    return response
