"""Gather the per-run ``metrics.csv`` files and summarise them over seeds.

Usage::

    python -m lrorder.aggregate --metrics RUN.csv [RUN.csv ...] [--epochs N] \\
        [--anneal-epoch E] --out-metrics ALL.csv --out-summary SUMMARY.csv

With ``--epochs N`` (the study's ``training.epochs``; the workflow always
passes it) every run must end at epoch ``N``: a run cut short, or one left
from a config with more epochs, stops the aggregation with one line naming
the run, its file, its last epoch and the expected one.

Input (one file per training run, written by the training step): a tidy
table with columns ``study`` (str), ``schedule`` (str), ``seed`` (int),
``epoch`` (int, 1-indexed), ``lr`` (float), ``noise`` (float, pre-activation
noise std), ``eval_set`` (str), ``loss`` (float), ``accuracy`` (float in
[0, 1]); one row per epoch and evaluation set.
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

import pandas as pd

from lrorder import cli, fileio
from lrorder.errors import ConfigError, DataError
from lrorder.fileio import atomic_path
from lrorder.stats import mean_ci

METRIC_COLUMNS: tuple[str, ...] = (
    "study", "schedule", "seed", "epoch", "lr", "noise", "eval_set", "loss", "accuracy",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "study", "schedule", "eval_set", "statistic", "epoch", "n", "mean", "std", "ci_low", "ci_high",
)
RUN_KEY: list[str] = ["study", "schedule", "seed"]
ROW_KEY: list[str] = [*RUN_KEY, "eval_set", "epoch"]


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check one tidy metrics table (columns in the module docstring).

    Extra columns are kept after the required ones.

    Raises:
        DataError: the file is missing, empty or not CSV, lacks a required column, has
            a non-integer epoch or seed, an accuracy outside [0, 1], or two
            rows for the same (study, schedule, seed, eval_set, epoch). The
            message names the file.
    """
    df = fileio.read_csv(path, "metrics", dtype={"study": str, "schedule": str, "eval_set": str})
    missing = [c for c in METRIC_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(METRIC_COLUMNS)}")
    if df.empty:
        raise DataError(f"{path}: metrics file has a header but no rows")
    for col in ("seed", "epoch"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(f"{path}: column {col} must hold integers")
    if (df["epoch"] < 1).any():
        raise DataError(f"{path}: epochs are 1-indexed; found epoch {int(df['epoch'].min())}")
    acc = df["accuracy"]
    if not pd.api.types.is_numeric_dtype(acc) or not acc.between(0.0, 1.0).all():
        raise DataError(f"{path}: column accuracy must hold numbers in [0, 1]")
    dup = df.duplicated(ROW_KEY)
    if dup.any():
        row = df.loc[dup, ROW_KEY].iloc[0].to_dict()
        raise DataError(f"{path}: duplicate rows for {row}")
    extra = [c for c in df.columns if c not in METRIC_COLUMNS]
    return df[[*METRIC_COLUMNS, *extra]]


def load_runs(paths: Sequence[str | os.PathLike], epochs: int | None = None) -> pd.DataFrame:
    """Concatenate the metrics of several runs into one tidy table.

    Args:
        paths: per-run ``metrics.csv`` files (a file may also hold several
            runs, e.g. an already aggregated table).
        epochs: the number of epochs every run must have trained (the
            study's ``training.epochs``), or None to accept any last epoch.

    Returns:
        The rows of all files with the columns of :data:`METRIC_COLUMNS`,
        sorted by study, schedule, seed, eval_set, epoch, index reset.

    Raises:
        DataError: a file fails :func:`read_metrics`, two files hold the
            same run (study, schedule, seed) (the message names both files),
            or a run's last epoch is not ``epochs`` (the message names the
            run, its file, its last epoch and ``epochs``).
    """
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs: expected a positive integer, got {epochs}")
    if not paths:
        raise ConfigError("--metrics: expected at least one metrics file")
    frames: list[pd.DataFrame] = []
    owner: dict[tuple, str] = {}
    for path in paths:
        df = read_metrics(path)
        for key in df[RUN_KEY].drop_duplicates().itertuples(index=False, name=None):
            if key in owner:
                study, schedule, seed = key
                raise DataError(
                    f"{path}: run study={study} schedule={schedule} seed={seed} "
                    f"is also in {owner[key]}"
                )
            owner[key] = str(path)
        if epochs is not None:
            last = df.groupby(RUN_KEY, sort=True)["epoch"].max()
            for (study, schedule, seed), end in last.items():
                if end != epochs:
                    raise DataError(
                        f"{path}: run study={study} schedule={schedule} seed={seed} ends at epoch {int(end)}, "
                        f"expected {epochs} (studies.{study}.training.epochs)"
                    )
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["study", "schedule", "seed", "eval_set", "epoch"], kind="stable").reset_index(drop=True)


