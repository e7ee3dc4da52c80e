"""Render a result table (CSV or TSV) as a standalone HTML page for ``snakemake --report``.

The Snakemake report embeds HTML files as they are, so the summary, claims
and provenance tables are shown as tables rather than as download links.

Usage::

    python -m lrorder.report_tables --table results/default/claims.csv --title "Claims" --out claims.html
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from lrorder import cli, fileio

STYLE = """
body { font-family: sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
"""


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``path`` as TSV if its name ends in ``.tsv``, else as CSV.

    Raises:
        DataError: the file is missing or not a table.
    """
    return fileio.read_csv(path, "table", sep="\t" if str(path).endswith(".tsv") else ",")


def to_html(table: pd.DataFrame, title: str) -> str:
    """A complete HTML page: ``title`` as heading, then ``table`` (floats to 4 significant digits)."""
    body = table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body><h2>{html.escape(title)}</h2>\n{body}\n</body></html>\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.report_tables", description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="CSV or TSV (by extension) to render")
    parser.add_argument("--title", required=True, help="heading of the page")
    parser.add_argument("--out", required=True, help="output HTML file")
    args = parser.parse_args(argv)
    page = to_html(read_table(args.table), args.title)
    with fileio.atomic_path(args.out) as tmp:
        Path(tmp).write_text(page)


if __name__ == "__main__":
    cli.run(main)
