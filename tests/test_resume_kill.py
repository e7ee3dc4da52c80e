"""SIGKILL a training job at three points; the rerun resumes and ends byte-identical.

Each kill is a real ``SIGKILL`` of the ``python -m lrorder.train`` process,
sent by the process itself at a chosen point (a hook installed by a small
driver script before ``lrorder.train.main`` runs), so nothing gets a chance
to clean up:

* ``step``: in the middle of epoch 3, between two SGD steps;
* ``checkpoint``: while writing the checkpoint of epoch 4 (its temporary file
  half-written);
* ``outputs``: after the last epoch, with ``model.pt`` written and
  ``metrics.csv`` written to its temporary file but not yet renamed.

The second, unhooked start must resume from the last complete checkpoint and
write ``metrics.csv`` and ``model.pt`` byte for byte equal to those of an
uninterrupted run (CPU, deterministic algorithms).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest
import torch

from lrorder.data import synthetic

from fakes import complete_run_config, make_synthetic_dataset

PARAMS = synthetic.SyntheticParams(n_train=200, n_test=200, p_dim=20, q_dim=4)
EPOCHS = 6
STEPS_PER_EPOCH = 4  # 200 examples, batch 50

#: Momentum, gradient noise and pre-activation noise, so that the optimiser
#: state and every random stream must be restored exactly.
RUN_CONFIG = complete_run_config({
    "study": "synthetic", "kind": "synthetic", "schedule": "large_lr", "seed": 3,
    "model": {"name": "two_layer", "width": 8, "activation": "leaky_relu", "negative_slope": 0.1,
              "split_at": None, "noise_shared_over_batch": False},
    "training": {"epochs": EPOCHS, "batch_size": 50, "momentum": 0.9, "nesterov": False,
                 "weight_decay": 1e-4, "device": "cpu"},
    "lr": {"initial": 0.5, "milestones": [4], "factors": [0.1]},
    "preact_noise": {"initial": 0.3, "milestones": [5], "factors": [0.0]},
    "grad_noise": {"initial": 0.01, "milestones": [], "factors": []},
}, ["test", "test_both", "test_p_only", "test_q_only"])

DRIVER = r'''
import contextlib, os, signal, sys
import torch
from lrorder import fileio, sgd, train

point, argv = sys.argv[1], sys.argv[2:]
calls = {"n": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "step":  # in the middle of epoch 3: after 2 epochs + 2 SGD steps
    real_step = sgd.SGD.step
    def step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * {steps} + 3:
            die()
        return real_step(self, *args, **kwargs)
    sgd.SGD.step = step
elif point == "checkpoint":  # writing the 4th checkpoint: half its bytes on disk, then killed
    real_write = fileio.write_bytes
    def write_bytes(path, data, durable=True):
        if str(path).endswith("checkpoint.pt"):
            calls["n"] += 1
            if calls["n"] == 4:
                with fileio.atomic_path(path, durable) as tmp:
                    tmp.write_bytes(data[: len(data) // 2])
                    die()
        real_write(path, data, durable)
    fileio.write_bytes = write_bytes
elif point == "outputs":  # metrics.csv in its temporary file, not yet renamed
    real_atomic = fileio.atomic_path
    @contextlib.contextmanager
    def atomic_path(path, durable=True):
        with real_atomic(path, durable) as tmp:
            yield tmp
            if str(path).endswith("metrics.csv"):
                die()
    fileio.atomic_path = atomic_path
train.main(argv)
'''.replace("{steps}", str(STEPS_PER_EPOCH))

#: Kill point -> last complete checkpoint epoch the rerun resumes from.
KILL_POINTS = {"step": 2, "checkpoint": 3, "outputs": EPOCHS}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data"), PARAMS, seed=3)


def run_train(data_dir: Path, out: Path, driver: Path | None = None, point: str = "", log: Path | None = None,
              env: dict | None = None, extra: Sequence[str] = (), cpus: set[int] | None = None,
              run_config: dict | None = None) -> subprocess.CompletedProcess:
    """Run a training job; with ``log``, its stdout and stderr are appended to it (``>> log 2>&1``),
    with ``--attempt-log log``; ``env`` replaces the environment; ``extra`` adds arguments
    (``--threads 2``); ``cpus`` restricts the CPUs the job may run on; ``run_config`` replaces
    :data:`RUN_CONFIG`."""
    args = ["--data", str(data_dir), "--run-config", json.dumps(run_config or RUN_CONFIG),
            "--out-metrics", str(out / "metrics.csv"), "--out-model", str(out / "model.pt"),
            "--out-run", str(out / "run.json"), "--checkpoint", str(out / "checkpoint.pt"), *extra]
    command = [sys.executable, str(driver), point, *args] if driver else [sys.executable, "-m", "lrorder.train", *args]
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    if log is None:
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, preexec_fn=pin)
    with open(log, "a") as fh:
        return subprocess.run([*command, "--attempt-log", str(log)], stdout=fh, stderr=subprocess.STDOUT,
                              text=True, timeout=300, env=env, preexec_fn=pin)


@pytest.fixture(scope="module")
def uninterrupted(data_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    result = run_train(data_dir, out)
    assert result.returncode == 0, result.stderr
    (out / "stdout.txt").write_text(result.stdout)
    return out


def test_uninterrupted_outputs_are_reproducible(data_dir: Path, uninterrupted: Path, tmp_path: Path) -> None:
    """Two uninterrupted runs give identical bytes (model.pt used to embed its temporary file name)."""
    result = run_train(data_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("metrics.csv", "model.pt"):
        assert (tmp_path / name).read_bytes() == (uninterrupted / name).read_bytes(), name


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_is_byte_identical(point: str, data_dir: Path, uninterrupted: Path, tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"

    killed = run_train(data_dir, out, driver, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "metrics.csv").exists()  # nothing that looks complete
    assert not (out / "run.json").exists()
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    assert saved["epoch"] == KILL_POINTS[point]

    resumed = run_train(data_dir, out)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "run.json").read_text())["resumed_from_epoch"] == KILL_POINTS[point]
    assert resumed.stdout.startswith(f"resuming from the checkpoint of epoch {KILL_POINTS[point]}: ")
    assert not (out / "checkpoint.pt").exists()
    for name in ("metrics.csv", "model.pt"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name


def kill_after_epoch_2(data_dir: Path, tmp_path: Path, **kwargs) -> Path:
    """A job SIGKILLed in epoch 3 (``step``), its checkpoint that of epoch 2; returns its output folder."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    killed = run_train(data_dir, out, driver, "step", **kwargs)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    return out


