"""The barometer's statistics (app/barometer/stats.py): JDMA's six indicators against cases computed by hand (and a
real service's published figures), and each interval against an independent computation by statsmodels on the same
counts: the Wilson score interval, the empirical likelihood interval of a mean (the counts expanded back to one value
per answer), Newcombe's hybrid score interval of a difference of shares and the MOVER interval of a difference of
means built from statsmodels' own empirical likelihood intervals."""

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from statsmodels.emplike.descriptive import DescStatUV
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from app.barometer import stats
from app.barometer.stats import Interval, differences, empirical_likelihood, estimate, estimates, indicator, wilson
from app.feedback import tally

TOLERANCE = 1e-6

# The questionnaire's codes (app/data/reference/jdma_form.csv) and the score out of 10 JDMA gives each.
SATISFACTION = {1: 0.0, 2: 5.0, 3: 10.0}  # Pas bien, Moyen, Très bien
COMPREHENSION = {4: 0.0, 5: 2.5, 6: 5.0, 7: 7.5, 8: 10.0}  # 1 to 5
QUALITY = {19: 0.0, 20: 2.5, 21: 5.0, 22: 7.5, 23: 10.0}  # contact_satisfaction: Très mauvaise to Excellente
OUI, NON = 17, 18  # contact_reached
NO_HELP = 17  # contact_tried: « Je n'ai pas eu besoin d'aide »
CHANNELS = (9, 10, 11, 12)  # contact_tried: counter, phone, e-mail, chat with the administration


def counts_of(*responses: dict) -> Counter:
    """The counts the monthly aggregate holds for these responses (field code -> list of codes each)."""
    total: Counter = Counter()
    for answers in responses:
        total += tally.cells(answers)
    return total


def many(n: int, answers: dict) -> list[dict]:
    return [answers] * n


# --- JDMA's computation, by hand ------------------------------------------------------------------------------------

def test_satisfaction_is_the_mean_of_10_5_0():
    counts = counts_of(*many(6, {"satisfaction": [3]}), *many(3, {"satisfaction": [2]}), {"satisfaction": [1]})
    figure = estimate(indicator("satisfaction"), counts)
    # (6 × 10 + 3 × 5 + 1 × 0) / 10 = 75 / 10
    assert figure.count == 10
    assert figure.value == pytest.approx(7.5, abs=1e-12)


@pytest.mark.parametrize(("code", "score"), sorted(COMPREHENSION.items()))
def test_comprehension_maps_1_to_5_on_0_to_10(code, score):
    figure = estimate(indicator("comprehension"), counts_of({"satisfaction": [3], "comprehension": [code]}))
    assert (figure.count, figure.value) == (1, score)


def test_comprehension_mean_of_every_level_once():
    counts = counts_of(*({"satisfaction": [3], "comprehension": [code]} for code in COMPREHENSION))
    # (0 + 2.5 + 5 + 7.5 + 10) / 5 = 25 / 5
    assert estimate(indicator("comprehension"), counts).value == pytest.approx(5.0, abs=1e-12)


def helped(reached: int, quality: int | None = None, channels=(10,)) -> dict:
    answers = {"satisfaction": [2], "contact_tried": list(channels), "contact_reached": [reached]}
    if quality is not None:
        answers["contact_satisfaction"] = [quality]
    return answers


def test_contact_counts_each_non_as_zero_beside_the_quality_answers():
    counts = counts_of(helped(OUI, 23), helped(OUI, 23), helped(OUI, 22), helped(NON),
                       helped(OUI))  # reached, quality left unanswered: in neither mean
    contact, quality = estimate(indicator("contact"), counts), estimate(indicator("contact_satisfaction"), counts)
    # contact: (10 + 10 + 7.5 + 0 for the « Non ») / 4 = 27.5 / 4
    assert (contact.count, contact.value) == (4, pytest.approx(6.875, abs=1e-12))
    # contact_satisfaction: the quality answers alone, (10 + 10 + 7.5) / 3
    assert (quality.count, quality.value) == (3, pytest.approx(27.5 / 3, abs=1e-12))


def test_a_non_with_a_quality_answer_counts_twice_in_contact():
    # JDMA adds the « Non » to the quality answers without matching them by response.
    counts = counts_of(helped(NON, 21))
    contact = estimate(indicator("contact"), counts)
    # (5 + 0) / 2
    assert (contact.count, contact.value) == (2, 2.5)


def test_reachability_is_oui_over_oui_and_non():
    counts = counts_of(*many(3, helped(OUI, 22)), helped(NON), {"satisfaction": [3], "contact_tried": [NO_HELP]})
    figure = estimate(indicator("contact_reachability"), counts)
    # 3 / (3 + 1), on a 0–1 scale
    assert (figure.count, figure.value) == (4, 0.75)


