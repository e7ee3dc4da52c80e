"""Tests of lrorder.stats: Student-t intervals, one-sided tests, Holm's correction and the verdict rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from lrorder.stats import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, REPRODUCED_BELOW, VERDICTS, MeanCI,
                           effect_tests, holm, mean_ci, one_sided_p, verdict)

T_975_4 = 2.7764451051977987  # t_{0.975, 4 d.o.f.}, from tables
T_95_4 = 2.131846786326649  # t_{0.95, 4 d.o.f.}, from tables
X5 = [0.1, 0.12, 0.08, 0.11, 0.09]  # mean 0.1, var 0.00025, std 0.0158114, se 0.0070711


def test_mean_ci_hand_computed() -> None:
    # mean 0.1; squared deviations sum to 0.001 -> var 0.00025, std 0.0158114
    ci = mean_ci(X5)
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


# --------------------------------------------------------------------------- one-sided tests


def test_t_p_values_hand_computed() -> None:
    # t = (0.1 - 0) / 0.0070711 = 14.1421 (4 d.o.f.); against 0.12: t = -2.8284
    se = math.sqrt(0.00025 / 5)
    assert one_sided_p(X5, 0.0, "greater") == pytest.approx(st.t.sf(0.1 / se, 4))
    assert one_sided_p(X5, 0.12, "less") == pytest.approx(st.t.cdf(-0.02 / se, 4))
    assert one_sided_p(X5, 0.12, "less") == pytest.approx(0.023710, abs=1e-6)
    assert one_sided_p(X5, 0.12, "greater") == pytest.approx(1 - 0.023710, abs=1e-6)


@pytest.mark.parametrize(
    ("values", "null", "alternative", "expected"),
    [
        ([0.1, 0.1, 0.1], 0.0, "greater", 0.0),  # zero variance, mean above the null
        ([0.1, 0.1, 0.1], 0.2, "greater", 1.0),
        ([0.1, 0.1, 0.1], 0.2, "less", 0.0),
        ([0.1, 0.1, 0.1], 0.0, "less", 1.0),
        ([0.1, 0.1, 0.1], 0.1, "greater", 1.0),  # mean on the null: no evidence either way
        ([0.1, 0.1, 0.1], 0.1, "less", 1.0),
    ],
)
def test_t_zero_variance_does_not_crash(values, null, alternative, expected) -> None:
    assert one_sided_p(values, null, alternative) == expected


def test_t_too_few_or_nan_values() -> None:
    assert math.isnan(one_sided_p([0.3]))
    assert math.isnan(one_sided_p([]))
    assert math.isnan(one_sided_p([0.1, math.nan, 0.2]))


def test_wilcoxon_exact_p_values() -> None:
    # signed ranks of 3 non-zero differences: 2^3 equally likely sign patterns under H0
    assert one_sided_p([1.0, 2.0, 3.0], test="wilcoxon") == pytest.approx(1 / 8)  # W+ = 6: 1 pattern
    assert one_sided_p([-1.0, 2.0, 3.0], test="wilcoxon") == pytest.approx(2 / 8)  # W+ >= 5: {2,3}, {1,2,3}
    assert one_sided_p([1.0, 1.0, 1.0], 1.0, test="wilcoxon") == 1.0  # every difference zero
    # differences -0.2, -0.05, 0.1: ranks 3, 1, 2, W+ = 2; P(W+ <= 2) = {}, {1}, {2} of 8
    assert one_sided_p([0.3, 0.45, 0.6], 0.5, "less", test="wilcoxon") == pytest.approx(3 / 8)


def test_one_sided_p_rejects_unknown_test() -> None:
    with pytest.raises(ValueError):
        one_sided_p([1.0, 2.0], test="z")
    with pytest.raises(ValueError):
        one_sided_p([1.0, 2.0], alternative="two-sided")


def test_effect_tests_interval_matches_the_one_sided_tests() -> None:
    eff = effect_tests(X5, min_effect=0.12, alpha=0.05)
    half = T_95_4 * math.sqrt(0.00025 / 5)  # the 90% interval
    assert (eff.n, eff.mean, eff.std) == (5, pytest.approx(0.1), pytest.approx(math.sqrt(0.00025)))
    assert (eff.ci_low, eff.ci_high) == (pytest.approx(0.1 - half), pytest.approx(0.1 + half))
    assert eff.p_value == pytest.approx(one_sided_p(X5, 0.0, "greater"))
    assert eff.p_below == pytest.approx(one_sided_p(X5, 0.12, "less"))
    # ci_high = 0.11507 < 0.12 exactly when p_below < 0.05
    assert eff.ci_high < 0.12 and eff.p_below < 0.05


def test_effect_tests_nan_values_give_nan() -> None:
    eff = effect_tests([0.1, math.nan, 0.2, 0.3])
    assert eff.n == 4 and all(math.isnan(v) for v in eff[1:])


def test_effect_tests_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        effect_tests(X5, alpha=0.5)
    with pytest.raises(ValueError):
        effect_tests(X5, min_effect=-0.1)


# --------------------------------------------------------------------------- Holm


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01 = 0.03; 2 * 0.03 = 0.06; max(0.06, 1 * 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # NaN (a test not run) stays NaN and is not counted: m = 3
    out = holm([0.01, math.nan, 0.04, 0.03])
    assert math.isnan(out[1]) and out[[0, 2, 3]].tolist() == pytest.approx([0.03, 0.06, 0.06])
    # capped at 1: 2 * 0.5 = 1.0, then max(1.0, 0.6)
    assert holm([0.6, 0.5]).tolist() == [1.0, 1.0]
    assert holm([math.nan]).tolist() == [pytest.approx(math.nan, nan_ok=True)]
    assert holm([]).size == 0


def test_holm_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        holm([0.5, 1.5])


# --------------------------------------------------------------------------- verdict rule


@pytest.mark.parametrize(
    ("p_holm", "p_below_holm", "n", "expected"),
    [
        (0.01, 0.01, 5, REPRODUCED_BELOW),
        (0.01, 0.50, 5, REPRODUCED),
        (0.50, 0.01, 5, NOT_REPRODUCED),
        (0.50, 0.50, 5, INCONCLUSIVE),
        (0.05, 0.50, 5, INCONCLUSIVE),  # p must be strictly below alpha
        (0.50, 0.05, 5, INCONCLUSIVE),
        (0.01, 0.50, 2, INCONCLUSIVE),  # fewer than min_seeds
        (math.nan, 0.01, 5, INCONCLUSIVE),
        (0.01, math.nan, 5, INCONCLUSIVE),
    ],
)
def test_verdict_rule(p_holm: float, p_below_holm: float, n: int, expected: str) -> None:
    assert verdict(p_holm, p_below_holm, 0.05, n, 3) == expected
    assert expected in VERDICTS


def test_verdict_rejects_bad_alpha() -> None:
    with pytest.raises(ValueError):
        verdict(0.01, 0.5, 0.0, 5, 3)


def _label(values, min_effect: float, alpha: float = 0.05) -> str:
    eff = effect_tests(values, min_effect, alpha)
    return verdict(eff.p_value, eff.p_below, alpha, eff.n, 3)  # a family of one: Holm = raw


def test_regression_interval_inside_zero_and_min_effect_is_reproduced_below() -> None:
    # Effect clearly positive but clearly smaller than the smallest effect of interest. The old
    # rule (95% CI, "not reproduced" tested first) called this "not reproduced".
    x = [0.004, 0.005, 0.006, 0.005, 0.005]
    old = mean_ci(x)
    assert 0.0 < old.ci_low and old.ci_high < 0.01
    assert _label(x, min_effect=0.01) == REPRODUCED_BELOW


@pytest.mark.parametrize(
    ("values", "min_effect", "expected"),
    [
        (X5, 0.02, REPRODUCED),  # well above 0, not below 0.02
        ([-0.1, -0.12, -0.08, -0.11, -0.09], 0.02, NOT_REPRODUCED),  # reversed effect
        ([-0.01, 0.0, 0.01, -0.005, 0.005], 0.02, NOT_REPRODUCED),  # near 0, rules out 0.02
        ([0.1, -0.05, 0.2, -0.1, 0.05], 0.02, INCONCLUSIVE),  # wide spread
        ([0.1, 0.1], 0.02, INCONCLUSIVE),  # 2 seeds < min_seeds
        ([0.0, 0.0, 0.0], 0.02, NOT_REPRODUCED),  # zero spread at 0: p 1, p_below 0
        ([0.0, 0.0, 0.0], 0.0, INCONCLUSIVE),  # ... and with min_effect 0 both p are 1
        ([0.05, 0.05, 0.05], 0.02, REPRODUCED),  # zero spread above min_effect
    ],
)
def test_labels_from_values(values, min_effect: float, expected: str) -> None:
    assert _label(values, min_effect) == expected


def test_holm_can_change_a_label() -> None:
    # p = 0.03 alone is reproduced at 0.05; with a second claim at p = 0.04, Holm gives 0.06 and 0.06
    adjusted = holm([0.03, 0.04])
    assert adjusted.tolist() == pytest.approx([0.06, 0.06])
    assert verdict(0.03, 0.9, 0.05, 5, 3) == REPRODUCED
    assert verdict(adjusted[0], 0.9, 0.05, 5, 3) == INCONCLUSIVE
    assert np.all(adjusted >= [0.03, 0.04])