def test_truncated_checkpoint_is_set_aside_and_run_starts_over(data_dir: Path, uninterrupted: Path,
                                                               tmp_path: Path) -> None:
    """A checkpoint cut to half its bytes used to fail every relaunch until deleted by hand."""
    out = kill_after_epoch_2(data_dir, tmp_path)
    ckpt = out / "checkpoint.pt"
    truncated = ckpt.read_bytes()[: ckpt.stat().st_size // 2]
    ckpt.write_bytes(truncated)

    rerun = run_train(data_dir, out)
    assert rerun.returncode == 0, rerun.stderr
    # the exception torch raises depends on where the cut lands in the archive
    (line,) = rerun.stderr.splitlines()
    assert re.fullmatch(rf"{re.escape(str(ckpt))}: not a readable checkpoint \((RuntimeError|ValueError)\); "
                        rf"moved to {re.escape(str(ckpt))}\.corrupt-1, starting over from epoch 1", line), line
    assert (out / "checkpoint.pt.corrupt-1").read_bytes() == truncated
    assert json.loads((out / "run.json").read_text())["resumed_from_epoch"] == 0
    assert rerun.stdout.startswith("epoch 1/6 ")
    assert not ckpt.exists()
    for name in ("metrics.csv", "model.pt"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name


def test_attempt_log_keeps_the_killed_attempt(data_dir: Path, uninterrupted: Path, tmp_path: Path) -> None:
    """Both attempts' lines stay in the appended log, each attempt opened by its numbered marker."""
    log = tmp_path / "seed3.attempts.log"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}
    out = kill_after_epoch_2(data_dir, tmp_path, log=log, env=env)
    resumed = run_train(data_dir, out, log=log, env={**env, "SLURM_JOB_ID": "4242"})
    assert resumed.returncode == 0, log.read_text()

    epochs = (uninterrupted / "stdout.txt").read_text().splitlines()
    assert [line.split(" lr ")[0] for line in epochs] == [f"epoch {e}/{EPOCHS}" for e in range(1, EPOCHS + 1)]
    lines = log.read_text().splitlines()
    when = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
    host = re.escape(socket.gethostname())
    assert re.fullmatch(rf"=== attempt 1 started {when} on {host} ===", lines[0]), lines[0]
    assert re.fullmatch(rf"=== attempt 2 started {when} on {host} \(SLURM job 4242\) ===", lines[3]), lines[3]
    assert lines[1:3] == epochs[:2]
    assert lines[4:] == [f"resuming from the checkpoint of epoch 2: {out / 'checkpoint.pt'}", *epochs[2:]]


# --------------------------------------------------------------------------- thread count of a resumed run

RUN = "synthetic/large_lr/seed3"


def _no_slurm() -> dict:
    return {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}


def test_resume_reapplies_the_checkpoints_thread_count(data_dir: Path, uninterrupted: Path, tmp_path: Path) -> None:
    """Killed at 1 thread, resumed with --threads 2: the run goes on at 1 thread, says so in one line,
    records both segments, and ends byte-identical to the uninterrupted 1-thread run."""
    out = kill_after_epoch_2(data_dir, tmp_path, env=_no_slurm())
    assert torch.load(out / "checkpoint.pt", weights_only=True)["threads"] == 1
    resumed = run_train(data_dir, out, env={**_no_slurm(), "SLURM_JOB_ID": "4242"}, extra=["--threads", "2"])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines() == [
        f"{RUN}: resuming with the checkpoint's 1 threads instead of 2 (a run keeps its thread count)"]
    run = json.loads((out / "run.json").read_text())
    host = socket.gethostname()
    assert run["segments"] == [
        {"from_epoch": 1, "to_epoch": 2, "threads": 1, "host": host, "slurm_job_id": None},
        {"from_epoch": 3, "to_epoch": EPOCHS, "threads": 1, "host": host, "slurm_job_id": "4242"},
    ]
    assert run["device"]["threads"] == 1
    for name in ("metrics.csv", "model.pt"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name


def test_uninterrupted_run_has_one_segment(uninterrupted: Path) -> None:
    run = json.loads((uninterrupted / "run.json").read_text())
    assert run["segments"] == [{"from_epoch": 1, "to_epoch": EPOCHS, "threads": 1, "host": socket.gethostname(),
                                "slurm_job_id": os.environ.get("SLURM_JOB_ID")}]


def test_resume_on_too_few_cpus_is_refused_in_one_line(data_dir: Path, tmp_path: Path) -> None:
    """Killed at 2 threads, restarted on 1 CPU: refused, checkpoint kept; on 2 CPUs it resumes at 2 threads."""
    out = kill_after_epoch_2(data_dir, tmp_path, env=_no_slurm(), extra=["--threads", "2"])
    one_cpu = {min(os.sched_getaffinity(0))}
    refused = run_train(data_dir, out, env=_no_slurm(), cpus=one_cpu)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"error: {RUN}: the checkpoint was written with 2 threads, this job has 1 threads and 1 CPUs allowed; "
        "resuming would change the results: run it on 2 CPUs (--set-threads train=2) "
        "or delete the checkpoint to start over"]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert not (out / "run.json").exists() and not (out / "metrics.csv").exists()
    if len(os.sched_getaffinity(0)) < 2:
        return
    resumed = run_train(data_dir, out, env=_no_slurm())
    assert resumed.returncode == 0, resumed.stderr
    run = json.loads((out / "run.json").read_text())
    assert [(s["from_epoch"], s["to_epoch"], s["threads"]) for s in run["segments"]] == [(1, 2, 2), (3, EPOCHS, 2)]


# --------------------------------------------------------------------------- training.cpu_kernels

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def _unpinned() -> dict:
    return {k: v for k, v in os.environ.items() if k not in PINNED}


def test_cpu_kernels_avx2_pins_the_job_and_is_recorded(data_dir: Path, tmp_path: Path) -> None:
    """Run by hand without the variables, the job restarts itself with them before torch loads."""
    cfg = {**RUN_CONFIG, "training": {**RUN_CONFIG["training"], "cpu_kernels": "avx2"}}
    result = run_train(data_dir, tmp_path, env=_unpinned(), run_config=cfg)
    assert result.returncode == 0, result.stderr
    device = json.loads((tmp_path / "run.json").read_text())["device"]
    assert device["cpu_kernels"] == "avx2"
    assert device["cpu_kernel_env"] == PINNED
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):  # a CPU without AVX2 stays lower
        assert device["cpu_capability"] == "AVX2"


def test_cpu_kernels_native_records_the_inherited_level(data_dir: Path, tmp_path: Path) -> None:
    result = run_train(data_dir, tmp_path, env={**_unpinned(), "ATEN_CPU_CAPABILITY": "default"})
    assert result.returncode == 0, result.stderr
    device = json.loads((tmp_path / "run.json").read_text())["device"]
    assert device["cpu_kernels"] == "native"
    assert device["cpu_kernel_env"] == {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": None,
                                        "MKL_CBWR": None}
    assert device["cpu_capability"] == "DEFAULT"
