"""Gather the per-run ``metrics.csv`` files and summarise them over seeds.

Usage::

    python -m lrorder.aggregate --metrics RUN.csv [RUN.csv ...] [--epochs N] \\
        [--runs RUN.json ...] [--anneal-epoch E] --out-metrics ALL.csv --out-summary SUMMARY.csv

With ``--epochs N`` (the study's ``training.epochs``; the workflow always
passes it) every run must end at epoch ``N``: a run cut short, or one left
from a config with more epochs, stops the aggregation with one line naming
the run, its file, its last epoch and the expected one.

With ``--runs RUN.json ...`` (the workflow always passes every run's
``run.json``) each run's ``diverged`` entry is read (:func:`read_run_files`):
a diverged run (training loss not finite, :mod:`lrorder.train`) must end at
the epoch its ``run.json`` names instead of ``N``, and the aggregated table
gets a column ``diverged`` (bool, on every row of a run). Diverged runs are
kept in the aggregated table but left out of every summary statistic; the
summary counts them per schedule and evaluation set (``n_diverged``).
Downstream, :mod:`lrorder.claims` and :mod:`lrorder.figures` read the column
and leave those runs out too.

Input (one file per training run, written by the training step): a tidy
table with columns ``study`` (str), ``schedule`` (str), ``seed`` (int),
``epoch`` (int, 1-indexed), ``lr`` (float), ``noise`` (float, pre-activation
noise std), ``eval_set`` (str), ``loss`` (float), ``accuracy`` (float in
[0, 1]); a ``train`` row per epoch and one per evaluation set at each epoch
the run scores (:func:`check_complete`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from lrorder import cli, fileio, manifest
from lrorder.columns import METRIC_COLUMNS
from lrorder.errors import ConfigError, DataError
from lrorder.fileio import atomic_path
from lrorder.stats import mean_ci

SUMMARY_COLUMNS: tuple[str, ...] = (
    "study", "schedule", "eval_set", "statistic", "epoch", "n", "n_diverged", "mean", "std", "ci_low", "ci_high",
)
RUN_KEY: list[str] = ["study", "schedule", "seed"]
ROW_KEY: list[str] = [*RUN_KEY, "eval_set", "epoch"]
#: Column of the aggregated table marking every row of a diverged run (bool).
DIVERGED = "diverged"


def diverged_rows(df: pd.DataFrame) -> pd.Series:
    """Bool per row of ``df``: the row belongs to a diverged run (the :data:`DIVERGED` column; all
    False when ``df`` has no such column, as in a table aggregated without ``--runs``)."""
    if DIVERGED not in df.columns:
        return pd.Series(False, index=df.index)
    return df[DIVERGED].astype("boolean").fillna(False).astype(bool)


def read_run_files(paths: Sequence[str | os.PathLike],
                   plans: dict[tuple[str, str, int], dict[str, dict]] | None = None,
                   ) -> dict[tuple[str, str, int], int | None]:
    """The diverged epoch of each run, from its ``run.json`` (written by :mod:`lrorder.train`).

    ``plans``, if given, is filled with each run's scoring plan
    (``run_config.evaluation``: ``{"sets": {name: [epoch, ...]}}``,
    :func:`lrorder.plan.evaluation`) where its ``run.json`` records one.

    Returns:
        ``{(study, schedule, seed): epoch}``, ``epoch`` the int of
        ``diverged.epoch``, or None for a run that did not diverge
        (``diverged`` null or absent, as in a ``run.json`` written before
        divergence was recorded).

    Raises:
        DataError: a file is missing, not JSON, lacks ``run_config.study``,
            ``schedule`` or ``seed``, has a ``diverged`` entry without a
            positive integer ``epoch``, or holds the same run as another file;
            or the run's ``metrics.csv`` differs from the sha256 its training
            job recorded (``outputs_sha256``): changed after the job wrote it.
    """
    out: dict[tuple[str, str, int], int | None] = {}
    owner: dict[tuple[str, str, int], str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
        except FileNotFoundError:
            raise DataError(f"{path}: run.json not found") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(f"{path}: cannot read as JSON ({type(exc).__name__})") from None
        try:
            cfg = info["run_config"]
            key = (str(cfg["study"]), str(cfg["schedule"]), int(cfg["seed"]))
        except (TypeError, KeyError, ValueError):
            raise DataError(f"{path}: not a run.json (run_config.study, schedule or seed missing)") from None
        if key in owner:
            raise DataError(f"{path}: run study={key[0]} schedule={key[1]} seed={key[2]} is also in {owner[key]}")
        owner[key] = str(path)
        evaluation = cfg.get("evaluation")
        if plans is not None and isinstance(evaluation, dict) and isinstance(evaluation.get("sets"), dict):
            plans[key] = evaluation
        recorded = info.get(manifest.RUN_OUTPUTS_KEY)
        if isinstance(recorded, dict) and isinstance(recorded.get("metrics.csv"), str):
            for problem in manifest.check_files(Path(path).parent, {"metrics.csv": recorded["metrics.csv"]}):
                if problem.actual is not None:  # a missing file is reported by its reader
                    raise DataError(manifest.run_output_error(problem, path))
        diverged = info.get("diverged")
        if diverged is None or diverged is False:
            out[key] = None
            continue
        epoch = diverged.get("epoch") if isinstance(diverged, dict) else None
        if type(epoch) is not int or epoch < 1:
            raise DataError(f"{path}: diverged: expected {{\"epoch\": <positive int>}} or null, got {diverged!r}")
        out[key] = epoch
    return out


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check one tidy metrics table (columns in the module docstring).

    Extra columns are kept after the required ones.

    Raises:
        DataError: the file is missing, empty or not CSV, lacks a required column, has
            a non-integer epoch or seed, an accuracy outside [0, 1], two
            rows for the same (study, schedule, seed, eval_set, epoch), or a
            run missing some evaluation set at some epoch before its last
            (:func:`check_complete`). The message names the file.
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
    check_complete(df, path)
    extra = [c for c in df.columns if c not in METRIC_COLUMNS]
    return df[[*METRIC_COLUMNS, *extra]]


def check_complete(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Every run of ``df`` has the rows every run records: ``train`` at each epoch, every set at the last.

    A run scores each evaluation set at some epochs (``lrorder.plan.evaluation``:
    every ``eval_every``-th, the windows of the claims that read it, the last)
    and records ``train`` at every epoch. So: ``train`` at every epoch from 1
    to the run's last, and each other evaluation set of the run at its last
    epoch; which other epochs a set must have, only the run's own plan says
    (:func:`check_scoring_plan`). A run without ``train`` rows must have each
    set at every epoch from 1 to its last.

    Raises:
        DataError: naming the file, the run and the first missing (evaluation set, epoch).
    """
    for (study, schedule, seed), run in df.groupby(RUN_KEY, sort=True):
        last = int(run["epoch"].max())
        sets = list(dict.fromkeys(run["eval_set"]))
        have = set(zip(run["eval_set"], run["epoch"]))
        every_epoch = "train" not in sets
        missing = [(name, epoch) for epoch in range(1, last + 1) for name in sets
                   if (name == "train" or epoch == last or every_epoch) and (name, epoch) not in have]
        if missing:
            name, epoch = missing[0]
            expected = (f"every evaluation set at every epoch 1-{last}" if every_epoch else
                        f"train at every epoch 1-{last}, and every other evaluation set at the last")
            raise DataError(f"{path}: run study={study} schedule={schedule} seed={seed} has no {name} row for "
                            f"epoch {epoch} (expected {expected})")