def _summarise_at(rows: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """One summary row per study x schedule x eval_set of the selected per-run rows."""
    records = []
    for (study, schedule, eval_set), g in rows.groupby(["study", "schedule", "eval_set"], sort=True):
        epochs = g["epoch"].unique()
        if len(epochs) != 1:
            raise DataError(
                f"study {study} schedule {schedule}: runs end at different epochs "
                f"{sorted(int(e) for e in epochs)}; cannot summarise {statistic}"
            )
        ci = mean_ci(g["accuracy"].to_numpy())
        records.append({
            "study": study, "schedule": schedule, "eval_set": eval_set,
            "statistic": statistic, "epoch": int(epochs[0]), **ci._asdict(),
        })
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def summarize(df: pd.DataFrame, anneal_epoch: int | None = None) -> pd.DataFrame:
    """Mean accuracy over seeds with a 95% Student-t CI at fixed points of training.

    Statistics (``paper.md`` section 4, claims 1 and 2):

    - ``final_accuracy``: accuracy at each run's last epoch (claim 2 compares
      schedules after training);
    - ``pre_anneal_accuracy``: accuracy at epoch ``anneal_epoch - 1``, the last
      epoch trained entirely before the first anneal; the LR drop takes
      effect at the start of epoch ``anneal_epoch`` (1-indexed, as in the
      official code's ``0.2^[e>=60]``). Only when ``anneal_epoch`` is given.

    Args:
        df: tidy metrics as returned by :func:`load_runs`.
        anneal_epoch: 1-indexed epoch of the first anneal, or None.

    Returns:
        Columns ``study, schedule, eval_set, statistic`` (str), ``epoch`` (int),
        ``n`` (int, seeds), ``mean, std, ci_low, ci_high`` (float, accuracy
        in [0, 1]); one row per study x schedule x eval_set x statistic,
        sorted by those keys.

    Raises:
        ConfigError: ``anneal_epoch`` < 2 or beyond the last epoch of a run.
        DataError: the runs of one schedule end at different epochs.
    """
    last = df.groupby(RUN_KEY)["epoch"].transform("max")
    parts = [_summarise_at(df[df["epoch"] == last], "final_accuracy")]
    if anneal_epoch is not None:
        if anneal_epoch < 2:
            raise ConfigError(f"--anneal-epoch: expected an epoch >= 2 (1-indexed), got {anneal_epoch}")
        shortest = int(last.min())
        if anneal_epoch > shortest:
            raise ConfigError(
                f"--anneal-epoch: {anneal_epoch} is beyond the last epoch ({shortest}) of some run"
            )
        parts.append(_summarise_at(df[df["epoch"] == anneal_epoch - 1], "pre_anneal_accuracy"))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["study", "schedule", "eval_set", "statistic"], kind="stable").reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m lrorder.aggregate",
        description="Concatenate per-run metrics and summarise accuracy over seeds.",
    )
    parser.add_argument("--metrics", nargs="+", required=True, metavar="RUN.csv", help="per-run metrics.csv files")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="epochs every run must have trained (training.epochs): a run ending elsewhere is an error")
    parser.add_argument("--anneal-epoch", type=int, default=None, metavar="E",
                        help="1-indexed epoch of the first anneal (adds pre_anneal_accuracy at E-1)")
    parser.add_argument("--out-metrics", required=True, metavar="ALL.csv")
    parser.add_argument("--out-summary", required=True, metavar="SUMMARY.csv")
    args = parser.parse_args(argv)

    df = load_runs(args.metrics, args.epochs)
    summary = summarize(df, args.anneal_epoch)
    with atomic_path(args.out_metrics) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(args.out_summary) as tmp:
        summary.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
