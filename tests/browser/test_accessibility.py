"""axe-core on every page, as every role, in both languages.

The list of pages comes from the app's url_map: a new GET route without a sample URL below (or a
reasoned exclusion) fails ``test_every_page_has_a_sample_url``, so no page escapes the audit.
axe-core covers only part of RGAA; the keyboard journey and the layout tests cover more.
"""

import pytest

from .helpers import ROLES, html_lang, login, switch_language

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = {"serious", "critical"}

# GET endpoints that are not HTML pages, with the reason.
EXCLUDED_ENDPOINTS = {
    "static": "files (CSS, fonts, scripts), not pages",
    "core.healthz": "JSON health check for load balancers",
}

# endpoint -> sample URLs, one per URL rule of the endpoint ({message_id} is filled in at run time).
SAMPLE_URLS = {
    "core.home": ["/"],
    "core.privacy": ["/confidentialite"],
    "core.accessibility": ["/accessibilite"],
    "core.terms": ["/conditions-d-utilisation"],
    "accounts.register": ["/compte/inscription"],
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
}
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
            path = url.format(message_id=1).split("?")[0]
            rule, _args = adapter.match(path, method="GET", return_rule=True)
            assert rule.endpoint == endpoint, f"{url} is served by {rule.endpoint}, not {endpoint}"
            matched.add(rule.rule)
    uncovered = sorted(rule.rule for _endpoint, rule in rules if rule.rule not in matched)
    assert not uncovered, f"URL rules without a sample URL: {uncovered}"


def blocking_violations(axe, page) -> list[dict]:
    results = axe.run(page)
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [", ".join(map(str, node["target"])) for node in v["nodes"]]}
        for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS
    ]


def format_failures(failures: list[dict]) -> str:
    lines = []
    for failure in failures:
        lines.append(f"{failure['url']} (status {failure['status']}, shown at {failure['final']}):")
        for v in failure["violations"]:
            lines.append(f"  - {v['rule']} [{v['impact']}] {v['help']}: {'; '.join(v['targets'][:5])}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def test_axe_harness_reports_blocking_violations(page, axe):
    """The check below can fail: a page with an unlabelled field and an image without text is caught."""
    page.set_content('<html lang="fr"><head><title>t</title></head><body><main><h1>t</h1>'
                     '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></body></html>')
    rules = {v["rule"] for v in blocking_violations(axe, page)}
    assert {"image-alt", "label"} <= rules, rules


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("role", list(ROLES))
def test_pages_have_no_serious_accessibility_violation(new_context, live_server, outbox_message_id, axe,
                                                       role, lang):
    page = new_context().new_page()
    if ROLES[role]:
        login(page, ROLES[role])
    else:
        page.goto("/")
    switch_language(page, lang)  # stored on the account when logged in, in the session otherwise

    failures, statuses, audited_detours = [], {}, set()

    def check(url: str, status: int) -> None:
        assert html_lang(page) == lang, f"{url}: page in {html_lang(page)!r}, expected {lang!r}"
        violations = blocking_violations(axe, page)
        if violations:
            failures.append({"url": url, "final": page.url.removeprefix(live_server.url),
                             "status": status, "violations": violations})

    for endpoint, urls in SAMPLE_URLS.items():
        for sample in urls:
            url = sample.format(message_id=outbox_message_id)
            status = page.goto(url).status
            statuses[url] = status
            landed = page.url.removeprefix(live_server.url).split("?")[0]
            if endpoint in TOKEN_ENDPOINTS:
                assert landed != url, f"{url} should redirect after an invalid token"
            # The same refusal page (403), or the same page a redirect leads to (the login page for
            # anonymous visitors), reached from many URLs is audited once per role and language.
            detour = "403" if status == 403 else landed if landed != url.split("?")[0] else None
            if detour:
                if detour in audited_detours:
                    continue
                audited_detours.add(detour)
            check(url, status)

    # A form in its error state: the register form sent empty (anonymous), the profile form
    # sent with an empty name (logged in: the register page redirects to the account page).
    if ROLES[role]:
        page.goto("/compte/")
        page.fill("#display_name", "")
        form = page.locator("form:has(#display_name)")
    else:
        page.goto("/compte/inscription")
        form = page.locator("main form")
    with page.expect_navigation():
        form.locator("[type=submit]").click()
    assert page.locator(".error-summary").count() == 1
    check(page.url.removeprefix(live_server.url) + " (form with errors)", 200)

    response = page.goto(MISSING_PAGE)
    assert response.status == 404
    check(MISSING_PAGE, 404)

    # The sample URLs must show real pages: a stale slug would only audit the 404 page.
    unexpected = {url: status for url, status in statuses.items() if status not in (200, 403)}
    assert not unexpected, f"sample URLs that are neither a page nor a refusal for {role}: {unexpected}"
    if role == "admin":
        refused = [url for url, status in statuses.items() if status != 200]
        assert not refused, f"the admin cannot open {refused}"

    assert not failures, (f"serious or critical axe violations as {role} in {lang}:\n"
                          + format_failures(failures))
