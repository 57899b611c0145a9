"""The before/after around a measure's implementation date (app/barometer/effects.py): answers stored through the
feedback area's own service on dates on each side of a measure implemented mid-month, against a hand computation;
the month of the date left out, « pas assez d'avis » below the minimum, the window « en cours » until its six months
have passed; the measure's page and the service's barometer page showing it, and the HTML checker on both."""

import re
import secrets
from datetime import date, datetime

import pytest
from sqlalchemy import insert

from app.barometer import effects, stats
from app.barometer.queries import add_months
from app.barometer.stats import indicator, mover_difference
from app.clock import utcnow
from app.decisions import measures
from app.extensions import db
from app.feedback import service as feedback
from app.feedback.models import FeedbackMonthlyCount, Source
from app.feedback.tally import RESPONDENTS
from tests.decisions.helpers import World
from tests.factories import make_service
from tests.htmlcheck import VNU_JAR, nu_checker

# The questionnaire's satisfaction options (app/data/reference/jdma_form.csv): code -> score out of 10.
BAD, MEDIUM, GOOD = 1, 2, 3
SCORES = {BAD: 0.0, MEDIUM: 5.0, GOOD: 10.0}
ON = date(2025, 7, 15)  # July 2025 is left out: before is January to June 2025, after August 2025 to January 2026


@pytest.fixture
def world(app):
    return World()


def answer(service, satisfaction: int, when: datetime) -> None:
    """A response's first step (the satisfaction question), stored as the form stores it, on ``when``."""
    feedback.start_response(service, secrets.token_urlsafe(24), Source.link, {"satisfaction": satisfaction},
                            now=when)


def implemented_measure(world, services, on: date):
    measure = measures.create_measure(world.organisation, world.editor, title="Un seul justificatif",
                                      service_ids=[s.id for s in services])
    measures.post_update(measure, world.editor, body="En ligne.", status="implemented", progress=100,
                         implemented_on=on)
    return measures.get_measure(measure.id)


def satisfaction_estimate(codes) -> stats.Estimate:
    """The hand-built counts of ``codes`` (one answer each), estimated."""
    counts = {}
    for code in codes:
        counts[("satisfaction", code)] = counts.get(("satisfaction", code), 0) + 1
    return stats.estimate(indicator("satisfaction"), counts)


@pytest.fixture
def mid_window(world):
    """A measure implemented on 15 July 2025 changing services A and C of the organisation; B is another service of
    it. Answers on each side, in the month itself and just outside the two windows."""
    a, b, c = (make_service(world.organisation, name=name) for name in ("Démarche A", "Démarche B", "Démarche C"))
    db.session.commit()
    for service, code, when in [
        (a, BAD, datetime(2024, 12, 31, 23, 59)),  # the month before the window: out
        (a, GOOD, datetime(2025, 1, 1, 0, 0)), (a, GOOD, datetime(2025, 2, 10, 9, 0)),
        (a, MEDIUM, datetime(2025, 3, 5, 12, 0)), (a, BAD, datetime(2025, 6, 30, 23, 59)),
        (c, MEDIUM, datetime(2025, 5, 20, 8, 0)),
        (a, GOOD, datetime(2025, 7, 1, 0, 0)), (a, GOOD, datetime(2025, 7, 15, 10, 0)),  # the month itself: out
        (a, GOOD, datetime(2025, 7, 31, 23, 59)),
        (a, GOOD, datetime(2025, 8, 1, 0, 0)), (a, GOOD, datetime(2025, 10, 3, 14, 0)),
        (a, MEDIUM, datetime(2026, 1, 31, 23, 59)),
        (c, GOOD, datetime(2025, 9, 9, 9, 0)),
        (a, BAD, datetime(2026, 2, 1, 0, 0)),  # the month after the window: out
        (b, BAD, datetime(2025, 3, 1, 10, 0)), (b, GOOD, datetime(2025, 9, 1, 10, 0)),  # not the measure's service
    ]:
        answer(service, code, when)
    return implemented_measure(world, [a, c], ON), a, b, c


# --- the computation -----------------------------------------------------------------------------------------------

@pytest.mark.both_databases()
def test_the_measure_effect_pools_its_services_six_months_each_side_leaving_its_month_out(app, mid_window):
    measure, _a, _b, _c = mid_window
    app.config["BAROMETER_MIN_ANSWERS"] = 3
    result = effects.measure_effect(measure, now=datetime(2026, 3, 1))
    assert (result.on, result.before, result.after) == (ON, (date(2025, 1, 1), date(2025, 6, 1)),
                                                       (date(2025, 8, 1), date(2026, 1, 1)))
    satisfaction = result.differences["satisfaction"]
    # By hand: before 10, 10, 5, 0 (A) and 5 (C): 30 / 5; after 10, 10, 5 (A) and 10 (C): 35 / 4.
    assert (satisfaction.before.count, satisfaction.after.count) == (5, 4)
    assert satisfaction.before.value == pytest.approx(6.0) and satisfaction.after.value == pytest.approx(8.75)
    assert satisfaction.value == pytest.approx(2.75)
    before, after = satisfaction_estimate([GOOD, GOOD, MEDIUM, BAD, MEDIUM]), satisfaction_estimate(
        [GOOD, GOOD, MEDIUM, GOOD])
    assert satisfaction.before.interval == before.interval and satisfaction.after.interval == after.interval
    assert satisfaction.interval == mover_difference(before.value, before.interval, after.value, after.interval)
    assert satisfaction.enough and result.complete
    # The first step asks satisfaction only: the other indicators have no answer on either side.
    assert all((d.before.count, d.after.count, d.enough) == (0, 0, False)
               for slug, d in result.differences.items() if slug != "satisfaction")


