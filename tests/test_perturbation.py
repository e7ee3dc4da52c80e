"""bench/perturbation.py and presets/perturb.yaml: the rounding-perturbation run of the image studies."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from configs import load_config
from workflow_utils import REPO, make_workdir, planned_jobs

SCRIPT = REPO / "bench" / "perturbation.py"
_spec = importlib.util.spec_from_file_location("perturbation", SCRIPT)
perturbation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(perturbation)


def test_snakemake_command_targets_first() -> None:
    command = perturbation.snakemake_command("python", "perturb", cores=2)
    assert command == ["python", "-m", "snakemake", "--cores", "2",
                       "results/perturb/claims/clean.csv", "results/perturb/claims/patch.csv",
                       "--configfile", "presets/perturb.yaml", "--set-threads", "train=2"]
    other = perturbation.snakemake_command("python", "perturb2", cores=4, dry_run=True)
    targets = [other.index(f"results/perturb2/claims/{study}.csv") for study in ("clean", "patch")]
    options = [other.index(flag) for flag in ("--configfile", "--config", "--set-threads")]
    assert max(targets) < min(options)
    assert other[other.index("--config") + 1] == "tag=perturb2" and other[3:7] == ["--cores", "4", "-n", "-p"]


def test_compare_command_checks_image_studies() -> None:
    assert perturbation.compare_command("python", "default", "perturb", Path("results")) == [
        "python", "-m", "lrorder.compare", "default", "perturb", "--root", "results",
        "--studies", "clean", "patch", "--check"]


def test_preset_flips_the_layout_of_both_image_studies() -> None:
    reference = yaml.safe_load((REPO / "config.yaml").read_text())
    perturbed = load_config(preset="perturb")
    assert perturbed["tag"] == perturbation.PRESET_TAG
    for study in perturbation.STUDIES:
        layout = reference["studies"][study]["training"]["channels_last"]
        assert isinstance(layout, bool)
        assert perturbed["studies"][study]["training"]["channels_last"] is (not layout)
        other = {k: v for k, v in perturbed["studies"][study]["training"].items() if k != "channels_last"}
        assert other == {k: v for k, v in load_config(preset=None)["studies"][study]["training"].items()
                         if k != "channels_last"}


def test_missing_reference_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--root", str(tmp_path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: {tmp_path}/default/claims.csv not found: "
                             "run the reference campaign first (snakemake --cores 2)\n")


def test_training_times(tmp_path: Path) -> None:
    for seed, (start, end) in enumerate([("12:00:00", "12:01:00"), ("12:00:30", "12:02:10")]):
        run = tmp_path / "perturb" / "runs" / "patch" / "small_lr" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({
            "started_utc": f"2026-01-01T{start}+00:00", "ended_utc": f"2026-01-01T{end}+00:00",
            "wall_time_s": 55.5, "device": {"threads": 2}}))
    assert perturbation.training_times(tmp_path / "perturb") == (
        "perturb: 2 training runs of clean, patch, threads per run 2: 111 s summed, "
        "130 s from the first start to the last end")
    assert perturbation.training_times(tmp_path / "none") == "none: no run.json of clean, patch"


@pytest.mark.workflow
def test_dry_run_plans_image_jobs_with_two_threads(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "repo")
    shutil.copytree(REPO / "bench", workdir / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    (workdir / "results" / "default").mkdir(parents=True)
    (workdir / "results" / "default" / "claims.csv").write_text("study,claim,verdict,mean,ci_low,ci_high\n")
    result = subprocess.run([sys.executable, str(workdir / "bench" / "perturbation.py"), "--dry-run"], cwd=workdir,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = yaml.safe_load((REPO / "config.yaml").read_text())["studies"]
    runs = sum(len(reference[s]["schedules"]) * len(reference[s]["seeds"]) for s in perturbation.STUDIES)
    runs += 2 * len(reference["patch"]["pre_anneal_seeds"])  # large_lr and small_lr, for claims 3b-3d
    jobs = planned_jobs(result)
    assert set(jobs) <= {"image_data", "patch_data", "train", "aggregate", "aggregate_pre_anneal", "claims_study"}
    assert (jobs["train"], jobs["aggregate"], jobs["aggregate_pre_anneal"], jobs["claims_study"]) == (runs, 2, 1, 2)
    train = [line for line in result.stdout.splitlines() if "python -m lrorder.train" in line]
    assert len(train) == runs and all(re.search(r" --threads 2 ", line) for line in train)
    layouts = {(re.search(r'"study":"(\w+)"', line)[1], re.search(r'"channels_last":(\w+)', line)[1]) for line in train}
    assert layouts == {(study, json.dumps(not reference[study]["training"]["channels_last"]))
                       for study in perturbation.STUDIES}
