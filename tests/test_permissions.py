"""One table: every endpoint x every role -> the designed outcome.

The list of routes comes from ``app.url_map``: a route added without a row here fails
``test_every_route_has_an_expected_outcome``.
"""

import pytest

from app import create_app
from app.catalog.models import Role
from app.extensions import db
from app.mail.service import queue_mail
from tests.conftest import get_csrf, login
from tests.factories import make_life_event, make_member, make_organisation, make_service, make_user

ROLES = ["anonymous", "citizen", "facilitator", "facilitator_other", "editor", "admin"]

OK, LOGIN, FORBIDDEN, REDIRECT = "ok", "login", "forbidden", "redirect"


def everyone(outcome):
    return dict.fromkeys(ROLES, outcome)


def logged_in(outcome=OK):
    return {**everyone(outcome), "anonymous": LOGIN}


def admin_only(outcome=OK):
    return {**everyone(FORBIDDEN), "anonymous": LOGIN, "admin": outcome}


# rule -> (method, sample URL (format fields filled from the fixture data), outcome per role)
EXPECTED = {
    "/": ("GET", "/", everyone(OK)),
    "/accessibilite": ("GET", "/accessibilite", everyone(OK)),
    "/confidentialite": ("GET", "/confidentialite", everyone(OK)),
    "/conditions-d-utilisation": ("GET", "/conditions-d-utilisation", everyone(OK)),
    "/healthz": ("GET", "/healthz", everyone(OK)),
    "/langue": ("POST", "/langue", everyone(REDIRECT)),
    "/moments-de-vie/": ("GET", "/moments-de-vie/", everyone(OK)),
    "/moments-de-vie/<slug>": ("GET", "/moments-de-vie/{event}", everyone(OK)),
    "/organisations/": ("GET", "/organisations/", everyone(OK)),
    "/organisations/<slug>": ("GET", "/organisations/{org}", everyone(OK)),
    "/demarches/": ("GET", "/demarches/", everyone(OK)),
    "/demarches/<slug>": ("GET", "/demarches/{service}", everyone(OK)),
    "/compte/inscription": ("GET", "/compte/inscription", {**everyone(REDIRECT), "anonymous": OK}),
    "/compte/connexion": ("GET", "/compte/connexion", everyone(OK)),
    "/compte/deconnexion": ("POST", "/compte/deconnexion", logged_in(REDIRECT)),
    # A bad link sends people back to their account page, or to the login page when logged out.
    "/compte/verifier/<token>": ("GET", "/compte/verifier/not-a-token", logged_in(REDIRECT)),
    "/compte/renvoyer-verification": ("POST", "/compte/renvoyer-verification", logged_in(REDIRECT)),
    "/compte/mot-de-passe-oublie": ("GET", "/compte/mot-de-passe-oublie", everyone(OK)),
    "/compte/reinitialiser/<token>": ("GET", "/compte/reinitialiser/not-a-token", everyone(REDIRECT)),
    "/compte/": ("GET", "/compte/", logged_in()),
    "/compte/mot-de-passe": ("GET", "/compte/mot-de-passe", logged_in()),
    "/compte/adresse": ("GET", "/compte/adresse", logged_in()),
    "/compte/adresse/confirmer/<token>": ("GET", "/compte/adresse/confirmer/not-a-token", logged_in(REDIRECT)),
    # Logging out everywhere ends this session too: back to the login page.
    "/compte/deconnexion-partout": ("POST", "/compte/deconnexion-partout", everyone(LOGIN)),
    "/compte/mes-donnees": ("GET", "/compte/mes-donnees", logged_in()),
    "/compte/mes-donnees/telecharger": ("POST", "/compte/mes-donnees/telecharger", logged_in()),
    "/compte/supprimer": ("GET", "/compte/supprimer", logged_in()),
    "/admin/": ("GET", "/admin/", admin_only()),
    "/admin/courriels/": ("GET", "/admin/courriels/", admin_only()),
    "/admin/courriels/<int:message_id>": ("GET", "/admin/courriels/{message}", admin_only()),
    "/admin/organisations/nouvelle": ("GET", "/admin/organisations/nouvelle", admin_only()),
    "/admin/organisations/<slug>/modifier": ("GET", "/admin/organisations/{org}/modifier", admin_only()),
    "/admin/organisations/<slug>/membres": ("GET", "/admin/organisations/{org}/membres", admin_only()),
    "/admin/membres/<int:membership_id>/retirer": ("POST", "/admin/membres/{membership}/retirer",
                                                   admin_only(REDIRECT)),
    "/admin/demarches/nouvelle": ("GET", "/admin/demarches/nouvelle", admin_only()),
    "/admin/demarches/<slug>/modifier": ("GET", "/admin/demarches/{service}/modifier", admin_only()),
    "/admin/moments-de-vie/nouveau": ("GET", "/admin/moments-de-vie/nouveau", admin_only()),
    "/admin/moments-de-vie/<slug>/modifier": ("GET", "/admin/moments-de-vie/{event}/modifier", admin_only()),
}


def test_every_route_has_an_expected_outcome():
    app = create_app("test")
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert rules - set(EXPECTED) == set(), "routes without a row in the permission table"
    assert set(EXPECTED) - rules == set(), "rows for routes that no longer exist"


def _world():
    """Organisation A with a facilitator and an editor; organisation B with its own facilitator."""
    org = make_organisation(slug="org-a")
    other = make_organisation(slug="org-b")
    event = make_life_event(slug="moment-a")
    service = make_service(org, slug="service-a", life_events=[event])
    users = {
        "citizen": make_user(email="citizen@example.org"),
        "facilitator": make_member(org, Role.facilitator, email="facilitator@example.org"),
        "facilitator_other": make_member(other, Role.facilitator, email="facilitator.b@example.org"),
        "editor": make_member(org, Role.editor, email="editor@example.org"),
        "admin": make_user(email="admin@example.org", admin=True),
    }
    message = queue_mail("x@example.org", "verify_email", "fr", user=users["citizen"], link="http://x")
    db.session.commit()
    values = {"org": org.slug, "service": service.slug, "event": event.slug, "message": message.id,
              "membership": users["facilitator_other"].memberships[0].id}
    return users, values


def _outcome(response) -> str:
    if response.status_code == 200:
        return OK
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 302:
        return LOGIN if "/compte/connexion" in response.headers["Location"] else REDIRECT
    return str(response.status_code)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, role):
    users, values = _world()
    if role != "anonymous":
        login(client, users[role].email)
    failures = []
    for rule, (method, url, outcomes) in EXPECTED.items():
        url = url.format(**values)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": get_csrf(client, "/")})
        got = _outcome(response)
        if got != outcomes[role]:
            failures.append(f"{method} {rule}: expected {outcomes[role]}, got {got}")
        if role != "anonymous" and rule in ("/compte/deconnexion", "/compte/deconnexion-partout"):
            _relogin(client, users[role])
    assert not failures, "\n".join(failures)


def _relogin(client, user):
    db.session.refresh(user)
    login(client, user.email)