@pytest.mark.both_databases()
def test_a_service_shows_the_effect_on_its_own_answers(app, mid_window):
    measure, a, b, c = mid_window
    app.config["BAROMETER_MIN_ANSWERS"] = 3
    ((found, result),) = effects.service_effects(a, now=datetime(2026, 3, 1))
    assert found.id == measure.id
    satisfaction = result.differences["satisfaction"]
    # A alone: before 10, 10, 5, 0 = 25 / 4; after 10, 10, 5 = 25 / 3.
    assert (satisfaction.before.count, satisfaction.after.count) == (4, 3)
    assert satisfaction.before.value == pytest.approx(6.25) and satisfaction.after.value == pytest.approx(25 / 3)
    assert satisfaction.interval == mover_difference(satisfaction.before.value, satisfaction.before.interval,
                                                     satisfaction.after.value, satisfaction.after.interval)
    ((_found, of_c),) = effects.service_effects(c, now=datetime(2026, 3, 1))
    assert (of_c.differences["satisfaction"].before.count, of_c.differences["satisfaction"].after.count) == (1, 1)
    assert effects.service_effects(b) == []  # the measure does not change B


def test_not_enough_answers_on_one_side_gives_no_difference_but_both_counts(app, mid_window):
    measure, *_services = mid_window
    app.config["BAROMETER_MIN_ANSWERS"] = 5  # before has 5 answers, after 4
    satisfaction = effects.measure_effect(measure, now=datetime(2026, 3, 1)).differences["satisfaction"]
    assert (satisfaction.before.count, satisfaction.after.count) == (5, 4)
    assert not satisfaction.enough and satisfaction.value is None and satisfaction.interval is None
    assert not satisfaction.significant


def test_the_after_window_is_incomplete_until_its_six_months_have_passed(app, mid_window):
    measure, *_services = mid_window
    assert not effects.measure_effect(measure, now=datetime(2026, 1, 31, 23, 59)).complete
    assert effects.measure_effect(measure, now=datetime(2026, 2, 1)).complete


def test_no_effect_without_an_implementation_date_or_a_service(world):
    service = make_service(world.organisation)
    db.session.commit()
    planned = measures.create_measure(world.organisation, world.editor, title="Prévue", service_ids=[service.id])
    assert effects.measure_effect(planned) is None
    alone = implemented_measure(world, [], ON)
    assert alone.implemented_on == ON and effects.measure_effect(alone) is None
    assert effects.service_effects(service) == []  # a planned measure shows nothing on its service either


# --- in words ----------------------------------------------------------------------------------------------------

def test_windows_in_words(app):
    with app.test_request_context():
        assert effects.effect_period(date(2026, 1, 1), date(2026, 6, 1)) == "de janvier à juin 2026"
        assert effects.effect_period(date(2026, 8, 1), date(2027, 1, 1)) == "d'août 2026 à janvier 2027"
        assert effects.effect_period(date(2025, 10, 1), date(2026, 3, 1)) == "d'octobre 2025 à mars 2026"
        assert effects.effect_period(date(2025, 12, 1), date(2026, 5, 1)) == "de décembre 2025 à mai 2026"


def test_a_share_difference_is_in_percentage_points_with_its_interval(app):
    counts = {("contact_tried", RESPONDENTS): 120}
    before = stats.estimate(indicator("autonomy"), {**counts, ("contact_tried", 17): 60})
    after = stats.estimate(indicator("autonomy"), {**counts, ("contact_tried", 17): 90})
    difference = stats.Difference(before, after, 100)
    interval = mover_difference(before.value, before.interval, after.value, after.interval)
    with app.test_request_context():
        row = next(r for r in effects.effect_rows(_effect_of({"autonomy": difference})) if r.slug == "autonomy")
    low, high = (f"{'+' if x > 0 else ''}{round(x * 10, 1):.1f}".replace(".", ",") for x in (interval.low,
                                                                                            interval.high))
    assert (row.before, row.after, row.before_count) == ("50,0\xa0%", "75,0\xa0%", "120")
    assert row.difference == f"+25,0 points (de {low} à {high})" and row.significant


def _effect_of(differences):
    from app.barometer.service import Effect

    return Effect(ON, (date(2025, 1, 1), date(2025, 6, 1)), (date(2025, 8, 1), date(2026, 1, 1)), True,
                  differences)


# --- pages ---------------------------------------------------------------------------------------------------------

