"""Gaussian pre-activation noise, the paper's mitigation for a small LR.

The official code (``cwein3/large-lr-code``, ``models/wideresnet.py``,
``forward_noise``) adds ``sigma * randn(H, W)`` after each BatchNorm and
before each ReLU: one spatial map per layer and step, broadcast over batch
and channels, in training only. :class:`PreActivationNoise` generalises the
shape: the noise covers the last ``shared_trailing_dims`` dimensions and is
broadcast over the others; ``None`` draws it independently for every
element.
"""

from __future__ import annotations

import torch
from torch import nn


class PreActivationNoise(nn.Module):
    """Add ``sigma * N(0, 1)`` to its input in training mode; identity in eval mode.

    ``sigma`` (float, >= 0) and the random generator are set for all
    noise layers of a model at once by :func:`set_preactivation_noise`.

    Args:
        shared_trailing_dims: noise tensor has the shape of the input's last
            this-many dimensions and is broadcast over the rest (2 for the
            official ``(H, W)`` map); ``None`` for independent noise per element.
    """

    def __init__(self, shared_trailing_dims: int | None = None) -> None:
        super().__init__()
        self.shared_trailing_dims = shared_trailing_dims
        self.sigma = 0.0
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return x
        shape = x.shape if self.shared_trailing_dims is None else x.shape[x.dim() - self.shared_trailing_dims :]
        noise = torch.randn(shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return x + self.sigma * noise

    def extra_repr(self) -> str:
        return f"shared_trailing_dims={self.shared_trailing_dims}"


def set_preactivation_noise(model: nn.Module, sigma: float, generator: torch.Generator | None) -> None:
    """Set the noise std ``sigma`` and the generator of every noise layer of ``model``."""
    for module in model.modules():
        if isinstance(module, PreActivationNoise):
            module.sigma = float(sigma)
            module.generator = generator
