"""The config schema (``workflow/schemas/config.schema.yaml``): the one place every setting's default lives.

Reading it here, without the planner, lets the dataset and parameter
modules take their defaults from the schema instead of repeating them.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Mapping

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from lrorder.errors import ConfigError
from lrorder.params import schema_number_hint

#: The config schema: every default, and the default claims of each kind of study.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

#: Annotation of a ``training`` key that is a job resource, not part of a run's identity: the
#: planner leaves it out of the run config and passes it to training as a flag (``lrorder.plan.train_resources``).
JOB_RESOURCE = "x-job-resource"


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12 validator for which 3.0 is not an integer (epochs index rows, seeds name runs).
StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


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


def definition(pointer: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    """The subschema at a JSON pointer of the config schema, e.g. ``#/$defs/image_training`` (a copy).

    Raises:
        ConfigError: nothing at ``pointer``.
    """
    node: Any = _load_schema(str(schema_path))
    try:
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part]
    except (KeyError, TypeError):
        raise ConfigError(f"{schema_path}: nothing at {pointer}") from None
    return copy.deepcopy(node)


def defaults_at(pointer: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    """``{property: default}`` of the properties of the object schema at ``pointer`` that declare a default.

    E.g. ``defaults_at("#/$defs/image_dataset")``; the parameter records of the
    data steps take their field defaults from here, so each default is written
    once, in the schema.

    Raises:
        ConfigError: nothing at ``pointer``, or no properties there.
    """
    properties = definition(pointer, schema_path).get("properties")
    if properties is None:
        raise ConfigError(f"{schema_path}: no properties at {pointer}")
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def job_resource_keys(pointer: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> tuple[str, ...]:
    """Keys of the object schema at ``pointer`` annotated :data:`JOB_RESOURCE`, in schema order."""
    return tuple(key for key, spec in definition(pointer, schema_path)["properties"].items() if spec.get(JOB_RESOURCE))


def run_config_defaults(pointer: str, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    """``{key: default}`` of the keys of the object schema at ``pointer`` that a run config holds: every key
    with a default except the job resources (:func:`job_resource_keys`), in schema order."""
    resources = job_resource_keys(pointer, schema_path)
    return {key: spec["default"] for key, spec in definition(pointer, schema_path)["properties"].items()
            if "default" in spec and key not in resources}


def schema_error_line(error: ValidationError, prefix: str, schema: Mapping[str, Any]) -> str:
    """One line for a JSON Schema error of a claim: ``<prefix>.<key>: <what>``.

    ``schema`` is the schema validated against: an error raised by one of its
    top-level ``allOf`` rules (e.g. ``$defs/claim``'s) ends with that rule's
    description, and a key the rule forbids reads "not allowed".
    """
    path = ".".join(str(part) for part in error.absolute_path)
    key = f"{prefix}.{path}" if path else prefix
    message = "not allowed" if error.validator == "not" else error.message + schema_number_hint(error)
    where = list(error.absolute_schema_path)
    rules = schema.get("allOf", [])
    if len(where) >= 2 and where[0] == "allOf" and isinstance(where[1], int) and where[1] < len(rules):
        description = rules[where[1]].get("description")
        if description:
            message += f" ({description})"
    return f"{key}: {message}"


def check(instance: Any, subschema: Mapping[str, Any], prefix: str) -> None:
    """Validate ``instance`` against ``subschema`` (refs resolved in the config schema's ``$defs``) with
    :data:`StrictValidator`.

    Raises:
        ConfigError: one line for the most relevant error (:func:`schema_error_line`).
    """
    full = {**subschema, "$defs": _load_schema(str(SCHEMA_PATH))["$defs"]}
    error = best_match(StrictValidator(full).iter_errors(instance))
    if error is not None:
        raise ConfigError(schema_error_line(error, prefix, full))
