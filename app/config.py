"""Configuration classes; environment variables override them (read in ``load_config``)."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from limits import parse_many

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class Config:
    APP_VERSION = "0.1.0"
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{INSTANCE_DIR / 'atelier.db'}"
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # PostgreSQL connection pool of one process: SQLAlchemy's defaults. A request that waits longer than
    # the timeout for a connection gets a 503 asking to retry (see errors.py).
    DATABASE_POOL_SIZE = 5
    DATABASE_MAX_OVERFLOW = 10
    DATABASE_POOL_TIMEOUT = 30.0
    # PostgreSQL planner's cost of a random page read, set on each connection: 1.1 (data in memory or on SSD)
    # instead of the server's default of 4, which assumes spinning disks and made full-text search scan the whole
    # table rather than use its GIN index (docs/performance.md). 0 keeps the server's setting.
    DATABASE_RANDOM_PAGE_COST = 1.1
    SQLITE_BUSY_TIMEOUT_MS = 15000
    SECRET_KEY: str | None = None
    # The public origin (links in mail, the websocket origin check, the CSP). Unset, it follows ATELIER_HOST and
    # ATELIER_PORT (see ``default_base_url``); production requires it.
    BASE_URL: str | None = None
    # How many reverse proxies stand in front of the app and set X-Forwarded-For/-Proto/-Host (Werkzeug's
    # ProxyFix). 0 trusts no such header: behind nginx, set 1, or every client has the proxy's address.
    TRUSTED_PROXIES = 0
    PREFERRED_URL_SCHEME = "http"

    # Sessions: consent-exempt cookies only, bounded lifetime, revocable (see accounts.models).
    SESSION_COOKIE_NAME = "atelier_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    REMEMBER_COOKIE_NAME = "atelier_remember"
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    WTF_CSRF_TIME_LIMIT = 8 * 3600

    # Languages
    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = "Europe/Paris"
    LANGUAGES = ("fr", "en")

    # Passwords: argon2id, OWASP parameters (m=19 MiB, t=2, p=1) or stronger.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19 * 1024
    ARGON2_PARALLELISM = 1
    EMAIL_TOKEN_MAX_AGE = 48 * 3600
    RESET_TOKEN_MAX_AGE = 3600

    # Rate limits (Flask-Limiter syntax); raise them for a load test from one IP.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # Failed sign-ins and reset requests, per account named in the form and per client address. A successful
    # sign-in counts against no one. The per-address limits let a whole office or school class behind one
    # address (sixty people and their typos within a minute) sign in, while still stopping a guessing script.
    LOGIN_RATE_LIMIT = "5 per minute"
    LOGIN_ADDRESS_RATE_LIMIT = "100 per minute"
    RESET_RATE_LIMIT = "5 per minute"
    RESET_ADDRESS_RATE_LIMIT = "60 per minute"
    REGISTER_RATE_LIMIT = "10 per hour"
    # Sign-ups naming one e-mail address, whatever client sends them: each mails that address (a verification
    # link, or "you already have an account"), so this bounds the mail anyone can make it receive.
    REGISTER_EMAIL_RATE_LIMIT = "3 per hour"
    PROPOSAL_POST_RATE_LIMIT = "20 per hour"  # new proposals, per account
    PROPOSAL_COMMENT_RATE_LIMIT = "30 per hour"  # comments and reports, per account
    # « Je donne mon avis » form pages sent, per client address (counted under a keyed hash of it): a response is up to
    # six pages, and a counter's tablet or an office behind one address sends many people's answers.
    FEEDBACK_RATE_LIMIT = "120 per hour"
    # The answers an indicator of the barometer needs before it is shown (the observatory's 100).
    BAROMETER_MIN_ANSWERS = 100
    # How long one process keeps a read of the barometer's monthly counts (0: never; tests read them afresh).
    BAROMETER_CACHE_SECONDS = 60

    # Mail: everything goes through the outbox (app.mail).
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 1025
    MAIL_USE_TLS = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "Atelier <ne-pas-repondre@atelier.example>"
    MAIL_TIMEOUT = 10
    MAIL_MAX_ATTEMPTS = 8
    MAIL_RETRY_BASE_SECONDS = 30
    MAIL_LOG_BODIES = False
    MAIL_RETENTION_DAYS = 30

    # Workshops
    WORKSHOP_OFFER_HOURS = 48
    WORKSHOP_REMINDER_HOURS = 24
    WORKSHOP_ANSWER_RETENTION_DAYS = 30
    WORKSHOP_EVALUATION_MIN = 5
    # Check-in (the facilitators' attendance page and the check-in service) opens this long before the start.
    CHECK_IN_OPENS_BEFORE_HOURS = 2.0
    WORKSHOPS_PER_PAGE = 20

    # Live boards
    BOARD_RESYNC_LIMIT = 500
    BOARD_GUEST_RETENTION_DAYS = 30
    # Board events per person (per connection for a guest), Flask-Limiter syntax: 20 a second on average, bursts of 40.
    BOARD_EVENTS_RATE_LIMIT = "40 per 2 seconds"
    # Each process announces its boards' latest seq this often: clients that missed a change (a Redis outage) resync.
    BOARD_SEQ_ANNOUNCE_SECONDS = 5.0

    # Periodic jobs
    JOBS_INTERVAL_SECONDS = 15

    # Realtime
    SOCKETIO_ASYNC_MODE = "threading"
    SOCKETIO_MESSAGE_QUEUE: str | None = None
    # Under gevent, a room's event is framed once and written straight to every idle websocket (app/realtime.py,
    # the one use of libraries' private names). Off: python-socketio's own delivery, for an upgrade it does not fit.
    SOCKETIO_ONE_FRAME_DELIVERY = True
    REDIS_URL: str | None = None

    # The reference data the demo is built from ships with the package (sources and licences in its README).
    DEMO_DATA_DIR = str(Path(__file__).resolve().parent / "data" / "reference")


class DevelopmentConfig(Config):
    DEBUG = False
    MAIL_LOG_BODIES = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8
    ARGON2_PARALLELISM = 1
    MAIL_RETRY_BASE_SECONDS = 0
    BASE_URL = "http://localhost"
    SERVER_NAME = None
    BAROMETER_CACHE_SECONDS = 0


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    SOCKETIO_ASYNC_MODE = "gevent"


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}

# Environment variables that override a setting, with their type.
ENV_OVERRIDES = {
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "SECRET_KEY": ("SECRET_KEY", str),
    "BASE_URL": ("BASE_URL", str),
    "TRUSTED_PROXIES": ("TRUSTED_PROXIES", int),
    "REDIS_URL": ("REDIS_URL", str),
    "DATABASE_POOL_SIZE": ("DATABASE_POOL_SIZE", int),
    "DATABASE_MAX_OVERFLOW": ("DATABASE_MAX_OVERFLOW", int),
    "DATABASE_POOL_TIMEOUT": ("DATABASE_POOL_TIMEOUT", float),
    "DATABASE_RANDOM_PAGE_COST": ("DATABASE_RANDOM_PAGE_COST", float),
    "SOCKETIO_MESSAGE_QUEUE": ("SOCKETIO_MESSAGE_QUEUE", str),
    "SOCKETIO_ASYNC_MODE": ("SOCKETIO_ASYNC_MODE", str),
    "SOCKETIO_ONE_FRAME_DELIVERY": ("SOCKETIO_ONE_FRAME_DELIVERY", bool),
    "RATELIMIT_STORAGE_URI": ("RATELIMIT_STORAGE_URI", str),
    "RATELIMIT_ENABLED": ("RATELIMIT_ENABLED", bool),
    "LOGIN_RATE_LIMIT": ("LOGIN_RATE_LIMIT", str),
    "LOGIN_ADDRESS_RATE_LIMIT": ("LOGIN_ADDRESS_RATE_LIMIT", str),
    "RESET_RATE_LIMIT": ("RESET_RATE_LIMIT", str),
    "RESET_ADDRESS_RATE_LIMIT": ("RESET_ADDRESS_RATE_LIMIT", str),
    "REGISTER_RATE_LIMIT": ("REGISTER_RATE_LIMIT", str),
    "REGISTER_EMAIL_RATE_LIMIT": ("REGISTER_EMAIL_RATE_LIMIT", str),
    "PROPOSAL_POST_RATE_LIMIT": ("PROPOSAL_POST_RATE_LIMIT", str),
    "PROPOSAL_COMMENT_RATE_LIMIT": ("PROPOSAL_COMMENT_RATE_LIMIT", str),
    "FEEDBACK_RATE_LIMIT": ("FEEDBACK_RATE_LIMIT", str),
    "BAROMETER_MIN_ANSWERS": ("BAROMETER_MIN_ANSWERS", int),
    "BAROMETER_CACHE_SECONDS": ("BAROMETER_CACHE_SECONDS", int),
    "MAIL_SERVER": ("MAIL_SERVER", str),
    "MAIL_PORT": ("MAIL_PORT", int),
    "MAIL_USE_TLS": ("MAIL_USE_TLS", bool),
    "MAIL_USERNAME": ("MAIL_USERNAME", str),
    "MAIL_PASSWORD": ("MAIL_PASSWORD", str),
    "MAIL_DEFAULT_SENDER": ("MAIL_DEFAULT_SENDER", str),
    "MAIL_RETRY_BASE_SECONDS": ("MAIL_RETRY_BASE_SECONDS", int),
    "JOBS_INTERVAL_SECONDS": ("JOBS_INTERVAL_SECONDS", int),
    "ARGON2_TIME_COST": ("ARGON2_TIME_COST", int),
    "WORKSHOP_OFFER_HOURS": ("WORKSHOP_OFFER_HOURS", int),
    "WORKSHOP_ANSWER_RETENTION_DAYS": ("WORKSHOP_ANSWER_RETENTION_DAYS", int),
    "CHECK_IN_OPENS_BEFORE_HOURS": ("CHECK_IN_OPENS_BEFORE_HOURS", float),
    "ARGON2_MEMORY_COST": ("ARGON2_MEMORY_COST", int),
    "BOARD_EVENTS_RATE_LIMIT": ("BOARD_EVENTS_RATE_LIMIT", str),
    "BOARD_RESYNC_LIMIT": ("BOARD_RESYNC_LIMIT", int),
    "BOARD_SEQ_ANNOUNCE_SECONDS": ("BOARD_SEQ_ANNOUNCE_SECONDS", float),
}


def _parse(value: str, kind):
    if kind is bool:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return kind(value)


class ConfigError(RuntimeError):
    """The configuration cannot run safely (e.g. production without a SECRET_KEY)."""


def load_config(app, config_name: str | None = None, overrides: dict | None = None) -> None:
    """Fill ``app.config`` from a class, the environment, then explicit overrides."""
    name = config_name or os.environ.get("ATELIER_ENV", "development")
    if name not in CONFIGS:
        raise ConfigError(f"unknown ATELIER_ENV {name!r}")
    app.config.from_object(CONFIGS[name])
    app.config["ATELIER_ENV"] = name
    for env_name, (key, kind) in ENV_OVERRIDES.items():
        raw = os.environ.get(env_name)
        if raw not in (None, ""):
            app.config[key] = _parse(raw, kind)
    if overrides:
        app.config.update(overrides)
    _ensure_secret_key(app, name)
    _ensure_base_url(app, name)
    _check_rate_limits(app.config)
    _pool_options(app.config)


def _check_rate_limits(config) -> None:
    """Every ``*_RATE_LIMIT`` setting must read as a rate limit (``limits`` syntax, e.g. ``5 per minute``): a typo
    stops the start, naming the setting, instead of failing at the first request it would have counted."""
    for key in sorted(k for k in config if k.endswith("_RATE_LIMIT")):
        try:
            parse_many(str(config[key]))
        except ValueError as err:
            raise ConfigError(f"{key} is not a rate limit ({config[key]!r}): write it like '5 per minute'") from err


def _pool_options(config) -> None:
    """Size the PostgreSQL pool from the settings, unless the engine options already say otherwise."""
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
    options.setdefault("max_overflow", config["DATABASE_MAX_OVERFLOW"])
    options.setdefault("pool_timeout", config["DATABASE_POOL_TIMEOUT"])
    # A connection PostgreSQL dropped (a restart, a failover) is found out when it is handed out, not by the request
    # that would use it: a round trip per checkout, and the server needs no restart once the database is back.
    options.setdefault("pool_pre_ping", True)
    cost = float(config.get("DATABASE_RANDOM_PAGE_COST") or 0)
    if cost > 0:
        # A startup parameter of the connection: no extra round trip, and it holds for the whole session.
        connect_args = dict(options.get("connect_args") or {})
        startup = connect_args.get("options", "")
        if "random_page_cost" not in startup:
            connect_args["options"] = f"{startup} -c random_page_cost={cost}".strip()
        options["connect_args"] = connect_args
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def default_base_url(host: str | None = None, port: str | int | None = None) -> str:
    """The origin a browser uses to reach ``serve.py`` on this host and port (``ATELIER_HOST``, ``ATELIER_PORT``).

    A server listening on every interface (0.0.0.0, ::) is reached here through the loopback address; to serve
    others, set ``BASE_URL`` to the address they type.
    """
    host = (host if host is not None else os.environ.get("ATELIER_HOST")) or "127.0.0.1"
    port = (port if port is not None else os.environ.get("ATELIER_PORT")) or "5000"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 (a name, nothing binds here)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _ensure_base_url(app, name: str) -> None:
    if app.config.get("BASE_URL"):
        app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")
        return
    if name == "production":
        raise ConfigError("BASE_URL must be set in production: the https:// address people use to reach Atelier")
    app.config["BASE_URL"] = default_base_url()


def _ensure_secret_key(app, name: str) -> None:
    key = app.config.get("SECRET_KEY")
    if name == "production":
        if not key or len(key) < 32:
            raise ConfigError("SECRET_KEY must be set to a random value of at least 32 characters in production")
        return
    if key:
        return
    # Development: generate once into instance/ so sessions survive restarts.
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        # Written aside then moved into place: processes starting together never read half a key.
        fresh = key_file.with_name(f"secret_key.{os.getpid()}")
        fresh.write_text(secrets.token_urlsafe(48))
        fresh.chmod(0o600)
        try:
            os.link(fresh, key_file)  # fails if another process put its key first: use theirs
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
    app.config["SECRET_KEY"] = key_file.read_text().strip()