def month_start(months_ago: int) -> date:
    return add_months(date(utcnow().year, utcnow().month, 1), -months_ago)


def put_counts(service, month: date, cells: dict) -> None:
    """Volume: the monthly aggregate rows of ``service`` for ``month`` (as ``tally.rebuild`` leaves them)."""
    db.session.execute(insert(FeedbackMonthlyCount), [
        {"service_id": service.id, "month": month, "field_code": field, "answer_item_id": item, "count": n}
        for (field, item), n in cells.items()])
    db.session.commit()


def satisfaction_cells(good: int, medium: int, bad: int) -> dict:
    return {("satisfaction", GOOD): good, ("satisfaction", MEDIUM): medium, ("satisfaction", BAD): bad,
            ("satisfaction", RESPONDENTS): good + medium + bad,
            ("contact_tried", RESPONDENTS): good + medium + bad, ("contact_tried", 17): good}


def page_world(world, months_ago: int):
    """A measure of service A implemented mid-month ``months_ago`` months ago, with 20 answers in each of the six
    months before (10 good, 6 medium, 4 bad) and after (15, 4, 1; up to the current month), and 50 bad ones in its
    own month. Those who answered « good » needed no help (autonomy)."""
    a = make_service(world.organisation, name="Démarche A")
    db.session.commit()
    month = month_start(months_ago)
    for offset in range(1, 7):
        put_counts(a, add_months(month, -offset), satisfaction_cells(10, 6, 4))
        if months_ago - offset >= 0:
            put_counts(a, add_months(month, offset), satisfaction_cells(15, 4, 1))
    put_counts(a, month, satisfaction_cells(0, 0, 50))
    return implemented_measure(world, [a], month.replace(day=15)), a


def effect_section(html: str) -> str:
    match = re.search(r'<section class="effect".*?</section>', html, re.S)
    assert match, "no before/after on the page"
    return match.group(0)


def test_the_measure_page_shows_the_before_after(client, world):
    measure, _a = page_world(world, 8)
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    section = effect_section(html)
    assert "Avant / après" in section and "(en cours)" not in section
    # Satisfaction: before (60×10 + 36×5) / 120 = 6,5; after (90×10 + 24×5) / 120 = 8,5; autonomy 50 % then 75 %.
    row = re.search(r"<th scope=\"row\">Satisfaction</th>(.*?)</tr>", section, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["6,5 / 10", "120", "8,5 / 10", "120"]
    assert cells[4].startswith("+2,0 (de +") and "L'écart dépasse l'incertitude." in cells[4]
    autonomy = re.search(r"<th scope=\"row\">Autonomie</th>(.*?)</tr>", section, re.S).group(1)
    assert "+25,0 points (de +" in autonomy
    # No one answered the help questions: not enough answers, both counts (0) shown.
    reachability = re.search(r"<th scope=\"row\">Aide joignable</th>(.*?)</tr>", section, re.S).group(1)
    assert "Pas assez d'avis" in reachability and reachability.count(">0</td>") == 2
    assert "ne prouve pas que la mesure a causé le changement" in section
    assert 'href="/barometre/methode"' in section and "Réalisée le" in html


def test_the_measure_page_says_the_after_window_is_still_running(client, world):
    measure, _a = page_world(world, 3)
    section = effect_section(client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True))
    assert "(en cours)" in section and "Pas assez d'avis" in section  # 3 months of 20 answers after: 60 < 100


def test_the_measure_page_has_no_before_after_without_services(client, world):
    measure = implemented_measure(world, [], ON)
    html = client.get(f"/decisions/mesures/{measure.id}").get_data(as_text=True)
    assert '<section class="effect"' not in html and "Avant / après" not in html


def test_the_service_barometer_page_shows_the_before_after_of_its_measures(client, world):
    measure, a = page_world(world, 8)
    response = client.get(f"/barometre/services/{a.slug}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Avant / après les mesures" in html
    section = effect_section(html)
    assert f'href="/decisions/mesures/{measure.id}"' in section and "Un seul justificatif" in section
    assert "6,5 / 10" in section and "8,5 / 10" in section


@pytest.fixture(scope="module")
def html_checker():
    """As tests/browser/test_accessibility.py: a missing java fails where the run requires the check."""
    import os

    checker, reason = nu_checker()
    if checker is None and (not VNU_JAR.exists() or os.environ.get("ATELIER_REQUIRE_VNU") == "1"
                            or os.environ.get("CI")):
        pytest.fail(reason)
    return checker


def test_pages_with_a_before_after_pass_the_html_checker(client, world, html_checker):
    if html_checker is None:
        pytest.skip(nu_checker()[1])
    measure, a = page_world(world, 8)
    running, _b = page_world(world, 2)
    documents = {url: client.get(url).get_data(as_text=True) for url in (
        f"/decisions/mesures/{measure.id}", f"/decisions/mesures/{running.id}", f"/barometre/services/{a.slug}")}
    assert all('<section class="effect"' in html for html in documents.values())
    assert html_checker.check(documents) == []
