"""Derived random streams: one run seed fixes every random choice.

Each consumer (parameter init, data order, pre-activation noise, gradient
noise, data generation) draws from its own stream, derived from the run seed,
a stream name and, where it applies, the epoch. A stream that depends only on
``(seed, name, epoch)`` needs no saved state, so a resumed run draws exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def derive_seed(seed: int, stream: str, *keys: int) -> int:
    """Return a 63-bit seed for ``stream`` derived from ``seed`` and integer ``keys``.

    Uses :class:`numpy.random.SeedSequence` so that nearby seeds give
    independent streams.
    """
    entropy = [int(seed), zlib.crc32(stream.encode("utf-8")), *map(int, keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A NumPy PCG64 generator for ``stream`` (platform-independent draws)."""
    return np.random.default_rng(derive_seed(seed, stream, *keys))


def torch_generator(seed: int, stream: str, *keys: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded for ``stream``.

    torch is imported here rather than with the module: the dataset
    generators use only :func:`numpy_rng` and would otherwise pay about 1 s
    per job importing torch.
    """
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, stream, *keys))
    return gen
