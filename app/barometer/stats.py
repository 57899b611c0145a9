"""The barometer's statistics, from counts alone: the six indicators of « Je donne mon avis » computed as JDMA's
observatory computes them (``get-observatoire-stats.ts``), each with its 95 % confidence interval, and the difference
between two periods with its interval. Pure functions, deterministic (no resampling): the same counts give the same
figures on every machine. ``docs/barometer.md`` names and references each method.

Counts are a mapping ``(field_code, answer_item_id) -> answers`` (``answer_item_id`` 0: the responses that answered
the question at all), as the monthly aggregate holds them, summed over any months and services.

- A **mean of ordered levels** (satisfaction, clarity, contact satisfaction, contact): the scores out of 10 the
  questionnaire gives each option; the interval is the **empirical likelihood** interval for a mean (Owen 1988,
  2001): the means whose profile likelihood ratio stays within the χ²(1) 95 % quantile. It needs no assumption on the
  distribution of the answers, lies within the range of the answers (a score never leaves 0–10), and is not
  symmetric when the answers crowd at one end of the scale, where the normal interval fails.
- A **share** (contact reachability; autonomy, published ×10 as JDMA does): the **Wilson score interval** (Wilson
  1927), which holds its coverage for small samples and shares near 0 or 1.
- A **difference** between two periods (after − before): the **MOVER** limits (Zou & Donner 2008) built from each
  period's interval; for shares this is Newcombe's hybrid score interval (Newcombe 1998, method 10).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from ..feedback.questionnaire import get_questionnaire
from ..feedback.tally import RESPONDENTS

Z = 1.959963984540054  # the normal distribution's 97.5 % quantile: two-sided 95 %
CHI2_95 = Z * Z  # the χ²(1) distribution's 95 % quantile (3.8415)

MEAN, SHARE = "mean", "share"
EMPIRICAL_LIKELIHOOD, WILSON = "empirical_likelihood", "wilson"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Indicator:
    """One of JDMA's six indicators: which answers it reads and how it scores them."""

    slug: str
    kind: str  # MEAN or SHARE
    # MEAN: (field, item) -> score out of 10 of each answer counted. SHARE: the (field, item) answers that succeed.
    scores: tuple[tuple[tuple[str, int], float], ...]
    # SHARE: the count of trials: every answer of these (field, item) cells.
    trials: tuple[tuple[str, int], ...] = ()
    published_scale: float = 10.0  # JDMA publishes means /10, autonomy as share × 10, reachability as share × 1

    @property
    def method(self) -> str:
        return EMPIRICAL_LIKELIHOOD if self.kind == MEAN else WILSON


def _option_scores(field_code: str) -> tuple[tuple[tuple[str, int], float], ...]:
    field = get_questionnaire().field(field_code)
    return tuple(((field_code, o.code), o.score) for o in field.options if o.score is not None)


def _options(field_code: str, intention: str | None = None) -> tuple[tuple[str, int], ...]:
    field = get_questionnaire().field(field_code)
    return tuple((field_code, o.code) for o in field.options if intention is None or o.intention == intention)


@cache
def indicators() -> tuple[Indicator, ...]:
    """The six indicators, in the observatory's order, built from the questionnaire's scores and intentions (the
    same rows the form asks: ``app/data/reference/jdma_form.csv``)."""
    quality = _option_scores("contact_satisfaction")
    return (
        Indicator("satisfaction", MEAN, _option_scores("satisfaction")),
        Indicator("comprehension", MEAN, _option_scores("comprehension")),
        # The quality of the help, with each « Non » to « did you reach the administration? » counted as 0.
        Indicator("contact", MEAN, quality + tuple((cell, 0.0) for cell in _options("contact_reached", "bad"))),
        Indicator("contact_reachability", SHARE, tuple((cell, 1.0) for cell in _options("contact_reached", "good")),
                  trials=_options("contact_reached"), published_scale=1.0),
        Indicator("contact_satisfaction", MEAN, quality),
        # Those who needed no help, among the responses that answered the help question (a checkbox: responses,
        # not ticks, as JDMA counts the distinct reviews).
        Indicator("autonomy", SHARE, tuple((cell, 1.0) for cell in _options("contact_tried", "good")),
                  trials=(("contact_tried", RESPONDENTS),)),
    )


def indicator(slug: str) -> Indicator:
    return next(i for i in indicators() if i.slug == slug)


# --- intervals ------------------------------------------------------------------------------------------------------

