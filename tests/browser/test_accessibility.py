"""axe-core and the Nu HTML checker on every page, as every role, in both languages.

The list of pages comes from the app's url_map: a new GET route without a sample URL below (or a
reasoned exclusion) fails ``test_every_page_has_a_sample_url``, so no page escapes the audit.
axe-core covers only part of RGAA; the keyboard journey and the layout tests cover more. The HTML of the
same pages (as served, and as the live board's scripts leave it) must also pass the Nu HTML checker.
"""

import os
import re
from collections import defaultdict

import pytest
import requests

from tests.decisions.helpers import accessibility_values as decision_values
from tests.feedback.form_helpers import accessibility_values as feedback_form_values
from tests.feedback.manage_helpers import accessibility_values as feedback_manage_values
from tests.feedback.outcome_helpers import accessibility_values as feedback_outcome_values
from tests.htmlcheck import VNU_JAR, nu_checker
from tests.proposals.helpers import accessibility_values as proposal_values

from .conftest import http_login, live_db_execute, live_db_rows
from .helpers import ROLES, blocking_violations, html_lang, login, switch_language

pytestmark = pytest.mark.browser

# GET endpoints that are not HTML pages, with the reason.
EXCLUDED_ENDPOINTS = {
    "static": "files (CSS, fonts, scripts), not pages",
    "core.healthz": "JSON health check for load balancers",
    "workshops.workshop_calendar": "iCalendar file (text/calendar) of one workshop",
    "workshops.all_calendar": "iCalendar feed (text/calendar) of all published workshops",
    "workshops.organisation_calendar": "iCalendar feed (text/calendar) of an organisation's workshops",
    "workshops.personal_calendar": "private iCalendar feed (text/calendar) behind a token",
    "workshops.export_roster": "CSV download of a roster (text/csv, attachment)",
    "boards.export_board": "board exports as CSV, JSON or Markdown downloads (attachments)",
    "proposals.similar": "JSON suggestions for the title field of the proposal form (proposals.js)",
    "decisions.import_template": "CSV template for importing measures (text/csv, attachment)",
    "opendata.datapackage_file": "datapackage.json describing the open data files (application/json)",
    "opendata.download": "open data files (CSV and JSON downloads)",
    "opendata.atom_feed": "Atom feed of answers and measure updates (application/atom+xml)",
    "opendata.replies_feed": "Atom feed of the replies to published experiences (application/atom+xml)",
    "api.index": "read-only JSON API: list of resources",
    "api.openapi": "read-only JSON API: the OpenAPI 3.1 document",
    "api.list_resource": "read-only JSON API: a page of a resource",
    "api.show_resource": "read-only JSON API: one item of a resource",
    "api.national_barometer": "read-only JSON API: the national barometer",
    "api.service_barometers": "read-only JSON API: a page of the services' barometers",
    "api.service_barometer": "read-only JSON API: one service's barometer",
    "api.organisation_barometer": "read-only JSON API: one organisation's barometer",
    "api.life_event_barometer": "read-only JSON API: one life event's barometer",
    "api.service_monthly": "read-only JSON API: one service's monthly counts",
    "feedback.button_image": "the « Je donne mon avis » button images (image/svg+xml) other websites show",
    "feedback.qr_code": "the QR code (image/svg+xml) of a service's form, shown on the « Diffuser » page",
    "feedback.export_responses": "CSV download of a service's responses (text/csv, attachment)",
}

