"""Type checks shared by the parameter dataclasses of the data generators.

Their messages name the field as ``<prefix>.<field>``, the key a user sets
in the config.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, TypeVar

import numpy as np

from lrorder.errors import ConfigError

T = TypeVar("T")


def from_mapping(cls: type[T], raw: Any, prefix: str) -> T:
    """Build the parameter dataclass ``cls`` from a JSON-like mapping (missing fields take the defaults).

    Raises:
        ConfigError: ``raw`` is not a mapping, names an unknown field
            (``<prefix>.<key>``), or a value is invalid (the class's own checks).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}: expected a JSON object of {cls.__name__} fields, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{prefix}.{key}: unknown field (expected one of {', '.join(sorted(known))})")
    return cls(**raw)


def check_integers(obj: Any, names: Iterable[str], prefix: str, minimum: int | None = None) -> None:
    """Each field is an integer (not a bool, not a float), at least ``minimum`` if given.

    Raises:
        ConfigError: naming ``<prefix>.<field>`` and the value.
    """
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"{prefix}.{name}: expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{prefix}.{name}: expected an integer >= {minimum}, got {value!r}")


def check_numbers(obj: Any, names: Iterable[str], prefix: str, minimum: float | None = None) -> None:
    """Each field is a finite real number (not a bool), at least ``minimum`` if given.

    Raises:
        ConfigError: naming ``<prefix>.<field>`` and the value.
    """
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
            raise ConfigError(f"{prefix}.{name}: expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{prefix}.{name}: expected a number >= {minimum}, got {value!r}")
