"""Bad config stops Snakemake before any job with one line naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from workflow_utils import REPO, make_workdir, snakemake

pytestmark = pytest.mark.workflow

BASE = yaml.safe_load((REPO / "config.yaml").read_text())


def _edit(path, value=None, delete=False):
    def apply(cfg):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return cfg

    return apply


S = ("studies", "synthetic")
CASES = {
    "unknown schedule in roles": (_edit(S + ("roles", "small"), "smal_lr"), "studies.synthetic.roles.small", "smal_lr"),
    "unknown schedule form": (_edit(S + ("schedules", "large_lr", "lr", "form"), "linear"), "studies.synthetic.schedules.large_lr.lr.form", "linear"),
    "cosine without end": (_edit(S + ("schedules", "large_lr", "lr"), {"form": "cosine", "initial": 1.0}),
                           "studies.synthetic.schedules.large_lr.lr.end", "required by form 'cosine'"),
    "negative lr": (_edit(S + ("schedules", "small_lr", "lr", "initial"), -0.05), "studies.synthetic.schedules.small_lr.lr.initial", "-0.05"),
    "zero lr": (_edit(S + ("schedules", "small_lr", "lr", "initial"), 0), "studies.synthetic.schedules.small_lr.lr.initial", "0"),
    "missing seeds": (_edit(S + ("seeds",), delete=True), "studies.synthetic", "'seeds' is a required property"),
    "misspelled key": (_edit(S + ("training", "epoch"), 10), "studies.synthetic.training", "'epoch' was unexpected"),
    "wrong type": (_edit(S + ("training", "epochs"), "ten"), "studies.synthetic.training.epochs", "'ten' is not of type 'integer'"),
    "empty seed list": (_edit(S + ("seeds",), []), "studies.synthetic.seeds", "[]"),
    "milestone at epoch 1": (_edit(S + ("schedules", "large_lr", "lr", "milestones"), [1]), "studies.synthetic.schedules.large_lr.lr.milestones.0", "1 is less than the minimum of 2"),
    "integral float for an integer": (_edit(S + ("model", "width"), 16.0), "studies.synthetic.model.width", "16.0 is not of type 'integer'"),
    "float seeds": (_edit(S + ("seeds",), [0.0, 1.0]), "studies.synthetic.seeds.0", "0.0 is not of type 'integer'"),
    "mixture over 1": (_edit(S + ("data", "p_only"), 0.9), "studies.synthetic.data.p_only + data.q_only", "at most 1"),
    "same schedule in two roles": (_edit(S + ("roles", "small"), "large_lr"), "studies.synthetic.roles.small", "must differ"),
    "old claims keys": (_edit(S + ("claims",), {"large": "large_lr"}), "studies.synthetic.claims.large", "'large_lr' is not of type 'object'"),
    "bad claim field": (_edit(S + ("claims",), {"5b": {"min_effect": -1}}), "studies.synthetic.claims.5b.min_effect", "less than the minimum of 0"),
    "claim window past the end": (_edit(S + ("claims",), {"5a": {"window": [1, 500]}}), "studies.synthetic.claims.5a.window", "training.epochs = 200"),
    "unknown claim field": (_edit(S + ("claims",), {"5b": {"epoch": 3}}), "studies.synthetic.claims.5b", "'epoch' was unexpected"),
    "alpha out of range": (_edit(S + ("verdict",), {"alpha": 0.5}), "studies.synthetic.verdict.alpha", "0.5"),
    "zero LR factor": (_edit(S + ("schedules", "large_lr", "lr", "factors"), [0.0]), "studies.synthetic.schedules.large_lr.lr.factors.0", "0.0"),
    "NaN learning rate": (_edit(S + ("schedules", "large_lr", "lr", "initial"), float("nan")), "studies.synthetic.schedules.large_lr.lr.initial", "expected a finite number, got nan"),
    "infinite weight decay": (_edit(S + ("training", "weight_decay"), float("inf")), "studies.synthetic.training.weight_decay", "expected a finite number, got inf"),
    "milestone past the end": (_edit(S + ("schedules", "large_lr", "lr", "milestones"), [500]), "studies.synthetic.schedules.large_lr.lr.milestones", "500"),
    "patch larger than the image": (_edit(("studies", "patch", "patch", "size"), 40), "studies.patch.patch.size", "40 does not fit the 28x28 images of mnist5k (expected <= 28)"),
    "batch larger than the training set": (_edit(S + ("training", "batch_size"), 5000), "studies.synthetic.training.batch_size", "5000 exceeds the 1000 training examples of studies.synthetic.data.n_train (expected <= 1000)"),
    "study without a kind": (_edit(S + ("kind",), delete=True), "studies.synthetic", "'kind' is a required property"),
    "unknown study kind": (_edit(("studies", "clean", "kind"), "images"), "studies.clean.kind",
                           "'images' is not one of ['synthetic', 'image', 'patch']"),
    "study named images": (_edit(("studies", "images"), {**BASE["studies"]["clean"]}), "studies.images",
                           "taken by the image datasets' folder"),
    "float without a point": (_edit(S + ("training", "weight_decay"), "1e-4"), "studies.synthetic.training.weight_decay", "write 1.0e-4"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_one_line(tmp_path, name):
    edit, key, detail = CASES[name]
    workdir = make_workdir(tmp_path / "wd")
    (workdir / "config.yaml").write_text(yaml.safe_dump(edit(copy.deepcopy(BASE))))
    result = snakemake(workdir, "--cores", "1")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Using workflow specific profile")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: ")
    assert key in lines[0] and detail in lines[0]
    assert "Traceback" not in result.stderr
    assert not (workdir / "results").exists()


def test_number_from_config_flag_names_what_was_typed(tmp_path):
    """Snakemake's --config makes tag=2024_06_01 the integer 20240601; the line says so and what works."""
    workdir = make_workdir(tmp_path / "wd")
    result = snakemake(workdir, "-n", "--config", "tag=2024_06_01")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Using workflow specific profile")]
    assert lines == ["config error: tag: 20240601 is not of type 'string' (--config tag=2024_06_01 was read as "
                     "20240601: Snakemake's --config turns a value that reads as a number or True/False into one, "
                     "quoted or not; a --configfile layer with tag: \"2024_06_01\" works)"], result.stderr


def test_a_key_twice_in_a_configfile_layer_is_one_line(tmp_path):
    """YAML keeps the last of two equal keys; a study written twice in a layer would lose one silently."""
    workdir = make_workdir(tmp_path / "wd")
    (workdir / "layer.yaml").write_text("studies:\n  synthetic:\n    seeds: [0, 1]\n  synthetic:\n    seeds: [2]\n")
    result = snakemake(workdir, "-n", "--configfile", "layer.yaml")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Using workflow specific profile")
             and not line.startswith("Config file config.yaml is extended")]
    assert len(lines) == 1 and lines[0].startswith("config error: config file "), result.stderr
    assert lines[0].endswith("layer.yaml: key 'synthetic' is given twice in one mapping (lines 2 and 4); "
                             "only the second would take effect, so write it once"), result.stderr
