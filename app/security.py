"""Security headers, CSP nonces and safe redirects."""

import secrets
from urllib.parse import urlsplit

from flask import Flask, g, request

from .errors import error_response
from .inputs import request_has_invalid_text, request_texts


def csp_nonce() -> str:
    """The per-request nonce that inline ``<script>``/``<style>`` tags must carry."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def safe_next(target: str | None, default: str = "/") -> str:
    """Return ``target`` only when it is a same-site path; otherwise ``default``.

    Refuses absolute URLs, scheme-relative ``//host`` and backslash tricks browsers normalise.
    """
    if not target:
        return default
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _websocket_origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.before_request
    def refuse_invalid_text():
        """Text that is not valid Unicode (bytes that are not UTF-8 in the path, query or form; a lone surrogate in
        a JSON body) cannot be stored or shown: refuse it, translated, before any route reads it (see ``inputs``).
        After the API's language hook, so its JSON error is in the reader's language; before the NUL check."""
        if request_has_invalid_text():
            from flask_babel import gettext

            return error_response(400, gettext("Le texte envoyé contient des caractères non valides (mauvais codage). "
                                               "Retapez-le puis réessayez."), "invalid_text")
        return None

    @app.before_request
    def refuse_nul_characters():
        """No one types a NUL character and PostgreSQL text cannot hold one: refuse it, translated, before any
        route reads the request (a path, query, form or JSON value carrying one would otherwise end in a 500)."""
        if _has_nul(request_texts()):
            from flask_babel import gettext

            return error_response(400, gettext("Le texte envoyé contient un caractère nul, qui n'est pas accepté. "
                                               "Retirez-le puis réessayez."), "nul_character")
        return None

    @app.after_request
    def set_security_headers(response):
        nonce = g.get("csp_nonce") or csp_nonce()
        connect = "'self'"
        base_url = app.config.get("BASE_URL")
        if base_url:
            connect += " " + _websocket_origin(base_url)
        # No page may be framed, except the feedback form's embed: its view sets ``g.frame_ancestors`` to the origins
        # the service's editors allowed (app/feedback/embedding.py), and X-Frame-Options, which cannot name them, is
        # left out of its response.
        frame_ancestors = getattr(g, "frame_ancestors", "'none'")
        csp = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; font-src 'self'; "
            f"connect-src {connect}; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; "
            f"frame-ancestors {frame_ancestors}"
        )
        headers = response.headers
        # Headers a view set itself win (as with setdefault); one pass over them, not one per header.
        present = {name.lower() for name, _value in headers.items()}
        fixed = _FIXED_HEADERS if frame_ancestors == "'none'" else _EMBED_HEADERS
        for name, value in (("Content-Security-Policy", csp), *fixed,
                            *(_HSTS if app.config.get("SESSION_COOKIE_SECURE") else ())):
            if name.lower() not in present:
                headers.add(name, value)
        if request.endpoint and response.mimetype == "text/html" and "cache-control" not in present:
            headers.add("Cache-Control", "no-store" if _is_private(request) else "no-cache")
        return response


_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
_EMBED_HEADERS = tuple(header for header in _FIXED_HEADERS if header[0] != "X-Frame-Options")
_HSTS = (("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),)


def _is_private(req) -> bool:
    """A response to a signed-in session is not stored. The session is asked first, so a request that did not load
    its account (a static file, a page for everyone) does not load it here."""
    from flask import session
    from flask_login import current_user

    return bool(session.get("_user_id")) or bool(current_user and current_user.is_authenticated)
