"""Sample data of the follow-ups given to users' feedback, for the tests that walk every route: the permission
matrix (a workshop topic added as a row) and the accessibility audit (a topic proposed through the editors' page of
the live server)."""

import re

from app.extensions import db
from app.workshops.models import WorkshopTopic


def permission_values(organisation) -> dict:
    """{w_topic}: a workshop topic proposed to ``organisation``'s facilitators, not taken up yet."""
    topic = WorkshopTopic(organisation_id=organisation.id, title="Déclarer un déménagement une seule fois",
                          description="- « Il faut le déclarer cinq fois. »")
    db.session.add(topic)
    db.session.commit()
    return {"w_topic": topic.id}


def accessibility_values(base_url: str, slug: str, editor_session) -> dict:
    """A workshop topic proposed to DINUM's facilitators from the first verbatim listed on the follow-up page of the
    service ``slug`` (``editor_session``: DINUM's editor, signed in), so that the facilitators' page lists one."""
    url = f"{base_url}/avis/gestion/{slug}/suites"
    page = editor_session.get(url, timeout=10).text
    first = re.search(r'name="response_ids" value="(\d+)"', page)
    assert first, "no verbatim to propose as a workshop topic"
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = editor_session.post(url, timeout=10, allow_redirects=False, data={
        "csrf_token": csrf, "response_ids": first.group(1), "action": "workshop_topic",
        "title": "Déposer un justificatif sans le chercher"})
    assert response.status_code == 302, response.text[:2000]
    return {}
