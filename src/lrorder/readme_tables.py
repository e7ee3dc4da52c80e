"""Markdown tables of a campaign's claims, written into README.md between marker lines.

The README's claims tables are generated, never typed: each study's table
sits between the lines ``<!-- claims-table:<study>:start -->`` and
``<!-- claims-table:<study>:end -->``, and this command rewrites what lies
between them (a blank line, the table, a blank line) from a claims table.

Columns: claim, description, statistic, n seeds, mean, CI, verdict; read
from the claims table's ``study, claim, description, statistic, n_seeds,
mean, ci_low, ci_high, verdict`` and, when present, ``n_diverged`` (other
columns are ignored): a claim with seeds dropped for a diverged run shows
``n seeds`` as e.g. ``4 (1 diverged, dropped)``. Numbers carry
a sign (``+``, or the minus sign U+2212; none on a zero) and 3 decimals; a
first-passage statistic (its text starts with ``epochs until`` or ``first
epoch``) is in epochs, with 1 decimal. ``|`` in a text is escaped.

With ``--perturbation`` (the claims of a rerun under another CPU memory
layout and thread count, e.g. ``bench/perturbation.py``'s), each study the
rerun holds gets two more columns: the rerun's mean and verdict
(``absent`` where the rerun lacks the claim).

Usage::

    python -m lrorder.readme_tables results/default/claims.csv                      # print the tables
    python -m lrorder.readme_tables results/default/claims.csv --readme README.md   # rewrite them in place
    python -m lrorder.readme_tables results/default/claims.csv --check README.md    # exit 1 if they differ
    ... --perturbation results/perturb/claims/clean.csv results/perturb/claims/patch.csv

A study of the claims table whose marker pair is missing, or whose markers
appear more than once or out of order, stops the command with one line
(exit 2); the README is then left as it was.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from lrorder import cli, fileio
from lrorder.errors import DataError

COLUMNS = ("study", "claim", "description", "statistic", "n_seeds", "mean", "ci_low", "ci_high", "verdict")
#: Read when present (tables written before the column existed lack it).
OPTIONAL_COLUMNS = ("n_diverged",)
HEADER = ("claim", "description", "statistic (per seed, paired)", "n seeds", "mean", "CI", "verdict")
PERTURBATION_LABEL = "other CPU layout/threads"
#: Statistics measured in epochs (a first passage), shown with 1 decimal.
EPOCH_STATISTIC = re.compile(r"^(epochs until|first epoch)\b")
MINUS = "\u2212"


def markers(study: str) -> tuple[str, str]:
    """The start and end marker lines of a study's table."""
    return f"<!-- claims-table:{study}:start -->", f"<!-- claims-table:{study}:end -->"