# endpoint -> sample URLs, one per URL rule of the endpoint. The {placeholders} are filled in at run time
# from the live database (``sample_values``): the outbox message, demo workshops, a registration, a board.
SAMPLE_URLS = {
    "core.home": ["/"],
    "core.privacy": ["/confidentialite"],
    "core.accessibility": ["/accessibilite"],
    "core.terms": ["/conditions-d-utilisation"],
    "accounts.register": ["/compte/inscription"],
    "accounts.register_sent": ["/compte/inscription/courriel-envoye"],
    "accounts.login": ["/compte/connexion"],
    "accounts.forgot_password": ["/compte/mot-de-passe-oublie"],
    "accounts.account": ["/compte/"],
    "accounts.change_password": ["/compte/mot-de-passe"],
    "accounts.change_email": ["/compte/adresse"],
    "accounts.my_data": ["/compte/mes-donnees"],
    "accounts.delete_account": ["/compte/supprimer"],
    # Token links: an invalid token redirects with an error message (to the login, account or
    # forgot-password page); the page the visitor lands on is the one checked.
    "accounts.verify_email": ["/compte/verifier/jeton-invalide"],
    "accounts.reset_password": ["/compte/reinitialiser/jeton-invalide"],
    "accounts.confirm_email_change": ["/compte/adresse/confirmer/jeton-invalide"],
    "catalog.list_life_events": ["/moments-de-vie/"],
    "catalog.show_life_event": ["/moments-de-vie/je-demenage"],
    "catalog.list_organisations": ["/organisations/"],
    "catalog.show_organisation": ["/organisations/dinum"],
    "catalog.list_services": ["/demarches/", "/demarches/?q=logement"],
    "catalog.show_service": ["/demarches/passeport"],
    "catalog.admin_home": ["/admin/"],
    "catalog.edit_organisation": ["/admin/organisations/nouvelle", "/admin/organisations/dinum/modifier"],
    "catalog.manage_members": ["/admin/organisations/dinum/membres"],
    "catalog.edit_service": ["/admin/demarches/nouvelle", "/admin/demarches/passeport/modifier"],
    "catalog.edit_life_event": ["/admin/moments-de-vie/nouveau", "/admin/moments-de-vie/je-demenage/modifier"],
    "mail.list_messages": ["/admin/courriels/"],
    "mail.show_message": ["/admin/courriels/{message_id}"],
    # Workshops ({open}, {full}... are the demo workshops of conftest.DEMO_WORKSHOPS).
    "workshops.list_workshops": ["/ateliers/"],
    "workshops.past_workshops": ["/ateliers/passes"],
    "workshops.show_workshop": ["/ateliers/{open}", "/ateliers/{full}", "/ateliers/{panel}?invitation={invitation}",
                                "/ateliers/{cancelled}", "/ateliers/{past}", "/ateliers/{draft}"],
    "workshops.sign_up": ["/ateliers/{open}/inscription", "/ateliers/{full}/inscription"],
    "workshops.my_workshops": ["/ateliers/mes-ateliers"],
    "workshops.my_ticket": ["/ateliers/{open}/convocation"],
    "workshops.evaluate": ["/ateliers/{past}/evaluation"],
    "workshops.manage_home": ["/ateliers/gestion/"],
    "workshops.create_workshop": ["/ateliers/gestion/nouveau"],
    "workshops.edit_workshop": ["/ateliers/gestion/{open}/modifier", "/ateliers/gestion/{full}/modifier"],
    "workshops.manage_workshop": ["/ateliers/gestion/{open}", "/ateliers/gestion/{full}",
                                  "/ateliers/gestion/{panel}", "/ateliers/gestion/{cancelled}",
                                  "/ateliers/gestion/{past}"],
    "workshops.cancel_workshop": ["/ateliers/gestion/{open}/annuler"],
    "workshops.message_participants": ["/ateliers/gestion/{open}/message"],
    "workshops.register_on_behalf": ["/ateliers/gestion/{open}/inscrire", "/ateliers/gestion/{full}/inscrire"],
    "workshops.check_in": ["/ateliers/gestion/{open}/pointage", "/ateliers/gestion/{past}/pointage?q=a"],
    "workshops.staff_cancel_registration": ["/ateliers/gestion/inscriptions/{registration}/annuler"],
    # Live boards: {board} is conftest.demo_board (DINUM, guests allowed, one idea). Joining with the
    # code comes first: it makes a signed-in visitor a participant, so the board itself opens next.
    "boards.list_boards": ["/tableaux/"],
    "boards.create_board": ["/tableaux/nouveau"],
    "boards.join_by_code": ["/tableaux/rejoindre"],
    "boards.join_with_code": ["/tableaux/rejoindre/{board_code}"],
    "boards.show_board": ["/tableaux/{board}"],
    "boards.edit_columns": ["/tableaux/{board}/colonnes"],
    "boards.presenter": ["/tableaux/{board}/presentation"],
    # Consultations (app/demo/consultations.py, found by title in sample_values): {c_open} majority judgment
    # voting now, {c_closed} support with results, {c_upcoming} dot budget with partial counts, {c_draft}.
    "consultations.list_consultations": ["/consultations/"],
    "consultations.show_consultation": ["/consultations/{c_open}", "/consultations/{c_closed}",
                                        "/consultations/{c_upcoming}", "/consultations/{c_draft}"],
    "consultations.cast_ballot": ["/consultations/{c_open}/vote"],
    "consultations.show_results": ["/consultations/{c_closed}/resultats", "/consultations/{c_closed_mj}/resultats"],
    "consultations.new_consultation": ["/consultations/nouvelle"],
    "consultations.edit_consultation": ["/consultations/{c_draft}/modifier", "/consultations/{c_open}/modifier"],
    "consultations.manage_consultation": ["/consultations/{c_draft}/gestion", "/consultations/{c_open}/gestion"],
    # Proposals (app/demo/proposals.py, found by title in sample_values): {proposal} is Camille's, with a
    # discussion; {proposal_versions} was edited after being supported; {proposal_merged} redirects to the
    # proposal it joined; {proposal_admin} is the admin's (life event only); {proposal_overdue} waits for an answer
    # past its deadline. Pages for the author or the owning organisation's staff answer 403 to others; the idea page
    # answers 404 outside its board (SHOWN_ONLY_TO).
    "proposals.list_proposals": ["/propositions/", "/propositions/?q=d%C3%A9m%C3%A9nagement&tri=supported"],
    "proposals.new_proposal": ["/propositions/nouvelle"],
    "proposals.show_proposal": ["/propositions/{proposal}", "/propositions/{proposal_versions}",
                                "/propositions/{proposal_merged}", "/propositions/{proposal_overdue}"],
    "proposals.edit_proposal": ["/propositions/{proposal_admin}/modifier"],
    "proposals.my_proposals": ["/propositions/mes-propositions"],
    "proposals.hide_proposal": ["/propositions/{proposal}/masquer"],
    "proposals.hide_comment": ["/propositions/commentaires/{pcomment}/masquer"],
    "proposals.merge_proposal": ["/propositions/{proposal}/fusionner"],
    "proposals.moderation": ["/propositions/moderation"],
    "proposals.show_report": ["/propositions/signalements/{preport}"],  # the demo's open report on a comment
    "proposals.settings": ["/propositions/organisations/{dinum_id}/reglages"],
    "proposals.board_ideas": ["/propositions/tableaux/{board}"],
    "proposals.idea_page": ["/propositions/idees/{board_idea}"],
    "notifications.list_notifications": ["/notifications/"],
    # Reports: the dashboard unfiltered and filtered; DINUM's « Vous avez dit, nous avons fait » page.
    "reports.dashboard": ["/rapports/", "/rapports/?organisation={dinum_id}&du=2020-01-01"],
    "reports.organisation_report": ["/rapports/organisations/dinum"],
    # Decisions: answering the demo proposal {proposal}, DINUM's proposals awaiting an answer and its deadline.
    "decisions.answer_proposal": ["/decisions/propositions/{proposal}/reponse"],
    "decisions.awaiting": ["/decisions/organisations/{dinum_id}/a-repondre"],
    "decisions.deadline": ["/decisions/organisations/{dinum_id}/delai"],
    # {measure}: the demo measure (app/demo/decisions.py), owned by {measure_org_id}.
    "decisions.show_measure": ["/decisions/mesures/{measure}", "/decisions/mesures/{trail_measure}"],
    # The trail: the past demo workshop's report (its board's idea led to {trail_measure}).
    "decisions.workshop_report": ["/decisions/ateliers/{past}/bilan"],
    "decisions.new_measure": ["/decisions/organisations/{dinum_id}/mesures/nouvelle"],
    "decisions.edit_measure": ["/decisions/mesures/{measure}/modifier"],
    "decisions.measure_progress": ["/decisions/mesures/{measure}/avancement"],
    # Importing measures from CSV (the upload page; the preview answers the upload's POST).
    "decisions.import_measures": ["/decisions/organisations/{dinum_id}/mesures/import"],
    # Open data: the « Données ouvertes » page (the files and the API are excluded above).
    "opendata.index": ["/donnees-ouvertes/"],
    # The « Je donne mon avis » form of the demo's « passeport » (first step, from a link and from a QR code), and
    # the pages of the response {feedback_token} made on it (feedback_form_values): each step, the third step's
    # follow-up questions, the response's own page and the thank-you page. The 410 page of a response whose hour has
    # passed, and the first step sent without an answer, are audited after the samples.
    "feedback.start_feedback": ["/avis/passeport", "/avis/passeport?source=qr"],
    "feedback.answer_step": ["/avis/reponse/{feedback_token}/etape/1", "/avis/reponse/{feedback_token}/etape/2",
                             "/avis/reponse/{feedback_token}/etape/3", "/avis/reponse/{feedback_token}/etape/4"],
    "feedback.answer_follow_up": ["/avis/reponse/{feedback_token}/etape/3/suite"],
    "feedback.show_response": ["/avis/reponse/{feedback_token}"],
    "feedback.thanks": ["/avis/reponse/{feedback_token}/merci"],
    # Feedback on the service's own website: the « Diffuser » page (DINUM's editors and admins), the embed's first
    # step, and the pages of the response {embed_token} made through it (embed_values).
    "feedback.share": ["/avis/gestion/demarches-simplifiees/diffuser"],
    "feedback.embed_form": ["/avis/demarches-simplifiees/integre"],
    "feedback.embed_step": ["/avis/demarches-simplifiees/integre/{embed_token}/etape/2"],
    "feedback.embed_follow_up": ["/avis/demarches-simplifiees/integre/{embed_token}/etape/3/suite"],
    "feedback.embed_response": ["/avis/demarches-simplifiees/integre/{embed_token}"],
    "feedback.embed_thanks": ["/avis/demarches-simplifiees/integre/{embed_token}/merci"],
    # Triage and experiences (DINUM's editors and admins): « demarches-simplifiees » with the responses left through
    # its form by feedback_manage_values, {fb_pending} an experience to moderate, {fb_published} one published and
    # answered; the public experiences (all, filtered, per service) and the moderation charter.
    "feedback.triage_home": ["/avis/gestion"],
    "feedback.list_responses": ["/avis/gestion/demarches-simplifiees/reponses",
                                "/avis/gestion/demarches-simplifiees/reponses?satisfaction=1&texte=y"],
    "feedback.manage_tags": ["/avis/gestion/demarches-simplifiees/irritants"],
    "feedback.moderate_experiences": ["/avis/gestion/demarches-simplifiees/experiences"],
    "feedback.manage_experience": ["/avis/gestion/experiences/{fb_pending}",
                                   "/avis/gestion/experiences/{fb_published}"],
    "feedback.moderation_policy": ["/avis/charte"],
    "feedback.list_experiences": ["/avis/experiences", "/avis/experiences?organisation={dinum_id}"],
    "feedback.service_experiences": ["/avis/experiences/demarches-simplifiees"],
    # Follow-ups of users' feedback: the editors' page of « demarches-simplifiees » (its verbatims above), and the
    # facilitators' workshop topics (one proposed from a verbatim by feedback_outcome_values).
    "feedback.follow_up": ["/avis/gestion/demarches-simplifiees/suites"],
    "workshops.list_topics": ["/ateliers/gestion/sujets"],
    # The public barometer: national (with another indicator's trend, and the services' second page), the demo's
    # « passeport », DINUM and « je-demenage » (one with an indicator chosen), and the method.
    "barometer.show_national": ["/barometre/", "/barometre/?indicateur=autonomy&page=2"],
    "barometer.show_service": ["/barometre/services/passeport", "/barometre/services/passeport?indicateur=contact"],
    "barometer.show_organisation": ["/barometre/organisations/dinum"],
    "barometer.show_life_event": ["/barometre/moments-de-vie/je-demenage?indicateur=comprehension"],
    "barometer.show_method": ["/barometre/methode"],
    # Importing figures published elsewhere (editors and admins): the upload page; its preview and error pages answer
    # the upload's POST and are audited by tests/browser/test_barometer_import.py.
    "barometer.import_figures": ["/barometre/gestion/import"],
}
# Samples that answer 404 by design to everyone but some roles (a draft, someone's own convocation or
# evaluation form): sample -> the roles that get the page. The others must get the 404 (or, when
# signed out, the login page for pages behind a login).
SHOWN_ONLY_TO = {
    "/ateliers/{draft}": {"facilitator", "admin"},
    "/ateliers/{open}/convocation": {"citizen"},  # Camille's confirmed seat
    "/ateliers/{past}/evaluation": {"participant"},  # attended, has not answered yet
    # An idea that led to no public proposal yet: for its board's people (every signed-in role joined with the code).
    "/propositions/idees/{board_idea}": {"citizen", "facilitator", "editor", "admin"},
    "/consultations/{c_draft}": {"facilitator", "editor", "admin"},  # DINUM's organisers
}
# Pages driven by JavaScript (socket.io): audited once the script has rendered them.
LIVE_BOARD_PATH = re.compile(r"^/tableaux/\d+$")
PRESENTER_PATH = re.compile(r"^/tableaux/\d+/presentation$")
# The roles of helpers.ROLES, and a participant with a history: an offered seat (« Je deviens parent »),
# attended « Carte grise » without giving an opinion yet (app/demo/__init__.py). The participant is audited on the
# citizens' workshop pages only: elsewhere the site is the same for them as for the citizen role.
AUDIT_ROLES = {**ROLES, "participant": "participant6@atelier.example"}
PARTICIPANT_ENDPOINTS = {"workshops.list_workshops", "workshops.past_workshops", "workshops.show_workshop",
                         "workshops.sign_up", "workshops.my_workshops", "workshops.my_ticket", "workshops.evaluate"}
