"""End-to-end runs of the Snakemake workflow on presets/smoke.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from lrorder import manifest
from workflow_utils import REPO, SMOKE, make_workdir, planned_job_details, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

def test_smoke_outputs(smoke_run):
    results = smoke_run / "results" / "smoke"
    claims = pd.read_csv(results / "claims.csv")
    by_study = claims.groupby("study", sort=False)["claim"].apply(lambda c: list(c.astype(str))).to_dict()
    assert by_study == {"synthetic": ["5a", "5b", "4"], "clean": ["1", "2"],
                        "patch": ["2", "3a", "3b", "3c", "3d", "4"]}
    # 2 seeds each; claims 3b-3d (before the anneal) also read the pre-anneal seed 2; a seed whose
    # runs never reach 3a's threshold in the smoke's few epochs (censored in both roles) says
    # nothing and is dropped
    ids = claims["claim"].astype(str)
    passage, pre_anneal = ids == "3a", ids.isin(["3b", "3c", "3d"])
    assert (claims.loc[~passage & ~pre_anneal, "n_seeds"] == 2).all()
    assert (claims.loc[pre_anneal, "n_seeds"] == 3).all()
    row = claims[passage].iloc[0]
    assert row["n_seeds"] + row["n_censored"] // 2 == 2 and row["n_censored"] % 2 == 0
    assert (claims.loc[~pre_anneal, "verdict"] == "inconclusive").all()  # 2 seeds < verdict.min_seeds
    pre = pd.read_csv(results / "aggregate" / "patch" / "pre_anneal" / "metrics.csv")
    # large_lr and small_lr of seed 2, 2 epochs (anneal at 3), train + patch_only, the one set claims
    # 3b-3d read (lrorder.plan.evaluation)
    assert sorted(set(zip(pre["schedule"], pre["seed"]))) == [("large_lr", 2), ("small_lr", 2)]
    assert set(pre["epoch"]) == {1, 2} and len(pre) == 2 * 2 * 2
    assert set(pre["eval_set"]) == {"train", "patch_only"}
    full = pd.read_csv(results / "aggregate" / "patch" / "metrics.csv")
    assert set(full["seed"]) == {0, 1}  # summaries and figures read the full-length runs only

    metrics = pd.read_csv(results / "aggregate" / "synthetic" / "metrics.csv")
    # 3 schedules x 2 seeds x (train at 6 epochs + every set (5, and the 4 pattern-reliance sets) at 3 (before
    # the anneal), 4 (eval_every) and 6 (the last): 9 x 3; + P-only at 5 (5b's and 4's window [5, 6]); + two-step
    # Q-only at 1 (5a's [1, 1]))
    assert len(metrics) == 3 * 2 * (6 + 9 * 3 + 1 + 1)
    assert metrics["margin"].notna().all()
    assert set(metrics.loc[metrics["eval_set"] == "test_q_only_two_step", "epoch"]) == {1, 3, 4, 6}
    assert set(metrics.loc[metrics["eval_set"] == "test_p_only", "epoch"]) == {3, 4, 5, 6}
    summary = pd.read_csv(results / "aggregate" / "synthetic" / "summary.csv")
    pre = summary[summary["statistic"] == "pre_anneal_accuracy"]
    assert set(pre["epoch"]) == {3}  # smoke anneals at epoch 4

    for png in (results / "figures" / "synthetic").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (results / "figures" / "synthetic" / "accuracy.pdf").read_bytes()[:5] == b"%PDF-"


def test_runs_have_provenance_and_no_checkpoint(smoke_run):
    runs = smoke_run / "results" / "smoke" / "runs" / "synthetic"
    run_dirs = sorted(p.parent for p in runs.glob("*/seed*/run.json"))
    assert len(run_dirs) == 6  # 3 schedules x 2 seeds
    for run_dir in run_dirs:
        info = json.loads((run_dir / "run.json").read_text())
        assert info["run_config"]["schedule"] == run_dir.parent.name
        assert info["run_config"]["seed"] == int(run_dir.name.removeprefix("seed"))
        assert len(info["run_config_sha256"]) == 64
        assert not (run_dir / "checkpoint.pt").exists()
    data_dir = smoke_run / "results" / "smoke" / "data" / "synthetic" / "seed0"
    arrays, meta = manifest.load_dataset(data_dir)
    assert meta["params"]["n_train"] == 200 and arrays["train_x"].shape == (200, 44)


def test_image_studies_outputs(smoke_run):
    results = smoke_run / "results" / "smoke"
    clean = pd.read_csv(results / "aggregate" / "clean" / "metrics.csv")
    assert sorted(clean["eval_set"].unique()) == ["test", "train"]
    patch = pd.read_csv(results / "aggregate" / "patch" / "metrics.csv")
    assert sorted(patch["eval_set"].unique()) == ["patch_only", "test_clean", "test_patched", "train",
                                                  "train_other_patch", "train_patch_removed"]
    # schedules x seeds x (train at 4 epochs + test_clean at 2 (eval_every, before the anneal), 3-4 (claims 2
    # and 4) + test_patched at 2 and 4 (the last) + patch_only at 1-4 (claim 3a) + the two pattern-reliance
    # sets at 2 and 4)
    assert len(patch) == 3 * 2 * (4 + 3 + 2 + 4 + 2 * 2)
    arrays, meta = manifest.load_dataset(results / "data" / "images" / "mnist5k")
    assert arrays["train_x"].shape == (4000, 28, 28, 1) and meta["params"]["dataset"] == "mnist5k"
    draws = {}
    for seed in (0, 1):  # one patch draw per run seed
        patch_arrays, patch_meta = manifest.load_dataset(results / "data" / "patch" / "mnist5k" / f"seed{seed}")
        assert patch_meta["seed"] == seed
        assert patch_arrays["train_patched"].sum() == 3200 and patch_arrays["test_patched"].sum() == 800
        assert patch_arrays["patch_only_y"].shape == (100,)
        draws[seed] = patch_arrays["z"]
        for schedule in ("large_lr", "small_lr", "act_noise"):
            run = json.loads((results / "runs" / "patch" / schedule / f"seed{seed}" / "run.json").read_text())
            assert run["dataset"]["files_sha256"]["patch/z.npy"] == patch_meta["files"]["z.npy"]
    assert not (draws[0] == draws[1]).all()
    examples = results / "figures" / "patch" / "examples_mnist5k_seed0.png"
    assert examples.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_provenance_table_has_one_row_per_run(smoke_run):
    results = smoke_run / "results" / "smoke"
    table = pd.read_csv(results / "provenance.tsv", sep="\t", keep_default_na=False)
    assert len(table) == 6 + 4 + 8  # synthetic 3x2, clean 2x2, patch 3x2 + 2 pre-anneal runs
    assert table.groupby("study").size().to_dict() == {"clean": 4, "patch": 8, "synthetic": 6}
    for row in table.itertuples():
        info = json.loads((smoke_run / row.run_json).read_text())
        assert (row.study, row.schedule, row.seed) == (
            info["run_config"]["study"], info["run_config"]["schedule"], info["run_config"]["seed"])
        assert row.run_config_sha256 == info["run_config_sha256"]
        assert row.dataset_manifest_sha256 == info["dataset"]["manifest_sha256"]
        assert row.torch_version == info["packages"]["torch"]
        assert row.device == "cpu" and row.wall_time_s == info["wall_time_s"]


def test_report_has_figures_tables_and_provenance(smoke_run):
    result = snakemake(smoke_run, "--report", "report.html", *SMOKE)
    assert result.returncode == 0, result.stderr[-2000:]
    page = (smoke_run / "report.html").read_text()
    for name in ("accuracy.png", "examples_mnist5k_seed0.png", "claims.html", "provenance.html",
                 "summary_synthetic.html", "summary_clean.html", "summary_patch.html"):
        assert name in page, name
    tables = smoke_run / "results" / "smoke" / "report"
    claims_page = (tables / "claims.html").read_text()
    assert "<table" in claims_page and "verdict" in claims_page and "5b" in claims_page
    assert (tables / "provenance.html").read_text().count("<tr") == 1 + 18


def test_second_run_does_nothing(smoke_run):
    result = snakemake(smoke_run, "-n", *SMOKE)
    assert result.returncode == 0
    assert planned_jobs(result) == {}
    assert "Nothing to be done" in result.stdout + result.stderr


def test_integer_spelling_of_a_float_reruns_nothing(smoke_run):
    """``momentum: 0`` for 0.0, ``p_noise: 2`` for 2.0: the same params (lrorder.plan.canonical_config)."""
    override = smoke_run / "int_spelling.yaml"
    override.write_text(yaml.safe_dump({"studies": {"synthetic": {
        "training": {"momentum": 0}, "data": {"p_noise": 2, "q_norm": 20}, "claims": {"4": {"min_effect": 0}},
    }}}))
    result = snakemake(smoke_run, "-n", "--configfile", "presets/smoke.yaml", str(override))
    assert result.returncode == 0, result.stderr[-2000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]


def test_checkpoint_cadence_and_gpu_grant_rerun_nothing(smoke_run):
    """Job resources, not params (lrorder.plan.train_resources): changing how often runs checkpoint, or
    granting every training job a GPU, leaves the finished runs finished."""
    override = smoke_run / "cadence.yaml"
    override.write_text(yaml.safe_dump({"studies": {study: {"training": {"checkpoint_every": 3,
                                                                         "checkpoint_minutes": 5}}
                                                    for study in ("synthetic", "clean", "patch")}}))
    result = snakemake(smoke_run, "-n", "--configfile", "presets/smoke.yaml", str(override),
                       "--set-resources", "train:gpu=1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert planned_jobs(result) == {}, result.stdout[-3000:]


def test_default_training_jobs_ask_for_no_gpu(tmp_path):
    """config.yaml's studies (device cpu, and auto for the image studies) train on the CPU unless a GPU is
    granted (--set-resources train:gpu=1), and checkpoint after every epoch."""
    result = snakemake(make_workdir(tmp_path), "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    train = [(wildcards, resources) for rule, wildcards, resources in planned_job_details(result) if rule == "train"]
    assert len(train) == planned_jobs(result)["train"] > 0
    assert {wildcards["study"] for wildcards, _ in train} == {"synthetic", "clean", "patch"}
    for wildcards, resources in train:
        assert {key: resources.get(key) for key in ("gpu", "checkpoint_every", "checkpoint_minutes")} == {
            "gpu": 0, "checkpoint_every": 1, "checkpoint_minutes": 0}, wildcards


def test_changing_one_lr_reruns_only_that_schedule(smoke_run):
    override = smoke_run / "lr_change.yaml"
    override.write_text(yaml.safe_dump({"studies": {"synthetic": {"schedules": {"small_lr": {"lr": {"initial": 0.06}}}}}}))
    result = snakemake(smoke_run, "-n", "--configfile", "presets/smoke.yaml", str(override))
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = planned_jobs(result)
    assert jobs.get("train") == 2  # small_lr x 2 seeds
    assert "synthetic_data" not in jobs
    assert {"aggregate", "claims_study", "claims", "figure_accuracy"} <= set(jobs)


def test_adding_a_seed_adds_only_its_runs(smoke_run):
    override = smoke_run / "seed_add.yaml"
    override.write_text(yaml.safe_dump({"studies": {"synthetic": {"seeds": [0, 1, 2]}}}))
    jobs = planned_jobs(snakemake(smoke_run, "-n", "--configfile", "presets/smoke.yaml", str(override)))
    assert jobs.get("train") == 3 and jobs.get("synthetic_data") == 1


def test_adding_a_patch_seed_adds_only_its_patch_draw_and_runs(smoke_run):
    override = smoke_run / "patch_seed_add.yaml"
    override.write_text(yaml.safe_dump({"studies": {"patch": {"seeds": [0, 1, 3]}}}))
    result = snakemake(smoke_run, "-n", "-p", "--configfile", "presets/smoke.yaml", str(override))
    jobs = planned_jobs(result)
    assert jobs.get("train") == 3 and jobs.get("patch_data") == 1 and "aggregate_pre_anneal" not in jobs
    assert not {"image_data", "synthetic_data", "patch_examples"} & set(jobs)
    out = result.stdout + result.stderr
    assert "--seed 3 --out results/smoke/data/patch/mnist5k/seed3 " in out
    assert out.count("--patch results/smoke/data/patch/mnist5k/seed3 ") == 3


def test_adding_a_pre_anneal_seed_adds_its_patch_draw_and_two_short_runs(smoke_run):
    override = smoke_run / "pre_anneal_seed_add.yaml"
    override.write_text(yaml.safe_dump({"studies": {"patch": {"pre_anneal_seeds": [2, 3]}}}))
    result = snakemake(smoke_run, "-n", "-p", "--configfile", "presets/smoke.yaml", str(override))
    jobs = planned_jobs(result)
    # large_lr and small_lr (read by claims 3b-3d), 2 epochs (anneal at 3); the full runs and their
    # aggregate stay; the claims now read seed 3 too
    assert (jobs.get("train"), jobs.get("patch_data"), jobs.get("aggregate_pre_anneal")) == (2, 1, 1)
    assert not {"aggregate", "figure_accuracy", "patch_examples"} & set(jobs)
    out = result.stdout + result.stderr
    assert out.count("--patch results/smoke/data/patch/mnist5k/seed3 ") == 2
    assert out.count('"epochs":2,') == 2 and out.count('"schedule":"act_noise"') == 0


@pytest.mark.parametrize(
    ("module", "expected", "unaffected"),
    [
        ("figures.py", {"figure_accuracy": 3, "patch_examples": 1}, {"train", "aggregate", "claims_study"}),
        ("claims.py", {"claims_study": 3, "claims": 1}, {"train", "aggregate", "figure_accuracy"}),
        ("train.py", {"train": 6 + 4 + 8, "aggregate": 3, "aggregate_pre_anneal": 1},
         {"synthetic_data", "image_data", "patch_data"}),
        ("data/patch.py", {"patch_data": 3, "train": 8}, {"synthetic_data", "image_data"}),
        ("models/two_layer.py", {"train": 6}, {"synthetic_data", "image_data", "patch_data"}),
        ("provenance.py", {"provenance": 1, "report_table": 1}, {"train", "aggregate", "figure_accuracy"}),
        ("report_tables.py", {"report_table": 5}, {"train", "aggregate", "provenance", "claims"}),
    ],
)
def test_code_edit_reruns_only_dependent_jobs(smoke_run, module, expected, unaffected):
    source = smoke_run / "src" / "lrorder" / module
    original = source.read_text()
    stat = source.stat()
    source.write_text(original + "\n# an edit\n")
    try:
        jobs = planned_jobs(snakemake(smoke_run, "-n", *SMOKE))
    finally:
        source.write_text(original)
        os.utime(source, (stat.st_atime, stat.st_mtime))
    assert {rule: jobs.get(rule) for rule in expected} == expected
    assert not unaffected & set(jobs)


def test_lint_is_clean(smoke_run):
    result = snakemake(smoke_run, "--lint")
    assert result.returncode == 0
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


@pytest.mark.parametrize(("seed", "planned"), [("seed7", True), ("seed07", False), ("seed00", False)])
def test_a_seed_has_one_spelling(tmp_path, seed: str, planned: bool) -> None:
    """Regression: the seed wildcard [0-9]+ took seed07 as a second name for seed 7 (another run, trained again)."""
    target = f"results/smoke/runs/synthetic/large_lr/{seed}/metrics.csv"
    result = snakemake(make_workdir(tmp_path), target, "-n", *SMOKE)
    assert (result.returncode == 0) is planned, result.stderr[-2000:]
    if planned:
        assert planned_jobs(result)["train"] == 1
    else:
        assert f"No rule to produce {target}" in result.stdout + result.stderr


def test_only_training_is_submitted_to_a_cluster():
    """Every rule but ``train``, ``train_cell`` (the train rule for sweep cells) and ``curvature`` (a run trained
    again, its curvature read every epoch) is marked ``localrule: True``
    (regression: ``aggregate_pre_anneal``, made by ``use rule``, which does not inherit the mark, was missing, so a
    SLURM campaign submitted a seconds-long aggregation as a cluster job)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        loaded = api.workflow(resource_settings=ResourceSettings(), snakefile=REPO / "Snakefile", workdir=REPO,
                              config_settings=ConfigSettings(configfiles=[REPO / "presets" / "smoke.yaml"]))
        workflow = loaded._workflow
        remote = {rule.name for rule in workflow.rules} - workflow._localrules
    assert remote == {"train", "train_cell", "curvature"}  # curvature: a run trained again, read every epoch


