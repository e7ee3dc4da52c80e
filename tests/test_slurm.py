"""The workflow on a real SLURM cluster through profiles/slurm (snakemake-executor-plugin-slurm).

Needs a running SLURM whose default partition can run jobs (``.ci/run``
starts a single-node one with ``.ci/slurm/start-local-slurm.sh``). Without
one these tests are skipped, unless ``LRORDER_REQUIRE_SLURM=1``, in which
case they fail.

The local test cluster has no accounting database and no GPUs, so the runs
below add to the profile: ``--slurm-status-command squeue`` (``sacct`` does
not work there), a short first status check, and CPU-only training
resources. The GPU request of a study with ``training.device: cuda`` (the
train rule's ``gpu`` resource plus the profile's ``cpus_per_gpu``) is
checked from the plugin's logged ``sbatch`` call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from workflow_utils import SMOKE, make_workdir, run_concurrently, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

#: Profile overrides for the local test cluster (see the module docstring).
LOCAL_CLUSTER = (
    "--workflow-profile", "profiles/slurm",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--jobs", "8",
    "--set-threads", "train=1",
    "--slurm-keep-successful-logs",
)
CPU_TRAINING = ("--set-resources", "train:mem_mb=1000", "train:runtime=10")


def cluster_ready() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:  # sinfo keeps retrying while no controller answers
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return state.returncode == 0 and any(s.strip("*") in {"idle", "mix"} for s in state.stdout.split())


NO_CLUSTER = "no SLURM cluster with an idle node (start one with .ci/slurm/start-local-slurm.sh)"
if not cluster_ready():  # checked before any fixture (the session's local smoke run) is set up
    if os.environ.get("LRORDER_REQUIRE_SLURM") == "1":
        pytest.fail(NO_CLUSTER + "; LRORDER_REQUIRE_SLURM=1", pytrace=False)
    pytestmark.append(pytest.mark.skip(reason=NO_CLUSTER))


TIMEOUT_TARGET = "results/timeout/runs/clean/large_lr/seed0/metrics.csv"
TIMEOUT_LAYER = {
    "tag": "timeout",
    # 100 epochs at 1-3 s each (a quiet fast machine to a 2-core one shared with the smoke
    # campaign): over the first attempt's minute, under the second attempt's 7 minutes.
    "studies": {"clean": {"model": {"widths": [16, 32, 64]}, "training": {"epochs": 100, "bn_eval": "running"},
                          "schedules": {"large_lr": {"lr": {"milestones": [50]}},
                                        "small_lr": {"lr": {"milestones": [50]}}}}},
}


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory):
    """Two Snakemake runs on the cluster at once (most of their time is the plugin's status polling).

    ``timeout``: one 100-epoch training run (2-5 minutes) with a time limit
    of ``6 * attempt - 5`` minutes, so that the first attempt is killed at its
    limit. ``smoke``: the smoke preset, CPU training; it starts once the first
    attempt has written its first checkpoint, since on a 2-core machine the
    smoke jobs could otherwise hold the CPUs until the first minute is over
    (the retry would then have nothing to resume from).
    Returns ``{name: (workdir, returncode, log)}``.
    """
    smoke = make_workdir(tmp_path_factory.mktemp("slurm_smoke"))
    timeout = make_workdir(tmp_path_factory.mktemp("slurm_timeout"))
    layer = timeout / "timeout.yaml"
    layer.write_text(yaml.safe_dump(TIMEOUT_LAYER))
    return run_concurrently({
        "timeout": (timeout, [TIMEOUT_TARGET, *LOCAL_CLUSTER, "--set-resources", "train:mem_mb=1000",
                              "train:runtime=6 * attempt - 5", "--configfile", "presets/smoke.yaml", str(layer)]),
        "smoke": (smoke, [*LOCAL_CLUSTER, *CPU_TRAINING, *SMOKE]),
    }, timeout=1200, start_after=(timeout / TIMEOUT_TARGET).with_name("checkpoint.pt"))


@pytest.fixture(scope="module")
def slurm_smoke(campaigns):
    workdir, returncode, log = campaigns["smoke"]
    assert returncode == 0, log[-4000:]
    return workdir, log


def run_files(workdir):
    root = workdir / "results" / "smoke"
    return sorted(p.relative_to(root) for p in root.glob("runs/*/*/seed*/*") if p.suffix in {".csv", ".pt"})


def test_smoke_on_slurm_equals_local_run(slurm_smoke, smoke_run):
    workdir, _ = slurm_smoke
    files = run_files(workdir)
    assert len(files) == 2 * 18 and files == run_files(smoke_run)  # metrics.csv + model.pt of 18 runs
    for relative in [*files, "claims.csv", "aggregate/synthetic/summary.csv", "aggregate/patch/summary.csv"]:
        slurm = (workdir / "results" / "smoke" / relative).read_bytes()
        assert slurm == (smoke_run / "results" / "smoke" / relative).read_bytes(), relative


def test_training_jobs_went_through_sbatch(slurm_smoke):
    workdir, log = slurm_smoke
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    assert len(submitted) == 18, log[-3000:]  # the training jobs only; the rest are local rules
    provenance = pd.read_csv(workdir / "results" / "smoke" / "provenance.tsv", sep="\t", dtype={"slurm_job_id": str})
    assert set(provenance["slurm_job_id"]) == submitted
    for job_id in submitted:  # the job's own SLURM log exists
        assert list((workdir / ".snakemake" / "slurm_logs" / "rule_train").glob(f"*/{job_id}.log")), job_id


#: A layer over the smoke preset: its synthetic study trains on CUDA (the train rule then asks for a GPU).
CUDA_LAYER = {"studies": {"synthetic": {"training": {"device": "cuda"}}}}


def sbatch_call(workdir, *extra: str, cuda: bool = True) -> str:
    """The plugin's logged sbatch call of one training job of the smoke preset's synthetic study, with
    ``training.device: cuda`` (:data:`CUDA_LAYER`) or the preset's ``cpu`` (the test cluster has no GPU:
    sbatch refuses a GPU job; a CPU job runs, for seconds)."""
    target = "results/smoke/runs/synthetic/large_lr/seed0/metrics.csv"
    layer = workdir / "cuda.yaml"
    layer.write_text(yaml.safe_dump(CUDA_LAYER))
    result = snakemake(workdir, target, "--workflow-profile", "profiles/slurm", "--slurm-status-command", "squeue",
                       "--slurm-init-seconds-before-status-checks", "2", "--retries", "0", "--verbose", *SMOKE,
                       *([str(layer)] if cuda else []), *extra, timeout=300)
    calls = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("sbatch call: ")]
    assert len(calls) == 1, result.stderr[-3000:]
    return calls[0]


def test_training_sbatch_call_requests_a_gpu(tmp_path):
    """A cuda study's training job gets one GPU (the train rule's resources) and the profile's resources;
    a cpu study's gets none (cpus_per_gpu applies to GPU jobs only)."""
    workdir = make_workdir(tmp_path)
    call = sbatch_call(workdir)
    for flag in ("--gpus=1", "--cpus-per-gpu=4", "--mem 16000", "-t 240"):
        assert flag in call, flag
    cpu = sbatch_call(workdir, cuda=False)
    for flag in ("--cpus-per-task=1", "--mem 16000", "-t 240"):
        assert flag in cpu, flag
    assert "--gpus" not in cpu and "--cpus-per-gpu" not in cpu