def load_runs(
    paths: Sequence[str | os.PathLike],
    epochs: int | None = None,
    runs: Mapping[tuple[str, str, int], int | None] | None = None,
    plans: Mapping[tuple[str, str, int], Mapping[str, dict]] | None = None,
) -> pd.DataFrame:
    """Concatenate the metrics of several runs into one tidy table.

    Args:
        paths: per-run ``metrics.csv`` files (a file may also hold several
            runs, e.g. an already aggregated table).
        epochs: the number of epochs every run must have trained (the
            study's ``training.epochs``), or None to accept any last epoch.
        runs: the diverged epoch (or None) of every run, from the runs'
            ``run.json`` (:func:`read_run_files`), or None. When given, every
            run of ``paths`` must have an entry; a diverged run must end at
            its diverged epoch (``epochs`` does not apply to it), and the
            :data:`DIVERGED` column is set from it.
        plans: each run's scoring plan (:func:`read_run_files`), or None.
            A run with a plan must have each set of its ``sets`` at each of
            that set's epochs up to the run's last epoch (:func:`check_scoring_plan`).

    Returns:
        The rows of all files with the columns of :data:`METRIC_COLUMNS`
        (then any extra columns of the files, e.g. :data:`DIVERGED`; with
        ``runs``, :data:`DIVERGED` always), sorted by study, schedule, seed,
        eval_set, epoch, index reset.

    Raises:
        DataError: a file fails :func:`read_metrics`, two files hold the
            same run (study, schedule, seed) (the message names both files),
            a run's last epoch is not ``epochs`` (the message names the
            run, its file, its last epoch and ``epochs``), or, with ``runs``,
            a run has no ``run.json`` or a diverged run does not end at its
            diverged epoch.
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
        last = df.groupby(RUN_KEY, sort=True)["epoch"].max()
        for (study, schedule, seed), end in last.items():
            stopped = None
            if runs is not None:
                if (study, schedule, int(seed)) not in runs:
                    raise DataError(f"{path}: run study={study} schedule={schedule} seed={seed} has no run.json "
                                    f"among --runs")
                stopped = runs[(study, schedule, int(seed))]
            if stopped is not None:
                if end != stopped:
                    raise DataError(
                        f"{path}: run study={study} schedule={schedule} seed={seed} ends at epoch {int(end)}, "
                        f"but its run.json says it diverged at epoch {stopped}"
                    )
            elif epochs is not None and end != epochs:
                raise DataError(
                    f"{path}: run study={study} schedule={schedule} seed={seed} ends at epoch {int(end)}, "
                    f"expected {epochs} (studies.{study}.training.epochs)"
                )
        if plans:
            check_scoring_plan(df, plans, path)
        if runs is not None:
            df[DIVERGED] = [runs[(st, sc, int(se))] is not None
                            for st, sc, se in df[RUN_KEY].itertuples(index=False, name=None)]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    if DIVERGED in out.columns:
        out[DIVERGED] = diverged_rows(out)
    return out.sort_values(["study", "schedule", "seed", "eval_set", "epoch"], kind="stable").reset_index(drop=True)


def check_scoring_plan(df: pd.DataFrame, plans: dict[tuple[str, str, int], dict[str, dict]],
                       path: str | os.PathLike) -> None:
    """Each run of ``df`` with an entry in ``plans`` has every planned (set, epoch) row up to its last epoch.

    :func:`check_complete` checks only what every run records (``train`` at
    each epoch, every set at the last); which epochs each set was scored at,
    and so which rows are missing, only the run's own plan (``run.json``) says.

    Raises:
        DataError: naming the file, the run and the first missing (set, epoch).
    """
    for (study, schedule, seed), run in df.groupby(RUN_KEY, sort=True):
        plan = plans.get((study, schedule, int(seed)))
        if plan is None:
            continue
        last = int(run["epoch"].max())
        have = set(zip(run["eval_set"], run["epoch"]))
        planned = [(name, int(epoch)) for name, epochs in plan["sets"].items() for epoch in epochs]
        missing = sorted((pair for pair in planned if pair[1] <= last and pair not in have), key=lambda pair: pair[1])
        if missing:
            name, epoch = missing[0]
            raise DataError(f"{path}: run study={study} schedule={schedule} seed={seed} has no {name} row for "
                            f"epoch {epoch} (its run.json's scoring plan, run_config.evaluation, scores it)")


GROUP_KEY: list[str] = ["study", "schedule", "eval_set"]


def _summarise_at(rows: pd.DataFrame, n_diverged: pd.Series, statistic: str,
                  epoch: int | None = None) -> pd.DataFrame:
    """One summary row per study x schedule x eval_set of ``n_diverged``'s index.

    ``rows``: the selected rows of the runs that did not diverge;
    ``n_diverged``: diverged runs per group, for every group of the table (a
    group whose runs all diverged gets ``n`` 0, ``epoch`` (empty if None) and
    NaN statistics).
    """
    groups = dict(iter(rows.groupby(GROUP_KEY, sort=True)))
    records = []
    for (study, schedule, eval_set), count in n_diverged.items():
        g = groups.get((study, schedule, eval_set), rows.iloc[:0])
        epochs = g["epoch"].unique()
        if len(epochs) > 1:
            raise DataError(
                f"study {study} schedule {schedule}: runs end at different epochs "
                f"{sorted(int(e) for e in epochs)}; cannot summarise {statistic}"
            )
        ci = mean_ci(g["accuracy"].to_numpy())
        records.append({
            "study": study, "schedule": schedule, "eval_set": eval_set,
            "statistic": statistic, "epoch": int(epochs[0]) if len(epochs) else (pd.NA if epoch is None else epoch),
            "n_diverged": int(count), **ci._asdict(),
        })
    out = pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))
    return out.astype({"epoch": "Int64", "n": "int64", "n_diverged": "int64"})


def summarize(df: pd.DataFrame, anneal_epoch: int | None = None) -> pd.DataFrame:
    """Mean accuracy over seeds with a 95% Student-t CI at fixed points of training.

    Statistics (``docs/paper-notes.md``, "Claims", claims 1 and 2):

    - ``final_accuracy``: accuracy at each run's last epoch (claim 2 compares
      schedules after training);
    - ``pre_anneal_accuracy``: accuracy at epoch ``anneal_epoch - 1``, the last
      epoch trained entirely before the first anneal; the LR drop takes
      effect at the start of epoch ``anneal_epoch`` (1-indexed, as in the
      official code's ``0.2^[e>=60]``). Only when ``anneal_epoch`` is given.

    Diverged runs (:func:`diverged_rows`) are left out of both statistics,
    whatever epoch they diverged at, and counted in ``n_diverged``: ``n``
    counts the runs that trained to the end, ``n + n_diverged`` all runs of
    the group.

    Args:
        df: tidy metrics as returned by :func:`load_runs`.
        anneal_epoch: 1-indexed epoch of the first anneal, or None.

    Returns:
        Columns ``study, schedule, eval_set, statistic`` (str), ``epoch`` (int;
        for ``final_accuracy`` empty when every run of the group diverged), ``n`` (int, runs that
        did not diverge), ``n_diverged`` (int, runs that did), ``mean, std,
        ci_low, ci_high`` (float, accuracy in [0, 1], over the ``n`` runs;
        NaN for ``n`` 0); one row per study x schedule x eval_set x
        statistic, sorted by those keys.

    Raises:
        ConfigError: ``anneal_epoch`` < 2 or beyond the last epoch of a run
            that did not diverge.
        DataError: the runs of one schedule that did not diverge end at different epochs.
    """
    diverged = diverged_rows(df)
    kept = df[~diverged]
    n_diverged = (df[diverged].groupby(GROUP_KEY, sort=True)["seed"].nunique()
                  .reindex(df.groupby(GROUP_KEY, sort=True).size().index, fill_value=0))
    last = kept.groupby(RUN_KEY)["epoch"].transform("max")
    parts = [_summarise_at(kept[kept["epoch"] == last], n_diverged, "final_accuracy")]
    if anneal_epoch is not None:
        if anneal_epoch < 2:
            raise ConfigError(f"--anneal-epoch: expected an epoch >= 2 (1-indexed), got {anneal_epoch}")
        if len(last):
            shortest = int(last.min())
            if anneal_epoch > shortest:
                raise ConfigError(
                    f"--anneal-epoch: {anneal_epoch} is beyond the last epoch ({shortest}) of some run"
                )
        parts.append(_summarise_at(kept[kept["epoch"] == anneal_epoch - 1], n_diverged, "pre_anneal_accuracy",
                                   anneal_epoch - 1))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["study", "schedule", "eval_set", "statistic"], kind="stable").reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = cli.ArgumentParser(
        prog="python -m lrorder.aggregate",
        description="Concatenate per-run metrics and summarise accuracy over seeds.",
    )
    parser.add_argument("--metrics", nargs="+", required=True, metavar="RUN.csv", help="per-run metrics.csv files")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="epochs every run must have trained (training.epochs): a run ending elsewhere is an error")
    parser.add_argument("--runs", nargs="+", default=None, metavar="RUN.json",
                        help="run.json of every run: a diverged run may end at its diverged epoch; it is "
                             "marked in the aggregated table and left out of the summary")
    parser.add_argument("--anneal-epoch", type=int, default=None, metavar="E",
                        help="1-indexed epoch of the first anneal (adds pre_anneal_accuracy at E-1)")
    parser.add_argument("--out-metrics", required=True, metavar="ALL.csv")
    parser.add_argument("--out-summary", required=True, metavar="SUMMARY.csv")
    args = parser.parse_args(argv)

    plans: dict[tuple[str, str, int], dict[str, dict]] = {}
    runs = read_run_files(args.runs, plans) if args.runs is not None else None
    df = load_runs(args.metrics, args.epochs, runs, plans)
    summary = summarize(df, args.anneal_epoch)
    with atomic_path(args.out_metrics) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(args.out_summary) as tmp:
        summary.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
