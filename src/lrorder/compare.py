"""Compare two campaigns (config ``tag``) side by side: summaries and claim verdicts.

Reads ``<root>/<tag>/aggregate/<study>/summary.csv`` and
``<root>/<tag>/claims.csv`` of both tags and prints

* per study, schedule, evaluation set and statistic: the mean over seeds in
  A and in B and ``delta = B - A``;
* per claim: verdict and mean effect in A and in B, ``delta = B - A`` and
  whether the verdict changed.

Rows present in only one campaign are kept, with an empty delta (and verdict
``absent`` on the other side). Only the claim columns ``study, claim,
verdict, mean, ci_low, ci_high`` are required; ``n_seeds`` is shown when
both tables have it, and other columns are ignored.

``--studies S [S ...]`` restricts both campaigns to those studies; their
claims are then read from ``claims/<study>.csv`` where it exists (a campaign
run for some studies only has no ``claims.csv``), else from ``claims.csv``.

``--check`` adds a stability verdict (:func:`check_stability`): after
printing, exit with status 1, one line on stderr per failing claim and a
summary line, unless every claim is present in both campaigns, has the same
verdict in both, and each campaign's mean lies inside the other's reported CI
(the 1 - 2 alpha interval of claims.csv, 90% by default; bounds
included); otherwise print ``stable: ...`` and exit 0. Where both campaigns
have their claims' per-seed values (``claims/<study>.seeds.csv``), it also
prints, per claim, the paired difference of the two campaigns' values over
their common seeds (:func:`paired_differences`): when another rounding makes
each seed's run a fresh draw, the means move by about a seed-level standard
error, and the CI rule above fails an unchanged claim by chance
(``bench/stability_rule.py``: 0.15-0.29 per claim at 5 seeds); the paired
test asks the calibrated question, "do the campaigns' per-seed values differ
by more than chance?", at a known false-alarm rate. It is printed, not part
of the exit status.

Usage::

    python -m lrorder.compare default long [--root results] [--out-summary S.csv] [--out-claims C.csv]
    python -m lrorder.compare default perturb --studies clean patch --check
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lrorder import cli, fileio
from lrorder.errors import DataError
from lrorder.stats import holm

SUMMARY_KEYS = ["study", "schedule", "eval_set", "statistic"]
CLAIM_KEYS = ["study", "claim"]
#: Columns of claims.csv that compare relies on; any other column is optional or ignored.
CLAIM_REQUIRED = ("study", "claim", "verdict", "mean", "ci_low", "ci_high")
PAIRED_COLUMNS = ["study", "claim", "n_paired", "mean_difference", "ci_low", "ci_high", "p_value", "p_holm"]
STABILITY_COLUMNS = ["study", "claim", "verdict_a", "verdict_b", "mean_a", "mean_b", "a_in_b_ci", "b_in_a_ci",
                     "stable"]
ABSENT = "absent"


def campaign_dir(root: str | os.PathLike, tag: str, studies: Sequence[str] | None = None) -> Path:
    """``root/tag``, which must hold a finished campaign: its ``claims.csv``, or with
    ``studies``, ``claims/<study>.csv`` of each study as an alternative.

    Raises:
        DataError: the folder holds no such claims table.
    """
    path = Path(root) / tag
    if (path / "claims.csv").is_file():
        return path
    if studies and all((path / "claims" / f"{study}.csv").is_file() for study in studies):
        return path
    raise DataError(f"{path}: no finished campaign with tag {tag!r} here (claims.csv missing; run snakemake first)")


def read_claims(path: Path, studies: Sequence[str] | None = None) -> pd.DataFrame:
    """The claims table of a campaign, restricted to ``studies`` if given.

    With ``studies``, each study's rows come from ``claims/<study>.csv`` if it
    exists (the per-study tables ``claims.csv`` is collected from), else from
    ``claims.csv``.

    Raises:
        DataError: a table is missing or unreadable, or lacks a column of :data:`CLAIM_REQUIRED`.
    """
    if studies is None:
        tables = [(path / "claims.csv", None)]
    else:
        tables = [(path / "claims" / f"{study}.csv", study) if (path / "claims" / f"{study}.csv").is_file()
                  else (path / "claims.csv", study) for study in studies]
    parts = []
    for file, study in tables:
        table = fileio.read_csv(file, "claims", dtype={"study": str, "claim": str})  # claim ids "1" and "3a" alike
        missing = [c for c in CLAIM_REQUIRED if c not in table.columns]
        if missing:
            raise DataError(f"{file}: claims table lacks column(s) {', '.join(missing)}")
        parts.append(table if study is None else table[table["study"] == study])
    return pd.concat(parts, ignore_index=True)


def read_summaries(path: Path, studies: Sequence[str] | None = None) -> pd.DataFrame:
    """All ``aggregate/<study>/summary.csv`` of a campaign (of ``studies`` only, if given) in one table.

    Raises:
        DataError: the campaign has no summary table, or one cannot be read.
    """
    files = sorted(path.glob("aggregate/*/summary.csv"))
    if studies is not None:
        files = [f for f in files if f.parent.name in studies]
    if not files:
        raise DataError(f"{path}: no aggregate/<study>/summary.csv")
    return pd.concat([fileio.read_csv(f, "summary") for f in files], ignore_index=True)


def read_seed_values(path: Path, studies: Sequence[str] | None = None) -> pd.DataFrame | None:
    """The per-seed values of a campaign's claims (``claims/<study>.seeds.csv``), or None if any is absent.

    Raises:
        DataError: a table exists but cannot be read, lacks a column of
            :data:`lrorder.claims.SEED_COLUMNS`, has a seed that is not an
            integer or a value that is not a number (empty, i.e. NaN, is
            allowed), or two rows for one (study, claim, seed).
    """
    names = list(studies) if studies else sorted(f.name[:-len(".seeds.csv")] for f in (path / "claims").glob("*.seeds.csv"))
    files = [path / "claims" / f"{study}.seeds.csv" for study in names]
    if not files or not all(f.is_file() for f in files):
        return None
    parts = []
    for file in files:
        table = fileio.read_csv(file, "per-seed claim values", dtype={"study": str, "claim": str})
        missing = [c for c in ("study", "claim", "seed", "value") if c not in table.columns]
        if missing:
            raise DataError(f"{file}: per-seed table lacks column(s) {', '.join(missing)}")
        if not pd.api.types.is_integer_dtype(table["seed"]):
            raise DataError(f"{file}: column seed must hold integers")
        if not pd.api.types.is_numeric_dtype(table["value"]):
            raise DataError(f"{file}: column value must hold numbers (empty for an undefined value)")
        duplicated = table.duplicated(["study", "claim", "seed"])
        if duplicated.any():
            row = table.loc[duplicated].iloc[0]
            raise DataError(f"{file}: two rows for study {row['study']} claim {row['claim']} seed {row['seed']}")
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def paired_differences(a: pd.DataFrame, b: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per claim in both campaigns: B's per-seed values minus A's, over the seeds both have.

    Runs with the same seed share data and initialisation, so a campaign
    rerun under other rounding is paired with the reference seed by seed.
    The differences get a two-sided one-sample Student t-test against 0
    (``scipy.stats.ttest_1samp``) and its two-sided ``1 - alpha`` interval;
    the p-values are Holm-corrected within each study
    (:func:`lrorder.stats.holm`). What it tests: whether the two campaigns'
    per-seed values differ systematically (a shift larger than their
    seed-to-seed scatter explains). What it does not: a small shift that
    its seeds cannot resolve, nor whether a verdict changed.

    Args:
        a, b: tables with columns ``study, claim, seed, value`` (float; NaN
            values are dropped before pairing).
        alpha: two-sided level of the interval.

    Returns:
        One row per (study, claim) present in both, sorted, columns
        :data:`PAIRED_COLUMNS`: ``n_paired`` int; the rest float (the test
        columns NaN with fewer than 2 pairs). Differences without scatter
        (all equal) get the degenerate answer: p = 1 if they are all 0,
        else p = 0, and the interval is that one value.
    """
    from scipy import stats as scipy_stats

    keys = ["study", "claim", "seed"]
    both = pd.merge(a.dropna(subset=["value"])[keys + ["value"]], b.dropna(subset=["value"])[keys + ["value"]],
                    on=keys, suffixes=("_a", "_b"))
    rows = []
    for (study, claim), pairs in both.groupby(["study", "claim"], sort=True):
        d = (pairs["value_b"] - pairs["value_a"]).to_numpy(dtype=float)
        p_value, low, high = math.nan, math.nan, math.nan
        if len(d) >= 2 and np.ptp(d) > 0:
            test = scipy_stats.ttest_1samp(d, 0.0)
            p_value = float(test.pvalue)
            low, high = test.confidence_interval(1 - alpha)
        elif len(d) >= 2:  # no scatter: identical campaigns, or one shifted by the same amount on every seed
            p_value, low, high = (0.0 if d[0] != 0 else 1.0), float(d[0]), float(d[0])
        rows.append({"study": study, "claim": claim, "n_paired": len(d), "mean_difference": float(d.mean()),
                     "ci_low": float(low), "ci_high": float(high), "p_value": p_value})
    out = pd.DataFrame(rows, columns=PAIRED_COLUMNS[:-1])
    out["p_holm"] = math.nan
    for _, index in out.groupby("study").groups.items():
        out.loc[index, "p_holm"] = holm(out.loc[index, "p_value"].to_numpy(dtype=float))
    return out[PAIRED_COLUMNS]