def test_set_resources_on_the_command_line_replaces_the_train_block(tmp_path):
    """The README's recipe: one key on the command line loses the profile's others; all of them keep them.
    The rule's own gpu resource stays either way."""
    workdir = make_workdir(tmp_path)
    one_key = sbatch_call(workdir, "--set-resources", "train:gpu_model=a100")
    assert "--gpus=a100:1" in one_key and "-t 30" in one_key and "--mem 4000" in one_key
    assert "--cpus-per-gpu" not in one_key
    recipe = sbatch_call(workdir, "--set-resources", "train:gpu_model=a100", "train:cpus_per_gpu=4",
                         "train:mem_mb=16000 * attempt", "train:runtime=240 * attempt")
    for flag in ("--gpus=a100:1", "--cpus-per-gpu=4", "--mem 16000", "-t 240"):
        assert flag in recipe, flag


def test_sacct_without_accounting_stops_before_submitting(tmp_path):
    """The profile's default status command on a cluster without accounting: one line, exit 1, no job."""
    workdir = make_workdir(tmp_path)
    target = "results/smoke/runs/synthetic/large_lr/seed0/metrics.csv"
    result = snakemake(workdir, target, "--workflow-profile", "profiles/slurm", *CPU_TRAINING, *SMOKE, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: SLURM accounting does not answer (sacct exited with 1: Slurm accounting storage is disabled), so "
        "finished jobs would never be seen: add --slurm-status-command squeue to the command line, or set "
        "slurm-status-command: squeue in profiles/slurm/config.yaml")
    assert "submitted with SLURM jobid" not in result.stdout + result.stderr


