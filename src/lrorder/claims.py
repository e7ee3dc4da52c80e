"""Check the paper's claims from the metrics, with a CI over seeds.

Usage::

    python -m lrorder.claims check --metrics ALL.csv --study NAME --spec JSON --out CLAIMS.csv
    python -m lrorder.claims collect CLAIMS.csv [CLAIMS.csv ...] --out ALL_CLAIMS.csv

The claims are those of ``paper.md`` section 4; which schedules, evaluation
sets and epochs express each claim for a study comes from the config as a
list of claim specs (see :func:`validate_spec`). Every verdict is computed
here from the metrics; none is written by hand.

A claim compares schedule ``a`` with schedule ``b`` paired by seed (runs with
the same seed share data and initialisation): one statistic per common seed,
positive in the claim's direction, summarised by a 95% Student-t CI and
turned into a verdict by :func:`lrorder.stats.verdict`.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any, Sequence

import pandas as pd

from lrorder import cli, fileio
from lrorder.aggregate import load_runs
from lrorder.errors import ConfigError, DataError
from lrorder.fileio import atomic_path
from lrorder.stats import INCONCLUSIVE, mean_ci, verdict

CLAIM_COLUMNS: tuple[str, ...] = (
    "study", "claim", "description", "statistic", "eval_set", "a", "b", "n_seeds",
    "mean", "std", "ci_low", "ci_high", "min_effect", "recovered_fraction", "verdict",
)
TESTS: tuple[str, ...] = ("gap", "epochs_to_threshold")

#: Fewest paired seeds for a verdict other than "inconclusive".
MIN_SEEDS = 3
_REQUIRED = ("id", "description", "test", "a", "b", "eval_set", "min_effect")
_EXTRA = {"gap": ("epoch",), "epochs_to_threshold": ("threshold",)}
_OPTIONAL = ("reference",)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_spec(spec: Any, index: int = 0) -> dict[str, Any]:
    """Check one claim spec and return it.

    A spec is a dict with keys:

    - ``id`` (str), ``description`` (str): the claim's label and words;
    - ``test``: ``"gap"`` or ``"epochs_to_threshold"``;
    - ``a``, ``b`` (str): schedules compared, the claim being "a beats b";
    - ``eval_set`` (str): evaluation set the accuracy is read on;
    - ``epoch`` (``"gap"`` only): 1-indexed int, or ``"final"`` for each
      run's last epoch;
    - ``threshold`` (``"epochs_to_threshold"`` only): accuracy in [0, 1];
    - ``min_effect`` (number >= 0): smallest effect of interest in the
      statistic's units (accuracy fraction for ``gap``, epochs for
      ``epochs_to_threshold``);
    - ``reference`` (optional str): a third schedule; adds
      ``recovered_fraction`` (see :func:`check_claims`).

    Raises:
        ConfigError: not a dict, a key missing, unknown or of the wrong type;
            the message names the claim id (or its position) and the key.
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"--spec[{index}]: expected a claim object, got {type(spec).__name__}")
    name = f"claim {spec['id']}" if isinstance(spec.get("id"), str) else f"--spec[{index}]"
    test = spec.get("test")
    if test not in TESTS:
        raise ConfigError(f"{name}: key 'test' must be one of {', '.join(TESTS)}, got {test!r}")
    allowed = (*_REQUIRED, *_EXTRA[test], *_OPTIONAL)
    for key in (*_REQUIRED, *_EXTRA[test]):
        if key not in spec:
            raise ConfigError(f"{name}: missing key '{key}'")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ConfigError(f"{name}: unknown key(s) {', '.join(unknown)} for test {test!r}")
    for key in ("id", "description", "a", "b", "eval_set", *(k for k in _OPTIONAL if k in spec)):
        if not isinstance(spec[key], str) or not spec[key]:
            raise ConfigError(f"{name}: key '{key}' must be a non-empty string")
    if not _is_number(spec["min_effect"]) or spec["min_effect"] < 0:
        raise ConfigError(f"{name}: key 'min_effect' must be a number >= 0, got {spec['min_effect']!r}")
    if test == "gap":
        ep = spec["epoch"]
        if not (ep == "final" or (isinstance(ep, int) and not isinstance(ep, bool) and ep >= 1)):
            raise ConfigError(f"{name}: key 'epoch' must be an int >= 1 or \"final\", got {ep!r}")
    else:
        th = spec["threshold"]
        if not _is_number(th) or not 0.0 <= th <= 1.0:
            raise ConfigError(f"{name}: key 'threshold' must be an accuracy in [0, 1], got {th!r}")
    return spec


