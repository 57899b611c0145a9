"""The observatory reproduced (app/barometer/observatoire.py): answers of the form that give each procedure's
published figures, written by the bulk loader as the form writes them, counted by the same monthly aggregate."""

import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.barometer import observatoire
from app.barometer.queries import Scope
from app.barometer.service import barometer, window
from app.barometer.stats import estimates, indicators
from app.catalog.models import Service
from app.extensions import db
from app.feedback import tally
from app.feedback.models import FORM_VERSION, FeedbackAnswer, FeedbackResponse, Source
from app.feedback.questionnaire import get_questionnaire
from app.feedback.service import EDITABLE_FOR, check_answers
from tests.factories import make_organisation

PUBLISHED = observatoire.read_published()
SMALL = sorted(ref for ref, p in PUBLISHED.items() if p.responses <= 2000)
# JDMA asks « did you reach the administration? » per channel ticked, the form once per response: these procedures
# count more reachability answers than responses that could be asked it.
PER_CHANNEL = {"jdma:1639", "jdma:2155", "jdma:2006", "jdma:2770"}
NOW = datetime(2026, 3, 14, 15, 9, 26)


def _cells(plan) -> Counter:
    """The monthly aggregate's cells of the plan's answers, by the aggregate's own rule (``tally.cells``)."""
    out = Counter()
    for response in observatoire.answers(plan):
        out.update(tally.cells({code: list(items) for code, items in response.answers.items()}))
    return out


def _assert_reproduced(ref, figures, deviations=()):
    """Every indicator of ``figures`` (slug -> Estimate-like with .count and .value) is the published one, to its
    four decimals and with its number of answers; those in ``deviations`` are what the deviation says."""
    published = PUBLISHED[ref]
    deviating = {d.indicator: d for d in deviations}
    for ind in indicators():
        got = figures[ind.slug]
        if ind.slug in deviating:
            d = deviating[ind.slug]
            assert (got.count, got.value) == (d.count, pytest.approx(d.value)), (ref, ind.slug)
            continue
        assert got.count == published.counts[ind.slug], (ref, ind.slug)
        if got.count:
            assert round(got.value, 4) == float(published.values[ind.slug]), (ref, ind.slug, got.value)
        else:
            assert got.value is None and published.values[ind.slug] == 0, (ref, ind.slug)


# --- the solver, without a database ----------------------------------------------------------------------------------

def test_the_demo_has_123_procedures_of_at_most_2000_answers():
    assert len(PUBLISHED) == 227
    assert len(SMALL) == 123
    assert sum(PUBLISHED[ref].responses for ref in SMALL) == 55857
    assert sum(1 for ref in SMALL if PUBLISHED[ref].responses == 0) == 12


def test_every_small_procedure_is_reproduced_by_its_answers():
    for ref in SMALL:
        plan = observatoire.solve(PUBLISHED[ref], nearest=True)
        assert plan.responses == PUBLISHED[ref].responses
        cells = _cells(plan)
        assert {cell: n for cell, n in cells.items() if cell in plan.cells()} == plan.cells(), ref
        _assert_reproduced(ref, estimates(cells), plan.deviations)
        assert {d.indicator for d in plan.deviations} == ({"contact_reachability"} if ref in PER_CHANNEL else set())


def test_every_large_procedure_is_solved_exactly_but_for_the_per_channel_ones():
    for ref, published in PUBLISHED.items():
        if published.responses <= 2000:
            continue
        plan = observatoire.solve(published, nearest=True)
        _assert_reproduced(ref, estimates(plan.cells()), plan.deviations)
        assert bool(plan.deviations) == (ref in PER_CHANNEL), ref


def test_the_per_channel_procedures_keep_five_indicators_and_as_many_reach_answers_as_the_form_allows():
    for ref, published_count, count, value in (("jdma:1639", 984, 945, 854 / 945), ("jdma:2155", 142, 131, 69 / 131)):
        with pytest.raises(observatoire.Infeasible, match="once per channel"):
            observatoire.solve(PUBLISHED[ref])
        plan = observatoire.solve(PUBLISHED[ref], nearest=True)
        (deviation,) = plan.deviations
        assert (deviation.indicator, deviation.published_count, deviation.count) == (
            "contact_reachability", published_count, count)
        assert deviation.value == pytest.approx(value)
        # Every response that ticked a channel other than « no help » was asked, and answered.
        assert plan.reached + plan.not_reached == plan.help_answered - plan.no_help == count


