"""A small convolutional net for CPU-sized image studies (not in the paper).

A stand-in for the WRN (``docs/paper-notes.md``, "Image experiments") when a study must run on CPU:
one conv stage per entry of ``widths``, each ``conv3x3 (no bias) -> BN ->
pre-activation noise -> ReLU``, a 2x2 max-pool between stages, then global
average pooling and a linear layer. Pre-activation noise follows the
official WRN rule (``cwein3/large-lr-code``, ``models/wideresnet.py``,
``forward_noise``): after each BN and before each ReLU, one ``(H, W)`` map per
layer and step broadcast over batch and channels, training only. Init is the
official WRN init (:func:`lrorder.models.wideresnet.official_init`).

With the default widths ``(32, 64, 128)``: 94,186 parameters for 1 input
channel and 10 classes (94,762 for 3 channels); feature maps 28 -> 14 -> 7
(or 32 -> 16 -> 8).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lrorder.errors import ConfigError
from lrorder.models.noise import PreActivationNoise
from lrorder.models.wideresnet import official_init


class _MaxPool2x2(torch.autograd.Function):
    """2x2 max-pool, stride 2: forward in channels-last layout, backward in the input's (NCHW) layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        pooled, indices = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=torch.channels_last), [2, 2], [2, 2]
        )
        indices = indices.contiguous()  # flat h * W + w positions: the same in either layout
        ctx.save_for_backward(x, indices)
        return pooled.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices
        )


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, faster for NCHW float tensors on the CPU, with bitwise-identical results.

    torch's CPU max-pool forward for the NCHW layout is slow: with torch
    2.14.1 on one thread, forward + backward of a ``(128, 16, 28, 28)`` batch
    took 10.2 ms, against 4.0 ms with the forward in channels-last layout
    and the backward in NCHW (about 8% of a patch-study epoch in NCHW).
    Values, the chosen max positions (ties go to the first in the window, as
    in ``F.max_pool2d``) and so gradients are bitwise identical. Tensors on
    other devices or not NCHW-strided go to ``F.max_pool2d`` directly.

    Shapes: float ``(N, C, H, W)`` -> ``(N, C, H // 2, W // 2)``.
    """
    n, c, h, w = x.shape
    if x.device.type != "cpu" or x.stride() != (c * h * w, h * w, w, 1):
        return F.max_pool2d(x, 2)
    return _MaxPool2x2.apply(x)


class ConvStage(nn.Module):
    """``relu(noise(bn(conv3x3(x))))``; float32 ``(N, C_in, H, W) -> (N, C_out, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.noise = PreActivationNoise(shared_trailing_dims=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.noise(self.bn(self.conv(x))))


class SmallCNN(nn.Module):
    """Small conv net: ``len(widths)`` conv stages, max-pool 2x2 between them, global mean, linear.

    Args:
        widths: output channels of the stages (default ``(32, 64, 128)``).
        num_classes: output logits.
        in_channels: input channels (1 for 28x28 grey, 3 for 32x32 colour).

    Shapes: input float32 ``(N, in_channels, H, W)`` with ``H, W >=
    2 ** (len(widths) - 1)``; output float32 logits ``(N, num_classes)``.

    Raises:
        ConfigError: ``model.widths`` empty or not positive integers.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        widths = list(widths) if isinstance(widths, (list, tuple)) else widths
        if (
            not isinstance(widths, list)
            or not widths
            or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)
        ):
            raise ConfigError(f"model.widths: expected a non-empty list of integers >= 1, got {widths!r}")
        self.widths = tuple(widths)
        channels = [in_channels, *widths]
        self.stages = nn.ModuleList(ConvStage(channels[i], channels[i + 1]) for i in range(len(widths)))
        self.fc = nn.Linear(widths[-1], num_classes)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Official WRN init (see :func:`~lrorder.models.wideresnet.official_init`), drawn from ``generator``."""
        official_init(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = max_pool2x2(x)
            x = stage(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
