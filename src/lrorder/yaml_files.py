"""Config files read as YAML, strictly: a key given twice in one mapping is an error.

YAML parsers (PyYAML's, and with it Snakemake's ``--configfile``) keep the
last of two equal keys in a mapping and drop the first without a word, so a
study or setting written twice in one file silently loses one of them. This
module reads a file with a loader that refuses that, naming the key and
both lines; the workflow checks every config file it was given with it
before validating the merged config.
"""

from __future__ import annotations

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
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in lines:
                    raise _DuplicateKey(key, lines[key], key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """The YAML document in ``path``, every mapping's keys unique.

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
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except _DuplicateKey as dup:
        raise ConfigError(f"{what} {path}: key {dup.key!r} is given twice in one mapping (lines {dup.first} and "
                          f"{dup.second}); YAML would keep only the second, so write it once") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{what} {path}: cannot read it as YAML ({err.__class__.__name__})") from None
