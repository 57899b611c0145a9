"""Domain errors and their mapping to HTML pages, JSON bodies and socket acks."""

import logging

from flask import Flask, current_app, flash, jsonify, make_response, render_template, request, session
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from .extensions import login_manager, socketio
from .i18n import SESSION_KEY


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


def show_on_form(form, err: DomainError, fields: dict[str, str]) -> None:
    """A service's refusal shown on the form field it concerns (``fields``: error code -> field name), so that the
    form's error summary lists it; flashed when it concerns no field of this form."""
    name = fields.get(err.code)
    field = getattr(form, name, None) if name else None
    if field is None:
        flash(str(err.message), "error")
    else:
        field.errors = [*field.errors, str(err.message)]


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


# SQLSTATEs of a PostgreSQL that cannot serve right now: besides class 08 (connection exception), the server
# shutting down or crashed (57P01, 57P02), still starting (57P03), out of connection slots (53300).
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")
RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (connection lost or refused, server restarting,
    no free connection in the pool) rather than that something is wrong with a statement: what was being done can be
    sent again in a moment. PostgreSQL rolls back the transaction of a connection lost before its COMMIT, so nothing
    of it was written (lost during the COMMIT itself, it may have been: board changes carry a client id for that)."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy recognised a disconnect; the pool replaces the connection
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
    try:
        import psycopg
    except ImportError:  # pragma: no cover (a dependency; SQLite-only installs may lack it)
        return False
    # Without a SQLSTATE, psycopg's connection errors come from no server answering (refused, reset, closed);
    # SQLite's OperationalError ("no such table", "database is locked") is not one of them.
    return isinstance(exc.orig, psycopg.OperationalError | psycopg.InterfaceError)


def _first_line(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200] if text else ''}"


def _language_without_database() -> str:
    """The language of the person as known without their account: on the API, the one ``Accept-Language`` chooses
    (as ``api.routes`` does); else the language they chose this session; else the default (their account's
    preference needs the database)."""

    languages = current_app.config["LANGUAGES"]
    if request.path.startswith("/api/"):
        accepted = request.accept_languages.best_match(languages)
        if accepted:
            return accepted
    chosen = session.get(SESSION_KEY)
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def unavailable_response():
    """The 503 « réessayez » answer, made without the database: nothing in it may load the account, which would
    fail again (or wait the whole pool timeout again). So it is in the language known without the account, and a
    page is shown as to someone not logged in: rendered from its template with Flask's template globals and an
    anonymous ``current_user``, where ``render_template`` would run every context processor, Flask-Login's among
    them, which loads the account. Nothing may store it (``no-store``, which also spares the security headers'
    question of whether the response is private, a question that needs the account)."""

    with force_locale(_language_without_database()):
        message = str(ERROR_TEXTS[503])
        if wants_json():
            response = make_response(jsonify({"error": {"code": ERROR_CODES[503], "message": message}}), 503)
        else:
            page = current_app.jinja_env.get_template("errors/error.html").render(
                status=503, title=str(ERROR_TITLES[503]), message=message,
                current_user=login_manager.anonymous_user())
            response = make_response(page, 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def socket_error(exc: Exception, logger: logging.Logger, what: str) -> dict:
    """The acknowledgement of a socket event that raised ``exc`` (call it from the ``except`` block): ``unavailable``
    with one warning line while the database cannot be reached (the client sends it again later), else
    ``server_error``, logged with its traceback."""
    if is_database_unavailable(exc):
        logger.warning("%s: database unavailable (%s)", what, _first_line(exc))
        with force_locale(_language_without_database()):  # the account's language would need the database
            message = str(ERROR_TEXTS[503])
        return {"ok": False, "error": {"code": "unavailable", "message": message}}
    logger.exception("%s failed", what)
    return {"ok": False, "error": {"code": "server_error", "message": gettext("Une erreur inattendue s'est produite.")}}


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
        app.logger.warning("no database connection free on %s %s: %s", request.method,
                           request.url_rule.rule if request.url_rule else "<unmatched>", err)
        return unavailable_response()

    @app.errorhandler(DBAPIError)
    def handle_database_error(err: DBAPIError):
        if not is_database_unavailable(err):
            return handle_unexpected(err)
        # The connection was lost or refused (PostgreSQL restarting): its transaction is rolled back, the session
        # is removed at the end of this request, and the pool pings connections before handing them out
        # (``pool_pre_ping``): the next request gets a fresh one once the database is back. One line, no traceback.
        rule = request.url_rule.rule if request.url_rule else "<unmatched>"
        app.logger.warning("database unavailable on %s %s: %s", request.method, rule, _first_line(err))
        return unavailable_response()

    @socketio.on_error_default
    def handle_socket_error(err: Exception):
        # Board events answer their own failures (``socket_error``); what reaches here was raised by a connect or
        # disconnect handler (the account read at connect while the database is down, say): refuse the connection,
        # with one warning line for an unreachable database, a logged traceback for anything else.
        socket_error(err, logging.getLogger("app.sockets"), f"socket {request.event['message']}")
        return False

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method,
                             request.url_rule.rule if request.url_rule else "<unmatched>")
        return error_response(500)
