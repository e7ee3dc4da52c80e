"""Shared helpers of the benchmarks: timing, the ratio line, fake data in the datasets' formats."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Any, Callable, Mapping

import numpy as np


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (one clear usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn``, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_epoch_times(run_cfg: Mapping[str, Any], data: Any, device: Any,
                      on_epoch: Callable[[str], None] | None = None) -> list[float]:
    """Seconds of epochs 2, 3, ... of one :func:`lrorder.train.train` run, from the loop's own epoch lines.

    ``train`` logs one line at the end of every epoch (:func:`lrorder.train.epoch_line`),
    after reading the epoch's training loss with ``.item()``, which waits for the
    device; each line is stamped with ``time.perf_counter()`` as it arrives. The time
    between two consecutive stamps is one whole epoch as the loop runs it (the
    epoch's draws, the batches made, normalised and laid out, the steps, the loss and
    accuracy bookkeeping, and evaluation if the run scores that epoch). Epoch 1 has
    no start stamp and is not timed: it follows the run's one-off set-up (model
    construction, initialisation, first kernels). ``on_epoch(line)``, if given, is
    called after each stamp. Element ``i`` is epoch ``i + 2``; a run that diverges
    stops early, so the list may be shorter than ``epochs - 1``.
    """
    from lrorder import train  # here, so that the benchmarks that do not train need not import torch

    stamps: list[float] = []

    def log(line: str) -> None:
        if line.startswith("epoch "):  # not the divergence line, nor a resume note
            stamps.append(time.perf_counter())
            if on_epoch is not None:
                on_epoch(line)

    train.train(run_cfg, data, device, log=log)
    return [end - start for start, end in zip(stamps, stamps[1:])]


def bare_epoch_times(model: Any, optimizer: Any, batches: list[tuple[Any, Any]], epochs: int,
                     autocast: Callable[[], Any] = contextlib.nullcontext,
                     synchronize: Callable[[], None] | None = None) -> list[float]:
    """Seconds of each of ``epochs`` bare epochs of ``model`` over ``batches``, the reference of the overhead ratios.

    A bare step: forward under ``autocast()``, float32 cross-entropy, ``zero_grad``,
    backward, ``optimizer.step()``; nothing else (the batches are made, normalised
    and laid out in advance). ``synchronize`` (e.g. ``torch.cuda.synchronize``) is
    called before each start stamp and each end stamp, so that queued device work
    is counted in the epoch that queued it. The first epoch pays one-off set-up.
    """
    import torch.nn.functional as F

    model.train()
    times = []
    for _ in range(epochs):
        if synchronize is not None:
            synchronize()
        start = time.perf_counter()
        for x, y in batches:
            with autocast():
                out = model(x)
            loss = F.cross_entropy(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, measured: float, target: float, higher_is_better: bool, unit: str = "x") -> bool:
    """Print ``name: measured (target)`` and PASS / MISS; return whether the target is met."""
    ok = measured >= target if higher_is_better else measured <= target
    sign = ">=" if higher_is_better else "<="
    print(f"{name}: {measured:.2f}{unit} (target {sign} {target:g}{unit}) {'PASS' if ok else 'MISS'}")
    return ok


def cifar_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images ``(n, 32, 32, 3)`` and int64 labels in ``[0, 10)``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.int64)