TOKEN_ENDPOINTS = {"accounts.verify_email", "accounts.reset_password", "accounts.confirm_email_change"}
MISSING_PAGE = "/cette-page-n-existe-pas"


def page_rules():
    """(endpoint, rule) for every GET route of the app that is not excluded."""
    from app import create_app

    app = create_app("test")
    return app, [(rule.endpoint, rule) for rule in app.url_map.iter_rules()
                 if "GET" in rule.methods and rule.endpoint not in EXCLUDED_ENDPOINTS]


def test_every_page_has_a_sample_url():
    """Each GET rule is reached by one of its endpoint's sample URLs; no sample is stale."""
    app, rules = page_rules()
    adapter = app.url_map.bind("localhost")
    missing = sorted(f"{endpoint} ({rule.rule})" for endpoint, rule in rules if endpoint not in SAMPLE_URLS)
    assert not missing, f"add a sample URL to SAMPLE_URLS (or a reasoned EXCLUDED_ENDPOINTS entry) for: {missing}"
    matched = set()
    for endpoint, urls in SAMPLE_URLS.items():
        for url in urls:
            path = url.format_map(defaultdict(lambda: "1")).split("?")[0]
            rule, _args = adapter.match(path, method="GET", return_rule=True)
            assert rule.endpoint == endpoint, f"{url} is served by {rule.endpoint}, not {endpoint}"
            matched.add(rule.rule)
    uncovered = sorted(rule.rule for _endpoint, rule in rules if rule.rule not in matched)
    assert not uncovered, f"URL rules without a sample URL: {uncovered}"


