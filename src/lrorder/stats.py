"""Seed-level statistics: Student-t intervals, one-sided tests and the claim verdict rule.

The paper reports single runs; lr-order checks each of its claims (the paper;
``docs/paper-notes.md``, "Claims") across seeds. Seeds are independent replicates, so the interval
for a mean over seeds is the Student-t interval with ``n - 1`` degrees of
freedom, and a claim is a one-sided test on per-seed values.

The verdict rule (this project's choice; :func:`effect_tests`, :func:`holm`,
:func:`verdict`). Per claim, with ``n`` paired seeds and per-seed values
``x`` oriented so that positive means "in the claim's direction":

- ``p_value``: one-sided p of H0 "effect <= 0" (``scipy.stats.ttest_1samp(x,
  0, alternative="greater")``, or ``scipy.stats.wilcoxon`` likewise);
- ``p_below``: one-sided p of H0 "effect >= min_effect" (``ttest_1samp(x,
  min_effect, alternative="less")``): evidence that the effect is smaller
  than the smallest effect of interest;
- Holm's step-down correction within a study, separately for the family of
  ``p_value`` and the family of ``p_below`` (``p_holm``, ``p_below_holm``);
- labels, in this order: fewer than ``min_seeds`` seeds or a NaN p-value ->
  "inconclusive"; ``p_holm < alpha`` and ``p_below_holm < alpha`` ->
  "reproduced, below the smallest effect of interest"; ``p_holm < alpha`` ->
  "reproduced"; ``p_below_holm < alpha`` -> "not reproduced"; otherwise
  "inconclusive".

The reported interval is the two-sided ``1 - 2 alpha`` Student-t interval of
``x``: before correction, its lower end is above 0 exactly when the t test's
``p_value < alpha``, and its upper end is below ``min_effect`` exactly when
``p_below < alpha``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _st

REPRODUCED = "reproduced"
REPRODUCED_BELOW = "reproduced, below the smallest effect of interest"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
#: Every verdict label, in the order the rule tries them (after the seed count).
VERDICTS = (REPRODUCED_BELOW, REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
#: One-sample tests of :func:`one_sided_p`.
TESTS = ("t", "wilcoxon")


class MeanCI(NamedTuple):
    """Mean of ``n`` values with its sample std (ddof=1) and a two-sided CI."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


