"""The before/after of a measure in a real browser: DINUM's editor names the service a new measure changes and dates
its implementation eight months ago through the forms; the measure's page and the service's barometer page then show
the six months on each side. axe-core and the Nu HTML checker on every page on the way (the forms, one with an error),
in French and in English.

The answers on each side are stored through the feedback area's own service, dated, in the live server's database
(a new service of DINUM's, so the demo's figures stay as they are)."""

import os
import secrets
from datetime import date, datetime

import pytest

from tests.htmlcheck import VNU_JAR, nu_checker

from .conftest import live_db_rows
from .helpers import ROLES, blocking_violations, login, switch_language

pytestmark = pytest.mark.browser

SERVICE_NAME = "Démarche témoin (avant / après)"
MEASURE_TITLE = "Un justificatif de moins (avant / après)"


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@pytest.fixture(scope="module")
def answered_service(live_server):
    """A service of DINUM with 20 answers in each of the 6 months before and after the 15th of the month eight
    months ago (more satisfied after), stored by ``feedback.service.start_response`` in the live database."""
    from app import create_app
    from app.catalog.models import Organisation, Service
    from app.extensions import db
    from app.feedback import service as feedback
    from app.feedback.models import Source

    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": live_server.database_url, "RATELIMIT_ENABLED": False})
    today = date.today()
    month = add_months(date(today.year, today.month, 1), -8)
    with app.app_context():
        dinum = db.session.query(Organisation).filter_by(slug="dinum").one()
        service = Service(slug=f"temoin-avant-apres-{secrets.token_hex(3)}", name=SERVICE_NAME,
                          organisation_id=dinum.id, description="", online=True)
        db.session.add(service)
        db.session.commit()
        for offset, mix in [(-o, (10, 6, 4)) for o in range(1, 7)] + [(o, (15, 4, 1)) for o in range(1, 7)]:
            day = add_months(month, offset)
            for code, n in zip((3, 2, 1), mix, strict=True):
                for i in range(n):
                    feedback.start_response(service, secrets.token_urlsafe(24), Source.link, {"satisfaction": code},
                                            now=datetime(day.year, day.month, 1 + i, 12, 0))
        slug, service_id = service.slug, service.id
        db.session.remove()
        db.engine.dispose()
    return {"slug": slug, "id": service_id, "implemented_on": month.replace(day=15)}


@pytest.fixture(scope="module")
def html_checker():
    """As tests/browser/test_accessibility.py: a missing checker fails where the run requires it."""
    checker, reason = nu_checker()
    if checker is None and (not VNU_JAR.exists() or os.environ.get("ATELIER_REQUIRE_VNU") == "1"
                            or os.environ.get("CI")):
        pytest.fail(reason)
    return checker


def audit(page, axe, documents: dict, name: str, response) -> None:
    assert blocking_violations(axe, page) == [], name
    documents[name] = response.text() if response is not None else page.content()


def test_the_editor_dates_a_measure_and_its_before_after_is_shown_and_accessible(new_context, live_server, axe,
                                                                                 html_checker, answered_service):
    documents = {}
    page = new_context().new_page()
    ((dinum_id,),) = live_db_rows(live_server, "SELECT id FROM organisations WHERE slug = 'dinum'")
    login(page, ROLES["editor"])

    # The new measure: a title and the service, ticked in the fieldset of the organisation's services.
    response = page.goto(f"/decisions/organisations/{dinum_id}/mesures/nouvelle")
    audit(page, axe, documents, "new measure", response)
    page.fill("#title", MEASURE_TITLE)
    page.locator("fieldset:has(legend:text('Démarches que la mesure change'))").get_by_label(SERVICE_NAME).check()
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()
    assert page.url.endswith("/avancement")
    measure_path = page.url.removeprefix(live_server.url).removesuffix("/avancement")

    # Implemented, with a date in the future first (refused on its field), then eight months ago.
    page.select_option("#status", "implemented")
    page.fill("#progress", "100")
    page.fill("#implemented_on", "2099-01-01")
    page.fill("#body", "Le justificatif n'est plus demandé.")
    with page.expect_navigation() as navigation:
        page.locator("form:has(#implemented_on) [type=submit]").click()
    assert page.locator(".error-summary a[href='#implemented_on']").count() == 1
    audit(page, axe, documents, "progress with an error", navigation.value)
    page.fill("#implemented_on", answered_service["implemented_on"].isoformat())
    with page.expect_navigation():
        page.locator("form:has(#implemented_on) [type=submit]").click()
    assert page.url.endswith(measure_path)

    response = page.goto(measure_path + "/modifier")
    assert page.input_value("#implemented_on") == answered_service["implemented_on"].isoformat()
    audit(page, axe, documents, "edit measure", response)

    # The public pages, in both languages.
    reader = new_context().new_page()
    reader.goto("/")
    for lang in ("fr", "en"):
        switch_language(reader, lang)
        response = reader.goto(measure_path)
        section = reader.locator("section.effect")
        assert section.count() == 1
        # Before: (60 × 10 + 36 × 5) / 120; after: (90 × 10 + 24 × 5) / 120.
        assert {"fr": "6,5 / 10", "en": "6.5 / 10"}[lang] in section.inner_text()
        assert {"fr": "8,5 / 10", "en": "8.5 / 10"}[lang] in section.inner_text()
        audit(reader, axe, documents, f"measure ({lang})", response)
        response = reader.goto(f"/barometre/services/{answered_service['slug']}")
        assert reader.locator("section.effect").count() == 1
        assert MEASURE_TITLE in reader.locator("section.effect h3").inner_text()
        audit(reader, axe, documents, f"service barometer ({lang})", response)

    if html_checker is None:
        pytest.skip(f"axe passed; the HTML check did not run: {nu_checker()[1]}")
    assert html_checker.check(documents) == []