def _published(**changes) -> observatoire.Published:
    """jdma:116's figures with some values or counts changed (``slug=value`` or ``slug_count=n``)."""
    base = PUBLISHED["jdma:116"]
    values, counts = dict(base.values), dict(base.counts)
    for key, value in changes.items():
        if key.endswith("_count"):
            counts[key.removesuffix("_count")] = value
        else:
            values[key] = Decimal(value)
    return observatoire.Published("jdma:test", base.period, base.source, values, counts)


@pytest.mark.parametrize(("changes", "message"), [
    ({"satisfaction": "8.7894"}, r"no 1444 answers have a satisfaction of 8\.7894"),
    ({"satisfaction_count": 3, "comprehension_count": 3, "autonomy_count": 3},
     r"no 3 answers have a satisfaction of 9\.3109"),
    ({"comprehension_count": 1445}, r"1445 answers to comprehension but 1444 responses"),
    ({"autonomy": "9.0001"}, r"no share of 1406 answers gives an autonomy of 9\.0001"),
    ({"contact_count": 10}, r"fewer than the \d+ of contact_satisfaction"),
    ({"contact_reachability": "0.5"}, r"do not give 0\.5"),
    ({"contact_satisfaction": "0.0001"}, r"no quality of \d+ answers gives both"),
    ({"comprehension_count": 0}, r"comprehension is 9\.3347 without an answer"),
], ids=["mean", "mean-of-3", "more-answers-than-responses", "share", "contact-count", "reachability", "quality",
        "value-without-answers"])
def test_figures_no_answers_can_give_are_refused_with_the_reason(changes, message):
    observatoire.solve(_published())  # the unchanged figures are solved
    with pytest.raises(observatoire.Infeasible, match=message):
        observatoire.solve(_published(**changes), nearest=True)


def test_the_answers_follow_the_forms_rules_and_are_deterministic():
    questionnaire = get_questionnaire()
    tried = questionnaire.field("contact_tried")
    for ref in ("jdma:2155", "jdma:1639", "jdma:2740", "jdma:116"):
        plan = observatoire.solve(PUBLISHED[ref], nearest=True)
        made = list(observatoire.answers(plan))
        assert made == list(observatoire.answers(plan))  # seeded: the same answers every time
        assert [r.position for r in made] == sorted(r.position for r in made)
        assert all(0 <= r.position < 1 for r in made)
        assert Counter(r.source for r in made).keys() <= set(Source) - {Source.atelier}
        follow_ups = 0
        for response in made:
            answers = {code: list(items) for code, items in response.answers.items()}
            for step in questionnaire.steps:
                sent = {f.code: answers[f.code] for f in step.fields if f.code in answers}
                clean = check_answers(step, sent)  # codes known, one answer to a single choice, exclusive alone
                for f in step.fields:
                    if f.code in sent:
                        assert clean[f.code] == sent[f.code]
                        if f.condition is not None:
                            assert f.condition.holds(answers), (ref, response)
                            follow_ups += 1
            assert "satisfaction" in answers
            if tried.exclusive_option.code in answers.get("contact_tried", ()):
                assert answers["contact_tried"] == [tried.exclusive_option.code]
            assert response.steps_done == max(questionnaire.field(code).step for code in answers)
        assert follow_ups == plan.reached + plan.not_reached + plan.quality_answers


def test_the_dates_fill_the_barometers_year_and_never_pass_now():
    start = observatoire.window_start(NOW)
    assert start == datetime(2025, 4, 1) and start.date() == window(NOW)[0]
    assert observatoire.moment(0.0, NOW) == start
    assert observatoire.moment(0.5, NOW) == start + (NOW - start) / 2
    assert start < observatoire.moment(0.999_999_999, NOW) <= NOW
    assert observatoire.moment(1.0, NOW) == NOW


# --- the loader, on both databases ----------------------------------------------------------------------------------

SAMPLE = ("jdma:2155", "jdma:2740", "jdma:116")


