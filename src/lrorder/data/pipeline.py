"""Image batches as tensor ops: normalise, augment, in memory (no per-sample Python).

The whole dataset lives on the training device as uint8 ``(N, H, W, C)``;
each batch is sliced from it, converted to normalised float ``(B, C, H, W)``
and, when asked, augmented as in the official code (``train_util.py``:
reflect-pad 4, random crop back to the image size, horizontal flip with
probability 1/2). The random draws of an epoch are made once for the whole
training set from a generator seeded by ``(seed, epoch)``, so an example's
augmentation depends only on ``(seed, epoch, index)``, not on the batch it
lands in, and a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from lrorder import seeding

PAD = 4  # official train_util.py: transforms.RandomCrop(32, padding=4, padding_mode="reflect")


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, C)`` -> float32 ``(B, C, H, W)``, ``(x/255 - mean) / std`` per channel.

    ``mean`` and ``std`` are float32 ``(C,)`` in units of pixel/255.
    """
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean[:, None, None]) / std[:, None, None]


@dataclass(frozen=True)
class AugmentDraws:
    """One epoch's augmentation draws for every training example.

    Attributes:
        offset: int64 ``(N, 2)``, crop offsets (row, col) in ``[0, 2 * PAD]``.
        flip: bool ``(N,)``, horizontal flip.
    """

    offset: torch.Tensor
    flip: torch.Tensor


def augment_draws(seed: int, epoch: int, n: int, device: torch.device | str) -> AugmentDraws:
    """Draw the epoch's crops and flips on the CPU (same values on any device), then move them."""
    gen = seeding.torch_generator(seed, "augment", epoch)
    offset = torch.randint(0, 2 * PAD + 1, (n, 2), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    return AugmentDraws(offset.to(device), flip.to(device))


def augment(x: torch.Tensor, offset: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Reflect-pad by 4, crop each image at its ``offset``, flip where ``flip``.

    One ``gather`` over the padded batch does the crop and the flip (the
    flip is folded into the column index).

    Args:
        x: float ``(B, C, H, W)``; offset: int64 ``(B, 2)``; flip: bool ``(B,)``.

    Returns:
        float ``(B, C, H, W)``.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (PAD, PAD, PAD, PAD), mode="reflect")
    j = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], w - 1 - j, j) + offset[:, 1, None]  # (B, W)
    rows = offset[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    index = (rows[:, :, None] * (w + 2 * PAD) + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, index).reshape(b, c, h, w)


def channel_stats(values: Sequence[float], device: torch.device | str) -> torch.Tensor:
    """Per-channel constants as a float32 ``(C,)`` tensor on ``device``."""
    return torch.tensor(list(values), dtype=torch.float32, device=device)
