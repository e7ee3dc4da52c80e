"""Where a training job runs: the device it asks for, one GPU of its own, bf16 only where it is native.

Three decisions a training job (:mod:`lrorder.train`) makes before it
trains, each recorded in its ``run.json``:

* :func:`pick_device`: ``training.device`` against the GPUs the scheduler
  granted the job (Snakemake's ``resources.gpu``, the train rule's
  ``--gpus``). ``cuda`` without a visible GPU stops at once, in one line,
  instead of training WRN-16-10 on the CPU for days.
* :func:`claim_gpu`: on a host with several visible GPUs, each job takes a
  GPU no other job of this user holds (an exclusive lock file per GPU, held
  until the process ends, killed or not); under SLURM a job sees only the
  GPU it was given, so the claim is immediate.
* :func:`native_bf16`: bf16 autocast only on GPUs with bf16 tensor cores
  (compute capability 8.0 or newer: A100, H100, RTX 30xx and later); V100
  and T4 would emulate it at a loss of speed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import filelock
import torch

from lrorder.errors import ConfigError

#: ``training.device`` values (config schema).
DEVICES = ("auto", "cpu", "cuda")

#: Environment variable naming the folder of the GPU lock files (default: ``<tmp>/lrorder-gpu-locks-<uid>``).
LOCK_DIR_ENV = "LRORDER_GPU_LOCK_DIR"

#: Seconds between two looks for a free GPU while all are held.
POLL_SECONDS = 10.0


def _cuda_build() -> str:
    """What torch was built for, for error messages: ``CUDA 12.6`` or ``no CUDA (a CPU-only build)``."""
    return f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only build)"


def pick_device(requested: str, gpus: int) -> torch.device:
    """The device a training job trains on (``torch.device("cpu")`` or ``torch.device("cuda")``).

    ``requested`` is ``training.device``; ``gpus`` the number of GPUs the
    scheduler granted the job (the train rule's ``resources.gpu``, 1 for a
    study whose device is ``cuda``: :func:`lrorder.plan.train_resources`).
    ``cpu``: the CPU. ``cuda``: a CUDA device, which must be granted and
    visible. ``auto``: CUDA when the job was granted a GPU and torch sees
    one, else the CPU (so a GPU is used only where the scheduler gave one).
    The CUDA device's index is chosen by :func:`claim_gpu`.

    Raises:
        ConfigError: an unknown name; ``cuda`` with ``gpus < 1`` or with no
            CUDA device visible to torch (one line naming the torch build,
            ``CUDA_VISIBLE_DEVICES`` and what to do).
    """
    if requested not in DEVICES:
        raise ConfigError(f"training.device: expected auto, cpu or cuda, got {requested!r}")
    if requested == "cpu" or (requested == "auto" and gpus < 1):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if requested == "auto":
            print(f"training.device: auto with {gpus} GPU(s) granted, but torch {torch.__version__} (built for "
                  f"{_cuda_build()}) sees no CUDA device: training on the CPU", file=sys.stderr, flush=True)
            return torch.device("cpu")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise ConfigError(
            f"training.device: 'cuda' but torch {torch.__version__} (built for {_cuda_build()}) sees no CUDA device"
            f" (CUDA_VISIBLE_DEVICES={'unset' if visible is None else repr(visible)}): run on a GPU node with a"
            f" CUDA build of torch (README, 'Running on GPUs'), or set training.device: cpu")
    if gpus < 1:
        raise ConfigError("training.device: 'cuda' but this job was granted no GPU (--gpus 0): allow GPUs with "
                          "snakemake --resources gpu=N (N >= 1; gpu=0 lowers every job's GPU to 0) and keep the "
                          "train rule's gpu resource at 1 (--set-resources train:gpu=1)")
    return torch.device("cuda")


def lock_dir() -> Path:
    """The folder of the GPU lock files: ``$LRORDER_GPU_LOCK_DIR`` or ``<tmp>/lrorder-gpu-locks-<uid>``."""
    default = Path(tempfile.gettempdir()) / f"lrorder-gpu-locks-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_ENV) or default)


def claim_slot(names: Sequence[str], folder: Path, log: Callable[[str], None] | None = None,
               poll_seconds: float = POLL_SECONDS, timeout_seconds: float | None = None,
               ) -> tuple[int, filelock.BaseFileLock]:
    """The index of the first of ``names`` whose lock in ``folder`` this process acquires, and the lock.

    Each name has an exclusive lock file ``<folder>/<name>.lock``
    (:mod:`filelock`: ``flock`` on POSIX, released by the kernel when the
    process ends, so a killed job never leaves a GPU held). Keep the
    returned lock alive for as long as the slot is used. While every slot
    is held, ``log`` (if given) gets one line and the names are tried
    again every ``poll_seconds``.

    Raises:
        ValueError: ``names`` is empty.
        TimeoutError: ``timeout_seconds`` (``None``: wait for ever) passed with every slot held.
        OSError: ``folder`` cannot be created.
    """
    if not names:
        raise ValueError("no slots to claim")
    folder.mkdir(parents=True, exist_ok=True)
    locks = [filelock.FileLock(folder / f"{name}.lock") for name in names]
    start = time.monotonic()
    said = False
    while True:
        for index, lock in enumerate(locks):
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                continue
            return index, lock
        if timeout_seconds is not None and time.monotonic() - start >= timeout_seconds:
            raise TimeoutError(f"all {len(names)} slots held (locks in {folder})")
        if log is not None and not said:
            log(f"waiting for a free GPU: all {len(names)} visible GPUs are held by other training jobs (locks in "
                f"{folder}); give snakemake at most --resources gpu={len(names)}")
            said = True
        time.sleep(poll_seconds)


def claim_gpu(log: Callable[[str], None] | None = None) -> tuple[torch.device, filelock.BaseFileLock]:
    """A CUDA device no other training job of this user holds, and the lock that holds it.

    GPUs are told apart by their UUID, not their index, so jobs that see
    different ``CUDA_VISIBLE_DEVICES`` (SLURM gives each job its own GPU as
    ``cuda:0``) never block each other. The lock lives until the returned
    object is released or the process ends.

    Raises:
        OSError: the lock folder (:func:`lock_dir`) cannot be created.
    """
    uuids = [f"gpu-{torch.cuda.get_device_properties(i).uuid}" for i in range(torch.cuda.device_count())]
    index, lock = claim_slot(uuids, lock_dir(), log)
    return torch.device("cuda", index), lock


def native_bf16(device: torch.device, capability: tuple[int, int] | None = None) -> bool:
    """Whether ``device`` runs bf16 natively: a CUDA device of compute capability 8.0 or newer.

    ``capability`` (major, minor) defaults to
    ``torch.cuda.get_device_capability(device)``; the CPU returns ``False``
    (bf16 autocast there is slower than float32 on most CPUs and changes
    every number of the CPU-calibrated default study).
    """
    if device.type != "cuda":
        return False
    major, _ = capability if capability is not None else torch.cuda.get_device_capability(device)
    return major >= 8


def describe(device: torch.device) -> dict[str, object]:
    """What ``run.json`` records of ``device``: name and compute capability of a CUDA device, ``None`` on the CPU."""
    if device.type != "cuda":
        return {"name": None, "index": None, "compute_capability": None}
    major, minor = torch.cuda.get_device_capability(device)
    return {"name": torch.cuda.get_device_name(device), "index": device.index,
            "compute_capability": f"{major}.{minor}"}
