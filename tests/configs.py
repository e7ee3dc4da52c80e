"""Build the config as Snakemake does: config.yaml, presets layered over it, schema defaults filled."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from snakemake.utils import update_config, validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def load_config(*overrides: dict, preset: str | None = "smoke") -> dict:
    """``config.yaml``, then ``presets/<preset>.yaml`` and each override deep-merged
    (``snakemake.utils.update_config``), then validated with defaults filled."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    if preset is not None:
        update_config(config, yaml.safe_load((ROOT / "presets" / f"{preset}.yaml").read_text()))
    for override in overrides:
        update_config(config, copy.deepcopy(override))
    validate(config, SCHEMA)
    return config
