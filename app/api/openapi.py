"""The OpenAPI 3.1 document of the API, built from the datasets' own field lists so that it cannot drift."""

from flask import current_app

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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Atelier — API des données ouvertes",
            "version": "1",
            "summary": "Propositions, réponses, mesures, ateliers, consultations, expériences d'usagers et "
                       "réponses, en lecture seule.",
            "description": "API JSON en lecture seule, sans authentification. Pagination par ?page= et "
                           "?per_page=, filtres propres à certaines ressources (les expériences d'usagers : "
                           "?organisation=, ?service=, ?published_from=, ?published_to=), ETag et Last-Modified "
                           "(304 sur If-None-Match), CORS ouvert en lecture. "
                           "Les mêmes données sont téléchargeables en CSV (voir /donnees-ouvertes/).",
            "license": {"name": LICENCE["title"], "url": LICENCE["path"]},
            "x-app-version": str(current_app.config.get("APP_VERSION", "")),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas},
    }
