"""The OpenAPI 3.1 document of the API, built from the datasets' own field lists so that it cannot drift."""

from flask import current_app

from ..barometer.serialize import CONFIDENCE, SCALES, SHOWN, STATUSES
from ..barometer.stats import EMPIRICAL_LIKELIHOOD, WILSON, indicators
from ..opendata.barometer_rows import HIDDEN_BELOW, LEVEL_COLORS
from ..opendata.dataset import MAX_INT, Dataset
from ..opendata.datasets import DATASETS, LICENCE

PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 100
PAGE_MAX = 100_000


def _component(dataset: Dataset) -> str:
    return "".join(part.capitalize() for part in dataset.name.split("-"))


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


CACHE_HEADERS = {
    "ETag": {"description": "Validateur fort ; renvoyez-le dans If-None-Match.", "required": True,
             "schema": {"type": "string"}},
    "Last-Modified": {"description": "Date de la dernière modification connue.", "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"description": "Toujours *.", "required": True,
                                    "schema": {"type": "string", "const": "*"}},
}

ERRORS = {
    "400": {"description": "Paramètre incorrect (page, per_page, ou un filtre).",
            "content": _json_content(_ref("Error"))},
    "404": {"description": "Élément inconnu.", "content": _json_content(_ref("Error"))},
}
NOT_MODIFIED = {"description": "La copie du client (If-None-Match ou If-Modified-Since) est à jour."}

PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "required": False, "description": "Numéro de page, à partir de 1.",
     "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1}},
    {"name": "per_page", "in": "query", "required": False, "description": "Éléments par page.",
     "schema": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX, "default": PER_PAGE_DEFAULT}},
]

URI = {"type": "string", "format": "uri"}


def _common_schemas() -> dict:
    return {
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["code", "message"], "additionalProperties": False,
                "properties": {"code": {"type": "string", "description": "Code stable, pour les programmes."},
                               "message": {"type": "string", "description": "Message traduit, pour les humains."}},
            }},
        },
        "Meta": {
            "type": "object", "required": ["page", "per_page", "total", "pages"], "additionalProperties": False,
            "properties": {"page": {"type": "integer", "minimum": 1},
                           "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
                           "total": {"type": "integer", "minimum": 0},
                           "pages": {"type": "integer", "minimum": 1}},
        },
        "PageLinks": {
            "type": "object", "required": ["self", "first", "last", "prev", "next"], "additionalProperties": False,
            "properties": {"self": URI, "first": URI, "last": URI,
                           "prev": {"type": ["string", "null"], "format": "uri"},
                           "next": {"type": ["string", "null"], "format": "uri"}},
        },
        "ItemLinks": {
            "type": "object", "required": ["self", "collection"], "additionalProperties": False,
            "properties": {"self": URI, "collection": URI},
        },
        "Index": {
            "type": "object", "required": ["data", "links"], "additionalProperties": False,
            "properties": {
                "data": {"type": "array", "items": {
                    "type": "object", "required": ["name", "title", "description", "url", "csv", "detail"],
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string", "enum": [d.name for d in DATASETS]},
                                   "title": {"type": "string"}, "description": {"type": "string"},
                                   "url": URI, "csv": URI, "detail": {"type": "boolean"}}}},
                "links": {"type": "object", "required": ["self", "openapi", "licence"], "additionalProperties": False,
                          "properties": {"self": URI, "openapi": URI, "licence": URI}},
            },
        },
    }


def _filter_parameters(dataset: Dataset) -> list[dict]:
    return [{"name": param.name, "in": "query", "required": False, "description": param.description,
             "schema": param.schema} for param in dataset.filters]


def _dataset_paths(dataset: Dataset) -> dict:
    name = _component(dataset)
    paths = {
        f"/api/v1/{dataset.name}": {"get": {
            "operationId": f"list{name}",
            "summary": str(dataset.title),
            "description": str(dataset.description),
            "tags": [dataset.name],
            "parameters": PAGE_PARAMETERS + _filter_parameters(dataset),
            "responses": {
                "200": {"description": "Une page d'éléments.", "headers": CACHE_HEADERS,
                        "content": _json_content(_ref(f"{name}List"))},
                "304": NOT_MODIFIED,
                "400": ERRORS["400"],
            },
        }},
    }
    if dataset.has_detail:
        paths[f"/api/v1/{dataset.name}/{{id}}"] = {"get": {
            "operationId": f"get{name}",
            "summary": str(dataset.title),
            "tags": [dataset.name],
            "parameters": [{"name": "id", "in": "path", "required": True, "description": "Identifiant.",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT}}],
            "responses": {
                "200": {"description": "L'élément.", "headers": CACHE_HEADERS,
                        "content": _json_content(_ref(f"{name}Detail"))},
                "304": NOT_MODIFIED,
                "404": ERRORS["404"],
            },
        }}
    return paths