def format_failures(failures: list[dict]) -> str:
    lines = []
    for failure in failures:
        lines.append(f"{failure['url']} (status {failure['status']}, shown at {failure['final']}):")
        for v in failure["violations"]:
            lines.append(f"  - {v['rule']} [{v['impact']}] {v['help']}: {'; '.join(v['targets'][:5])}")
    return "\n".join(lines)


def test_axe_harness_reports_blocking_violations(page, axe):
    """The check below can fail: a page with an unlabelled field and an image without text is caught."""
    page.set_content('<html lang="fr"><head><title>t</title></head><body><main><h1>t</h1>'
                     '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></body></html>')
    rules = {v["rule"] for v in blocking_violations(axe, page)}
    assert {"image-alt", "label"} <= rules, rules


@pytest.fixture(scope="session")
def html_checker():
    """The Nu HTML checker, or None where java is missing and the check is not required.

    A missing vnu.jar fails (`make test` installs it); a missing java fails too when the run requires
    the check (ATELIER_REQUIRE_VNU=1, which .ci/run sets, or CI set), so CI never skips it silently.
    """
    checker, reason = nu_checker()
    if checker is None and (not VNU_JAR.exists() or os.environ.get("ATELIER_REQUIRE_VNU") == "1"
                            or os.environ.get("CI")):
        pytest.fail(reason)
    return checker


