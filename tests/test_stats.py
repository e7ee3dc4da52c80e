"""Tests of lrorder.stats: Student-t intervals and the verdict rule."""

from __future__ import annotations

import math

import pytest

from lrorder.stats import MeanCI, mean_ci, verdict

T_975_4 = 2.7764451051977987  # t_{0.975, 4 d.o.f.}, from tables


def test_mean_ci_hand_computed() -> None:
    # mean 0.1; squared deviations sum to 0.001 -> var 0.00025, std 0.0158114
    ci = mean_ci([0.1, 0.12, 0.08, 0.11, 0.09])
    half = T_975_4 * math.sqrt(0.00025) / math.sqrt(5)  # 0.0196324
    assert ci.n == 5
    assert ci.mean == pytest.approx(0.1)
    assert ci.std == pytest.approx(0.015811388)
    assert ci.ci_low == pytest.approx(0.1 - half)
    assert ci.ci_high == pytest.approx(0.1 + half)
    assert ci.ci_low == pytest.approx(0.0803676, abs=1e-7)


def test_mean_ci_confidence_level() -> None:
    # n = 2, values 0 and 2: mean 1, std sqrt(2), se 1, t_{0.95,1} = 6.3138
    ci = mean_ci([0.0, 2.0], confidence=0.90)
    assert ci.ci_high == pytest.approx(1.0 + 6.313751514675)
    assert ci.ci_low == pytest.approx(1.0 - 6.313751514675)


def test_mean_ci_small_n() -> None:
    one = mean_ci([0.7])
    assert one.n == 1 and one.mean == 0.7
    assert math.isnan(one.std) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    empty = mean_ci([])
    assert empty.n == 0 and math.isnan(empty.mean)


def test_mean_ci_zero_spread_is_degenerate() -> None:
    ci = mean_ci([0.1, 0.1, 0.1])
    assert ci == MeanCI(3, 0.1, 0.0, 0.1, 0.1)


def test_mean_ci_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError):
        mean_ci([1.0, 2.0], confidence=1.0)


@pytest.mark.parametrize(
    ("low", "high", "min_effect", "expected"),
    [
        (0.05, 0.15, 0.02, "reproduced"),
        (-0.01, 0.015, 0.02, "not reproduced"),  # rules out effects >= 0.02
        (-0.15, -0.05, 0.02, "not reproduced"),  # reversed effect
        (0.001, 0.015, 0.02, "not reproduced"),  # positive but below interest
        (-0.01, 0.05, 0.02, "inconclusive"),
        (0.0, 0.05, 0.02, "inconclusive"),  # ci_low must be strictly > 0
        (math.nan, math.nan, 0.02, "inconclusive"),
        (0.1, 0.1, 0.02, "reproduced"),  # degenerate CI
    ],
)
def test_verdict_rule(low: float, high: float, min_effect: float, expected: str) -> None:
    assert verdict(low, high, min_effect) == expected


def test_verdict_rejects_negative_min_effect() -> None:
    with pytest.raises(ValueError):
        verdict(0.0, 1.0, -0.1)
