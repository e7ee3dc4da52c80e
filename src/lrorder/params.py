"""Type checks shared by the parameter dataclasses of the data generators.

Their messages name the field as ``<prefix>.<field>``, the key a user sets
in the config.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from lrorder.errors import ConfigError


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
