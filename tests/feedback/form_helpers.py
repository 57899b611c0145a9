"""Sample responses of the public form, for the tests that walk every route (permissions, accessibility)."""

import re
import secrets

import requests

from app.feedback import service
from app.feedback.models import Source


def permission_values(svc) -> dict:
    """{feedback_token}: the link's token of an open response of ``svc``, its third step answered so that its
    follow-up questions show."""
    _response, token = service.start_response(svc, secrets.token_urlsafe(24), Source.link, {"satisfaction": 3})
    service.store_step(token, 3, {"contact_tried": [9, 16]}, page="main")
    return {"feedback_token": token}


def accessibility_values(base_url: str, slug: str, execute) -> dict:
    """{feedback_token}: a response of the service ``slug`` answered over HTTP on the live server, its third step
    such that its follow-up questions show; {feedback_closed}: another, whose hour has passed (``execute`` runs SQL
    on the live database)."""
    tokens = []
    for _ in range(2):
        with requests.Session() as http:
            url = f"{base_url}/avis/{slug}"
            page = http.get(url, timeout=10).text
            hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
            response = http.post(url, data={**hidden, "satisfaction": "2"}, timeout=10, allow_redirects=False)
            assert response.status_code == 302, response.text[:2000]
            token = re.search(r"/avis/reponse/([^/]+)/etape/", response.headers["Location"]).group(1)
            step = f"{base_url}/avis/reponse/{token}/etape/3"
            page = http.get(step, timeout=10).text
            hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
            response = http.post(step, data={**hidden, "contact_tried": ["9", "16"]}, timeout=10,
                                 allow_redirects=False)
            assert response.headers["Location"].endswith("/etape/3/suite"), response.text[:2000]
            tokens.append(token)
    execute("UPDATE feedback_responses SET editable_until = '2000-01-01 00:00:00.000000' WHERE token_hash = ?",
            (service_hash(tokens[1]),))
    return {"feedback_token": tokens[0], "feedback_closed": tokens[1]}


def service_hash(token: str) -> str:
    return service.token_hash(token)