def mean_ci(values: npt.ArrayLike, confidence: float = 0.95) -> MeanCI:
    """Mean and two-sided Student-t confidence interval of ``values``.

    Args:
        values: 1-D numbers, one per seed (any units; NaN propagates).
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``MeanCI(n, mean, std, ci_low, ci_high)`` with ``std`` the sample
        standard deviation (ddof=1) and the interval
        ``mean +- t_{(1+confidence)/2, n-1} * std / sqrt(n)``.
        ``n == 0`` gives all NaN; ``n == 1`` gives the value as mean and NaN
        std and CI; values that are all equal give std 0 and the degenerate
        interval ``[mean, mean]``.

    Raises:
        ValueError: ``confidence`` is not in (0, 1) or ``values`` is not 1-D.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    n = int(x.size)
    nan = math.nan
    if n == 0:
        return MeanCI(0, nan, nan, nan, nan)
    if n == 1:
        return MeanCI(1, float(x[0]), nan, nan, nan)
    if np.all(x == x[0]):  # exact: avoids a 1e-17 "spread" from rounding
        m = float(x[0])
        return MeanCI(n, m, 0.0, m, m)
    mean = float(x.mean())
    std = float(x.std(ddof=1))
    half = float(_st.t.ppf((1.0 + confidence) / 2.0, df=n - 1)) * std / math.sqrt(n)
    return MeanCI(n, mean, std, mean - half, mean + half)


def one_sided_p(values: npt.ArrayLike, null: float = 0.0, alternative: str = "greater", test: str = "t") -> float:
    """One-sided p-value of a one-sample test of ``values`` against ``null``.

    ``alternative="greater"`` tests H0 "location <= null" against "location
    > null"; ``"less"`` the reverse.

    - ``test="t"``: ``scipy.stats.ttest_1samp(values, null, alternative=...)``
      (Student t on the mean, ``n - 1`` degrees of freedom).
    - ``test="wilcoxon"``: ``scipy.stats.wilcoxon(values - null,
      alternative=...)`` (signed-rank test of the median; zero differences
      dropped, scipy's default). With ``n`` values its smallest p-value is
      ``2**-n`` (0.125 for 3 seeds), so it needs at least 5 seeds to reach
      0.05.

    Degenerate inputs do not raise:

    - NaN in ``values``, or fewer than 2 values for the t test (none for
      Wilcoxon) -> NaN;
    - t test on values that are all equal (zero variance: the statistic is
      0/0 or +-inf) -> 0 when their common value lies strictly on the
      alternative's side of ``null``, else 1;
    - Wilcoxon with every value equal to ``null`` (no non-zero difference to
      rank) -> 1. Equal values different from ``null`` are ranked as scipy
      does (p = ``2**-n``).

    Raises:
        ValueError: unknown ``test`` or ``alternative``, or ``values`` not 1-D.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, got {test!r}")
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    if np.isnan(x).any() or x.size < (2 if test == "t" else 1):
        return math.nan
    d = x - null
    sign = 1.0 if alternative == "greater" else -1.0
    if test == "t":
        if np.all(x == x[0]):
            return 0.0 if sign * (float(x[0]) - null) > 0 else 1.0
        return float(_st.ttest_1samp(x, null, alternative=alternative).pvalue)
    if np.all(d == 0):
        return 1.0
    return float(_st.wilcoxon(d, alternative=alternative).pvalue)


class EffectTest(NamedTuple):
    """Summary and one-sided tests of oriented per-seed values (see :func:`effect_tests`)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float
    p_below: float


def effect_tests(values: npt.ArrayLike, min_effect: float = 0.0, alpha: float = 0.05, test: str = "t") -> EffectTest:
    """Mean, ``1 - 2 alpha`` Student-t interval and the two one-sided p-values of the rule.

    Args:
        values: 1-D per-seed values, oriented (positive = the claim's
            direction), in the claim's units (accuracy fraction, epochs or
            relative error).
        min_effect: smallest effect of interest, same units, ``>= 0``.
        alpha: one-sided level, in (0, 0.5): the interval is two-sided
            ``1 - 2 alpha`` (90% for alpha 0.05).
        test: ``"t"`` or ``"wilcoxon"`` (:func:`one_sided_p`); the interval
            is the Student-t one either way.

    Returns:
        ``EffectTest(n, mean, std, ci_low, ci_high, p_value, p_below)``:
        ``p_value`` of H0 "effect <= 0", ``p_below`` of H0 "effect >=
        min_effect", both uncorrected.

    Raises:
        ValueError: ``alpha`` not in (0, 0.5), ``min_effect`` negative or
            NaN, unknown ``test``.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not min_effect >= 0.0:  # also rejects NaN
        raise ValueError(f"min_effect must be >= 0, got {min_effect}")
    x = np.asarray(values, dtype=float)
    ci = mean_ci(x, confidence=1.0 - 2.0 * alpha)
    if np.isnan(x).any():
        ci = MeanCI(ci.n, math.nan, math.nan, math.nan, math.nan)
    return EffectTest(*ci, one_sided_p(x, 0.0, "greater", test), one_sided_p(x, min_effect, "less", test))


def holm(p_values: npt.ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (``statsmodels.stats.multitest.multipletests``, ``method="holm"``).

    With the ``m`` finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``,
    the adjusted ``p_(i)`` is ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting where it is below alpha controls the family-wise error rate at
    alpha. NaN entries (tests not run) stay NaN and do not count in ``m``.

    Raises:
        ValueError: ``p_values`` is not 1-D or holds a value outside [0, 1].
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(p.shape, math.nan)
    if ok.any():
        # imported here: statsmodels takes about 2 s to import, and only the claims step needs it
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def verdict(p_holm: float, p_below_holm: float, alpha: float, n: int, min_seeds: int) -> str:
    """The verdict of one claim from its Holm-adjusted p-values (the rule in the module docstring).

    Args:
        p_holm: adjusted p of H0 "effect <= 0".
        p_below_holm: adjusted p of H0 "effect >= min_effect".
        alpha: one-sided level, in (0, 0.5).
        n: paired seeds behind the p-values.
        min_seeds: fewest seeds for a verdict other than "inconclusive"
            (two seeds that happen to agree are no evidence).

    Returns:
        One of :data:`VERDICTS`.

    Raises:
        ValueError: ``alpha`` not in (0, 0.5).
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if n < min_seeds or math.isnan(p_holm) or math.isnan(p_below_holm):
        return INCONCLUSIVE
    if p_holm < alpha and p_below_holm < alpha:
        return REPRODUCED_BELOW
    if p_holm < alpha:
        return REPRODUCED
    if p_below_holm < alpha:
        return NOT_REPRODUCED
    return INCONCLUSIVE