@pytest.fixture
def smoke_copy(smoke_run, tmp_path):
    """A copy of the finished smoke campaign (mtimes and Snakemake's records kept), free to damage."""
    copy = tmp_path / "smoke"
    shutil.copytree(smoke_run, copy, symlinks=True)
    assert planned_jobs(snakemake(copy, *DRY_RUN)) == {}
    return copy


# Dry runs in a copy judge by file times, checksums and presence (the subject of these tests), not by the
# recorded set of input files, which names the code of the checkout that ran the campaign.
DRY_RUN = ("-n", "--rerun-triggers", "mtime", *SMOKE)


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


# Jobs after the training runs of one study: aggregate, claims, figure, provenance and tables, manifest.
AFTER_ONE_STUDY = {"aggregate": 1, "claims_study": 1, "claims": 1, "figure_accuracy": 1, "provenance": 1,
                   "report_table": 3, "results_manifest": 1, "all": 1}


def test_smoke_results_manifest_verifies(smoke_run):
    listed = json.loads((smoke_run / "results" / "smoke" / "manifest.json").read_text())["files"]
    # runs (16 full, 2 pre-anneal), datasets, per study, pre-anneal aggregate, claims+provenance, examples, pages
    # (per study: aggregate metrics and summary, claims and their per-seed values, figure png and pdf; the
    # synthetic and patch studies' reliance figures, png and pdf)
    assert len(listed) == 3 * 18 + 6 + 3 * 6 + 2 + 2 + 2 + 5 + 2 * 2
    result = subprocess.run([sys.executable, "-m", "lrorder.verify", "smoke"], cwd=smoke_run, capture_output=True,
                            text=True)
    assert (result.returncode, result.stdout) == (0, (
        "ok: 1 campaign, 6 dataset manifests (57 arrays), 1 results manifest (93 files); "
        "every file present, every sha256 as listed\n"))