def test_html_checker_reports_errors(html_checker):
    """The HTML check below can fail: microseconds in a datetime, an empty action, a duplicate id and a
    heading jump are each reported for the page they are in; a valid page gives no error."""
    if html_checker is None:
        pytest.skip(nu_checker()[1])
    head = '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>t</title></head><body><main>'
    bad = (head + '<h1>t</h1>\n<h3>jump</h3>\n<time datetime="2026-01-01T10:00:00.123456Z">1er janvier</time>\n'
           '<form method="post" action=""><input type="hidden" id="csrf_token" name="csrf_token" value="a">\n'
           '<input type="hidden" id="csrf_token" name="csrf_token" value="a"><button>OK</button></form>'
           '</main></body></html>')
    good = (head + '<h1>t</h1><h2>t</h2><time datetime="2026-01-01T10:00:00.123Z">1er janvier</time>'
            '<form method="post" action="/x"><input type="hidden" name="csrf_token" value="a"><button>OK</button>'
            '</form></main></body></html>')
    errors = html_checker.check({"/bad": bad, "/good": good})
    found = {(e.url, e.line, e.message.split(":")[0].split("“")[0].strip()) for e in errors}
    assert found == {("/bad", 2, "The heading"), ("/bad", 3, "Bad value"), ("/bad", 4, "Bad value"),
                     ("/bad", 5, "Duplicate ID")}, errors


