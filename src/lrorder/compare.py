"""Compare two campaigns (config ``tag``) side by side: summaries and claim verdicts.

Reads ``<root>/<tag>/aggregate/<study>/summary.csv`` and
``<root>/<tag>/claims.csv`` of both tags and prints

* per study, schedule, evaluation set and statistic: the mean over seeds in
  A and in B and ``delta = B - A``;
* per claim: verdict and mean effect in A and in B, ``delta = B - A`` and
  whether the verdict changed.

Rows present in only one campaign are kept, with an empty delta (and verdict
``absent`` on the other side).

Usage::

    python -m lrorder.compare default long [--root results] [--out-summary S.csv] [--out-claims C.csv]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from lrorder import cli, fileio
from lrorder.errors import DataError

SUMMARY_KEYS = ["study", "schedule", "eval_set", "statistic"]
CLAIM_KEYS = ["study", "claim"]


def campaign_dir(root: str | os.PathLike, tag: str) -> Path:
    """``root/tag``, which must hold a finished campaign (its ``claims.csv``).

    Raises:
        DataError: the folder or its ``claims.csv`` does not exist.
    """
    path = Path(root) / tag
    if not (path / "claims.csv").is_file():
        raise DataError(f"{path}: no finished campaign with tag {tag!r} here (claims.csv missing; run snakemake first)")
    return path


def read_summaries(path: Path) -> pd.DataFrame:
    """All ``aggregate/<study>/summary.csv`` of a campaign in one table.

    Raises:
        DataError: the campaign has no summary table, or one cannot be read.
    """
    files = sorted(path.glob("aggregate/*/summary.csv"))
    if not files:
        raise DataError(f"{path}: no aggregate/<study>/summary.csv")
    return pd.concat([fileio.read_csv(f, "summary") for f in files], ignore_index=True)


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    merged = pd.merge(a[keys + values], b[keys + values], on=keys, how="outer", suffixes=("_a", "_b"))
    merged["delta"] = merged["mean_b"] - merged["mean_a"]
    return merged.sort_values(keys, kind="stable").reset_index(drop=True)


def compare_summaries(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Summary rows matched on study, schedule, eval_set and statistic: n, epoch and mean of each, ``delta``."""
    return _side_by_side(a, b, SUMMARY_KEYS, ["epoch", "n", "mean"])


def compare_claims(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Claim rows matched on study and claim: verdict, n_seeds, mean, CI of each; ``delta``; ``verdict_changed``."""
    merged = _side_by_side(a, b, CLAIM_KEYS, ["verdict", "n_seeds", "mean", "ci_low", "ci_high"])
    merged[["verdict_a", "verdict_b"]] = merged[["verdict_a", "verdict_b"]].fillna("absent")
    merged["verdict_changed"] = merged["verdict_a"] != merged["verdict_b"]
    return merged


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lrorder.compare", description=__doc__.splitlines()[0])
    parser.add_argument("tag_a", help="first campaign tag (A)")
    parser.add_argument("tag_b", help="second campaign tag (B); deltas are B - A")
    parser.add_argument("--root", default="results", help="folder holding the campaigns (default: results)")
    parser.add_argument("--out-summary", help="also write the summary comparison to this CSV")
    parser.add_argument("--out-claims", help="also write the claims comparison to this CSV")
    args = parser.parse_args(argv)
    dir_a, dir_b = campaign_dir(args.root, args.tag_a), campaign_dir(args.root, args.tag_b)
    summary = compare_summaries(read_summaries(dir_a), read_summaries(dir_b))
    claims = compare_claims(fileio.read_csv(dir_a / "claims.csv", "claims"),
                            fileio.read_csv(dir_b / "claims.csv", "claims"))
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


if __name__ == "__main__":
    cli.run(main)