def paired_summary(paired: pd.DataFrame, alpha: float = 0.05) -> str:
    """One line for :func:`paired_differences`' table: the claims whose campaigns differ (Holm p < alpha),
    or none, and how many claims were tested and how many had too few pairs to test."""
    differ = paired[paired["p_holm"] < alpha]
    tested = int(paired["p_holm"].notna().sum())
    untested = f"; {len(paired) - tested} with fewer than 2 paired seeds, untested" if tested < len(paired) else ""
    if len(differ):
        return (f"{len(differ)} of {tested} tested claims have per-seed values that differ between the campaigns "
                f"(Holm p < {alpha:g}): " + ", ".join(f"{r.study} {r.claim}" for r in differ.itertuples()) + untested)
    return f"no claim's per-seed values differ between the campaigns (Holm p >= {alpha:g}, {tested} claims){untested}"


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    merged = pd.merge(a[keys + values], b[keys + values], on=keys, how="outer", suffixes=("_a", "_b"))
    merged["delta"] = merged["mean_b"] - merged["mean_a"]
    return merged.sort_values(keys, kind="stable").reset_index(drop=True)


def compare_summaries(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Summary rows matched on study, schedule, eval_set and statistic: n, epoch and mean of each, ``delta``."""
    return _side_by_side(a, b, SUMMARY_KEYS, ["epoch", "n", "mean"])


def compare_claims(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Claim rows matched on study and claim: verdict, n_seeds (if both have it), mean, CI of each;
    ``delta``; ``verdict_changed``. Other columns are ignored."""
    optional = ["n_seeds"] if "n_seeds" in a.columns and "n_seeds" in b.columns else []
    merged = _side_by_side(a, b, CLAIM_KEYS, ["verdict", *optional, "mean", "ci_low", "ci_high"])
    merged[["verdict_a", "verdict_b"]] = merged[["verdict_a", "verdict_b"]].fillna(ABSENT)
    merged["verdict_changed"] = merged["verdict_a"] != merged["verdict_b"]
    return merged


def check_stability(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per claim of either campaign: is it stable between A and B?

    One row per (study, claim), sorted, with the columns of
    :data:`STABILITY_COLUMNS`: the verdicts (``absent`` where a campaign lacks
    the claim) and means of A and B, ``a_in_b_ci`` (A's mean lies in B's
    ``[ci_low, ci_high]``, bounds included), ``b_in_a_ci`` (the reverse) and
    ``stable``: present in both, same verdict, and both means inside the
    other's CI. A missing mean or CI (NaN) counts as outside.
    """
    m = compare_claims(a, b)
    a_in_b = (m["mean_a"] >= m["ci_low_b"]) & (m["mean_a"] <= m["ci_high_b"])
    b_in_a = (m["mean_b"] >= m["ci_low_a"]) & (m["mean_b"] <= m["ci_high_a"])
    present = (m["verdict_a"] != ABSENT) & (m["verdict_b"] != ABSENT)
    out = m[["study", "claim", "verdict_a", "verdict_b", "mean_a", "mean_b"]].copy()
    out["a_in_b_ci"] = a_in_b.astype(bool)
    out["b_in_a_ci"] = b_in_a.astype(bool)
    out["stable"] = present & ~m["verdict_changed"] & out["a_in_b_ci"] & out["b_in_a_ci"]
    return out[STABILITY_COLUMNS]


def stability_report(table: pd.DataFrame, tag_a: str = "A", tag_b: str = "B") -> tuple[list[str], str]:
    """Lines for :func:`check_stability`'s table: one per unstable claim, then the summary line.

    The summary starts with ``stable:`` when every claim is stable and with
    ``unstable:`` otherwise (also when there is no claim at all).
    """
    if table.empty:
        return ["no claims in either campaign"], "unstable: 0 claims compared"
    failures = []
    for row in table.itertuples(index=False):
        if row.stable:
            continue
        name = f"{row.study} claim {row.claim}"
        if ABSENT in (row.verdict_a, row.verdict_b):
            where = tag_a if row.verdict_a != ABSENT else tag_b
            failures.append(f"{name}: only in {where}")
            continue
        reasons = []
        if row.verdict_a != row.verdict_b:
            reasons.append(f"verdict {row.verdict_a!r} in {tag_a}, {row.verdict_b!r} in {tag_b}")
        if not row.a_in_b_ci:
            reasons.append(f"{tag_a}'s mean {row.mean_a:.4g} outside {tag_b}'s CI")
        if not row.b_in_a_ci:
            reasons.append(f"{tag_b}'s mean {row.mean_b:.4g} outside {tag_a}'s CI")
        failures.append(f"{name}: {'; '.join(reasons)}")
    present = (table["verdict_a"] != ABSENT) & (table["verdict_b"] != ABSENT)
    changes = int((present & (table["verdict_a"] != table["verdict_b"])).sum())
    outside = int((present & ~(table["a_in_b_ci"] & table["b_in_a_ci"])).sum())
    if not failures:
        return [], f"stable: {_count(len(table), 'claim')}, 0 verdict changes, every mean inside the other's CI"
    return failures, (f"unstable: {len(failures)} of {_count(len(table), 'claim')} fail "
                      f"({_count(changes, 'verdict change')}, {outside} with a mean outside the other's CI, "
                      f"{int((~present).sum())} in one campaign only)")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.compare", description=__doc__.splitlines()[0])
    parser.add_argument("tag_a", help="first campaign tag (A)")
    parser.add_argument("tag_b", help="second campaign tag (B); deltas are B - A")
    parser.add_argument("--root", default="results", help="folder holding the campaigns (default: results)")
    parser.add_argument("--out-summary", help="also write the summary comparison to this CSV")
    parser.add_argument("--out-claims", help="also write the claims comparison to this CSV")
    parser.add_argument("--studies", nargs="+", metavar="STUDY", help="compare only these studies")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every claim is in both campaigns with the same verdict and "
                             "each mean inside the other's CI")
    args = parser.parse_args(argv)
    dir_a, dir_b = (campaign_dir(args.root, tag, args.studies) for tag in (args.tag_a, args.tag_b))
    claims_a, claims_b = read_claims(dir_a, args.studies), read_claims(dir_b, args.studies)
    for study in args.studies or ():
        if not ((claims_a["study"] == study).any() or (claims_b["study"] == study).any()):
            raise DataError(f"study {study!r}: no claims in either campaign")
    summary = compare_summaries(read_summaries(dir_a, args.studies), read_summaries(dir_b, args.studies))
    claims = compare_claims(claims_a, claims_b)
    for table, out in ((summary, args.out_summary), (claims, args.out_claims)):
        if out is not None:
            with fileio.atomic_path(out) as tmp:
                table.to_csv(tmp, index=False, float_format="%.8g")
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_columns", None):
        print(f"A = {args.tag_a}, B = {args.tag_b}; delta = B - A\n")
        print("Claims:")
        print(claims.drop(columns=["ci_low_a", "ci_high_a", "ci_low_b", "ci_high_b"]).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"))
        print("\nSummary (mean over seeds):")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.check:
        seeds_a, seeds_b = read_seed_values(dir_a, args.studies), read_seed_values(dir_b, args.studies)
        if seeds_a is None or seeds_b is None:
            lacking = args.tag_a if seeds_a is None else args.tag_b
            print(f"\nnote: no paired comparison: {lacking} has no claims/<study>.seeds.csv for every study compared "
                  "(rerun its claims step to write them)")
        else:
            paired = paired_differences(seeds_a, seeds_b)
            with pd.option_context("display.width", 200, "display.max_columns", None):
                print("\nPaired by seed, B - A (two-sided t-test, 95% CI, Holm within each study):")
                print(paired.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            print("paired: " + paired_summary(paired))
        failures, summary_line = stability_report(check_stability(claims_a, claims_b), args.tag_a, args.tag_b)
        if failures:
            sys.stdout.flush()
            for line in (*failures, summary_line):
                print(line, file=sys.stderr)
            sys.exit(1)
        print(f"\n{summary_line}")


if __name__ == "__main__":
    cli.run(main)
