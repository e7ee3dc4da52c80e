"""Tests of lrorder.reread: claims of runs cut at an earlier epoch, verdicts over seed subsets, CLI."""

from __future__ import annotations

import subprocess
import sys
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lrorder import claims, plan, reread, train
from lrorder.errors import ConfigError
from lrorder.study_data import load_images

from configs import ROOT, load_config
from fakes import make_image_dataset

SCHEDULES = ("large_lr", "small_lr")
ONE_CLAIM = {"studies": {"clean": {
    "seeds": [0, 1, 2, 3, 4],
    "claims": {"1": None, "2": {"window": ["end-1", "end"], "scale": "absolute", "min_effect": 0.0}},
}}}


def curves(effects: list[float], epochs: int = 4) -> pd.DataFrame:
    """Clean-study metrics: small_lr's test accuracy 0.5 every epoch; large_lr's 0.5 + the seed's
    effect over epochs 1 to ``epochs - 1`` and 0.5 - 1 at the last epoch."""
    rows = []
    for seed, effect in enumerate(effects):
        for schedule in SCHEDULES:
            for epoch in range(1, epochs + 1):
                acc = 0.5 if schedule == "small_lr" else (0.5 + effect if epoch < epochs else -0.5)
                rows.append({"study": "clean", "schedule": schedule, "seed": seed, "epoch": epoch, "lr": 0.1,
                             "noise": 0.0, "eval_set": "test", "loss": 1.0 - acc, "accuracy": acc,
                             "margin": acc - 0.5})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config(ONE_CLAIM)  # smoke preset: clean study of 4 epochs, anneal at 3


def test_cut_at_the_last_epoch_is_the_study_itself(config: dict) -> None:
    df = curves([0.1, 0.2, 0.15, 0.12, 0.18])
    got = reread.truncated_claims(df, config, "clean", 4)
    expected = claims.check_claims(df, plan.claim_specs(config, "clean"), "clean")
    pd.testing.assert_frame_equal(got, expected)
    assert got.loc[0, "mean"] == pytest.approx((0.1 + 0.2 + 0.15 + 0.12 + 0.18 - 5 * 1.0) / 10)  # epochs 3-4


def test_cut_resolves_end_windows_and_ignores_later_epochs(config: dict) -> None:
    df = curves([0.1, 0.2, 0.15, 0.12, 0.18])
    got = reread.truncated_claims(df, config, "clean", 3).iloc[0]
    assert (got["window_lo"], got["window_hi"]) == (2, 3)  # end-1, end with end = 3
    assert got["mean"] == pytest.approx(0.15)  # epoch 4's collapse is cut off
    assert got["verdict"] == "reproduced"


def test_cut_past_the_runs_is_one_config_error(config: dict) -> None:
    with pytest.raises(ConfigError, match=r"--ends: epoch 5 is outside the runs' epochs 1-4"):
        reread.truncated_claims(curves([0.1] * 5), config, "clean", 5)


def test_subset_verdicts_count_every_subset(config: dict) -> None:
    # four seeds with a clear positive effect and one far below: only the subset without it reproduces
    df = curves([0.20, 0.21, 0.19, 0.22, -0.9])
    counts = reread.subset_verdicts(df, config, "clean", 3, 4)
    assert sum(counts["2"].values()) == comb(5, 4)
    assert counts["2"]["reproduced"] == 1
    table = reread.reread(df, config, "clean", [3], subset_size=4)
    assert list(table.columns) == list(reread.COLUMNS)
    assert table.loc[0, "subset_verdicts"].split(", ")[-1] == "reproduced 1"


def test_subset_size_out_of_range(config: dict) -> None:
    with pytest.raises(ConfigError, match=r"--subset-size: expected 1-5 \(the runs' seeds\), got 6"):
        reread.subset_verdicts(curves([0.1] * 5), config, "clean", 3, 6)


def test_layered_config_merges_in_order_and_fills_defaults() -> None:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    got = plan.layered_config(base, [{"tag": "a"}, {"tag": "b", "studies": {"clean": {"seeds": [7]}}}])
    assert got["tag"] == "b" and got["studies"]["clean"]["seeds"] == [7]
    assert got["studies"]["clean"]["training"]["bn_eval"] == "recalibrated"  # a schema default
    assert got["studies"]["clean"]["training"]["epochs"] == base["studies"]["clean"]["training"]["epochs"]



def test_config_from_files_refuses_an_integral_float_as_snakemake_does(tmp_path: Path) -> None:
    """Regression: the re-reading tools took ``eval_every: 5.0``, which the Snakefile refuses."""
    layer = tmp_path / "layer.yaml"
    layer.write_text("studies: {synthetic: {training: {eval_every: 5.0}}}\n")
    with pytest.raises(ConfigError, match=r"^config: studies.synthetic.training.eval_every: "):
        plan.config_from_files(ROOT / "config.yaml", [layer], "synthetic")

def test_cli(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.csv"
    curves([0.20, 0.21, 0.19, 0.22, 0.18]).to_csv(metrics, index=False)
    layers = [tmp_path / "smoke.yaml", tmp_path / "one.yaml"]
    layers[0].write_text((ROOT / "presets" / "smoke.yaml").read_text())
    layers[1].write_text(yaml.safe_dump(ONE_CLAIM))
    cmd = [sys.executable, "-m", "lrorder.reread", str(metrics), "--base", str(ROOT / "config.yaml"),
           "--configfile", *map(str, layers)]
    ok = subprocess.run([*cmd, "--study", "clean", "--ends", "3", "4", "--subset-size", "4"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].split()[:3] == ["end", "claim", "n_seeds"] and len(lines) == 3
    assert lines[1].split()[:4] == ["3", "2", "5", "+0.200"]
    assert lines[1].endswith("reproduced 5")
    bad = subprocess.run([*cmd, "--study", "nope", "--ends", "3"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["error: --study: 'nope' is not a study of the config "
                                               "(have: synthetic, clean, patch)"]
    layers[1].write_text("studies: {clean: {seeds: [x]}}\n")
    bad = subprocess.run([*cmd, "--study", "clean", "--ends", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: config: studies.clean.seeds.0: ")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_reread_premise_first_epochs_of_a_longer_run_are_the_shorter_run(tmp_path: Path) -> None:
    # the premise of lrorder.reread, checked on an image run with every per-epoch draw in play
    # (pre-activation noise, BatchNorm recalibration subset, LR milestone inside the shorter run)
    root = make_image_dataset(tmp_path, n_train=64, n_test=32, hwc=(28, 28, 1))
    data = load_images(root, torch.device("cpu"), seed=0)

    def run(epochs: int) -> pd.DataFrame:
        cfg = {"study": "clean", "kind": "image", "schedule": "large_lr", "seed": 0,
               "model": {"name": "small_cnn", "widths": [4, 8]},
               "training": {"epochs": epochs, "batch_size": 16, "momentum": 0.9, "nesterov": True,
                            "weight_decay": 5e-4, "augment": False, "device": "cpu", "precision": "fp32",
                            "channels_last": False, "bn_eval": "recalibrated", "bn_recalibration_examples": 32},
               "lr": {"initial": 0.5, "milestones": [2], "factors": [0.2]},
               "preact_noise": {"initial": 0.4, "milestones": [], "factors": []},
               "grad_noise": {"initial": 0.0, "milestones": [], "factors": []}}
        return train.train(cfg, data, torch.device("cpu"))[0]

    longer, shorter = run(3), run(2)
    assert np.array_equal(longer[longer["epoch"] <= 2].to_numpy(), shorter.to_numpy())
