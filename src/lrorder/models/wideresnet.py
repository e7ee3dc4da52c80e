"""WideResNet of the CIFAR-10 experiments (``docs/paper-notes.md``, "Image experiments").

Follows the official code (``cwein3/large-lr-code``, ``models/wideresnet.py``,
itself derived from ``xternalz/WideResNet-pytorch``), dropout rate 0:

- stem: conv3x3 ``in_channels -> 16``, stride 1, no bias;
- three groups of ``n = (depth - 4) / 6`` pre-activation basic blocks with
  widths ``16k, 32k, 64k`` (``k`` = ``widen_factor``) and strides 1, 2, 2
  (the stride is on the first block of a group);
- block: ``BN -> ReLU -> conv3x3(stride) -> BN -> ReLU -> conv3x3``, plus the
  shortcut. When the width changes, the shortcut is a 1x1 conv (stride of the
  block, no bias) applied to the *pre-activated* input ``relu(bn1(x))``, the
  same tensor that feeds the first conv; otherwise it is the identity on the
  raw input ``x``. (In every WRN the stride changes only together with the
  width, so an identity shortcut never meets a stride.)
- head: ``BN -> ReLU -> average pool -> linear``. The official code pools
  with ``avg_pool2d(8)``, which is the global mean for 32x32 inputs (8x8 maps);
  we pool adaptively to 1x1, identical there and also valid for 28x28 inputs
  (7x7 maps).

Pre-activation noise (the official ``forward_noise``): a
:class:`~lrorder.models.noise.PreActivationNoise` with
``shared_trailing_dims=2`` sits after each BN and before each ReLU (both of
every block and the final one: ``2 * 3n + 1`` layers, 13 for WRN-16), adding
one ``(H, W)`` map per layer and step broadcast over batch and channels, in
training only. The maps are drawn in forward order, as in the official code.

Init (:meth:`WideResNet.reset_parameters`, as the official constructor): conv
weights ``N(0, 2 / (kh * kw * out_channels))``, BN weight 1 and bias 0, linear
bias 0, linear weight PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lrorder.errors import ConfigError
from lrorder.models.noise import PreActivationNoise


def official_init(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Re-initialise every conv, BatchNorm and linear layer of ``model`` as the official WRN code.

    Conv2d weight ``N(0, 2 / (kh * kw * out_channels))`` (bias, if any, 0);
    BatchNorm2d weight 1, bias 0, running statistics reset; Linear weight
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (PyTorch's default, which the
    official code keeps), bias 0. Draws come from ``generator`` (global RNG if
    ``None``) in ``model.modules()`` order, so a seeded generator gives the
    same parameters every time.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.uniform_(-bound, bound, generator=generator)
                m.bias.zero_()


class WideBasicBlock(nn.Module):
    """Pre-activation basic block of the official WRN code, with pre-activation noise.

    ``out = conv2(relu(noise2(bn2(conv1(a))))) + shortcut``, ``a = relu(noise1(bn1(x)))``;
    shortcut ``conv1x1(a)`` when ``in_planes != out_planes``, else ``x``.

    Shapes: input float32 ``(N, in_planes, H, W)``, output float32
    ``(N, out_planes, H', W')`` with ``H' = ceil(H / stride)``.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if in_planes == out_planes and stride != 1:
            raise ValueError("an identity shortcut cannot change the resolution (stride must be 1)")
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.noise1 = PreActivationNoise(shared_trailing_dims=2)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.noise2 = PreActivationNoise(shared_trailing_dims=2)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Conv2d | None = None
        if in_planes != out_planes:
            self.shortcut = nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.noise1(self.bn1(x)))
        out = self.conv1(a)
        out = self.conv2(F.relu(self.noise2(self.bn2(out))))
        residual = x if self.shortcut is None else self.shortcut(a)
        return residual + out


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` (paper: WRN-16-10, 17,116,634 parameters for 10 classes).

    Args:
        depth: ``6n + 4`` with ``n >= 1`` blocks per group (16 in the paper).
        widen_factor: ``k`` (10 in the paper); group widths ``16k, 32k, 64k``.
        num_classes: output logits.
        in_channels: input channels (3 for CIFAR-10, 1 for 28x28 grey images).

    Shapes: input float32 ``(N, in_channels, H, W)`` (32x32 or 28x28; any
    size >= 1 works), output float32 logits ``(N, num_classes)``.

    Raises:
        ConfigError: ``model.depth`` not of the form ``6n + 4``, ``n >= 1``;
            ``model.widen_factor`` < 1.
    """

    def __init__(self, depth: int = 16, widen_factor: int = 10, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ConfigError(f"model.depth: expected 6n + 4 with n >= 1 (e.g. 10, 16, 22, 28), got {depth!r}")
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, int) or widen_factor < 1:
            raise ConfigError(f"model.widen_factor: expected an integer >= 1, got {widen_factor!r}")
        self.depth = depth
        self.widen_factor = widen_factor
        blocks_per_group = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        groups = []
        for g, stride in enumerate((1, 2, 2)):
            blocks = [
                WideBasicBlock(widths[g] if i == 0 else widths[g + 1], widths[g + 1], stride if i == 0 else 1)
                for i in range(blocks_per_group)
            ]
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.noise = PreActivationNoise(shared_trailing_dims=2)
        self.fc = nn.Linear(widths[3], num_classes)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Official init (see :func:`official_init`), drawn from ``generator``."""
        official_init(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.block3(self.block2(self.block1(out)))
        out = F.relu(self.noise(self.bn1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)
