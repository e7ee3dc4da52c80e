"""Tests of lrorder.yaml_files: a key written twice in one mapping of a config file is refused."""

from __future__ import annotations

import pytest

from lrorder import plan, yaml_files
from lrorder.errors import ConfigError

from configs import ROOT


def test_unique_keys_read_as_plain_yaml(tmp_path) -> None:
    path = tmp_path / "layer.yaml"
    path.write_text("studies:\n  patch: {seeds: [0, 1]}\n  clean: {seeds: [2]}\ntag: x\n")
    assert yaml_files.read_yaml(path, "--configfile") == {"studies": {"patch": {"seeds": [0, 1]}, "clean": {"seeds": [2]}},
                                                          "tag": "x"}


def test_a_key_twice_in_a_nested_mapping_names_the_file_the_key_and_both_lines(tmp_path) -> None:
    path = tmp_path / "layer.yaml"
    path.write_text("studies:\n  patch:\n    seeds: [0, 1]\n  clean: {seeds: [2]}\n  patch:\n    seeds: [3]\n")
    with pytest.raises(ConfigError) as err:
        yaml_files.read_yaml(path, "--configfile")
    assert str(err.value) == (f"--configfile {path}: key 'patch' is given twice in one mapping (lines 2 and 5); "
                              "only the second would take effect, so write it once")


def test_the_same_key_in_two_mappings_is_fine(tmp_path) -> None:
    path = tmp_path / "layer.yaml"
    path.write_text("a: {seeds: [1]}\nb: {seeds: [2]}\nc: [{x: 1}, {x: 2}]\n")
    assert yaml_files.read_yaml(path, "f")["c"] == [{"x": 1}, {"x": 2}]


def test_unreadable_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"--base .*missing.yaml: cannot read it as YAML \(FileNotFoundError\)"):
        yaml_files.read_yaml(tmp_path / "missing.yaml", "--base")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot read it as YAML"):
        yaml_files.read_yaml(bad, "--configfile")


def test_the_command_line_tools_refuse_a_layer_with_a_key_twice(tmp_path) -> None:
    layer = tmp_path / "layer.yaml"
    layer.write_text("studies:\n  patch:\n    pre_anneal_seeds: []\n    pre_anneal_seeds: [20]\n")
    with pytest.raises(ConfigError, match="key 'pre_anneal_seeds' is given twice in one mapping .lines 3 and 4."):
        plan.config_from_files(ROOT / "config.yaml", [layer], "patch")


def test_a_key_merged_in_and_set_again_is_an_override_not_a_repeat(tmp_path) -> None:
    path = tmp_path / "layer.yaml"
    path.write_text("lr: &lr {initial: 1.0, milestones: [15]}\n"
                    "small: {<<: *lr, initial: 0.04}\n"
                    "other:\n  <<: [*lr, {factors: [0.1]}]\n  initial: 2\n")
    loaded = yaml_files.read_yaml(path, "f")
    assert loaded["small"] == {"initial": 0.04, "milestones": [15]}
    assert loaded["other"] == {"initial": 2, "milestones": [15], "factors": [0.1]}
    path.write_text("lr: &lr {initial: 1.0}\nsmall: {<<: *lr, initial: 0.04, initial: 0.05}\n")
    with pytest.raises(ConfigError, match="key 'initial' is given twice in one mapping .lines 2 and 2."):
        yaml_files.read_yaml(path, "f")


def test_json_config_files_are_read_as_json_first(tmp_path) -> None:
    path = tmp_path / "layer.json"
    path.write_text('{\n\t"tag": "t",\n\t"studies": {}\n}\n')  # tab-indented: JSON, not YAML
    assert yaml_files.read_yaml(path, "f") == {"tag": "t", "studies": {}}
    path.write_text('{"tag": "t", "tag": "u"}')
    with pytest.raises(ConfigError, match=r"^f .*layer.json: key 'tag' is given twice in one mapping; only the second"):
        yaml_files.read_yaml(path, "f")


def test_a_syntax_error_names_its_line(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tag: x\nstudies: [1, 2\n")
    with pytest.raises(ConfigError, match=r"cannot read it as YAML \(ParserError, line 3: expected ',' or ']'"):
        yaml_files.read_yaml(path, "--configfile")