def test_autonomy_is_responses_needing_no_help_over_respondents_times_10():
    counts = counts_of(*many(6, {"satisfaction": [3], "contact_tried": [NO_HELP]}),
                       helped(OUI, 23, channels=(9, 10)),  # two channels ticked: one respondent
                       helped(NON, channels=(10, 11, 12, 16)),  # four channels ticked: one respondent
                       {"satisfaction": [3]})  # the question left unanswered: not a respondent
    figure = estimate(indicator("autonomy"), counts)
    # 6 responses ticking « pas eu besoin d'aide » / 8 responses answering the question, × 10 = 7.5; the ticks
    # (6 + 2 + 4 = 12) are not the denominator.
    assert sum(n for (field, item), n in counts.items() if field == "contact_tried" and item) == 12
    assert (figure.count, figure.value) == (8, 7.5)


def test_no_answer_gives_no_value_and_no_interval():
    for figure in estimates(counts_of({"satisfaction": [3]})).values():
        if figure.slug != "satisfaction":
            assert (figure.count, figure.value, figure.interval) == (0, None, None)


def test_a_real_service_published_figures_from_its_counts():
    """jdma:115 in ../shared/data/procedure_indicators.csv (edition window): satisfaction 8.7894 (6,125 answers),
    comprehension 8.8432 (5,984), contact 5.2319 (345), contact_reachability 0.7197 (346), contact_satisfaction
    7.2782 (248), autonomy 8.456 (5,978). Counts that reproduce them, worked out by hand below."""
    counts = Counter({
        # 6,125 answers summing to 8.7894 × 6,125 ≈ 53,835 = 4,942 × 10 + 883 × 5 + 300 × 0
        ("satisfaction", 3): 4942, ("satisfaction", 2): 883, ("satisfaction", 1): 300,
        ("satisfaction", 0): 6125,
        # 5,984 answers summing to 8.8432 × 5,984 ≈ 52,917.5 = 2.5 × (80 × 1 + 300 × 2 + 1,529 × 3 + 3,975 × 4)
        ("comprehension", 4): 100, ("comprehension", 5): 80, ("comprehension", 6): 300,
        ("comprehension", 7): 1529, ("comprehension", 8): 3975,
        # 248 quality answers summing to 7.2782 × 248 ≈ 1,805 = 2.5 × (15 × 1 + 30 × 2 + 85 × 3 + 98 × 4)
        ("contact_satisfaction", 19): 20, ("contact_satisfaction", 20): 15, ("contact_satisfaction", 21): 30,
        ("contact_satisfaction", 22): 85, ("contact_satisfaction", 23): 98,
        # 346 reach answers, 0.7197 × 346 ≈ 249 « Oui », so 97 « Non »
        ("contact_reached", OUI): 249, ("contact_reached", NON): 97,
        # 5,978 respondents, 0.8456 × 5,978 ≈ 5,055 of them needed no help
        ("contact_tried", NO_HELP): 5055, ("contact_tried", tally.RESPONDENTS): 5978,
    })
    figures = estimates(counts)
    published = {"satisfaction": (8.7894, 6125), "comprehension": (8.8432, 5984), "contact": (5.2319, 345),
                 "contact_reachability": (0.7197, 346), "contact_satisfaction": (7.2782, 248),
                 "autonomy": (8.456, 5978)}
    assert {slug: (round(f.value, 4), f.count) for slug, f in figures.items()} == published
    # The contact quirk: 345 = 248 quality answers + 97 « Non » (of 346 reach answers), and its value the quality
    # mean spread over them: 7.2782 × 248 / 345 ≈ 1,805 / 345 = 5.2319.
    assert figures["contact"].value == pytest.approx(1805 / 345, abs=1e-12)
    assert figures["contact"].value == pytest.approx(7.2782 * 248 / 345, abs=1e-4)


# --- the intervals against statsmodels ------------------------------------------------------------------------------

def el_reference(levels: dict[float, int]) -> tuple[float, float]:
    """statsmodels' empirical likelihood 95 % interval of the mean of the answers (one value per answer); a single
    value's interval is that value (the likelihood ratio is 0 anywhere else)."""
    data = np.repeat(np.array(list(levels), dtype=float), list(levels.values()))
    if len(set(data)) == 1:
        return float(data[0]), float(data[0])
    low, high = DescStatUV(data).ci_mean()
    return float(low), float(high)


def zou_donner(before: float, before_ci: tuple, after: float, after_ci: tuple) -> tuple[float, float]:
    """MOVER (Zou & Donner 2008, eq. 5–6) for after − before, from each side's estimate and interval."""
    difference = after - before
    return (difference - math.sqrt((after - after_ci[0]) ** 2 + (before_ci[1] - before) ** 2),
            difference + math.sqrt((after_ci[1] - after) ** 2 + (before - before_ci[0]) ** 2))


