"""Check every file of one or more campaigns against their manifests.

Every dataset manifest (``results/<tag>/data/**/manifest.json``), every
training run's ``run.json`` (``outputs_sha256``: what its job wrote) and the
campaign's results manifest (``results/<tag>/manifest.json``, written by the
workflow's last step) list the sha256 of their files. Each file that is
missing or whose checksum differs is reported in one line::

    damaged: results/smoke/data/synthetic/seed0/train_x.npy (sha256 <got>, manifest says <want>)
    missing: results/smoke/runs/synthetic/large_lr/seed0/model.pt (listed in results/smoke/manifest.json)

and the command exits 1; otherwise it prints one summary line and exits 0.
A campaign without a results manifest (unfinished, or made before the
workflow wrote one) is named in a ``note:`` line; its datasets are checked.

Usage::

    python -m lrorder.verify [--results results] [TAG ...]   # no TAG: every campaign
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lrorder import cli, manifest
from lrorder.errors import DataError


@dataclass
class Report:
    """What a check found: one line per problem, and counts for the summary."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    campaigns: int = 0
    dataset_manifests: int = 0
    arrays: int = 0
    results_manifests: int = 0
    result_files: int = 0

    def summary(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}" + ("" if count == 1 else "s")

        checked = (
            f"{n(self.campaigns, 'campaign')}, {n(self.dataset_manifests, 'dataset manifest')} "
            f"({n(self.arrays, 'array')}), {n(self.results_manifests, 'results manifest')} "
            f"({n(self.result_files, 'file')})"
        )
        if self.problems:
            return f"failed: {n(len(self.problems), 'file')} missing or damaged; checked {checked}"
        return f"ok: {checked}; every file present, every sha256 as listed"


def _check_manifest(path: Path, report: Report) -> int | None:
    """Check every file listed in manifest ``path``; return how many it lists (None: unreadable)."""
    try:
        files = json.loads(path.read_text())["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        report.problems.append(f"damaged: {path} (not a manifest: no JSON object with a files mapping)")
        return None
    for problem in manifest.check_files(path.parent, files):
        if problem.actual is None:
            report.problems.append(f"missing: {problem.path} (listed in {path})")
        else:
            report.problems.append(
                f"damaged: {problem.path} (sha256 {problem.actual}, manifest says {problem.expected})"
            )
    return len(files)


def _check_run_outputs(folder: Path, report: Report) -> None:
    """Check each training run's outputs against the sha256 its job recorded in ``run.json``;
    a file already reported (by the results manifest) is not reported again."""
    reported = {line.split(" ", 2)[1] for line in report.problems}
    for run_json in sorted((folder / "runs").glob("**/run.json")):
        try:
            problems = manifest.run_output_problems(run_json)
        except DataError as exc:
            report.problems.append(f"damaged: {exc}")
            continue
        for problem in problems:
            if str(problem.path) in reported:
                continue
            if problem.actual is None:
                report.problems.append(f"missing: {problem.path} (recorded in {run_json})")
            else:
                report.problems.append(f"damaged: {problem.path} (sha256 {problem.actual}, "
                                       f"its training job recorded {problem.expected} in {run_json})")


def check_campaign(folder: Path, report: Report) -> None:
    """Check the dataset manifests and the results manifest of the campaign in ``folder``."""
    report.campaigns += 1
    for path in sorted((folder / "data").glob("**/" + manifest.MANIFEST)):
        listed = _check_manifest(path, report)
        if listed is not None:
            report.dataset_manifests += 1
            report.arrays += listed
    results = folder / manifest.MANIFEST
    if not results.exists():
        _check_run_outputs(folder, report)
        report.notes.append(
            f"note: {results} not found: the result files of {folder} are not checked, except the "
            "training runs' outputs against their run.json "
            "(the campaign is unfinished, or older than results manifests; snakemake writes it last)"
        )
        return
    listed = _check_manifest(results, report)
    if listed is not None:
        report.results_manifests += 1
        report.result_files += listed
    _check_run_outputs(folder, report)


def verify(results: str | Path, tags: Sequence[str] = ()) -> Report:
    """Check the campaigns ``tags`` under ``results`` (every campaign there if none).

    Raises:
        DataError: ``results`` or a named campaign's folder does not exist.
    """
    results = Path(results)
    if not results.is_dir():
        raise DataError(f"{results}: no such folder (give the results folder with --results)")
    if tags:
        folders = [results / tag for tag in dict.fromkeys(tags)]
        for folder in folders:
            if not folder.is_dir():
                raise DataError(f"{folder}: no such campaign")
    else:
        folders = sorted(p for p in results.iterdir() if p.is_dir())
    report = Report()
    for folder in folders:
        check_campaign(folder, report)
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="folder of the campaigns (default: results)")
    parser.add_argument("tags", nargs="*", help="campaigns to check (default: every folder under --results)")
    args = parser.parse_args(argv)
    report = verify(args.results, args.tags)
    for line in report.notes + report.problems:
        print(line)
    print(report.summary())
    if report.problems:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
