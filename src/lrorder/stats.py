"""Seed-level uncertainty: Student-t intervals and claim verdicts.

The paper reports single runs; lr-order checks each claim across seeds
(``paper.md`` section 4: "Each verdict is computed from the metrics with a
confidence interval over seeds"). Seeds are independent replicates, so the
interval for a mean over seeds is the Student-t interval with ``n - 1``
degrees of freedom.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats as _st

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"


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


def verdict(ci_low: float, ci_high: float, min_effect: float) -> str:
    """Turn a CI of an effect (positive = the claim's direction) into a verdict.

    Rule, applied in this order:

    1. either bound is NaN (fewer than two seeds) -> ``"inconclusive"``;
    2. ``ci_high < min_effect`` -> ``"not reproduced"``: the interval rules
       out every effect at least as large as the smallest effect of
       interest, including a reversed effect;
    3. ``ci_low > 0`` -> ``"reproduced"``: the effect has the claimed sign;
    4. otherwise -> ``"inconclusive"``: the interval is compatible both with
       no effect and with an effect of interest (too few seeds or too much
       spread to tell).

    Args:
        ci_low, ci_high: bounds of the CI of the per-seed statistic.
        min_effect: smallest effect of interest, in the statistic's units
            (for example 0.02 = two accuracy points), ``>= 0``.

    Raises:
        ValueError: ``min_effect`` is negative or NaN.
    """
    if not min_effect >= 0.0:  # also rejects NaN
        raise ValueError(f"min_effect must be >= 0, got {min_effect}")
    if math.isnan(ci_low) or math.isnan(ci_high):
        return INCONCLUSIVE
    if ci_high < min_effect:
        return NOT_REPRODUCED
    if ci_low > 0.0:
        return REPRODUCED
    return INCONCLUSIVE