def test_time_limit_kill_is_retried_with_more_time_and_resumes(campaigns):
    """A training job that outlives its 1-minute limit is killed, resubmitted with 7 minutes, and resumes."""
    workdir, returncode, log = campaigns["timeout"]
    assert returncode == 0, log[-4000:]
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(job_ids) == 2, log[-4000:]
    first = next((workdir / ".snakemake" / "slurm_logs" / "rule_train").glob(f"*/{job_ids[0]}.log")).read_text()
    assert "DUE TO TIME LIMIT" in first
    assert f"SLURM-job '{job_ids[0]}' failed, SLURM status is: 'TIMEOUT'" in log
    run = json.loads((workdir / TIMEOUT_TARGET).with_name("run.json").read_text())
    assert run["slurm_job_id"] == job_ids[1]
    assert run["resumed_from_epoch"] > 0
    metrics = pd.read_csv(workdir / TIMEOUT_TARGET)
    assert metrics[metrics["eval_set"] == "train"]["epoch"].tolist() == list(range(1, 101))


#: A sweep over the smoke preset's synthetic study: 3 LRs x 2 anneal epochs, one seed: 6 runs of cells.
SWEEP_LAYER = {"studies": {"synthetic": {"seeds": [0], "sweeps": {
    "map": {"base": "large_lr", "axes": {"lr": [0.1, 0.2, 0.4], "anneal": [3, 5]}}}}}}
SWEEP_RUNS_PER_JOB = 4


def test_sweep_runs_share_sbatch_jobs_and_equal_a_local_run(tmp_path):
    """The runs of sweep cells go N to a sbatch job (the profile's group-components): 6 runs in ceil(6 / 4) = 2
    jobs, beside one job per declared schedule's run, and their outputs are those of a local run, byte for byte."""
    cluster = make_workdir(tmp_path / "cluster")
    local = make_workdir(tmp_path / "local")
    for workdir in (cluster, local):
        (workdir / "sweep.yaml").write_text(yaml.safe_dump(SWEEP_LAYER))
    on_slurm = snakemake(cluster, "maps", *LOCAL_CLUSTER, *CPU_TRAINING, "train_cell:mem_mb=200", "train_cell:runtime=10",
                         "--group-components", f"sweep_runs={SWEEP_RUNS_PER_JOB}", *SMOKE, "sweep.yaml", timeout=900)
    log = on_slurm.stdout + on_slurm.stderr
    assert on_slurm.returncode == 0, log[-4000:]
    here = snakemake(local, "--cores", "2", "maps", *SMOKE, "sweep.yaml", timeout=900)
    assert here.returncode == 0, here.stderr[-3000:]

    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) == 3 + 2, log[-4000:]  # large_lr, small_lr, small_lr_noise; then the 6 cells in 2 groups
    root = "results/smoke/runs/synthetic"
    cells = sorted(p.parent.name for p in (cluster / root).glob("map_*/seed0"))
    assert len(cells) == 6
    jobs = {json.loads((cluster / root / cell / "seed0" / "run.json").read_text())["slurm_job_id"] for cell in cells}
    assert len(jobs) == 2 and jobs <= set(submitted)
    for cell in cells:
        for name in ("metrics.csv", "model.pt"):
            assert (cluster / root / cell / "seed0" / name).read_bytes() == (local / root / cell / "seed0" / name).read_bytes()
    table = "results/smoke/maps/synthetic/map.csv"
    assert (cluster / table).read_bytes() == (local / table).read_bytes()
