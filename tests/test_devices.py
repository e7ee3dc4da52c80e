"""Tests of lrorder.devices: device choice, one GPU per job, bf16 only where native (no GPU needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from lrorder import devices, train
from lrorder.errors import ConfigError

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
AUTO = {"precision": "auto", "channels_last": "auto"}


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize(("requested", "gpus"), [("cpu", 0), ("cpu", 1), ("auto", 0)])
def test_cpu_without_looking_for_a_gpu(one_gpu, requested: str, gpus: int) -> None:
    """auto uses a GPU only when the scheduler granted one, even where one is visible."""
    assert devices.pick_device(requested, gpus) == CPU


def test_auto_with_a_gpu_granted_and_visible(one_gpu) -> None:
    assert devices.pick_device("auto", 1) == CUDA


def test_auto_granted_a_gpu_it_cannot_see_says_so(no_gpu, capsys) -> None:
    assert devices.pick_device("auto", 1) == CPU
    err = capsys.readouterr().err
    assert err.startswith("training.device: auto with 1 GPU(s) granted, but torch ") and err.count("\n") == 1
    assert err.endswith("sees no CUDA device: training on the CPU\n")


def test_cuda_without_a_visible_gpu_stops(no_gpu, monkeypatch) -> None:
    """Regression: the paper preset trained WRN-16-10 on the CPU without a word."""
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ConfigError) as caught:
        devices.pick_device("cuda", 1)
    assert str(caught.value) == (
        f"training.device: 'cuda' but torch {torch.__version__} (built for no CUDA (a CPU-only build)) sees no CUDA "
        "device (CUDA_VISIBLE_DEVICES=unset): run on a GPU node with a CUDA build of torch (README, 'Running on "
        "GPUs'), or set training.device: cpu")
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match=r"built for CUDA 12.6\) sees no CUDA device \(CUDA_VISIBLE_DEVICES=''\)"):
        devices.pick_device("cuda", 1)


def test_cuda_without_a_granted_gpu_stops(one_gpu) -> None:
    """Regression: the hint named only --set-resources, which snakemake --resources gpu=0 overrides."""
    with pytest.raises(ConfigError) as err:
        devices.pick_device("cuda", 0)
    assert str(err.value) == ("training.device: 'cuda' but this job was granted no GPU (--gpus 0): allow GPUs with "
                              "snakemake --resources gpu=N (N >= 1; gpu=0 lowers every job's GPU to 0) and keep the "
                              "train rule's gpu resource at 1 (--set-resources train:gpu=1)")
    assert devices.pick_device("cuda", 1) == CUDA


def test_unknown_device() -> None:
    with pytest.raises(ConfigError, match="training.device: expected auto, cpu or cuda, got 'tpu'"):
        devices.pick_device("tpu", 1)


@pytest.mark.parametrize(("capability", "bf16"), [((6, 0), False), ((7, 0), False), ((7, 5), False),
                                                  ((8, 0), True), ((8, 6), True), ((9, 0), True)])
def test_auto_precision_is_bf16_only_where_native(capability: tuple[int, int], bf16: bool) -> None:
    """P100 / V100 / T4 emulate bf16: fp32 there; A100, RTX 30xx, H100: bf16 (compute capability >= 8)."""
    precision = train.Precision.resolve(AUTO, CUDA, capability=capability)
    assert precision.bf16 is bf16
    assert precision.memory_format is torch.channels_last
    assert precision.identity() == {"device": "cuda", "precision": "bf16" if bf16 else "fp32",
                                    "memory_format": "channels_last"}


def test_precision_asks_the_device_for_its_capability(monkeypatch) -> None:
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: asked.append(device) or (7, 0))
    assert not train.Precision.resolve(AUTO, CUDA).bf16
    assert asked == [CUDA]


def test_explicit_precision_is_kept() -> None:
    assert train.Precision.resolve({"precision": "bf16"}, CUDA, capability=(7, 0)).bf16
    assert not train.Precision.resolve({"precision": "fp32"}, CUDA, capability=(9, 0)).bf16
    assert not train.Precision.resolve(AUTO, CPU).bf16
    assert not devices.native_bf16(CPU)


HOLDER = textwrap.dedent("""
    import sys, time, filelock
    lock = filelock.FileLock(sys.argv[1])
    lock.acquire(timeout=0)
    print("held", flush=True)
    time.sleep(120)
""")


def hold(path: Path) -> subprocess.Popen:
    """Another process (another training job) holding the lock file ``path``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_each_job_claims_its_own_gpu(tmp_path: Path) -> None:
    names = ["gpu-a", "gpu-b", "gpu-c"]
    holder = hold(tmp_path / "gpu-a.lock")
    try:
        index, lock = devices.claim_slot(names, tmp_path)
        assert index == 1
        second, held = devices.claim_slot(names, tmp_path)  # a second job of this process's user
        assert second == 2 and held.is_locked
        lines: list[str] = []
        with pytest.raises(TimeoutError, match="all 3 slots held"):
            devices.claim_slot(names, tmp_path, lines.append, poll_seconds=0.01, timeout_seconds=0.05)
        assert lines == [f"waiting for a free GPU: all 3 visible GPUs are held by other training jobs (locks in "
                         f"{tmp_path}); give snakemake at most --resources gpu=3"]
        lock.release()
        assert devices.claim_slot(names, tmp_path)[0] == 1  # released: free again
    finally:
        holder.kill()
        holder.wait()
    assert devices.claim_slot(names, tmp_path)[0] == 0  # a killed job leaves its GPU free


def test_gpus_are_told_apart_by_uuid(tmp_path: Path, monkeypatch) -> None:
    """Under SLURM each job sees its own GPU as cuda:0: the lock names the GPU's UUID, not its index."""
    monkeypatch.setenv(devices.LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    uuids = {0: "11111111-aaaa", 1: "22222222-bbbb"}
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: type("Props", (), {"uuid": uuids[i]}))
    holder = hold(tmp_path / "gpu-11111111-aaaa.lock")
    try:
        device, lock = devices.claim_gpu()
        assert device == torch.device("cuda", 1)
        assert lock.lock_file == str(tmp_path / "gpu-22222222-bbbb.lock")
    finally:
        holder.kill()
        holder.wait()


def test_lock_dir_default_is_per_user(monkeypatch) -> None:
    monkeypatch.delenv(devices.LOCK_DIR_ENV, raising=False)
    assert devices.lock_dir() == Path(tempfile.gettempdir()) / f"lrorder-gpu-locks-{os.getuid()}"
