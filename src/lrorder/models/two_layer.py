"""The two-layer network of the theory section (``docs/paper-notes.md``, "Two-layer network").

``f(x) = sum_j a_j * act(w_j . x + b_j + noise_j)`` with fixed output weights
``a_j = +-1/sqrt(m)`` (alternating signs, so every half of the units is
balanced), trained ``W`` (init ``N(0, I/D)``) and ``b`` (init 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lrorder.errors import ConfigError
from lrorder.models.noise import PreActivationNoise


class TwoLayerNet(nn.Module):
    """Two-layer network with fixed second layer; outputs a real score per example.

    Args:
        in_dim: input features ``D``.
        width: hidden units ``m`` (even).
        activation: ``"relu"`` or ``"leaky_relu"`` (slope ``negative_slope``).
        split_at: if set, units ``[0, m/2)`` see only features ``[0, split_at)``
            (P) and units ``[m/2, m)`` only the rest (Q): config A of
            ``docs/paper-notes.md``, "Synthetic study defaults".
        noise_shared_over_batch: pre-activation noise is one vector of shape
            ``(m,)`` per step, broadcast over the batch (the official code's
            sharing rule); ``False`` draws it per example.

    Shapes: input float32 ``(N, D)``, output float32 ``(N,)``.
    """

    def __init__(
        self,
        in_dim: int,
        width: int,
        activation: str = "relu",
        negative_slope: float = 0.1,
        split_at: int | None = None,
        noise_shared_over_batch: bool = False,
    ) -> None:
        super().__init__()
        if width < 2 or width % 2:
            raise ConfigError(f"model.width: expected an even integer >= 2, got {width}")
        if activation not in ("relu", "leaky_relu"):
            raise ConfigError(f"model.activation: expected 'relu' or 'leaky_relu', got {activation!r}")
        if split_at is not None and not 0 < split_at < in_dim:
            raise ConfigError(f"model.split_at: expected 0 < split_at < {in_dim}, got {split_at}")
        self.activation = activation
        self.negative_slope = negative_slope
        self.hidden = nn.Linear(in_dim, width)
        self.noise = PreActivationNoise(shared_trailing_dims=1 if noise_shared_over_batch else None)
        signs = torch.ones(width)
        signs[1::2] = -1.0
        self.register_buffer("a", signs / math.sqrt(width))
        mask = torch.ones(width, in_dim)
        if split_at is not None:
            mask[: width // 2, split_at:] = 0.0
            mask[width // 2 :, :split_at] = 0.0
        self.register_buffer("mask", mask)
        self.split = split_at is not None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Init ``W ~ N(0, 1/D)`` (masked entries 0) and ``b = 0``."""
        with torch.no_grad():
            self.hidden.weight.normal_(0.0, 1.0 / math.sqrt(self.hidden.in_features), generator=generator)
            self.hidden.weight.mul_(self.mask)
            self.hidden.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Without a split the mask is all ones; skipping the product (exact
        # either way) saves about 8% of a default synthetic run.
        weight = self.hidden.weight * self.mask if self.split else self.hidden.weight
        pre = F.linear(x, weight, self.hidden.bias)
        pre = self.noise(pre)
        if self.activation == "relu":
            act = F.relu(pre)
        else:
            act = F.leaky_relu(pre, self.negative_slope)
        return act @ self.a