def _scores(df: pd.DataFrame, spec: dict[str, Any], schedule: str) -> pd.Series:
    """Per-seed score of one schedule, indexed by seed; ``score(a) - score(b)`` is the statistic.

    ``gap``: accuracy on ``eval_set`` at ``epoch``. ``epochs_to_threshold``:
    minus the first epoch from which accuracy stays >= threshold up to the
    last epoch (last epoch + 1 when it ends below), so that a schedule that
    settles there earlier scores higher. "Stays" makes the statistic robust to
    the period-2 oscillation of a large LR, which crosses a threshold now and
    then long before it has fitted the pattern.
    """
    runs = df[(df["schedule"] == schedule) & (df["eval_set"] == spec["eval_set"])]
    last = runs.groupby("seed")["epoch"].max()
    if spec["test"] == "gap":
        if spec["epoch"] == "final":
            at = runs[runs["epoch"] == runs["seed"].map(last)]
        else:
            too_short = last[last < spec["epoch"]]
            if not too_short.empty:
                raise ConfigError(
                    f"claim {spec['id']}: epoch {spec['epoch']} is beyond the last epoch "
                    f"({int(too_short.iloc[0])}) of schedule {schedule} seed {too_short.index[0]}"
                )
            at = runs[runs["epoch"] == spec["epoch"]]
        return at.set_index("seed")["accuracy"].astype(float)
    below = runs[runs["accuracy"] < spec["threshold"]].groupby("seed")["epoch"].max()
    first_epoch = runs.groupby("seed")["epoch"].min()
    settled = (below + 1).reindex(last.index).fillna(first_epoch)
    return -settled.astype(float)


def _statistic_text(spec: dict[str, Any]) -> str:
    """Short human-readable name of the per-seed statistic."""
    if spec["test"] == "gap":
        when = "final" if spec["epoch"] == "final" else f"epoch {spec['epoch']}"
        return f"{when} {spec['eval_set']} accuracy: {spec['a']} - {spec['b']}"
    return (f"epochs until {spec['eval_set']} accuracy stays >= {spec['threshold']:g}: "
            f"{spec['b']} - {spec['a']}")


def check_claim(df: pd.DataFrame, spec: dict[str, Any], study: str) -> dict[str, Any]:
    """Evaluate one validated claim spec on one study's metrics; see :func:`check_claims`."""
    cid = spec["id"]
    schedules = [spec["a"], spec["b"], *([spec["reference"]] if "reference" in spec else [])]
    known = set(df["schedule"])
    for s in schedules:
        if s not in known:
            raise ConfigError(f"claim {cid}: schedule {s!r} not in the metrics of study {study} "
                              f"(have: {', '.join(sorted(known))})")
    sets = set(df["eval_set"])
    if spec["eval_set"] not in sets:
        raise ConfigError(f"claim {cid}: eval_set {spec['eval_set']!r} not in the metrics of study {study} "
                          f"(have: {', '.join(sorted(sets))})")
    for s in schedules:
        if not ((df["schedule"] == s) & (df["eval_set"] == spec["eval_set"])).any():
            raise ConfigError(f"claim {cid}: eval_set {spec['eval_set']!r} not in the metrics of schedule {s}")
    if spec["test"] == "gap" and spec["epoch"] != "final" and spec["epoch"] > int(df["epoch"].max()):
        raise ConfigError(f"claim {cid}: epoch {spec['epoch']} is beyond the last epoch "
                          f"({int(df['epoch'].max())}) of the runs")

    score = {s: _scores(df, spec, s) for s in schedules}
    paired = pd.concat({"a": score[spec["a"]], "b": score[spec["b"]]}, axis=1, join="inner").sort_index()
    ci = mean_ci((paired["a"] - paired["b"]).to_numpy())

    recovered = math.nan
    if "reference" in spec:
        three = pd.concat({"a": score[spec["a"]], "b": score[spec["b"]], "ref": score[spec["reference"]]},
                          axis=1, join="inner")
        gain = float((three["a"] - three["b"]).mean()) if len(three) else math.nan
        gap = float((three["ref"] - three["b"]).mean()) if len(three) else math.nan
        recovered = gain / gap if gap != 0 and not math.isnan(gap) else math.nan

    return {
        "study": study, "claim": cid, "description": spec["description"],
        "statistic": _statistic_text(spec), "eval_set": spec["eval_set"],
        "a": spec["a"], "b": spec["b"], "n_seeds": ci.n,
        "mean": ci.mean, "std": ci.std, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
        "min_effect": float(spec["min_effect"]), "recovered_fraction": recovered,
        "verdict": verdict(ci.ci_low, ci.ci_high, float(spec["min_effect"])) if ci.n >= MIN_SEEDS else INCONCLUSIVE,
    }


