"""The config schema (``workflow/schemas/config.schema.yaml``): the one place every setting's default lives.

Reading it here, without the planner, lets the dataset and parameter
modules take their defaults from the schema instead of repeating them.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from lrorder.errors import ConfigError

#: The config schema: every default, and the default claims of each kind of study.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config schema ({exc.strerror})") from None


def load_schema(schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema (a fresh copy; parsed once per path).

    Raises:
        ConfigError: the file cannot be read.
    """
    return copy.deepcopy(_load_schema(str(schema_path)))


def defaults_of(definition: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    """``{property: default}`` of the properties of ``$defs/<definition>`` that declare a default.

    Raises:
        ConfigError: the schema has no ``$defs/<definition>`` with properties.
    """
    try:
        properties = _load_schema(str(schema_path))["$defs"][definition]["properties"]
    except KeyError:
        raise ConfigError(f"{schema_path}: no $defs/{definition} with properties") from None
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}