MEANS = {"satisfaction": ("satisfaction", SATISFACTION), "comprehension": ("comprehension", COMPREHENSION),
         "contact_satisfaction": ("contact_satisfaction", QUALITY)}


@st.composite
def mean_counts(draw, slug=None, at_least_two=False):
    """(slug, counts): answers of a mean indicator on its 3 or 5 levels, or « contact » (quality answers and
    « Non »), up to a few thousand."""
    slug = slug or draw(st.sampled_from([*MEANS, "contact"]))
    if slug == "contact":
        cells = [("contact_satisfaction", code) for code in QUALITY] + [("contact_reached", NON)]
    else:
        field, scores = MEANS[slug]
        cells = [(field, code) for code in scores]
    # Two to five levels answered: the others left at 0.
    used = draw(st.lists(st.sampled_from(cells), min_size=1 if not at_least_two else 2, max_size=5, unique=True))
    values = draw(st.lists(st.one_of(st.integers(1, 5), st.integers(1, 3000)), min_size=len(used),
                           max_size=len(used)))
    return slug, Counter(dict(zip(used, values, strict=True)))


def levels_of(slug: str, counts: Counter) -> dict[float, int]:
    out: dict[float, int] = {}
    for cell, score in indicator(slug).scores:
        if counts.get(cell):
            out[score] = out.get(score, 0) + counts[cell]
    return out


@settings(max_examples=60, deadline=None)
@given(mean_counts(at_least_two=True))
def test_empirical_likelihood_interval_is_statsmodels(case):
    slug, counts = case
    levels = levels_of(slug, counts)
    assume(len(levels) >= 2)  # « contact »: a « Non » and a « Très mauvaise » are both 0
    figure = estimate(indicator(slug), counts)
    low, high = el_reference(levels)
    assert figure.count == sum(levels.values())
    assert figure.value == pytest.approx(sum(s * n for s, n in levels.items()) / figure.count, abs=1e-12)
    assert figure.interval.low == pytest.approx(low, abs=TOLERANCE)
    assert figure.interval.high == pytest.approx(high, abs=TOLERANCE)


@pytest.mark.parametrize("levels", [
    {0.0: 1, 5.0: 30, 10.0: 5},  # one answer at an end, next to the mean: the profile steepens near it
    {0.0: 5, 5.0: 30, 10.0: 1},
    {0.0: 1, 10.0: 1},
    {0.0: 1, 2.5: 1, 7.5: 5},
    {0.0: 3, 2.5: 3, 5.0: 3000, 7.5: 2, 10.0: 3000},
    {0.0: 3000, 10.0: 1},
])
def test_empirical_likelihood_interval_on_chosen_cases(levels):
    ours = empirical_likelihood(levels)
    low, high = el_reference(levels)
    assert (ours.low, ours.high) == (pytest.approx(low, abs=TOLERANCE), pytest.approx(high, abs=TOLERANCE))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_is_statsmodels(case):
    successes, n = case
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    ours = wilson(successes, n)
    assert (ours.low, ours.high) == (pytest.approx(low, abs=TOLERANCE), pytest.approx(high, abs=TOLERANCE))


def share_counts(slug: str, successes: int, trials: int) -> Counter:
    if slug == "contact_reachability":
        return Counter({("contact_reached", OUI): successes, ("contact_reached", NON): trials - successes})
    return Counter({("contact_tried", NO_HELP): successes, ("contact_tried", tally.RESPONDENTS): trials})


shares = st.integers(1, 4000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["contact_reachability", "autonomy"]), shares)
def test_share_indicators_use_the_wilson_interval_on_their_published_scale(slug, case):
    successes, trials = case
    figure = estimate(indicator(slug), share_counts(slug, successes, trials))
    scale = 1.0 if slug == "contact_reachability" else 10.0
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert figure.count == trials
    assert figure.value == pytest.approx(successes / trials * scale, abs=1e-12)
    assert figure.interval.low == pytest.approx(low * scale, abs=TOLERANCE)
    assert figure.interval.high == pytest.approx(high * scale, abs=TOLERANCE)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["contact_reachability", "autonomy"]), shares, shares)
def test_difference_of_shares_is_newcombes_interval(slug, before, after):
    result = differences(share_counts(slug, *before), share_counts(slug, *after), minimum=1)[slug]
    scale = 1.0 if slug == "contact_reachability" else 10.0
    # statsmodels' difference is sample 1 − sample 2: ours is after − before.
    low, high = confint_proportions_2indep(after[0], after[1], before[0], before[1], compare="diff",
                                          method="newcomb", alpha=0.05)
    assert result.value == pytest.approx((after[0] / after[1] - before[0] / before[1]) * scale, abs=1e-12)
    assert result.interval.low == pytest.approx(low * scale, abs=TOLERANCE)
    assert result.interval.high == pytest.approx(high * scale, abs=TOLERANCE)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([*MEANS, "contact"]).flatmap(
    lambda slug: st.tuples(mean_counts(slug), mean_counts(slug))))