def check_claims(df: pd.DataFrame, specs: Sequence[dict[str, Any]], study: str) -> pd.DataFrame:
    """Evaluate claim specs (``paper.md`` section 4) on tidy metrics.

    Per claim, for each seed present in both ``a`` and ``b`` (inner join on
    seed; a seed present in only one schedule is dropped), the statistic is

    - ``gap``: accuracy[a] - accuracy[b] on ``eval_set`` at ``epoch``
      (``"final"``: each run's last epoch); units: accuracy fraction;
    - ``epochs_to_threshold``: (first epoch from which b's accuracy stays
      >= threshold to the end of the run) - (the same for a), a run that ends
      below it counting as its last epoch + 1; units: epochs; positive = a
      settles first.

    ``mean, std, ci_low, ci_high`` are :func:`lrorder.stats.mean_ci` of those
    values (95% Student-t over seeds) and ``verdict`` is
    :func:`lrorder.stats.verdict` with ``min_effect``, or "inconclusive" with
    fewer than :data:`MIN_SEEDS` paired seeds (two seeds that happen to agree
    give a zero-width interval, which is no evidence). With ``reference``,
    ``recovered_fraction = mean(a - b) / mean(reference - b)`` on the same
    statistic over the seeds common to a, b and reference: the fraction of
    the gap between b and reference that a recovers (claim 4, pre-activation
    noise); NaN without reference or when that gap's mean is 0.

    Args:
        df: tidy metrics (columns of :data:`lrorder.aggregate.METRIC_COLUMNS`);
            rows of other studies, if any, are ignored.
        specs: claim specs, see :func:`validate_spec`.
        study: study name written in the ``study`` column and used to select rows.

    Returns:
        One row per spec with the columns of :data:`CLAIM_COLUMNS`:
        ``n_seeds`` int, ``mean, std, ci_low, ci_high, min_effect,
        recovered_fraction`` float, the others str.

    Raises:
        ConfigError: a spec is invalid, names a schedule or eval_set absent
            from the study's metrics, or an epoch beyond the runs; or no row
            has this study; or two specs share an id.
    """
    if not isinstance(specs, (list, tuple)):
        raise ConfigError(f"--spec: expected a JSON list of claim objects, got {type(specs).__name__}")
    checked = [validate_spec(s, i) for i, s in enumerate(specs)]
    ids = [s["id"] for s in checked]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"--spec: claim id(s) {', '.join(dupes)} used more than once")
    rows = df[df["study"] == study]
    if rows.empty:
        have = ", ".join(sorted(df["study"].astype(str).unique()))
        raise ConfigError(f"--study: no metrics for study {study!r} (have: {have})")
    records = [check_claim(rows, s, study) for s in checked]
    return pd.DataFrame.from_records(records, columns=list(CLAIM_COLUMNS))


def collect(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-study claim tables (columns :data:`CLAIM_COLUMNS`) in the given order.

    Raises:
        DataError: a file is missing, empty or not CSV, its columns differ from
            :data:`CLAIM_COLUMNS`, or two files hold the same (study, claim).
    """
    frames = []
    for path in paths:
        t = fileio.read_csv(path, "claims")
        if list(t.columns) != list(CLAIM_COLUMNS):
            raise DataError(f"{path}: expected columns {', '.join(CLAIM_COLUMNS)}")
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    dup = out.duplicated(["study", "claim"])
    if dup.any():
        study, claim = out.loc[dup, ["study", "claim"]].iloc[0]
        raise DataError(f"claim {claim} of study {study} appears in more than one file")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m lrorder.claims",
                                     description="Check the paper's claims across seeds.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="evaluate claim specs on one study's metrics")
    p_check.add_argument("--metrics", required=True, metavar="ALL.csv", help="aggregated tidy metrics")
    p_check.add_argument("--study", required=True, metavar="NAME")
    p_check.add_argument("--spec", required=True, metavar="JSON", help="JSON list of claim specs")
    p_check.add_argument("--out", required=True, metavar="CLAIMS.csv")
    p_collect = sub.add_parser("collect", help="concatenate per-study claim tables")
    p_collect.add_argument("claims", nargs="+", metavar="CLAIMS.csv")
    p_collect.add_argument("--out", required=True, metavar="ALL_CLAIMS.csv")
    args = parser.parse_args(argv)

    if args.command == "check":
        specs = cli.parse_json_arg(args.spec, "--spec")
        table = check_claims(load_runs([args.metrics]), specs, args.study)
    else:
        table = collect(args.claims)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    cli.run(main)
