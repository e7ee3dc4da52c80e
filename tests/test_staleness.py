"""Staleness follows content, not file times or where the checkout lies.

Copies of the finished smoke campaign (``smoke_run``): a moved checkout reruns
nothing, touched sources rerun nothing, and a code edit is not hidden by
outputs whose mtimes passed it (as Snakemake's clock-skew guard does when it
registers a cluster job after the edit).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lrorder import plan
from workflow_utils import SMOKE, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

#: Jobs that depend on the training runs of the smoke campaign (16 full runs, 2 pre-anneal runs).
TRAINING_AND_DEPENDANTS = {
    "train": 6 + 4 + 8,
    "aggregate": 3,
    "aggregate_pre_anneal": 1,
    "claims_study": 3,
    "claims": 1,
    "figure_accuracy": 3,
    "provenance": 1,
    "report_table": 5,
    "all": 1,
}


def copy_campaign(smoke_run: Path, dest: Path) -> Path:
    """Copy the finished campaign (results, metadata, sources) to ``dest``, keeping mtimes."""
    shutil.copytree(smoke_run, dest, symlinks=True, copy_function=shutil.copy2)
    return dest


def set_mtimes(root: Path, mtime: float) -> int:
    """Set the mtime of every file under ``root``; return how many."""
    files = [path for path in root.rglob("*") if path.is_file()]
    for path in files:
        os.utime(path, (mtime, mtime))
    return len(files)


def test_moved_checkout_reruns_nothing(smoke_run, tmp_path):
    moved = copy_campaign(smoke_run, tmp_path / "elsewhere" / "moved")
    result = snakemake(moved, "-n", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_touched_sources_rerun_nothing(smoke_run, tmp_path):
    """Sources newer than the outputs but unchanged (a checkout of another branch and back)."""
    copy = copy_campaign(smoke_run, tmp_path / "touched")
    latest = max(path.stat().st_mtime for path in (copy / "results").rglob("*") if path.is_file())
    assert set_mtimes(copy / "src", latest + 60) > 0
    result = snakemake(copy, "-n", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]


def test_code_edit_behind_touched_outputs_reruns_training(smoke_run, tmp_path):
    copy = copy_campaign(smoke_run, tmp_path / "edited")
    source = copy / "src" / "lrorder" / "train.py"
    with source.open("a") as handle:
        handle.write("# an edit made while the campaign ran\n")
    assert set_mtimes(copy / "results", source.stat().st_mtime + 60) > 0
    result = snakemake(copy, "-n", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    assert {rule: jobs.get(rule) for rule in TRAINING_AND_DEPENDANTS} == TRAINING_AND_DEPENDANTS, result.stdout[-3000:]
    assert not {"synthetic_data", "image_data", "patch_data", "patch_examples"} & set(jobs)
    assert "params" in result.stdout + result.stderr  # the trigger: code_sha256 changed


def test_touch_after_a_cosmetic_edit_records_the_new_code(smoke_run, tmp_path):
    """``--touch`` (README, "Changing settings") also records the edited code's hash."""
    copy = copy_campaign(smoke_run, tmp_path / "cosmetic")
    with (copy / "src" / "lrorder" / "figures.py").open("a") as handle:
        handle.write("# a comment\n")
    touched = snakemake(copy, "--cores", "1", "--touch", *SMOKE)
    assert touched.returncode == 0, touched.stderr[-3000:]
    result = snakemake(copy, "-n", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]


def test_run_from_another_directory_names_the_checkout_code(smoke_run, tmp_path):
    """With ``-s`` and ``--directory`` elsewhere, the code inputs are the checkout's files."""
    elsewhere = tmp_path / "workdir"
    elsewhere.mkdir()
    result = snakemake(
        tmp_path, "-n", "-s", str(smoke_run / "Snakefile"), "--directory", str(elsewhere),
        "--configfile", str(smoke_run / "config.yaml"), str(smoke_run / "presets" / "smoke.yaml"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result)["train"] == 18
    assert f"{smoke_run / 'src' / 'lrorder' / 'train.py'}" in result.stdout + result.stderr


def test_code_sha256_follows_content_not_order_or_place(tmp_path):
    for root in (tmp_path / "a", tmp_path / "b"):
        (root / "data").mkdir(parents=True)
        (root / "train.py").write_text("x = 1\n")
        (root / "data" / "synthetic.py").write_text("y = 2\n")
    modules = ["train.py", "data/synthetic.py"]
    digest = plan.code_sha256(modules, tmp_path / "a")
    assert digest == plan.code_sha256(modules[::-1], tmp_path / "b")
    (tmp_path / "b" / "train.py").write_text("x = 1\n# a comment\n")
    assert plan.code_sha256(modules, tmp_path / "b") != digest
    assert plan.code_sha256(modules[:1], tmp_path / "a") != digest
    assert len(plan.code_sha256(plan.STEP_MODULES["train"])) == 64  # this package's own modules
