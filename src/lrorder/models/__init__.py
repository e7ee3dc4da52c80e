"""Models of the studies, built from the config by :func:`build_model`."""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from lrorder.errors import ConfigError
from lrorder.models.noise import PreActivationNoise, set_preactivation_noise
from lrorder.models.two_layer import TwoLayerNet

__all__ = ["PreActivationNoise", "TwoLayerNet", "build_model", "set_preactivation_noise"]


def build_model(cfg: Mapping[str, Any], in_dim: int) -> nn.Module:
    """Build the model named by ``cfg["name"]`` for inputs of ``in_dim`` features.

    Raises:
        ConfigError: unknown model name.
    """
    name = cfg["name"]
    if name == "two_layer":
        return TwoLayerNet(
            in_dim,
            width=cfg["width"],
            activation=cfg["activation"],
            negative_slope=cfg["negative_slope"],
            split_at=cfg["split_at"],
            noise_shared_over_batch=cfg["noise_shared_over_batch"],
        )
    raise ConfigError(f"model.name: unknown model {name!r} (expected: two_layer)")
