"""Sample responses, irritants and experiences for the tests that walk every route: the permission matrix
(rows added as the form would have left them) and the accessibility audit (through the live server's pages)."""

import re
from datetime import timedelta

import requests
from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.feedback.models import Experience, IrritantTag
from tests.feedback.helpers import make_response


def permission_values(service) -> dict:
    """{fb_response}: a response of ``service`` with a comment; {fb_experience}: its experience, pending, its hour
    over; {fb_tag}: an irritant of ``service``."""
    response = make_response(service, verbatim="Trop de pièces à fournir", consent=True,
                             created_at=utcnow() - timedelta(hours=2))
    tag = IrritantTag(service_id=service.id, label="Pièces justificatives")
    db.session.add(tag)
    db.session.commit()
    experience = db.session.scalar(select(Experience).where(Experience.response_id == response.id))
    return {"fb_response": response.id, "fb_experience": experience.id, "fb_tag": tag.id}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def accessibility_values(base_url: str, slug: str, execute, rows, editor_session) -> dict:
    """{fb_pending}, {fb_published}: two experiences of the service ``slug``, left through its public form on the live
    server (a comment, an address, the consent), their hour then ended in the live database (``execute`` runs SQL
    there); the second is published and answered by DINUM's editor through the editors' pages (``editor_session``:
    a signed-in ``requests`` session). An irritant is added to the service's list as well."""
    ids = []
    for text in ("Je n'ai pas trouvé où déposer le justificatif.", "Le formulaire a refusé mon adresse."):
        with requests.Session() as http:
            url = f"{base_url}/avis/{slug}"
            page = http.get(url, timeout=10).text
            hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
            response = http.post(url, data={**hidden, "satisfaction": "1"}, timeout=10, allow_redirects=False)
            assert response.status_code == 302, response.text[:2000]
            token = re.search(r"/avis/reponse/([^/]+)/etape/", response.headers["Location"]).group(1)
            step = f"{base_url}/avis/reponse/{token}/etape/4"
            page = http.get(step, timeout=10).text
            hidden = dict(re.findall(r'<input name="(\w+)" type="hidden" value="([^"]*)"', page))
            response = http.post(step, data={**hidden, "verbatim": text, "contact_email": "auteur@example.org",
                                             "consent": "y"}, timeout=10, allow_redirects=False)
            assert response.status_code == 302, response.text[:2000]
        ((experience_id, response_id),) = rows("SELECT id, response_id FROM feedback_experiences WHERE text = ? "
                                               "ORDER BY id DESC LIMIT 1", (text,))
        execute("UPDATE feedback_responses SET editable_until = '2000-01-01 00:00:00.000000' WHERE id = ?",
                (response_id,))
        ids.append(experience_id)
    pending, published = ids
    http = editor_session
    page = http.get(f"{base_url}/avis/gestion/experiences/{published}", timeout=10).text
    response = http.post(f"{base_url}/avis/gestion/experiences/{published}/publier", timeout=10,
                         allow_redirects=False, data={"csrf_token": _csrf(page)})
    assert response.status_code == 302, response.text[:2000]
    response = http.post(f"{base_url}/avis/gestion/experiences/{published}/repondre", timeout=10,
                         allow_redirects=False, data={"csrf_token": _csrf(page), "signature": "Étienne Éditeur, DINUM",
                                                      "text": "Merci : le champ d'adresse accepte désormais les "
                                                              "adresses récentes."})
    assert response.status_code == 302, response.text[:2000]
    page = http.get(f"{base_url}/avis/gestion/{slug}/irritants", timeout=10).text
    response = http.post(f"{base_url}/avis/gestion/{slug}/irritants", timeout=10, allow_redirects=False,
                         data={"csrf_token": _csrf(page), "label": "Justificatif introuvable"})
    assert response.status_code in (302, 409), response.text[:2000]  # 409: added by an earlier run on this server
    return {"fb_pending": pending, "fb_published": published}
