"""A service's « Je donne mon avis » on its own website: the origins allowed to frame the form, the embed's own
protection against cross-site requests, and what the editors' page hands out (button images, QR code).

The embed is Atelier's form shown in an iframe on the service's site. Inside a cross-site iframe the browser does not
send Atelier's ``SameSite=Lax`` session cookie, so the session-bound CSRF token of the rest of the site cannot work
there; and the embed must set no cookie at all. It is protected instead by (1) a token signed with ``SECRET_KEY``,
bound to the service and to the response's submission key, with the site's CSRF lifetime, carried in the form it
rendered, and (2) the request's own provenance: a POST must come from a document of Atelier's origin (the iframe's
document is Atelier's, whatever page frames it), as ``Sec-Fetch-Site`` or, from a browser without it, ``Origin`` say.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..catalog.models import Service
from ..database import begin_write, is_sqlite
from ..errors import NotAllowed, NotFound
from ..extensions import db
from ..urls import origin_of
from . import errors
from .models import EmbedOrigin, can_triage

MAX_ORIGINS_PER_SERVICE = 20  # each is written into the embed's CSP header: a bounded list keeps it short
EMBED_TOKEN_SALT = "atelier.feedback-embed"  # noqa: S105 (itsdangerous's salt, not a secret)

# One DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
_DEFAULT_PORTS = {"https": 443, "http": 80}


# --- allowed origins ---------------------------------------------------------------------------------------------

def normalise_origin(text: str) -> str:
    """``text`` as a browser writes an ``Origin``: ``scheme://host[:port]``, lower case, without a default port.
    https only, or http for localhost and 127.0.0.1 (a developer's test page). Each rule broken raises its error."""
    text = (text or "").strip()
    if not text:
        raise errors.OriginRequired()
    if len(text) > 200 or any(ch.isspace() or ch in ",;'\"*" for ch in text) or "://" not in text:
        raise errors.OriginMalformed()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        raise errors.OriginHostInvalid() from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise errors.OriginNotHttps()
    if parts.username is not None or parts.password is not None or parts.path not in ("", "/") or parts.query \
            or parts.fragment or text.endswith(("?", "#")):
        raise errors.OriginHasPath()
    host = (parts.hostname or "").lower()
    if not _valid_host(host) or port == 0:
        raise errors.OriginHostInvalid()
    if scheme == "http" and host not in _LOCAL_HOSTS:
        raise errors.OriginNotHttps()
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def _valid_host(host: str) -> bool:
    if not host or len(host) > 253 or host.endswith("."):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return all(_LABEL.match(label) for label in host.split(".")) and not host.replace(".", "").isdigit()
    return address.version == 4


def list_origins(service: Service) -> list[EmbedOrigin]:
    return list(db.session.scalars(select(EmbedOrigin).where(EmbedOrigin.service_id == service.id)
                                   .order_by(EmbedOrigin.origin)))


def add_origin(service: Service, user, text: str) -> EmbedOrigin:
    """A service's editors (and admins) allow a website to frame its form: one valid origin, once, within the
    bound on the list."""
    if not can_triage(user, service):
        raise NotAllowed()
    origin = normalise_origin(text)
    begin_write()
    query = select(Service.id).where(Service.id == service.id)
    if not is_sqlite():
        query = query.with_for_update()  # two editors adding at once are counted one after the other
    if db.session.scalar(query) is None:
        raise NotFound()
    existing = db.session.scalars(select(EmbedOrigin.origin).where(EmbedOrigin.service_id == service.id)).all()
    if origin in existing:
        db.session.rollback()
        raise errors.OriginAlreadyAllowed()
    if len(existing) >= MAX_ORIGINS_PER_SERVICE:
        db.session.rollback()
        raise errors.TooManyOrigins()
    row = EmbedOrigin(service_id=service.id, origin=origin)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # the same origin added by someone else meanwhile: the unique constraint decides
        db.session.rollback()
        raise errors.OriginAlreadyAllowed() from None
    return row


def remove_origin(service: Service, user, origin_id: int) -> None:
    """A service's editors (and admins) withdraw a website's permission to frame its form."""
    if not can_triage(user, service):
        raise NotAllowed()
    begin_write()
    row = db.session.scalar(select(EmbedOrigin).where(EmbedOrigin.id == origin_id,
                                                      EmbedOrigin.service_id == service.id))
    if row is None:
        db.session.rollback()
        raise NotFound()
    db.session.delete(row)
    db.session.commit()


def frame_ancestors(service: Service) -> str:
    """The embed's CSP ``frame-ancestors`` source list: the service's allowed origins, or ``'none'``."""
    origins = db.session.scalars(select(EmbedOrigin.origin).where(EmbedOrigin.service_id == service.id)
                                 .order_by(EmbedOrigin.origin).limit(MAX_ORIGINS_PER_SERVICE)).all()
    # Written into a header: only what normalise_origin lets through is there, checked again on the way out.
    safe = [origin for origin in origins if re.fullmatch(r"https?://[a-z0-9.-]+(:\d{1,5})?", origin)]
    return " ".join(safe) or "'none'"


# --- the embed's protection against cross-site requests ----------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=EMBED_TOKEN_SALT)


def token_payload(service_id: int, key: str) -> dict:
    """What an embed token signs: the service, and the response's submission key."""
    return {"s": service_id, "k": key}


def make_embed_token(service: Service, key: str) -> str:
    """The token an embed form carries, for this service and this response (its submission key)."""
    return _serializer().dumps(token_payload(service.id, key))


def check_embed_token(token: str | None, service: Service, key: str | None) -> None:
    """The token was made here, for this service and this response, within the site's CSRF lifetime."""
    if not token or not key or len(token) > 512:
        raise errors.EmbedTokenInvalid()
    try:
        payload = _serializer().loads(token, max_age=int(current_app.config["WTF_CSRF_TIME_LIMIT"]))
    except SignatureExpired:
        raise errors.EmbedTokenExpired() from None
    except BadSignature:
        raise errors.EmbedTokenInvalid() from None
    if payload != token_payload(service.id, key):
        raise errors.EmbedTokenInvalid()


def check_same_origin(headers) -> None:
    """The POST comes from a page of Atelier's own origin: ``Sec-Fetch-Site: same-origin`` where the browser sends
    it, else an ``Origin`` equal to ``BASE_URL``'s. Neither header: refused (every browser sends one of them with a
    form's POST)."""
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site.strip().lower() != "same-origin":
            raise errors.EmbedForeignOrigin()
        return
    origin = headers.get("Origin")
    if not origin or origin.strip().lower() != origin_of(current_app.config["BASE_URL"]).lower():
        raise errors.EmbedForeignOrigin()


# --- what the editors' page hands out ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ButtonVariant:
    slug: str  # in the image's URL
    style: str  # "plain" or "outline"
    theme: str  # "light" or "dark": the page background the button sits on
    fill: str
    stroke: str
    ink: str  # text and pictogram


# JDMA's four buttons (plain and outline, for light and dark pages), drawn for Atelier in its own colours. Each pair of
# ink and fill contrasts at least 4.5:1, and an outline button's border 3:1 with the page it is meant for.
BUTTON_VARIANTS = {
    variant.slug: variant for variant in (
        ButtonVariant("plein-clair", "plain", "light", fill="#000091", stroke="#000091", ink="#ffffff"),
        ButtonVariant("plein-sombre", "plain", "dark", fill="#8585f6", stroke="#8585f6", ink="#161616"),
        ButtonVariant("contour-clair", "outline", "light", fill="#ffffff", stroke="#000091", ink="#000091"),
        ButtonVariant("contour-sombre", "outline", "dark", fill="#161616", stroke="#ffffff", ink="#ffffff"),
    )
}


def two_lines(text: str) -> tuple[str, str]:
    """``text`` broken between two words into two lines as even as can be (« Je donne » / « mon avis »)."""
    words = text.split()
    if len(words) < 2:
        return text, ""
    cuts = [(" ".join(words[:n]), " ".join(words[n:])) for n in range(1, len(words))]
    return min(cuts, key=lambda pair: max(len(pair[0]), len(pair[1])))


def qr_svg(url: str) -> str:
    """A QR code of ``url`` as an SVG document (black on white, with its quiet zone), to print for a counter."""
    import io

    import segno

    out = io.BytesIO()
    # Error correction « M » survives a worn or creased print. A viewBox without a size: the image scales to whatever
    # size it is shown or printed at.
    segno.make(url, error="m").save(out, kind="svg", omitsize=True, dark="#000000", light="#ffffff", xmldecl=True,
                                    svgclass=None, lineclass=None, title=url)
    return out.getvalue().decode()
