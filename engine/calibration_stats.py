"""The statistics calibration needs, in plain Python (no new dependency): binomial confidence
intervals (Wilson's score interval, and Clopper-Pearson's exact one from the beta distribution), and
the expected calibration error of a reliability table."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

MAX_ITERATIONS = 300
EPSILON = 1e-15


def _z(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` (1.959964... for 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (two-sided)."""
    _check(successes, trials)
    if trials == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval for a proportion (two-sided)."""
    _check(successes, trials)
    alpha = 1 - confidence
    lower = 0.0 if successes == 0 else beta_quantile(alpha / 2, successes, trials - successes + 1)
    upper = 1.0 if successes == trials else beta_quantile(1 - alpha / 2, successes + 1, trials - successes)
    return lower, upper


def upper_bound(events: int, trials: int, confidence: float = 0.95) -> float:
    """The one-sided exact upper bound on a rate: the rate is below it with `confidence`."""
    _check(events, trials)
    if trials == 0 or events == trials:
        return 1.0
    return beta_quantile(confidence, events + 1, trials - events)


def _check(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"{successes} of {trials} is not a count")


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the beta distribution's CDF at x (a continued fraction, evaluated by Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - regularized_beta(1 - x, b, a)
    return math.exp(log_front) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, MAX_ITERATIONS):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < EPSILON:
            break
    return result


def beta_quantile(p: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = p, by bisection (to about 1e-12)."""
    low, high = 0.0, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        if regularized_beta(middle, a, b) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-13:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Band:
    """One confidence band of a reliability table."""

    low: float
    high: float  # the last band includes 1.0
    count: int
    mean_confidence: float
    fixed: int

    @property
    def fraction_fixed(self) -> float:
        return self.fixed / self.count if self.count else 0.0


def bands(pairs: Sequence[tuple[float, bool]], edges: Sequence[float]) -> list[Band]:
    """A reliability table: (confidence, fixed) pairs grouped by the bands between `edges`."""
    table = []
    for index, (low, high) in enumerate(itertools.pairwise(edges)):
        last = index == len(edges) - 2
        inside = [(c, f) for c, f in pairs if low <= c < high or (last and c == high)]
        if inside:
            mean = sum(c for c, _ in inside) / len(inside)
            table.append(Band(low, high, len(inside), mean, sum(1 for _, f in inside if f)))
    return table


def expected_calibration_error(table: Sequence[Band]) -> float:
    """Sum over the bands of (share of outcomes) x |fraction fixed - mean confidence|."""
    total = sum(band.count for band in table)
    if total == 0:
        return 0.0
    return sum(band.count / total * abs(band.fraction_fixed - band.mean_confidence) for band in table)
