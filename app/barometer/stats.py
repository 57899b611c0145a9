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
from functools import cache, lru_cache

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
    # At 0 or n successes the limit on that side is the share itself, exactly (the formula gives it within
    # rounding, which could leave the share outside its own interval).
    return Interval(0.0 if successes == 0 else max(0.0, centre - half),
                    1.0 if successes == n else min(1.0, centre + half))


def _el_statistic(points: tuple[tuple[float, int], ...], mu: float, lam: float = 0.0) -> tuple[float, float]:
    """(−2 log R(mu), λ): the empirical likelihood ratio statistic of the mean ``mu`` for weighted ``points``
    (strictly inside their range), and its Lagrange multiplier. λ solves Σ n (x − mu) / (1 + λ (x − mu)) = 0, a
    decreasing function of λ on the interval where every weight 1 / (N (1 + λ (x − mu))) of the N answers stays at
    most 1 (Owen 2001, ch. 3: the root lies there, and the function stays finite at its ends, so that a Newton step
    landing at an end within rounding is not taken for convergence): Newton's steps from ``lam`` (the previous
    mean's multiplier, when searching a bound), kept inside the bracket the signs give (a step that would leave it
    bisects instead)."""
    shrink = 1.0 - 1.0 / sum(n for _, n in points)
    low = -shrink / (points[-1][0] - mu)
    high = shrink / (mu - points[0][0])
    if not low < lam < high:
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
    return 2 * sum(n * math.log1p(lam * (x - mu)) for x, n in points), lam


def empirical_likelihood(levels: Mapping[float, int], threshold: float = CHI2_95) -> Interval:
    """The empirical likelihood 95 % interval of the mean of answers on ``levels`` (score -> answers, some > 0):
    the means ``mu`` with −2 log R(mu) ≤ χ²(1, 95 %). When every answer has the same score, the interval is that
    score."""
    points = tuple(sorted((float(x), int(n)) for x, n in levels.items() if n > 0))
    if not points:
        raise ValueError("no answer")
    return _empirical_likelihood(points, threshold)


@lru_cache(maxsize=8192)
def _empirical_likelihood(points: tuple[tuple[float, int], ...], threshold: float) -> Interval:
    """Each bound solves S(mu) = threshold on its side of the sample mean, where S(mu) = −2 log R(mu) grows
    without bound towards the extreme score. Its derivative is known: dS/dmu = −2 N λ(mu) (the envelope theorem,
    with Σ n / (1 + λ (x − mu)) = N at the multiplier), so Newton's method on mu converges in a few steps from the
    normal approximation; each step is kept inside the bracket the signs give, and bisects when it would leave it.
    Memoised: the counts of a page's figures change only when answers come."""
    total = sum(n for _, n in points)
    mean = sum(x * n for x, n in points) / total
    lowest, highest = points[0][0], points[-1][0]
    if lowest == highest:
        return Interval(mean, mean)
    spread = math.sqrt(sum(n * (x - mean) ** 2 for x, n in points) / total)

    def bound(outside: float) -> float:
        inside = mean
        direction = 1.0 if outside > mean else -1.0
        mu = mean + direction * min(Z * spread / math.sqrt(total), abs(outside - mean) / 2)
        lam = 0.0
        for _ in range(200):
            statistic, lam = _el_statistic(points, mu, lam)
            excess = statistic - threshold
            if excess <= 0:
                inside = mu
            else:
                outside = mu
            if abs(excess) <= 1e-13 * threshold:
                return mu
            slope = -2 * total * lam
            step = mu - excess / slope if slope else (inside + outside) / 2
            if not min(inside, outside) < step < max(inside, outside):
                step = (inside + outside) / 2
            if step == mu or abs(step - mu) <= 1e-15 * max(1.0, abs(mu)):
                return step
            mu = step
        return mu

    return Interval(bound(lowest), bound(highest))


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