@pytest.fixture(scope="session")
def sample_values(live_server, outbox_message_id, demo_workshops, demo_board) -> dict:
    """What fills the {placeholders} of the sample URLs, from the live database."""
    ((registration_id,),) = live_db_rows(
        live_server, "SELECT r.id FROM registrations r JOIN users u ON u.id = r.user_id"
        " WHERE r.workshop_id = ? AND u.email = ?", (demo_workshops["open"]["id"], "participant1@atelier.example"))
    with http_login(live_server.url, ROLES["editor"]) as editor_http:
        feedback = feedback_manage_values(live_server.url, "demarches-simplifiees",
                                          lambda sql, params=(): live_db_execute(live_server, sql, params),
                                          lambda sql, params=(): live_db_rows(live_server, sql, params), editor_http)
        feedback_outcome_values(live_server.url, "demarches-simplifiees", editor_http)
    return {"message_id": outbox_message_id, **{key: w["id"] for key, w in demo_workshops.items()},
            "invitation": demo_workshops["panel"]["invitation"], "registration": registration_id,
            "board": demo_board["id"], "board_code": demo_board["code"], **demo_consultations(live_server),
            **proposal_values(lambda sql, params=(): live_db_rows(live_server, sql, params), demo_board["id"]),
            **decision_values(lambda sql, params=(): live_db_rows(live_server, sql, params)),
            **feedback_form_values(live_server.url, "passeport",
                                   lambda sql, params=(): live_db_execute(live_server, sql, params)),
            **embed_values(live_server.url), **feedback}


def embed_values(base_url: str) -> dict:
    """{embed_token}: a response made through the embed of « demarches-simplifiees » over plain HTTP (as its iframe's
    page sends it: Sec-Fetch-Site same-origin), its third step answered so that its follow-up questions show."""
    with requests.Session() as http:
        url = f"{base_url}/avis/demarches-simplifiees/integre"
        page = http.get(url, timeout=10).text
        values = {name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', page).group(1)
                  for name in ("submission_key", "source", "embed_token")}
        headers = {"Sec-Fetch-Site": "same-origin", "Origin": base_url}
        response = http.post(url, timeout=10, allow_redirects=False, headers=headers,
                             data={**values, "satisfaction": "3", "website": ""})
        assert response.status_code == 302, response.text[:2000]
        token = re.search(r"/integre/([^/]+)/etape/", response.headers["Location"]).group(1)
        step = f"{url}/{token}/etape/3"
        page = http.get(step, timeout=10).text
        response = http.post(step, timeout=10, allow_redirects=False, headers=headers, data={
            "embed_token": re.search(r'name="embed_token"[^>]*value="([^"]*)"', page).group(1), "website": "",
            "contact_tried": ["9", "16"]})
        assert response.status_code == 302 and response.headers["Location"].endswith("/etape/3/suite"), \
            response.text[:2000]
    return {"embed_token": token}


