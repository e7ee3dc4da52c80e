"""Blow-ups of training runs: the largest fall of a run's training accuracy below its running maximum.

A large learning rate in a BatchNorm network with weight decay can destabilise
now and then: the training accuracy drops far below the best it had reached
(in the patch study's reported seed 0 at large LR 1.25, from 0.85 to 0.23 in
one epoch) and recovers slowly, or, right before an anneal, not at all. Such a
chaotic event is switched on or off by rounding, so a regime that has them
cannot give verdicts that hold on any machine (README, "Calibration"). This
module measures them, for screening candidate LRs on calibration seeds.

Per run the statistic is the largest drawdown of the per-epoch training
accuracy (``eval_set == "train"``: the running mean over the epoch's
minibatches, lrorder.train) over an inclusive epoch window:
``max over t of (max over s <= t of acc[s]) - acc[t]``, both epochs in the
window. A run whose drawdown reaches ``threshold`` counts as a blow-up.
The default threshold, 0.25, lies between the largest ordinary fall seen on
the first calibration runs (0.14 at large LR 1.25, seeds 1000-1007) and the
blow-ups of reported seed 0 (0.28 and 0.62); it was set before the screen
(presets/calibration/patch_blowup_screen.yaml) was run.

What it does not see: a fall and recovery within one epoch (the epoch's mean
smooths it), and any instability of the evaluation sets.

Usage::

    python -m lrorder.blowups results/cal-patch-screen --study patch --epochs 1 14 [--threshold 0.25]

prints one row per schedule (runs, blow-ups, median and largest drawdown, the
run and epoch of the largest) and, with ``--runs``, one row per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lrorder import cli
from lrorder.errors import DataError

DEFAULT_THRESHOLD = 0.25
RUN_COLUMNS = ["study", "schedule", "seed", "largest_fall", "fall_epoch", "peak_before_fall"]
SUMMARY_COLUMNS = ["study", "schedule", "n_runs", "n_blowups", "median_fall", "largest_fall", "worst_seed",
                   "worst_epoch"]


def largest_fall(accuracy: Sequence[float]) -> tuple[float, int, float]:
    """The largest drawdown of a curve: how far it falls below its running maximum.

    Args:
        accuracy: accuracies in [0, 1], one per epoch in order, shape ``(n,)``, n >= 1.

    Returns:
        ``(fall, index, peak)``: the largest ``max(accuracy[:t+1]) - accuracy[t]``
        (0.0 for a curve that never falls), the index t where it is reached (the
        first such t; 0 when it never falls) and the running maximum there.

    Raises:
        ValueError: the curve is empty or holds a non-finite value.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.ndim != 1 or acc.size == 0:
        raise ValueError(f"largest_fall: expected a non-empty 1-d curve, got shape {acc.shape}")
    if not np.isfinite(acc).all():
        raise ValueError("largest_fall: the curve holds a non-finite value")
    peak = np.maximum.accumulate(acc)
    falls = peak - acc
    t = int(np.argmax(falls))
    return float(falls[t]), t, float(peak[t])


def run_falls(metrics: pd.DataFrame, lo: int, hi: int) -> pd.DataFrame:
    """The largest training-accuracy fall of each run over epochs ``lo..hi`` (inclusive, 1-indexed).

    Args:
        metrics: rows of lrorder.train's ``metrics.csv`` (columns ``study,
            schedule, seed, epoch, eval_set, accuracy``), any number of runs.
        lo, hi: the epoch window, ``1 <= lo <= hi``.

    Returns:
        One row per run (:data:`RUN_COLUMNS`): ``fall_epoch`` is the epoch at the
        bottom of the fall, ``peak_before_fall`` the running maximum there.

    Raises:
        DataError: a run has no training rows for some epoch of the window.
        ValueError: ``lo`` or ``hi`` out of range.
    """
    if not 1 <= lo <= hi:
        raise ValueError(f"epoch window [{lo}, {hi}]: expected 1 <= lo <= hi")
    train = metrics[(metrics["eval_set"] == "train") & metrics["epoch"].between(lo, hi)]
    rows = []
    for (study, schedule, seed), run in train.groupby(["study", "schedule", "seed"], sort=True):
        run = run.sort_values("epoch")
        epochs = run["epoch"].to_numpy()
        if len(epochs) != hi - lo + 1 or (epochs != np.arange(lo, hi + 1)).any():
            raise DataError(f"{study}/{schedule}/seed{seed}: training accuracy for epochs {lo}-{hi} expected, "
                            f"got epochs {epochs.min()}-{epochs.max()} ({len(epochs)} rows)")
        fall, t, peak = largest_fall(run["accuracy"].to_numpy())
        rows.append({"study": study, "schedule": schedule, "seed": int(seed), "largest_fall": fall,
                     "fall_epoch": int(epochs[t]), "peak_before_fall": peak})
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def summarise(falls: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Per study and schedule: runs, blow-ups (``largest_fall >= threshold``) and the falls' spread.

    Args:
        falls: :func:`run_falls`' table.
        threshold: the drawdown that counts as a blow-up, in accuracy units.

    Returns:
        One row per (study, schedule) (:data:`SUMMARY_COLUMNS`); ``worst_seed`` and
        ``worst_epoch`` locate the largest fall.
    """
    rows = []
    for (study, schedule), group in falls.groupby(["study", "schedule"], sort=True):
        worst = group.loc[group["largest_fall"].idxmax()]
        rows.append({"study": study, "schedule": schedule, "n_runs": len(group),
                     "n_blowups": int((group["largest_fall"] >= threshold).sum()),
                     "median_fall": float(group["largest_fall"].median()),
                     "largest_fall": float(worst["largest_fall"]), "worst_seed": int(worst["seed"]),
                     "worst_epoch": int(worst["fall_epoch"])})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def read_runs(results: Path, study: str) -> pd.DataFrame:
    """Every ``metrics.csv`` under ``results/runs/<study>/<schedule>/seed<k>/``, concatenated.

    Raises:
        DataError: there is none.
    """
    paths = sorted((results / "runs" / study).glob("*/seed*/metrics.csv"))
    if not paths:
        raise DataError(f"{results / 'runs' / study}: no <schedule>/seed<k>/metrics.csv found "
                        "(expected the runs of a campaign, e.g. results/cal-patch-screen)")
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.blowups", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a campaign's results folder (results/<tag>)")
    parser.add_argument("--study", required=True, help="the study whose runs are read")
    parser.add_argument("--epochs", nargs=2, type=int, required=True, metavar=("LO", "HI"),
                        help="inclusive epoch window, e.g. the large-LR phase 1 14")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"drawdown that counts as a blow-up (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--runs", action="store_true", help="also print one row per run")
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 1:
        parser.error(f"--threshold: expected a number in (0, 1], got {args.threshold}")
    lo, hi = args.epochs
    if not 1 <= lo <= hi:
        parser.error(f"--epochs: expected 1 <= LO <= HI, got {lo} {hi}")
    falls = run_falls(read_runs(args.results, args.study), lo, hi)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(f"largest fall of training accuracy below its running maximum, epochs {lo}-{hi}; "
              f"blow-up: fall >= {args.threshold}")
        print(summarise(falls, args.threshold).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.runs:
            print()
            print(falls.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    cli.run(main)