def wilson(successes: int, n: int, z: float = Z) -> Interval:
    """The Wilson score interval of a share ``successes / n`` (n > 0)."""
    if n <= 0:
        raise ValueError("no trial")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def _el_statistic(points: list[tuple[float, int]], mu: float) -> float:
    """−2 log R(mu): the empirical likelihood ratio statistic of the mean ``mu`` for weighted ``points``
    (strictly inside their range). The Lagrange multiplier λ solves Σ n (x − mu) / (1 + λ (x − mu)) = 0, a
    decreasing function of λ on the interval where every weight stays positive: Newton's steps, kept inside the
    bracket the signs give (a step that would leave it bisects instead)."""
    low = -1.0 / (points[-1][0] - mu)
    high = 1.0 / (mu - points[0][0])
    lam = 0.0
    for _ in range(100):
        slope = derivative = 0.0
        for x, n in points:
            term = (x - mu) / (1 + lam * (x - mu))
            slope += n * term
            derivative -= n * term * term
        if slope > 0:
            low = lam
        else:
            high = lam
        step = lam - slope / derivative if derivative else (low + high) / 2
        if not low < step < high:
            step = (low + high) / 2
        if abs(step - lam) <= 1e-15 * max(1.0, abs(lam)):
            lam = step
            break
        lam = step
    return 2 * sum(n * math.log1p(lam * (x - mu)) for x, n in points)


def empirical_likelihood(levels: Mapping[float, int], threshold: float = CHI2_95) -> Interval:
    """The empirical likelihood 95 % interval of the mean of answers on ``levels`` (score -> answers, some > 0):
    the means ``mu`` with −2 log R(mu) ≤ χ²(1, 95 %), found by bisection on each side of the sample mean (the
    statistic grows as ``mu`` moves away from it, without bound near the extreme scores). When every answer has the
    same score, the interval is that score."""
    points = sorted((float(x), n) for x, n in levels.items() if n > 0)
    if not points:
        raise ValueError("no answer")
    total = sum(n for _, n in points)
    mean = sum(x * n for x, n in points) / total
    lowest, highest = points[0][0], points[-1][0]
    if lowest == highest:
        return Interval(mean, mean)

    def bound(inside: float, outside: float) -> float:
        for _ in range(64):
            middle = (inside + outside) / 2
            if middle in (inside, outside):
                break
            if _el_statistic(points, middle) <= threshold:
                inside = middle
            else:
                outside = middle
        return (inside + outside) / 2

    return Interval(bound(mean, lowest), bound(mean, highest))


def mover_difference(before: float, before_interval: Interval, after: float, after_interval: Interval) -> Interval:
    """The interval of ``after − before`` from each period's estimate and interval (MOVER, Zou & Donner 2008)."""
    difference = after - before
    low = difference - math.hypot(after - after_interval.low, before_interval.high - before)
    high = difference + math.hypot(after_interval.high - after, before - before_interval.low)
    return Interval(low, high)


# --- figures --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """An indicator computed from counts: its value and interval on the published scale, and its answers."""

    indicator: Indicator
    count: int
    value: float | None  # None without an answer
    interval: Interval | None

    @property
    def slug(self) -> str:
        return self.indicator.slug


def estimate(ind: Indicator, counts: Mapping[tuple[str, int], int]) -> Estimate:
    """``ind`` over ``counts``: JDMA's value (a mean of the scores, or a share × its published scale) and count."""
    if ind.kind == MEAN:
        levels: dict[float, int] = {}
        for cell, score in ind.scores:
            if counts.get(cell, 0):
                levels[score] = levels.get(score, 0) + counts[cell]
        count = sum(levels.values())
        if not count:
            return Estimate(ind, 0, None, None)
        value = sum(score * n for score, n in levels.items()) / count
        return Estimate(ind, count, value, empirical_likelihood(levels))
    count = sum(counts.get(cell, 0) for cell in ind.trials)
    if not count:
        return Estimate(ind, 0, None, None)
    successes = sum(counts.get(cell, 0) for cell, _score in ind.scores)
    share = wilson(successes, count)
    scale = ind.published_scale
    return Estimate(ind, count, successes / count * scale, Interval(share.low * scale, share.high * scale))


def estimates(counts: Mapping[tuple[str, int], int]) -> dict[str, Estimate]:
    return {ind.slug: estimate(ind, counts) for ind in indicators()}


@dataclass(frozen=True)
class Difference:
    """An indicator before and after a date: both estimates, and after − before with its interval (or None when
    either side has fewer answers than the minimum)."""

    before: Estimate
    after: Estimate
    minimum: int

    @property
    def enough(self) -> bool:
        return self.before.count >= self.minimum and self.after.count >= self.minimum and \
            self.before.value is not None and self.after.value is not None

    @property
    def value(self) -> float | None:
        return self.after.value - self.before.value if self.enough else None

    @property
    def interval(self) -> Interval | None:
        if not self.enough:
            return None
        return mover_difference(self.before.value, self.before.interval, self.after.value, self.after.interval)

    @property
    def significant(self) -> bool:
        """Whether the interval of the difference leaves out 0."""
        interval = self.interval
        return interval is not None and (interval.low > 0 or interval.high < 0)


def differences(before: Mapping, after: Mapping, minimum: int) -> dict[str, Difference]:
    return {ind.slug: Difference(estimate(ind, before), estimate(ind, after), minimum) for ind in indicators()}