@pytest.mark.both_databases("app.barometer.observatoire")
def test_the_loader_writes_what_the_form_writes_and_the_barometer_shows_the_published_figures(app, backend):
    organisation = make_organisation()
    services = {}
    for ref in SAMPLE:
        services[ref] = Service(slug=ref.replace(":", "-"), name=ref, organisation=organisation, external_ref=ref)
        db.session.add(services[ref])
    db.session.commit()
    plans = {ref: observatoire.solve(PUBLISHED[ref], nearest=True) for ref in SAMPLE}
    now = datetime(2026, 3, 14, 15, 9, 26)
    # COPY for the first two on PostgreSQL, INSERT in batches for the last (the same on SQLite).
    first = observatoire.load(((services[ref].id, r) for ref in SAMPLE[:2] for r in observatoire.answers(plans[ref])),
                              now, batch=700)
    last = observatoire.load(((services[SAMPLE[2]].id, r) for r in observatoire.answers(plans[SAMPLE[2]])), now,
                             copy=False)
    db.session.commit()
    assert first.service_ids == tuple(sorted(services[ref].id for ref in SAMPLE[:2]))
    assert first.responses + last.responses == sum(PUBLISHED[ref].responses for ref in SAMPLE)
    assert first.answers + last.answers == db.session.scalar(select(func.count()).select_from(FeedbackAnswer))
    assert tally.verify() == []

    for ref in SAMPLE:
        figures = barometer(Scope("service", services[ref].id), now=now).figures
        _assert_reproduced(ref, {slug: f.estimate for slug, f in figures.items()}, plans[ref].deviations)

    # The columns the form writes.
    start = observatoire.window_start(now)
    responses = db.session.scalars(select(FeedbackResponse)).all()
    assert len({r.submission_key for r in responses}) == len({r.token_hash for r in responses}) == len(responses)
    for r in responses:
        assert (r.form_version, r.is_spam, r.publish_consent, r.spam_marked_at) == (FORM_VERSION, False, False, None)
        assert re.fullmatch(r"[0-9a-f]{32}", r.submission_key) and re.fullmatch(r"[0-9a-f]{64}", r.token_hash)
        assert start <= r.created_at <= now and r.updated_at == r.created_at
        assert r.editable_until == r.created_at + EDITABLE_FOR
        assert isinstance(r.source, Source) and 1 <= r.steps_done <= 3
    months = Counter(tally.month_of(r.created_at) for r in responses)
    assert len(months) == 12 and min(months) == window(now)[0]
    questionnaire = get_questionnaire()
    for answer in db.session.scalars(select(FeedbackAnswer).limit(3000)):
        assert answer.answer_text == questionnaire.field(answer.field_code).option(answer.answer_item_id).stored_text
    stored = Counter((a.response_id, a.field_code) for a in db.session.scalars(select(FeedbackAnswer)))
    assert all(n == 1 for (_id, code), n in stored.items() if code != "contact_tried")

    # The next ids are the database's: a response made by the form after the load takes a free one.
    later = FeedbackResponse(service_id=services[SAMPLE[0]].id, source=Source.link, submission_key="k" * 32,
                             token_hash="t" * 64, steps_done=1, created_at=now, updated_at=now,
                             editable_until=now + timedelta(hours=1))
    db.session.add(later)
    db.session.commit()
    assert later.id > max(r.id for r in responses)


@pytest.mark.both_databases("app.cli", "app.barometer.observatoire")
def test_load_observatoire_loads_a_large_procedure_on_postgresql_and_refuses_sqlite(app, backend):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["feedback", "load-observatoire", "--procedure", "jdma:1658"])
    if backend == "sqlite":
        assert result.exit_code == 1
        assert "load-observatoire needs PostgreSQL" in result.output
        assert db.session.scalar(select(func.count()).select_from(Service)) == 0
        return
    assert result.exit_code == 0, result.output
    assert "jdma:1658: 2044 responses" in result.output
    service = db.session.scalar(select(Service).where(Service.external_ref == "jdma:1658"))
    assert service.organisation.name == "Démarches suivies par l'observatoire"
    figures = barometer(Scope("service", service.id)).figures
    _assert_reproduced("jdma:1658", {slug: f.estimate for slug, f in figures.items()})
    assert tally.verify() == []

    again = runner.invoke(args=["feedback", "load-observatoire", "--procedure", "jdma:1658"])
    assert again.exit_code == 0 and "jdma:1658: nothing loaded" in again.output
    assert db.session.scalar(select(func.count()).select_from(FeedbackResponse)) == 2044
    unknown = runner.invoke(args=["feedback", "load-observatoire", "--procedure", "jdma:1"])
    assert unknown.exit_code == 1 and "no published figures for jdma:1" in unknown.output
