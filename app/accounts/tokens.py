"""Signed, expiring tokens for e-mail links (itsdangerous)."""

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VERIFY = "atelier.verify-email"
RESET = "atelier.reset-password"
CHANGE_EMAIL = "atelier.change-email"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def fingerprint(value: str | None) -> str:
    """A short digest binding a token to state that its use changes (so it works once)."""
    return hashlib.sha256((value or "").encode()).hexdigest()[:16]


def make_token(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, max_age: int) -> dict | None:
    """The payload, or ``None`` when the token is forged, expired or of another purpose."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    return data if isinstance(data, dict) else None