def test_difference_of_means_is_mover_from_statsmodels_intervals(case):
    (slug, before), (_, after) = case
    result = differences(before, after, minimum=1)[slug]
    before_levels, after_levels = levels_of(slug, before), levels_of(slug, after)
    b = sum(s * n for s, n in before_levels.items()) / sum(before_levels.values())
    a = sum(s * n for s, n in after_levels.items()) / sum(after_levels.values())
    low, high = zou_donner(b, el_reference(before_levels), a, el_reference(after_levels))
    assert result.enough
    assert result.value == pytest.approx(a - b, abs=1e-12)
    assert result.interval.low == pytest.approx(low, abs=TOLERANCE)
    assert result.interval.high == pytest.approx(high, abs=TOLERANCE)
    if low > TOLERANCE or high < -TOLERANCE:
        assert result.significant
    elif low < -TOLERANCE and high > TOLERANCE:
        assert not result.significant


def test_a_difference_needs_the_minimum_on_both_sides():
    before = counts_of(*many(99, {"satisfaction": [3]}), {"satisfaction": [1]})  # 100 answers
    after = counts_of(*many(99, {"satisfaction": [1]}))  # 99 answers
    result = differences(before, after, minimum=100)["satisfaction"]
    assert (result.before.count, result.after.count) == (100, 99)
    assert (result.enough, result.value, result.interval, result.significant) == (False, None, None, False)
    result = differences(before, after, minimum=99)["satisfaction"]
    assert result.enough and result.significant and result.interval.high < 0


# --- properties -----------------------------------------------------------------------------------------------------

SCALE = {"satisfaction": 10.0, "comprehension": 10.0, "contact": 10.0, "contact_satisfaction": 10.0,
         "contact_reachability": 1.0, "autonomy": 10.0}


@st.composite
def any_counts(draw):
    if draw(st.booleans()):
        return draw(mean_counts())
    slug = draw(st.sampled_from(["contact_reachability", "autonomy"]))
    return slug, share_counts(slug, *draw(shares))


def width(interval: Interval) -> float:
    return interval.high - interval.low


@settings(max_examples=100, deadline=None)
@given(any_counts())
def test_the_interval_holds_the_value_lies_within_the_scale_and_narrows_with_more_answers(case):
    slug, counts = case
    figure = estimate(indicator(slug), counts)
    assert 0.0 <= figure.interval.low <= figure.value <= figure.interval.high <= SCALE[slug]
    if indicator(slug).kind == stats.MEAN:  # within the range of the answers
        levels = levels_of(slug, counts)
        assert min(levels) <= figure.interval.low and figure.interval.high <= max(levels)
    four_times = estimate(indicator(slug), Counter({cell: 4 * n for cell, n in counts.items()}))
    assert four_times.value == pytest.approx(figure.value, abs=1e-12)
    if width(figure.interval) == 0:
        assert width(four_times.interval) == 0
    else:
        assert width(four_times.interval) < width(figure.interval)


@pytest.mark.parametrize("slug", [*MEANS, "contact"])
def test_one_level_answered_gives_a_zero_width_interval(slug):
    cell, score = indicator(slug).scores[3 if slug != "satisfaction" else 1]
    for n in (1, 7, 2500):
        figure = estimate(indicator(slug), Counter({cell: n}))
        assert (figure.count, figure.value, figure.interval) == (n, score, Interval(score, score))


def test_shares_at_zero_and_one_keep_an_interval_on_the_inside():
    none, every = wilson(0, 50), wilson(50, 50)
    assert none.low == 0.0 and 0.0 < none.high < 0.1
    assert every.high == 1.0 and 0.9 < every.low < 1.0
    for n in range(1, 300):  # exactly: the share is never outside its interval by a rounding
        assert wilson(0, n).low == 0.0 and wilson(n, n).high == 1.0


@settings(max_examples=30, deadline=None)
@given(any_counts())
def test_the_same_counts_give_identical_floats(case):
    slug, counts = case
    reordered = Counter(dict(reversed(list(counts.items()))))
    first, second, third = estimates(counts), estimates(Counter(counts)), estimates(reordered)
    assert first == second == third
    for f, s in zip(first.values(), third.values(), strict=True):
        assert (f.value, f.interval) == (s.value, s.interval)  # floats equal to the last bit, not approximately
    assert differences(counts, reordered, 1) == differences(Counter(counts), counts, 1)