def _dataset_schemas(dataset: Dataset) -> dict:
    name = _component(dataset)
    schemas = {
        name: dataset.json_schema(),
        f"{name}List": {"type": "object", "required": ["data", "meta", "links"], "additionalProperties": False,
                        "properties": {"data": {"type": "array", "items": _ref(name)}, "meta": _ref("Meta"),
                                       "links": _ref("PageLinks")}},
    }
    if dataset.has_detail:
        schemas[f"{name}Detail"] = {"type": "object", "required": ["data", "links"], "additionalProperties": False,
                                    "properties": {"data": _ref(name), "links": _ref("ItemLinks")}}
    return schemas


# --- the barometer (its JSON: app/barometer/serialize.py) ---------------------------------------------------------

SLUG_PARAMETER = {"name": "slug", "in": "path", "required": True, "description": "Identifiant d'adresse.",
                  "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,120}$"}}
MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "description": "Un mois, AAAA-MM."}
NUMBER_OR_NULL = {"type": ["number", "null"]}


def _object(properties: dict, required=None) -> dict:
    return {"type": "object", "required": list(properties) if required is None else required,
            "additionalProperties": False, "properties": properties}


def _barometer_schemas() -> dict:
    interval = _object({
        "low": {"type": "number", "minimum": 0, "maximum": 10},
        "high": {"type": "number", "minimum": 0, "maximum": 10},
        "confidence": {"const": CONFIDENCE},
        "method": {"type": "string", "enum": [EMPIRICAL_LIKELIHOOD, WILSON],
                   "description": "empirical_likelihood (moyennes : Owen 1988) ou wilson (parts : Wilson 1927)."},
    })
    level = _object({
        "code": {"type": "string", "enum": list(LEVEL_COLORS), "description": "Code stable : la couleur du niveau "
                 "dans l'observatoire."},
        "color": {"type": "string", "enum": list(LEVEL_COLORS)},
        "label": {"type": "string", "description": "Nom du niveau (Très bien, Insuffisant, Critique), traduit."},
    })
    figure = _object({
        "indicator": {"type": "string", "enum": [i.slug for i in indicators()]},
        "count": {"type": "integer", "minimum": 0, "description": "Nombre de réponses, toujours donné."},
        "status": {"type": "string", "enum": list(STATUSES),
                   "description": "shown : au moins minimum_answers réponses ; insufficient : moins ; no_answers : "
                                  "aucune."},
        "value": {**NUMBER_OR_NULL, "minimum": 0, "maximum": 10,
                  "description": "Valeur non arrondie à l'échelle de JDMA (scale) ; null sauf si status vaut shown."},
        "interval": {"oneOf": [{"type": "null"}, interval], "description": "Intervalle de confiance à 95 %."},
        "scale": {"type": "string", "enum": list(SCALES),
                  "description": "note_10 : moyenne sur 10 ; share : part de 0 à 1 ; share_10 : part × 10."},
        "level": {"oneOf": [{"type": "null"}, level],
                  "description": "Niveau de l'observatoire (null sans valeur, et pour l'indicateur contact)."},
        "uncertain": {"type": "boolean", "description": "L'intervalle s'étend sur deux niveaux."},
    })
    # The rule of the statuses: a value, an interval and a level only when shown.
    figure["if"] = {"properties": {"status": {"const": SHOWN}}}
    figure["then"] = {"properties": {"value": {"type": "number"}, "interval": interval}}
    figure["else"] = {"properties": {"value": {"type": "null"}, "interval": {"type": "null"},
                                     "level": {"type": "null"}, "uncertain": {"const": False}}}
    figure["if"]["required"] = ["status"]
    scope = _object({"kind": {"type": "string", "enum": ["national", "organisation", "life_event", "service"]},
                     "slug": {"type": ["string", "null"], "description": "null pour national."},
                     "name": {"type": "string"}})
    window = _object({"first_month": MONTH, "last_month": MONTH})
    published = _object({
        "indicator": {"type": "string"}, "value": {"type": "number"},
        "unit": {"type": "string", "description": "note /10, ratio 0-1, percent, 0-1, ms…"},
        "count": {"type": ["integer", "null"], "minimum": 0}, "period": {"type": "string"},
        "published_on": {"type": ["string", "null"], "format": "date"}, "source": {"type": "string"},
    })
    barometer = {
        "scope": _ref("BarometerScope"), "window": _ref("BarometerWindow"),
        "minimum_answers": {"type": "integer", "minimum": 1},
        "responses": {"type": "integer", "minimum": 0},
        "figures": {"type": "array", "items": _ref("BarometerFigure"), "minItems": len(indicators()),
                    "maxItems": len(indicators())},
    }
    monthly_row = _object({
        "month": MONTH, "field_code": {"type": "string"},
        "answer_item_id": {"type": "integer", "minimum": 0, "description": "0 : les réponses à la question."},
        "option_label": {"type": ["string", "null"]},
        "count": {"type": ["integer", "null"], "minimum": HIDDEN_BELOW},
        "hidden": {"type": "boolean", "description": "Moins de 5 réponses : count vaut null."},
    })
    monthly_row["if"] = {"properties": {"hidden": {"const": True}}, "required": ["hidden"]}
    monthly_row["then"] = {"properties": {"count": {"type": "null"}}}
    monthly_row["else"] = {"properties": {"count": {"type": "integer"}}}
    return {
        "BarometerFigure": figure,
        "BarometerScope": scope,
        "BarometerWindow": window,
        "PublishedFigure": published,
        "Barometer": _object(barometer),
        "ServiceBarometer": _object({**barometer, "published": {"type": "array", "items": _ref("PublishedFigure")}}),
        "ServiceBarometerList": _object({
            "data": {"type": "array", "items": _object({
                "slug": {"type": "string"}, "name": {"type": "string"}, "organisation_slug": {"type": "string"},
                "barometer": _ref("Barometer")})},
            "meta": _ref("Meta"), "links": _ref("PageLinks")}),
        "BarometerMonthly": _object({
            "service": _object({"slug": {"type": "string"}, "name": {"type": "string"},
                                "organisation_slug": {"type": "string"}}),
            "window": _ref("BarometerWindow"),
            "hidden_below": {"const": HIDDEN_BELOW},
            "data": {"type": "array", "items": monthly_row}}),
    }