def demo_consultations(live_server) -> dict:
    """{c_open}, {c_closed}, {c_closed_mj}, {c_upcoming}, {c_draft}: the demo consultations, by the start of
    their title ({c_closed_mj}: majority judgment, closed, with merit profiles)."""
    out = {}
    for key, prefix in (("c_open", "Simplifier les démarches de déménagement"), ("c_closed", "Priorités 2026"),
                        ("c_upcoming", "Répartir 10 points"), ("c_draft", "Consultation en préparation"),
                        ("c_closed_mj", "Droits et justificatifs")):
        ((consultation_id,),) = live_db_rows(live_server, "SELECT id FROM consultations WHERE title LIKE ?",
                                             (prefix + "%",))
        out[key] = consultation_id
    return out


def wait_for_scripts(page, path: str) -> None:
    """Let the live board's script connect and render before the audit."""
    if LIVE_BOARD_PATH.match(path):
        # board.js shows the connection status once the socket has joined the board and rendered it.
        page.wait_for_selector("#connection-status:not([hidden])", state="visible")
    elif PRESENTER_PATH.match(path):
        page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("role", list(AUDIT_ROLES))
def test_pages_have_no_serious_accessibility_violation(new_context, live_server, sample_values, axe, html_checker,
                                                       role, lang):
    context = new_context()
    context.add_init_script(axe.axe_script)
    page = context.new_page()
    if AUDIT_ROLES[role]:
        login(page, AUDIT_ROLES[role])
    else:
        page.goto("/")
    switch_language(page, lang)  # stored on the account when logged in, in the session otherwise

    failures, statuses, audited_detours = [], {}, set()
    documents = {}  # what the Nu HTML checker reads at the end: name (the URL) -> HTML

    def check(url: str, response) -> None:
        assert html_lang(page) == lang, f"{url}: page in {html_lang(page)!r}, expected {lang!r}"
        violations = blocking_violations(axe, page)
        if violations:
            failures.append({"url": url, "final": page.url.removeprefix(live_server.url),
                             "status": response.status, "violations": violations})
        documents[url] = response.text()
        landed = page.url.removeprefix(live_server.url).split("?")[0]
        if LIVE_BOARD_PATH.match(landed) or PRESENTER_PATH.match(landed):  # markup built by board.js too
            documents[f"{url} (after scripts)"] = page.content()

    for endpoint, urls in SAMPLE_URLS.items():
        if role == "participant" and endpoint not in PARTICIPANT_ENDPOINTS:
            continue
        for sample in urls:
            url = sample.format_map(sample_values)
            response = page.goto(url)
            status = response.status
            landed = page.url.removeprefix(live_server.url).split("?")[0]
            statuses[url] = status
            if sample in SHOWN_ONLY_TO:
                if role in SHOWN_ONLY_TO[sample]:
                    assert (status, landed) == (200, url.split("?")[0]), f"{role} cannot open {url}"
                elif AUDIT_ROLES[role] or landed != "/compte/connexion":  # signed out: 404 or the login page
                    assert status == 404, f"{url} answers {status} to {role}, not 404"
                    del statuses[url]  # the expected refusal, not a stale sample
            if endpoint in TOKEN_ENDPOINTS:
                assert landed != url, f"{url} should redirect after an invalid token"
            # The same refusal page (403 or 404), or the same page a redirect leads to (the login page for
            # anonymous visitors), reached from many URLs is audited once per role and language.
            detour = str(status) if status in (403, 404) else landed if landed != url.split("?")[0] else None
            if detour:
                if detour in audited_detours:
                    continue
                audited_detours.add(detour)
            wait_for_scripts(page, landed)
            check(url, response)
            if endpoint == "boards.join_with_code" and AUDIT_ROLES[role] and landed == url:
                # The code link shows a confirmation page to a signed-in person; its button joins the board
                # (the board's pages below are audited as one of its people).
                with page.expect_navigation():
                    page.locator("main form [type=submit]").click()

    # A form in its error state: the register form sent empty (anonymous), the profile form
    # sent with an empty name (logged in: the register page redirects to the account page).
    if role != "participant":
        if AUDIT_ROLES[role]:
            page.goto("/compte/")
            page.fill("#display_name", "")
            form = page.locator("form:has(#display_name)")
        else:
            page.goto("/compte/inscription")
            form = page.locator("main form")
        with page.expect_navigation() as navigation:
            form.locator("[type=submit]").click()
        assert page.locator(".error-summary").count() == 1
        check(page.url.removeprefix(live_server.url) + " (form with errors)", navigation.value)

    # The workshop forms in their error state: a new workshop sent empty (staff), a sign-up without the
    # required answer (a participant who is not registered yet).
    form_with_errors = {"facilitator": "/ateliers/gestion/nouveau", "admin": "/ateliers/gestion/nouveau",
                        "participant": "/ateliers/{open}/inscription"}.get(role)
    if form_with_errors:
        page.goto(form_with_errors.format_map(sample_values))
        if role != "participant":
            page.fill("#title", "")
        with page.expect_navigation() as navigation:
            page.locator("main form [type=submit]").click()
        assert page.locator(".error-summary").count() == 1
        check(page.url.removeprefix(live_server.url) + " (form with errors)", navigation.value)

    # The « Je donne mon avis » form's first step sent without an answer, and the 410 page of a response's link after
    # its hour: signed out, as people answer it.
    if not AUDIT_ROLES[role]:
        page.goto("/avis/passeport")
        with page.expect_navigation() as navigation:
            page.locator("main form [type=submit]").click()
        assert page.locator(".error-summary").count() == 1
        check("/avis/passeport (form with errors)", navigation.value)
        closed = "/avis/reponse/{feedback_closed}/merci".format_map(sample_values)
        response = page.goto(closed)
        assert response.status == 410
        check(closed, response)

    # The editors' forms in their error state (DINUM's editor and admins): the responses' filters with a bad date,
    # and an experience refused without a reason.
    if role in ("editor", "admin"):
        bad_filter = "/avis/gestion/demarches-simplifiees/reponses?du=hier"
        response = page.goto(bad_filter)
        assert response.status == 422 and page.locator(".error-summary").count() == 1
        check(bad_filter + " (form with errors)", response)
        page.goto("/avis/gestion/experiences/{fb_pending}".format_map(sample_values))
        with page.expect_navigation() as navigation:
            page.locator("form:has(#reason) [type=submit]").click()
        assert page.locator(".error-summary").count() == 1
        check(page.url.removeprefix(live_server.url) + " (refusal without a reason)", navigation.value)
        # The follow-up form sent without choosing anything.
        page.goto("/avis/gestion/demarches-simplifiees/suites")
        with page.expect_navigation() as navigation:
            page.locator("main form [type=submit]").click()
        assert page.locator(".error-summary").count() == 1
        check(page.url.removeprefix(live_server.url) + " (follow-up without a choice)", navigation.value)

    response = page.goto(MISSING_PAGE)
    assert response.status == 404
    if "404" not in audited_detours:  # the same page as a draft's, already audited
        check(MISSING_PAGE, response)

    # The sample URLs must show real pages: a stale slug would only audit the 404 page.
    unexpected = {url: status for url, status in statuses.items() if status not in (200, 403)}
    assert not unexpected, f"sample URLs that are neither a page nor a refusal for {role}: {unexpected}"
    if role == "admin":
        refused = [url for url, status in statuses.items() if status != 200]
        assert not refused, f"the admin cannot open {refused}"

    # One run of the checker over every page above; its errors are listed with the axe violations.
    html_errors = html_checker.check(documents) if html_checker else []
    report = []
    if failures:
        report.append(f"serious or critical axe violations as {role} in {lang}:\n" + format_failures(failures))
    if html_errors:
        report.append(f"Nu HTML checker errors as {role} in {lang}:\n" + "\n".join(f"  - {e}" for e in html_errors))
    assert not report, "\n\n".join(report)
    if html_checker is None:
        pytest.skip(f"axe passed; the HTML check did not run: {nu_checker()[1]}")
