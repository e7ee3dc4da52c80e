"""Shared helpers of the benchmarks: timing, the ratio line, fake data in the datasets' formats."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

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
