"""Type checks shared by the parameter dataclasses of the data generators.

Their messages name the field as ``<prefix>.<field>``, the key a user sets
in the config.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Iterable, Mapping, TypeVar

import numpy as np
import yaml

from lrorder.errors import ConfigError

T = TypeVar("T")

_EXPONENT_TEXT = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]*))?[eE]([+-]?)([0-9]+)")


def yaml_number_hint(value: Any, integer: bool = False) -> str:
    """A hint for a text where a number was expected, when the text reads as one, else "".

    YAML 1.1 (PyYAML, Snakemake's config loader) reads exponent notation as
    a float only with a point and a signed exponent: ``1e-1`` and ``1.0e5``
    are strings, and the schema rejects them. The hint gives a spelling YAML reads as the number
    (``1.0e-1``, ``1.0e+5``; for an integer key an integral value such as
    ``1e3``, ``1000``).
    """
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    try:
        as_yaml = yaml.safe_load(value)
    except yaml.YAMLError:
        as_yaml = None
    if isinstance(as_yaml, (int, float)) and not isinstance(as_yaml, bool):
        return (" (a number given as text: quoted, or nested in --config, whose nested values arrive as text; "
                "write it unquoted in a --configfile layer)")
    if integer:
        return f" (YAML read {value!r} as text; write {int(number)})" if number.is_integer() else ""
    match = _EXPONENT_TEXT.fullmatch(value.strip())
    spelling = (f"{match[1]}{match[2]}.{match[3] or '0'}e{match[4] or '+'}{match[5]}" if match
                else repr(number))
    return f" (YAML read {value!r} as text: a float in exponent notation needs a point and a signed exponent; write {spelling})"


def schema_number_hint(error: Any) -> str:
    """:func:`yaml_number_hint` for a JSON Schema ``type`` error (a ``jsonschema`` ValidationError)
    on a text where the schema asks for a number or an integer, else ""."""
    if error.validator != "type":
        return ""
    types = [error.validator_value] if isinstance(error.validator_value, str) else list(error.validator_value)
    if "number" in types:
        return yaml_number_hint(error.instance)
    if "integer" in types:
        return yaml_number_hint(error.instance, integer=True)
    return ""


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
            raise ConfigError(f"{prefix}.{name}: expected an integer, got {value!r}{yaml_number_hint(value, True)}")
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
            raise ConfigError(f"{prefix}.{name}: expected a finite number, got {value!r}{yaml_number_hint(value)}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{prefix}.{name}: expected a number >= {minimum}, got {value!r}")


def check_finite(value: Any, key: str = "") -> None:
    """Every number in ``value`` (nested mappings and lists) is finite.

    JSON Schema's ``number`` admits YAML's ``.nan`` and ``.inf``, which would
    pass every ``minimum`` check and train on NaN.

    Raises:
        ConfigError: naming the dotted key of the first NaN or infinity.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key or '<top level>'}: expected a finite number, got {value!r}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, f"{key}.{i}")
