"""Provenance of a run: code version, packages, machine, scheduler job.

Collected into each run's ``run.json`` (``docs/conventions.md``, "Artifacts
and provenance"); :func:`collect` gathers the ``run.json`` files of a campaign
into one table, one row per run.

Usage::

    python -m lrorder.provenance --runs RUN_JSON [RUN_JSON ...] --out provenance.tsv
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lrorder import cli, fileio
from lrorder.errors import DataError

PACKAGES = ("lrorder", "torch", "torchvision", "numpy", "pandas", "snakemake")


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repo holding ``path``.

    ``path`` defaults to this package's source folder; outside a git checkout
    (an installed wheel) both values are ``None``.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a run depends on, plus Python's."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict[str, Any]:
    """Host, platform, command line and SLURM job (``None`` outside SLURM)."""
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


#: Columns of the provenance table and where each comes from in ``run.json``.
COLUMNS: dict[str, tuple[str, ...]] = {
    "study": ("run_config", "study"),
    "schedule": ("run_config", "schedule"),
    "seed": ("run_config", "seed"),
    "run_config_sha256": ("run_config_sha256",),
    "dataset_manifest_sha256": ("dataset", "manifest_sha256"),
    "git_commit": ("git", "commit"),
    "git_dirty": ("git", "dirty"),
    **{f"{name}_version": ("packages", name) for name in ("python", *PACKAGES)},
    "device": ("device", "type"),
    "device_name": ("device", "name"),
    "threads": ("device", "threads"),
    "deterministic_algorithms": ("device", "deterministic_algorithms"),
    "host": ("host",),
    "platform": ("platform",),
    "slurm_job_id": ("slurm_job_id",),
    "resumed_from_epoch": ("resumed_from_epoch",),
    "started_utc": ("started_utc",),
    "ended_utc": ("ended_utc",),
    "wall_time_s": ("wall_time_s",),
}


def _lookup(record: Any, keys: tuple[str, ...], path: str) -> Any:
    for key in keys:
        if not isinstance(record, dict) or key not in record:
            raise DataError(f"{path}: key {'.'.join(keys)} missing (not a run.json of lrorder.train?)")
        record = record[key]
    return record


def collect(run_files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per ``run.json`` with the columns of :data:`COLUMNS`, plus ``run_json`` (its path).

    Rows are sorted by study, schedule and seed.

    Raises:
        DataError: a file is not valid JSON or lacks a provenance key (the
            message names the file and the key).
    """
    rows = []
    for path in run_files:
        try:
            record = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        row = {column: _lookup(record, keys, str(path)) for column, keys in COLUMNS.items()}
        row["run_json"] = str(path)
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*COLUMNS, "run_json"])
    return table.sort_values(["study", "schedule", "seed"], kind="stable").reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.provenance", description="Collect run.json files into one TSV.")
    parser.add_argument("--runs", nargs="+", required=True, help="run.json files")
    parser.add_argument("--out", required=True, help="output TSV, one row per run")
    args = parser.parse_args(argv)
    table = collect(args.runs)
    with fileio.atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


if __name__ == "__main__":
    cli.run(main)
