"""Domain errors and their mapping to HTML pages, JSON bodies and socket acks."""

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A broken business rule. ``code`` is stable for clients; ``message`` is translated."""

    code = "domain_error"
    message = _l("Cette action n'est pas possible.")
    status = 400

    def __init__(self, message=None, code: str | None = None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(str(self.message))

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": str(self.message)}}


class NotAllowed(DomainError):
    code = "not_allowed"
    message = _l("Vous n'avez pas le droit de faire cela.")
    status = 403


class NotFound(DomainError):
    code = "not_found"
    message = _l("Cet élément n'existe pas.")
    status = 404


class Conflict(DomainError):
    code = "conflict"
    message = _l("Cet élément existe déjà.")
    status = 409


class InvalidInput(DomainError):
    code = "invalid_input"
    message = _l("Les informations envoyées ne sont pas valides.")
    status = 422


ERROR_TITLES = {
    400: _l("Requête incorrecte"),
    403: _l("Accès refusé"),
    404: _l("Page introuvable"),
    405: _l("Méthode non autorisée"),
    413: _l("Envoi trop volumineux"),
    422: _l("Informations non valides"),
    429: _l("Trop de tentatives"),
    500: _l("Erreur du serveur"),
    503: _l("Service indisponible"),
}

ERROR_TEXTS = {
    400: _l("La demande n'a pas pu être comprise. Si vous avez envoyé un formulaire, rechargez la page "
            "et réessayez."),
    403: _l("Vous n'avez pas accès à cette page ou à cette action."),
    404: _l("La page demandée n'existe pas ou a été déplacée."),
    405: _l("Cette adresse ne s'utilise pas de cette façon."),
    413: _l("Le contenu envoyé dépasse la taille autorisée."),
    422: _l("Les informations envoyées ne sont pas valides."),
    429: _l("Vous avez fait trop de tentatives en peu de temps. Attendez une minute puis réessayez."),
    500: _l("Une erreur inattendue s'est produite. L'équipe a été prévenue ; réessayez plus tard."),
    503: _l("Le service est momentanément indisponible. Réessayez dans quelques instants."),
}

ERROR_CODES = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 422: "invalid_input", 429: "rate_limited", 500: "server_error",
    503: "unavailable",
}


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/healthz")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message=None, code: str | None = None):
    message = str(message or ERROR_TEXTS.get(status, ERROR_TEXTS[500]))
    if wants_json():
        body = {"error": {"code": code or ERROR_CODES.get(status, "error"), "message": message}}
        return make_response(jsonify(body), status)
    title = ERROR_TITLES.get(status, ERROR_TITLES[500])
    return make_response(render_template("errors/error.html", status=status, title=title, message=message), status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        return error_response(err.status, err.message, err.code)

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException):
        status = err.code or 500
        if status not in ERROR_TITLES:
            return err
        # Werkzeug's own descriptions are English-only; ours are translated.
        response = error_response(status)
        # Keep what the exception says beyond its body (Allow on 405, Retry-After on 429).
        for name, value in err.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(PoolTimeout)
    def handle_pool_timeout(err: PoolTimeout):
        # Every database connection of this process stayed busy for the whole pool timeout: the server is
        # overloaded, not broken. The wait is for a connection, so no transaction of this request was open:
        # nothing is half-written, and the person can send the request again.
        app.logger.warning("no database connection free on %s %s: %s", request.method, request.path, err)
        # The page must not need the database either: it is shown as to someone not logged in (their language
        # then comes from the language cookie or the browser).
        g._login_user = app.login_manager.anonymous_user()
        response = error_response(503)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
