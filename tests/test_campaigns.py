"""A campaign with freely named studies: two synthetic studies with different settings, and two image
studies on different datasets (mnist5k, and CIFAR-10 from a fixture in its own on-disk format)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from image_fixtures import make_cifar_fixture, point_torchvision_at
from lrorder.data import images
from workflow_utils import REPO, SMOKE, make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

SMOKE_STUDIES = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())["studies"]


def campaign_layer() -> dict:
    """Over the smoke preset: tag ``multi``, a second synthetic study and a CIFAR-10 image study."""
    wide = copy.deepcopy(SMOKE_STUDIES["synthetic"])
    wide.update(kind="synthetic", data={**wide["data"], "n_train": 300, "q_norm": 10.0},
                roles={"large": "large_lr", "small": "small_lr", "noise": "small_lr_noise"})
    cifar = copy.deepcopy(SMOKE_STUDIES["clean"])
    cifar.update(kind="image", dataset={"name": "cifar10"})
    # the fixture holds 10 training images: small batches, and BatchNorm re-estimated from 8 of them
    cifar["training"] = {**cifar["training"], "batch_size": 5, "bn_recalibration_examples": 8}
    return {"tag": "multi", "studies": {"synthetic_wide": wide, "cifar": cifar}}


STUDIES = ("synthetic", "synthetic_wide", "clean", "cifar")


def test_two_synthetic_and_two_image_studies_on_different_datasets(tmp_path, monkeypatch) -> None:
    workdir = make_workdir(tmp_path / "wd")
    layer = workdir / "multi.yaml"
    layer.write_text(yaml.safe_dump(campaign_layer()))
    # CIFAR-10's fetch and build steps, run here as their rules run them, with torchvision's md5s pointed
    # at the fixture (a subprocess would check the real archive's)
    raw = workdir / "data" / "raw"
    make_cifar_fixture(raw)
    point_torchvision_at(monkeypatch, raw)
    monkeypatch.chdir(workdir)
    images.fetch("cifar10", "data/raw", "data/raw/cifar10.json")
    images.build("cifar10", "data/raw", "results/multi/data/images/cifar10", {})

    targets = [f"results/multi/claims/{study}.csv" for study in STUDIES]
    targets += [f"results/multi/figures/{study}/accuracy.png" for study in STUDIES]
    dry_run = snakemake(workdir, "-n", *targets, *SMOKE, str(layer))
    assert dry_run.returncode == 0, dry_run.stderr[-3000:]
    planned = planned_jobs(dry_run)
    assert planned["train"] == 6 + 6 + 4 + 4 and planned["synthetic_data"] == 4
    assert planned["image_data"] == 1 and "fetch_dataset" not in planned  # cifar10 is built; mnist5k is not
    assert "patch_data" not in planned  # only what the targets need

    result = snakemake(workdir, "--cores", "2", *targets, *SMOKE, str(layer))
    assert result.returncode == 0, result.stderr[-3000:]
    results = workdir / "results" / "multi"

    narrow, wide = (json.loads((results / "data" / study / "seed0" / "manifest.json").read_text())["params"]
                    for study in ("synthetic", "synthetic_wide"))
    assert (narrow["n_train"], narrow["q_norm"]) == (200, 20.0) and (wide["n_train"], wide["q_norm"]) == (300, 10.0)
    assert np.load(results / "data" / "synthetic_wide" / "seed0" / "train_x.npy").shape == (300, 44)

    shapes = {name: json.loads((results / "data" / "images" / name / "manifest.json").read_text())["params"]["image_shape"]
              for name in ("mnist5k", "cifar10")}
    assert shapes == {"mnist5k": [28, 28, 1], "cifar10": [32, 32, 3]}
    for study, kind in (("synthetic_wide", "synthetic"), ("cifar", "image"), ("clean", "image")):
        run = json.loads((results / "runs" / study / "large_lr" / "seed1" / "run.json").read_text())
        assert (run["run_config"]["study"], run["run_config"]["kind"]) == (study, kind)
    cifar_test = pd.read_csv(results / "runs" / "cifar" / "small_lr" / "seed0" / "metrics.csv").query("eval_set == 'test'")
    assert cifar_test["epoch"].tolist() == [1, 2, 3, 4]
    correct = cifar_test["accuracy"].to_numpy() * 3  # 3 test images (metrics.csv rounds to 8 digits)
    np.testing.assert_allclose(correct, np.round(correct), atol=1e-6)

    claim_ids = {study: pd.read_csv(results / "claims" / f"{study}.csv", dtype={"claim": str})["claim"].tolist()
                 for study in STUDIES}
    assert claim_ids["synthetic"] == claim_ids["synthetic_wide"] == ["5a", "5b", "4"]
    assert claim_ids["clean"] == claim_ids["cifar"] == ["1", "2"]
    assert not (results / "runs" / "patch").exists()