def _barometer_get(operation: str, summary: str, schema: str, parameters: list, errors: tuple) -> dict:
    return {"get": {
        "operationId": operation, "summary": summary, "tags": ["barometer"], "parameters": parameters,
        "responses": {
            "200": {"description": summary, "headers": CACHE_HEADERS, "content": _json_content(_ref(schema))},
            "304": NOT_MODIFIED,
            **{code: ERRORS[code] for code in errors},
        },
    }}


def _barometer_paths() -> dict:
    return {
        "/api/v1/barometer": _barometer_get(
            "getNationalBarometer", "Baromètre national (toutes les démarches)", "Barometer", [], ()),
        "/api/v1/barometer/services": _barometer_get(
            "listServiceBarometers", "Baromètre de chaque démarche", "ServiceBarometerList", PAGE_PARAMETERS,
            ("400",)),
        "/api/v1/barometer/services/{slug}": _barometer_get(
            "getServiceBarometer", "Baromètre d'une démarche, avec ses indicateurs publiés ailleurs",
            "ServiceBarometer", [SLUG_PARAMETER], ("404",)),
        "/api/v1/barometer/services/{slug}/monthly": _barometer_get(
            "getServiceMonthlyCounts", "Réponses par mois d'une démarche (24 mois, moins de 5 masqué)",
            "BarometerMonthly", [SLUG_PARAMETER], ("404",)),
        "/api/v1/barometer/organisations/{slug}": _barometer_get(
            "getOrganisationBarometer", "Baromètre d'une organisation (ses démarches)", "Barometer",
            [SLUG_PARAMETER], ("404",)),
        "/api/v1/barometer/life-events/{slug}": _barometer_get(
            "getLifeEventBarometer", "Baromètre d'un moment de vie (ses démarches)", "Barometer",
            [SLUG_PARAMETER], ("404",)),
    }


def document() -> dict:
    """The OpenAPI 3.1 document (descriptions in French, like the data's documentation)."""
    paths = {
        "/api/v1/": {"get": {
            "operationId": "index", "summary": "Liste des ressources",
            "responses": {"200": {"description": "Les ressources de l'API.", "headers": CACHE_HEADERS,
                                  "content": _json_content(_ref("Index"))},
                          "304": NOT_MODIFIED}}},
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "Ce document",
            "responses": {"200": {"description": "Le document OpenAPI 3.1.", "headers": CACHE_HEADERS,
                                  "content": _json_content({"type": "object"})},
                          "304": NOT_MODIFIED}}},
    }
    schemas = _common_schemas()
    for dataset in DATASETS:
        paths.update(_dataset_paths(dataset))
        schemas.update(_dataset_schemas(dataset))
    paths.update(_barometer_paths())
    schemas.update(_barometer_schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Atelier — API des données ouvertes",
            "version": "1",
            "summary": "Propositions, réponses, mesures, ateliers, consultations, expériences d'usagers et "
                       "réponses, baromètre, en lecture seule.",
            "description": "API JSON en lecture seule, sans authentification. Pagination par ?page= et "
                           "?per_page=, filtres propres à certaines ressources (les expériences d'usagers : "
                           "?organisation=, ?service=, ?published_from=, ?published_to=), ETag et Last-Modified "
                           "(304 sur If-None-Match), CORS ouvert en lecture. Le baromètre (/api/v1/barometer…) "
                           "donne les indicateurs de « Je donne mon avis » avec leur intervalle de confiance, par "
                           "démarche, organisation, moment de vie et pour l'ensemble. "
                           "Les mêmes données sont téléchargeables en CSV (voir /donnees-ouvertes/).",
            "license": {"name": LICENCE["title"], "url": LICENCE["path"]},
            "x-app-version": str(current_app.config.get("APP_VERSION", "")),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas},
    }
