"""Config files read as YAML, strictly: a key given twice in one mapping is an error.

YAML parsers (PyYAML's, and with it Snakemake's ``--configfile``) keep the
last of two equal keys in a mapping and drop the first without a word, so a
study or setting written twice in one file silently loses one of them. This
module reads a file with a loader that refuses that, naming the key and
both lines; the workflow checks every config file it was given with it
before validating the merged config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from lrorder.errors import ConfigError


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that holds one key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # only the keys written in this mapping: a key it takes from a merge (<<: *anchor) and sets
        # again is an override, as YAML defines merges, not a repeat
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in lines:
                    raise _DuplicateKey(key, lines[key], key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise _DuplicateKey(key, 0, 0)
    return dict(pairs)


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """The YAML (or JSON) document in ``path``, every mapping's keys unique.

    Read as Snakemake reads a config file: as JSON first, then as YAML.

    Args:
        path: the file.
        what: how error messages name the file's role (``"--configfile"``,
            ``"config file"``).

    Returns:
        The parsed document (dicts, lists, str, int, float, bool, None).

    Raises:
        ConfigError: the file cannot be read or parsed, or a mapping holds
            a key twice (message: the file, the key and both line numbers).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except ValueError:
            pass
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except _DuplicateKey as dup:
        where = f" (lines {dup.first} and {dup.second})" if dup.first else ""
        raise ConfigError(f"{what} {path}: key {dup.key!r} is given twice in one mapping{where}; only the "
                          "second would take effect, so write it once") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path}: cannot read it as YAML ({err.__class__.__name__}{line}: "
                          f"{err.problem or err.context})") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{what} {path}: cannot read it as YAML ({err.__class__.__name__})") from None
