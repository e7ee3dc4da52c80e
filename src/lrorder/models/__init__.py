"""Models of the studies, built from the config by :func:`build_model`."""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from lrorder.errors import ConfigError
from lrorder.models.noise import PreActivationNoise, set_preactivation_noise
from lrorder.models.small_cnn import SmallCNN
from lrorder.models.two_layer import TwoLayerNet
from lrorder.models.wideresnet import WideResNet

__all__ = [
    "MODEL_NAMES",
    "PreActivationNoise",
    "SmallCNN",
    "TwoLayerNet",
    "WideResNet",
    "build_model",
    "set_preactivation_noise",
]

MODEL_NAMES = ("two_layer", "wide_resnet", "small_cnn")
"""Values of ``model.name`` that :func:`build_model` knows."""


def build_model(cfg: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int | None = None) -> nn.Module:
    """Build the model named by ``cfg["name"]`` for examples of shape ``input_shape``.

    Args:
        cfg: the run's ``model`` config. ``two_layer``: ``width``,
            ``activation``, ``negative_slope``, ``split_at``,
            ``noise_shared_over_batch``. ``wide_resnet``: ``depth``,
            ``widen_factor``. ``small_cnn``: ``widths``. Every key is given:
            the defaults live in the config schema (``$defs/image_model``),
            and a run config holds them all (``$defs/run_config``). Keys of
            other models are ignored.
        input_shape: one example's shape: ``(D,)`` for ``two_layer``,
            ``(C, H, W)`` for the image models.
        num_classes: logits of the image models (``None``: 10); ignored by
            ``two_layer``, which outputs one score.

    Raises:
        ConfigError: unknown ``model.name``; an input shape the model cannot
            take; an invalid ``model.depth``, ``model.widen_factor`` or
            ``model.widths``.
    """
    name = cfg["name"]
    input_shape = tuple(int(s) for s in input_shape)
    if name == "two_layer":
        if len(input_shape) != 1:
            raise ConfigError(f"model.name: two_layer needs flat inputs (D,), got example shape {input_shape}")
        return TwoLayerNet(
            input_shape[0],
            width=cfg["width"],
            activation=cfg["activation"],
            negative_slope=cfg["negative_slope"],
            split_at=cfg["split_at"],
            noise_shared_over_batch=cfg["noise_shared_over_batch"],
        )
    if name in ("wide_resnet", "small_cnn"):
        if len(input_shape) != 3:
            raise ConfigError(f"model.name: {name} needs image inputs (C, H, W), got example shape {input_shape}")
        channels, height, width = input_shape
        classes = 10 if num_classes is None else int(num_classes)
        if name == "wide_resnet":
            return WideResNet(
                depth=cfg["depth"],
                widen_factor=cfg["widen_factor"],
                num_classes=classes,
                in_channels=channels,
            )
        model = SmallCNN(widths=cfg["widths"], num_classes=classes, in_channels=channels)
        smallest = 2 ** (len(model.widths) - 1)
        if min(height, width) < smallest:
            raise ConfigError(
                f"model.widths: {len(model.widths)} stages need images of at least {smallest}x{smallest}, "
                f"got {height}x{width}"
            )
        return model
    raise ConfigError(f"model.name: unknown model {name!r} (expected one of: {', '.join(MODEL_NAMES)})")