def test_changed_synthetic_array_makes_its_readers_stale(smoke_copy):
    array = smoke_copy / "results" / "smoke" / "data" / "synthetic" / "seed0" / "train_x.npy"
    flip_last_byte(array)
    assert planned_jobs(snakemake(smoke_copy, *DRY_RUN)) == {"train": 3, **AFTER_ONE_STUDY, "figure_reliance": 1}
    # the job stops at the dataset's checksum, naming the file
    target = "results/smoke/runs/synthetic/small_lr/seed0/metrics.csv"
    result = snakemake(smoke_copy, target, "--cores", "1", *SMOKE)
    assert result.returncode != 0
    log = (smoke_copy / "logs" / "smoke" / "train" / "synthetic" / "small_lr" / "seed0.log").read_text()
    assert f"error: {array.relative_to(smoke_copy)}: sha256 " in log


def test_changed_image_array_makes_patch_draws_and_runs_stale(smoke_copy):
    flip_last_byte(smoke_copy / "results" / "smoke" / "data" / "images" / "mnist5k" / "test_y.npy")
    jobs = planned_jobs(snakemake(smoke_copy, *DRY_RUN))
    assert jobs == {"patch_data": 3, "patch_examples": 1, "train": 4 + 8, "aggregate": 2, "aggregate_pre_anneal": 1,
                    "claims_study": 2, "claims": 1, "figure_accuracy": 2, "figure_reliance": 1, "provenance": 1,
                    "report_table": 4, "results_manifest": 1, "all": 1}


def test_removed_array_is_made_again(smoke_copy):
    (smoke_copy / "results" / "smoke" / "data" / "synthetic" / "seed1" / "zeta.npy").unlink()
    assert planned_jobs(snakemake(smoke_copy, *DRY_RUN)) == {"synthetic_data": 1, "train": 3, **AFTER_ONE_STUDY,
                                                             "figure_reliance": 1}


def test_removed_run_output_is_made_again(smoke_copy):
    (smoke_copy / "results" / "smoke" / "runs" / "clean" / "small_lr" / "seed1" / "model.pt").unlink()
    assert planned_jobs(snakemake(smoke_copy, *DRY_RUN)) == {"train": 1, **AFTER_ONE_STUDY}
