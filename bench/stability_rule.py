"""How often the perturbation check's CI rule fails a claim that the perturbation does not change.

``python -m lrorder.compare A B --check`` (bench/perturbation.py) requires,
besides identical verdicts, that each campaign's mean lies inside the other's
reported CI (the two-sided 1 - 2 alpha Student-t interval over n seeds). When
a rounding change decorrelates the runs of a seed completely, the perturbed
campaign is a fresh draw of the same per-seed distribution, and the rule then
fails by chance. This script measures that rate by simulation: per-seed values
of the two campaigns are standard normal with correlation ``rho`` between the
campaigns' runs of one seed (0: rounding decides everything; 1: nothing), and
a claim passes when both means lie inside the other's interval.

It prints one line per (n seeds, CI level, rho). The rate does not depend on
the per-seed distribution's mean or scale, so it applies to every claim.

Usage: python bench/stability_rule.py [--trials 100000] [--seeds 5 8 10] [--levels 0.90 0.95] [--rho 0 0.5 0.9]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import positive_int  # noqa: E402


def false_alarm_rate(n: int, level: float, rho: float, trials: int, rng: np.random.Generator) -> float:
    """Share of ``trials`` simulated pairs of campaigns (n seeds each) that fail the CI rule.

    Args:
        n: seeds per campaign, >= 2.
        level: two-sided CI level in (0, 1) (0.90 for alpha = 0.05 one-sided).
        rho: correlation in [0, 1] between the two campaigns' values of one seed.
        trials: simulated pairs.
        rng: the random stream.

    Returns:
        The failure rate in [0, 1].
    """
    shared = rng.standard_normal((trials, n))
    a = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((trials, n))
    b = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal((trials, n))
    half = stats.t.ppf(0.5 + level / 2, n - 1) / np.sqrt(n)
    gap = np.abs(a.mean(axis=1) - b.mean(axis=1))
    passes = (gap <= half * a.std(axis=1, ddof=1)) & (gap <= half * b.std(axis=1, ddof=1))
    return float(1 - passes.mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=positive_int, default=100_000)
    parser.add_argument("--seeds", type=positive_int, nargs="+", default=[5, 8, 10])
    parser.add_argument("--levels", type=float, nargs="+", default=[0.90, 0.95])
    parser.add_argument("--rho", type=float, nargs="+", default=[0.0, 0.5, 0.9])
    args = parser.parse_args(argv)
    for name, values, ok in (("--seeds", args.seeds, lambda v: v >= 2), ("--levels", args.levels, lambda v: 0 < v < 1),
                             ("--rho", args.rho, lambda v: 0 <= v <= 1)):
        bad = [v for v in values if not ok(v)]
        if bad:
            parser.error(f"{name}: out of range: {bad}")
    rng = np.random.default_rng(0)
    print("seeds  CI level  rho   P(a claim fails the CI rule by chance)")
    for n in args.seeds:
        for level in args.levels:
            for rho in args.rho:
                print(f"{n:5d}  {level:8.2f}  {rho:3.1f}   {false_alarm_rate(n, level, rho, args.trials, rng):.3f}")


if __name__ == "__main__":
    main()