def read_claims(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The claims tables at ``paths``, concatenated, with the columns of :data:`COLUMNS`.

    Raises:
        DataError: a file is missing or unreadable, or lacks one of the columns.
    """
    tables = []
    for path in paths:
        table = fileio.read_csv(path, "claims", dtype={"study": str, "claim": str})
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise DataError(f"{path}: claims table lacks column(s) {', '.join(missing)}")
        optional = [c for c in OPTIONAL_COLUMNS if c in table.columns]
        tables.append(table[[*COLUMNS, *optional]])
    return pd.concat(tables, ignore_index=True)


def number(value: float, decimals: int) -> str:
    """``value`` with a sign and ``decimals`` decimals (``+0.085``, ``−0.008``, ``0.000``); ``n/a`` if NaN."""
    if value is None or math.isnan(value):
        return "n/a"
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else MINUS) + text


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def study_table(claims: pd.DataFrame, other: pd.DataFrame | None = None) -> str:
    """The markdown table of one study's claims (rows in table order), without a trailing newline.

    ``other``: the same study's claims in a perturbed rerun; adds its mean and
    verdict per claim.
    """
    header = list(HEADER)
    if other is not None:
        header += [f"mean, {PERTURBATION_LABEL}", f"verdict, {PERTURBATION_LABEL}"]
        other = other.set_index("claim")
    lines = [_row(header), _row(["---"] * len(header))]
    for row in claims.itertuples(index=False):
        decimals = 1 if EPOCH_STATISTIC.match(str(row.statistic)) else 3
        n_seeds = "" if pd.isna(row.n_seeds) else str(int(row.n_seeds))
        n_diverged = getattr(row, "n_diverged", 0)
        if not pd.isna(n_diverged) and int(n_diverged) > 0:
            n_seeds += f" ({int(n_diverged)} diverged, dropped)"
        cells = [_cell(row.claim), _cell(row.description), _cell(row.statistic), n_seeds,
                 number(row.mean, decimals),
                 f"[{number(row.ci_low, decimals)}, {number(row.ci_high, decimals)}]", _cell(row.verdict)]
        if other is not None:
            if row.claim in other.index:
                cells += [number(other.at[row.claim, "mean"], decimals), _cell(other.at[row.claim, "verdict"])]
            else:
                cells += ["n/a", "absent"]
        lines.append(_row(cells))
    return "\n".join(lines)


def tables(claims: pd.DataFrame, perturbation: pd.DataFrame | None = None) -> dict[str, str]:
    """Markdown table per study, studies in order of first appearance."""
    out = {}
    for study in claims["study"].drop_duplicates():
        other = None
        if perturbation is not None and (perturbation["study"] == study).any():
            other = perturbation[perturbation["study"] == study]
        out[study] = study_table(claims[claims["study"] == study], other)
    return out


def replace_tables(text: str, study_tables: dict[str, str], name: str = "README") -> str:
    """``text`` with the lines between each study's markers replaced by a blank line, its table, a blank line.

    Raises:
        DataError: a study's start or end marker is missing or appears more
            than once, or the end comes first; names the file (``name``).
    """
    lines = text.split("\n")
    for study, table in study_tables.items():
        found = []
        for marker in markers(study):
            where = [i for i, line in enumerate(lines) if line.strip() == marker]
            if len(where) != 1:
                problem = "missing" if not where else f"appears {len(where)} times"
                raise DataError(f"{name}: marker line {marker} {problem}")
            found.append(where[0])
        start, end = found
        if end < start:
            raise DataError(f"{name}: marker line {markers(study)[1]} comes before {markers(study)[0]}")
        lines[start + 1:end] = ["", *table.split("\n"), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.readme_tables", description=__doc__.splitlines()[0])
    parser.add_argument("claims", help="claims table of the campaign (results/<tag>/claims.csv)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--readme", help="rewrite the tables between the markers of this file, in place")
    target.add_argument("--check", metavar="README", help="exit 1 if this file's tables differ from the claims")
    parser.add_argument("--perturbation", nargs="+", metavar="CLAIMS",
                        help="claims of a rerun under another CPU layout/threads: adds its mean and verdict")
    args = parser.parse_args(argv)
    study_tables = tables(read_claims([args.claims]), read_claims(args.perturbation) if args.perturbation else None)
    if args.readme is None and args.check is None:
        print("\n\n".join("\n".join([start, "", table, "", end])
                          for (start, end), table in ((markers(s), t) for s, t in study_tables.items())))
        return
    path = Path(args.readme or args.check)
    text = path.read_text(encoding="utf-8")
    new = replace_tables(text, study_tables, str(path))
    if args.readme is not None:
        if new != text:
            fileio.write_text(path, new)
        print(f"{path}: claims tables of {', '.join(study_tables)} written from {args.claims}")
        return
    stale = [study for study, table in study_tables.items() if replace_tables(text, {study: table}, str(path)) != text]
    if stale:
        print(f"{path}: claims tables of {', '.join(stale)} differ from {args.claims} "
              f"(regenerate: the same command with --readme instead of --check)", file=sys.stderr)
        sys.exit(1)
    print(f"{path}: claims tables of {', '.join(study_tables)} match {args.claims}")


if __name__ == "__main__":
    cli.run(main)
