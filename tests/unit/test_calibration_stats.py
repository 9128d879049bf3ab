"""The calibration statistics against known values: intervals as R computes them for the same counts
(binom.test for Clopper-Pearson, prop.test without continuity correction for Wilson; computed once and
pinned), closed forms where there are some, and the defining property of the exact bound."""

from __future__ import annotations

import math

import pytest

from engine.calibration_stats import (
    bands,
    beta_quantile,
    clopper_pearson,
    expected_calibration_error,
    regularized_beta,
    upper_bound,
    wilson,
)


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        (8, 10, (0.4439045, 0.9747893)),  # binom.test(8, 10)$conf.int
        (50, 100, (0.3983211, 0.6016789)),  # binom.test(50, 100)
        (0, 30, (0.0, 0.1157033)),  # binom.test(0, 30): 1 - 0.025^(1/30)
        (30, 30, (0.8842967, 1.0)),
    ],
)
def test_clopper_pearson_matches_the_exact_interval(successes, trials, expected):
    low, high = clopper_pearson(successes, trials)
    assert low == pytest.approx(expected[0], abs=5e-7)
    assert high == pytest.approx(expected[1], abs=5e-7)


def test_wilson_matches_the_score_interval():
    assert wilson(8, 10) == pytest.approx((0.4901625, 0.9433178), abs=5e-7)  # prop.test(8, 10, correct=F)
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_upper_bound_with_no_events_has_its_closed_form():
    for trials in (1, 30, 149, 150, 1000):
        assert upper_bound(0, trials) == pytest.approx(1 - 0.05 ** (1 / trials), abs=1e-10)
    # the smallest clean record that bounds a rate under 2% at 95%: 149 outcomes
    assert upper_bound(0, 148) > 0.02 > upper_bound(0, 149)


@pytest.mark.parametrize(("events", "trials"), [(1, 20), (3, 150), (10, 40), (99, 100)])
def test_the_upper_bound_is_where_the_binomial_tail_is_five_percent(events, trials):
    bound = upper_bound(events, trials)
    tail = sum(math.comb(trials, k) * bound**k * (1 - bound) ** (trials - k) for k in range(events + 1))
    assert tail == pytest.approx(0.05, abs=1e-9)  # P(X <= events | rate = bound) = 5%


def test_the_beta_function_and_its_quantile_agree():
    assert regularized_beta(0.5, 2, 2) == pytest.approx(0.5)
    assert regularized_beta(0.3, 1, 1) == pytest.approx(0.3)  # uniform
    assert regularized_beta(0.2, 1, 3) == pytest.approx(1 - 0.8**3)
    assert beta_quantile(regularized_beta(0.37, 4.5, 9), 4.5, 9) == pytest.approx(0.37, abs=1e-10)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="is not a count"):
        upper_bound(5, 3)


def test_bands_and_the_expected_calibration_error_by_hand():
    pairs = [(0.85, True)] * 7 + [(0.85, False)] * 3 + [(0.99, True)] * 15 + [(1.0, True)] * 5
    table = bands(pairs, (0.0, 0.5, 0.9, 1.0))
    assert [(b.low, b.high, b.count, b.fixed) for b in table] == [(0.5, 0.9, 10, 7), (0.9, 1.0, 20, 20)]
    assert [b.mean_confidence for b in table] == pytest.approx(
        [0.85, (15 * 0.99 + 5 * 1.0) / 20]
    )  # 1.0: last band
    # 10/30 * |0.7 - 0.85| + 20/30 * |1.0 - 0.9925|
    assert expected_calibration_error(table) == pytest.approx(10 / 30 * 0.15 + 20 / 30 * 0.0075)
