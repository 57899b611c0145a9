"""Atelier application factory."""

import logging
from pathlib import Path

from flask import Flask

from .config import load_config
from .extensions import babel, csrf, db, limiter, login_manager, migrate, socketio


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    """Build the app: config -> extensions -> blueprints -> sockets -> errors -> CLI."""
    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=str(root / "instance"),
        template_folder=str(root / "templates"),
        static_folder="static",
    )
    load_config(app, config_name, overrides)

    # The app factory imports the areas (and what they need) when an app is built, not when ``app`` is imported:
    # ``app.config`` and ``app.extensions`` stay importable alone (by tools, migrations, tests) without the whole
    # application, and no area is imported before the configuration it reads at import exists.
    from . import database, frames, i18n, inputs, realtime, security
    from .urls import origin_of

    inputs.init_app(app)  # first: its URL converter before any rule, its request hook before the CSRF check
    db.init_app(app)
    database.configure_engines(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(root / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        timezone_selector=i18n.select_timezone,
        default_translation_directories=str(root / "app" / "translations"),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    manager = realtime.client_manager(app.config.get("SOCKETIO_MESSAGE_QUEUE"), app.config["SOCKETIO_ASYNC_MODE"],
                                      enabled=app.config["SOCKETIO_ONE_FRAME_DELIVERY"])
    frames.quiet_engine_loggers()  # before the server is made: see frames.py
    socketio.init_app(
        app,
        json=frames.BoundedJSON,  # bounded depth and integers; the same dumps (app/realtime.py frames with it)
        serializer=frames.CheckedPacket,
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE"),
        cors_allowed_origins=[origin_of(app.config["BASE_URL"])],
        max_http_buffer_size=64 * 1024,
        manage_session=False,
        **({"client_manager": manager} if manager is not None else {}),
    )
    realtime.install(socketio.server)  # under gevent, unless SOCKETIO_ONE_FRAME_DELIVERY is off (see realtime.py)
    frames.install(socketio.server)
    _trust_proxies(app)

    from . import models  # noqa: F401  (registers every model)
    from .accounts import bp as accounts_bp
    from .api import bp as api_bp
    from .barometer import bp as barometer_bp
    from .boards import bp as boards_bp
    from .boards import receivers as boards_receivers
    from .boards import sockets as boards_sockets
    from .catalog import bp as catalog_bp
    from .consultations import bp as consultations_bp
    from .core import bp as core_bp
    from .decisions import bp as decisions_bp
    from .feedback import bp as feedback_bp
    from .mail import bp as mail_bp
    from .notifications import bp as notifications_bp
    from .notifications import routes as notifications_routes
    from .opendata import bp as opendata_bp
    from .proposals import bp as proposals_bp
    from .proposals import receivers as proposals_receivers
    from .reports import bp as reports_bp
    from .workshops import bp as workshops_bp
    from .workshops import receivers as workshops_receivers

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(mail_bp)
    app.register_blueprint(workshops_bp)
    workshops_receivers.init_app(app)
    app.register_blueprint(boards_bp)
    boards_receivers.init_app(app)
    boards_sockets.init_app(app)
    app.register_blueprint(proposals_bp)
    proposals_receivers.init_app(app)
    app.register_blueprint(notifications_bp)
    notifications_routes.init_app(app)
    app.register_blueprint(consultations_bp)
    app.register_blueprint(decisions_bp)
    app.register_blueprint(feedback_bp)
    app.register_blueprint(barometer_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(opendata_bp)
    app.register_blueprint(api_bp)

    security.init_app(app)
    i18n.init_app(app)

    from .errors import register_error_handlers

    register_error_handlers(app)

    from .cli import register_cli

    register_cli(app)
    _configure_logging(app)
    return app

def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` reverse proxies, take the client's address, scheme and host from the headers they
    set (X-Forwarded-For, -Proto, -Host), for pages and websockets alike: rate limits then count real people,
    ``request.is_secure`` holds behind TLS, and a forged header from a client is ignored when no proxy is trusted."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outside Socket.IO's middleware (wrapped by init_app above), so the engine sees the fixed request too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)


def _configure_logging(app: Flask) -> None:
    """Log each request by route pattern, never by path: paths may carry tokens, queries may carry
    search terms, and neither IPs nor accounts are logged (no personal data)."""
    from time import perf_counter

    from flask import g, request

    access_log = logging.getLogger("atelier.access")

    @app.before_request
    def _start_timer():
        g.request_started = perf_counter()

    @app.after_request
    def _log_request(response):
        rule = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = (perf_counter() - g.get("request_started", perf_counter())) * 1000
        access_log.info("%s %s %s %.1fms", request.method, rule, response.status_code, elapsed)
        return response
