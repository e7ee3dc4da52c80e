"""presets/paper.yaml resolves to the official code's settings, setting by setting.

Source: ``docs/paper-notes.md``, "Image experiments", "Schedules of the official code" and "Patch experiment".
"""

from __future__ import annotations

import pytest

from lrorder import plan
from lrorder.data.patch_params import PatchParams

import yaml

from configs import ROOT, load_config

OFFICIAL_TRAINING = {"batch_size": 128, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "augment": False}
WRN_16_10 = {"name": "wide_resnet", "depth": 16, "widen_factor": 10}
NO_NOISE = {"initial": 0.0, "milestones": [], "factors": []}


@pytest.fixture(scope="module")
def paper() -> dict:
    return load_config(preset="paper")


def test_figure1_runs(paper: dict) -> None:
    assert paper["studies"]["clean"]["dataset"]["name"] == "cifar10"
    for schedule, lr in (("large_lr", 0.1), ("small_lr", 0.01)):
        rc = plan.run_config(paper, "clean", schedule, 0)
        assert rc["model"] == WRN_16_10
        assert {k: rc["training"][k] for k in OFFICIAL_TRAINING} == OFFICIAL_TRAINING
        assert rc["training"]["epochs"] == 200
        # train_util.py `default`: lr * 0.2^[e>=60] * 0.2^[e>=120] * 0.2^[e>=150]
        assert rc["lr"] == {"initial": lr, "milestones": [60, 120, 150], "factors": [0.2, 0.2, 0.2]}
        assert rc["preact_noise"] == NO_NOISE and rc["grad_noise"] == NO_NOISE
    assert plan.anneal_epoch(paper, "clean") == 60


def test_patch_runs(paper: dict) -> None:
    study = paper["studies"]["patch"]
    assert study["dataset"]["name"] == "cifar10"
    params = plan.patch_params(paper, "patch")
    assert PatchParams(**params) == PatchParams()  # the module defaults are the paper's values
    assert (params["size"], params["z_scale"], params["zeta_range"], params["patched_fraction"],
            params["patch_only_prob"], params["patch_only_scale"], params["n_patch_only"]) == (
        7, 1.25, 0.1, 0.8, 0.2, 1.75, 1000)
    runs = {name: plan.run_config(paper, "patch", name, 0) for name in ("large_lr", "small_lr", "act_noise")}
    for rc in runs.values():
        assert rc["model"] == WRN_16_10 and rc["training"]["epochs"] == 60
        assert {k: rc["training"][k] for k in OFFICIAL_TRAINING} == OFFICIAL_TRAINING
    # `decay_early`: lr * 0.04^[e>=30]; `fixed`; `step_early` noise: sigma * rate^[e>=30]
    assert runs["large_lr"]["lr"] == {"initial": 0.1, "milestones": [30], "factors": [0.04]}
    assert runs["small_lr"]["lr"] == {"initial": 0.004, "milestones": [], "factors": []}
    assert runs["act_noise"]["lr"] == {"initial": 0.004, "milestones": [], "factors": []}
    assert runs["act_noise"]["preact_noise"] == {"initial": 0.4, "milestones": [30], "factors": [1e-5]}
    assert runs["large_lr"]["preact_noise"] == NO_NOISE
    assert plan.anneal_epoch(paper, "patch") == 30


def test_paper_claims_cover_1_to_5(paper: dict) -> None:
    ids = {study: [spec["id"] for spec in plan.claim_specs(paper, study)] for study in paper["studies"]}
    assert ids["clean"] == ["1", "2"]
    assert ids["patch"] == ["2", "3a", "3b", "3c", "3d", "4"]
    assert ids["synthetic"] == ["5a", "5b", "4"]
    claim1 = plan.claim_specs(paper, "clean")[0]
    # the 5 epochs before the first anneal (epoch 60 of 200)
    assert (claim1["a"], claim1["b"], claim1["eval_set"], claim1["window"]) == ("small_lr", "large_lr", "test", [55, 59])
    patch = {spec["id"]: spec["window"] for spec in plan.claim_specs(paper, "patch")}
    assert patch == {"2": [56, 60], "3a": [1, 60], "3b": [25, 29], "3c": [25, 29], "3d": [25, 29], "4": [56, 60]}


CALIBRATION = ROOT / "presets" / "calibration"


@pytest.mark.parametrize("candidate", sorted(p.stem for p in CALIBRATION.glob("*.yaml") if p.stem != "seeds"))
def test_calibration_candidates_use_seeds_disjoint_from_the_reported_ones(candidate: str) -> None:
    reported = load_config(preset=None)
    layer = yaml.safe_load((CALIBRATION / f"{candidate}.yaml").read_text())
    # a layer without a tag is another reading of claims over finished runs: its header layers it
    # after the calibration preset of the pre-anneal claims, whose runs it re-reads
    under = ["seeds.yaml"] + (["patch_pre_anneal.yaml"] if "tag" not in layer else [])
    config = load_config(*(yaml.safe_load((CALIBRATION / name).read_text()) for name in under), layer, preset=None)
    plan.check_config(config)
    assert config["tag"].startswith("cal-")
    for study, cfg in config["studies"].items():
        used = set(cfg["seeds"]) | set(cfg.get("pre_anneal_seeds", []))
        assert not used & {*reported["studies"][study]["seeds"], *reported["studies"][study].get("pre_anneal_seeds", [])}, study
        assert min(used) >= 1000
