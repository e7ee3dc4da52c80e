"""Curves read over epoch windows: per schedule and evaluation set, the mean over seeds of each run's window mean.

Usage::

    python -m lrorder.window_summary --metrics results/default/aggregate/synthetic/metrics.csv \\
        --eval-sets train_both_p_alone train_both_q_alone --values accuracy margin \\
        --window 90 99 --window 191 200 [--out TABLE.csv]

Prints one Markdown table (the numbers the README quotes about the
pattern-reliance curves) and, with ``--out``, writes the same values as a
tidy CSV. Each run's value is the mean of its scored epochs inside the window
(a set is scored at some epochs only: ``lrorder.plan.evaluation``), so a
curve is read over a window, not at one epoch (``docs/paper-notes.md``,
"Claims"); the interval is the two-sided 95% Student-t interval over the
runs (:func:`lrorder.stats.mean_ci`). Diverged runs are left out, as in the
summary (:func:`lrorder.aggregate.diverged_rows`). This is description: no
test, no correction over the cells of the table.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from lrorder import cli
from lrorder.aggregate import diverged_rows, load_runs
from lrorder.errors import ConfigError, DataError
from lrorder.fileio import atomic_path
from lrorder.stats import mean_ci

#: Columns of :func:`window_means`.
TABLE_COLUMNS: tuple[str, ...] = ("schedule", "eval_set", "value", "window", "n", "mean", "ci_low", "ci_high")
#: Metric columns a window may average.
VALUES: tuple[str, ...] = ("accuracy", "margin", "loss")


def window_means(metrics: pd.DataFrame, eval_sets: Sequence[str], values: Sequence[str],
                 windows: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """Per schedule x set x value x window: mean and 95% CI over runs of each run's mean over the window.

    Args:
        metrics: tidy metrics of one study (:func:`lrorder.aggregate.load_runs`;
            columns ``schedule``, ``seed``, ``epoch``, ``eval_set`` and the ``values``).
        eval_sets: evaluation sets to read, in output order.
        values: metric columns (some of :data:`VALUES`).
        windows: ``(lo, hi)`` 1-indexed epochs, inclusive.

    Returns:
        Columns :data:`TABLE_COLUMNS`: ``window`` is ``"lo-hi"`` (str), ``n``
        the runs read (int), ``mean, ci_low, ci_high`` floats in the value's
        units (accuracy in [0, 1]; margin in logits; NaN interval for one run).

    Raises:
        ConfigError: an unknown value, a window with ``lo > hi`` or ``lo < 1``,
            or no sets or windows.
        DataError: a set absent from ``metrics``, or a run of a set with no
            scored epoch inside a window (the message names both).
    """
    unknown = [v for v in values if v not in VALUES]
    if unknown or not values:
        raise ConfigError(f"--values: expected some of {', '.join(VALUES)}, got {', '.join(values) or 'none'}")
    if not eval_sets or not windows:
        raise ConfigError("--eval-sets and --window: expected at least one of each")
    for lo, hi in windows:
        if not 1 <= lo <= hi:
            raise ConfigError(f"--window {lo} {hi}: expected 1 <= lo <= hi (1-indexed epochs)")
    kept = metrics[~diverged_rows(metrics)]
    records = []
    for eval_set in eval_sets:
        rows = kept[kept["eval_set"] == eval_set]
        if rows.empty:
            raise DataError(f"--eval-sets: {eval_set!r} has no rows of a run that did not diverge; the metrics "
                            f"hold {', '.join(sorted(metrics['eval_set'].unique()))}")
        for schedule, runs in rows.groupby("schedule", sort=True):
            for lo, hi in windows:
                inside = runs[runs["epoch"].between(lo, hi)]
                per_run = inside.groupby("seed")[list(values)].mean()
                missing = sorted(set(runs["seed"]) - set(per_run.index))
                if missing:
                    raise DataError(f"schedule {schedule} seed {missing[0]}: {eval_set} is not scored at any epoch "
                                    f"in --window {lo} {hi}")
                for value in values:
                    ci = mean_ci(per_run[value].to_numpy())
                    records.append({"schedule": schedule, "eval_set": eval_set, "value": value,
                                    "window": f"{lo}-{hi}", "n": ci.n, "mean": ci.mean,
                                    "ci_low": ci.ci_low, "ci_high": ci.ci_high})
    return pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))


def markdown(table: pd.DataFrame) -> str:
    """``table`` (:func:`window_means`) as one Markdown table: a row per schedule x set, a column per value x window.

    Cells read ``mean [ci_low, ci_high]`` to 3 decimals (the mean alone for one run).
    """
    def cell(row: pd.Series) -> str:
        if pd.isna(row["ci_low"]):
            return f"{row['mean']:.3f}"
        return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"

    table = table.assign(column=table["value"] + " " + table["window"], text=table.apply(cell, axis=1))
    columns = list(dict.fromkeys(table["column"]))
    wide = table.pivot(index=["schedule", "eval_set"], columns="column", values="text")
    order = list(dict.fromkeys(zip(table["schedule"], table["eval_set"])))
    lines = ["| schedule | set | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for key in order:
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(wide.loc[key, c] for c in columns) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = cli.ArgumentParser(prog="python -m lrorder.window_summary", description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", required=True, metavar="ALL.csv",
                        help="aggregated metrics of one study (results/<tag>/aggregate/<study>/metrics.csv)")
    parser.add_argument("--eval-sets", nargs="+", required=True, metavar="SET")
    parser.add_argument("--values", nargs="+", default=["accuracy"], metavar="VALUE",
                        help=f"metric columns to average (some of {', '.join(VALUES)}; default accuracy)")
    parser.add_argument("--window", nargs=2, type=int, action="append", required=True, metavar=("LO", "HI"),
                        help="1-indexed epochs, inclusive; repeat for more windows")
    parser.add_argument("--out", default=None, metavar="TABLE.csv", help="also write the values as a CSV")
    args = parser.parse_args(argv)
    table = window_means(load_runs([args.metrics]), args.eval_sets, args.values,
                         [tuple(w) for w in args.window])
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
    print(markdown(table))


if __name__ == "__main__":
    cli.run(main)
