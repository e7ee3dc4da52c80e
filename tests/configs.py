"""Build the config as Snakemake does: config.yaml, presets layered over it, schema defaults filled."""

from __future__ import annotations

from pathlib import Path

import yaml

from lrorder.plan import layered_config

ROOT = Path(__file__).resolve().parents[1]


def load_config(*overrides: dict, preset: str | None = "smoke") -> dict:
    """``config.yaml``, then ``presets/<preset>.yaml`` and each override deep-merged
    (``snakemake.utils.update_config``), then validated with defaults filled
    (:func:`lrorder.plan.layered_config`)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    layers = [yaml.safe_load((ROOT / "presets" / f"{preset}.yaml").read_text())] if preset is not None else []
    return layered_config(config, [*layers, *overrides])
