"""Pattern reliance: the margin column, the reliance sets of the synthetic and patch studies, and their figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lrorder import figures, manifest, plan, study_data, train
from lrorder.data import patch, patch_params, synthetic
from lrorder.errors import ConfigError
from lrorder.models.two_layer import TwoLayerNet

from configs import load_config

CPU = torch.device("cpu")


def test_per_example_margin_of_a_score_and_of_logits() -> None:
    margins = train.per_example_margin(torch.tensor([2.0, -0.5, 0.0]), torch.tensor([1.0, 1.0, -1.0]))
    assert margins.tolist() == [2.0, -0.5, 0.0]
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 4.0, 1.0], [5.0, 5.0, 0.0]])
    # target's logit minus the largest other: 3 - 2; 1 - 4; a tie gives 0
    assert train.per_example_margin(logits, torch.tensor([0, 2, 1])).tolist() == [1.0, -3.0, 0.0]


def write_two_pattern_data(folder: Path) -> Path:
    """A hand-made synthetic dataset, p_dim 2 and q_dim 1: training and test examples that carry both patterns
    (x1 = (y, 0), x2 = -2 y: the two patterns disagree), one P-only and one Q-only example."""
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    x = np.zeros((6, 3), dtype=np.float32)
    x[:4, 0], x[:4, 2] = y[:4], -2.0 * y[:4]
    x[4, 0] = y[4]          # P only
    x[5, 2] = -2.0 * y[5]   # Q only
    codes = synthetic.PATTERN_CODES
    pattern = np.array([codes["both"]] * 4 + [codes["p_only"], codes["q_only"]], dtype=np.int8)
    arrays = {"train_x": x, "train_y": y.astype(np.int8), "train_pattern": pattern, "test_x": x.copy(),
              "test_y": y.astype(np.int8), "test_pattern": pattern.copy(), "w_star": np.array([1.0, 0.0])}
    manifest.save_dataset(folder, arrays, generator=synthetic.GENERATOR, generator_version=synthetic.GENERATOR_VERSION,
                          params={"p_dim": 2, "q_dim": 1, "pattern_codes": codes}, seed=0)
    return folder


def test_synthetic_reliance_sets_on_a_hand_set_network(tmp_path: Path) -> None:
    data = study_data.load_synthetic(write_two_pattern_data(tmp_path / "data"), CPU)
    assert list(data.eval_sets) == ["test", "train_both_p_alone", "train_both_q_alone", "test_both_p_alone",
                                    "test_both_q_alone"]
    x_p, y_p = data.eval_sets["test_both_p_alone"]
    assert x_p.tolist() == [[1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0]] and y_p.tolist() == [1, -1, 1, -1]
    assert data.eval_sets["train_both_q_alone"][0].tolist() == [[0, 0, -2], [0, 0, 2], [0, 0, -2], [0, 0, 2]]
    # A network reading x1 and x2 with weight 1 each: two relu units per coordinate, output weights +-1/2
    net = TwoLayerNet(3, 4, "relu")
    with torch.no_grad():
        net.hidden.weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 0, 1.0], [0, 0, -1.0]]))
        net.hidden.bias.zero_()
    # f = (relu(x1) - relu(-x1) + relu(x2) - relu(-x2)) / 2 = (x1 + x2) / 2
    p_alone = train.evaluate(net, *data.eval_sets["test_both_p_alone"], batch_size=3)
    q_alone = train.evaluate(net, *data.eval_sets["test_both_q_alone"], batch_size=3)
    both = train.evaluate(net, *train.eval_inputs(data, "test_both"), batch_size=3)
    assert (p_alone.accuracy, p_alone.margin) == (1.0, 0.5)    # y * x1 / 2 = 1/2: P alone is right
    assert (q_alone.accuracy, q_alone.margin) == (0.0, -1.0)   # y * x2 / 2 = -1: Q alone is wrong
    assert (both.accuracy, both.margin) == (0.0, -0.5)         # together Q wins
    assert p_alone.loss == pytest.approx(math.log1p(math.exp(-0.5)))


def test_the_no_q_ablation_has_no_reliance_sets() -> None:
    config = load_config({"studies": {"synthetic": {"data": {"p_only": 1.0, "q_only": 0.0},
                                                    "training": {"two_step_eval": []}}}})
    config["studies"]["synthetic"]["claims"] = {"5a": None, "4": None}
    assert plan.reliance_sets(config, "synthetic") == []
    assert not set(plan.study_eval_sets(config, "synthetic")) & set(study_data.SYNTHETIC_RELIANCE_SETS)
    assert plan.reliance_sets(load_config(), "synthetic") == list(study_data.SYNTHETIC_RELIANCE_SETS)
    assert plan.reliance_sets(load_config(), "patch") == ["train_patch_removed", "train_other_patch"]
    assert plan.reliance_sets(load_config(), "clean") == []


def test_patch_reliance_sets_take_the_patch_away_or_swap_it(image_dirs, monkeypatch) -> None:
    monkeypatch.setattr(study_data, "PATCH_RELIANCE_EXAMPLES", 10)
    data = study_data.load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    assert list(data.eval_sets) == ["test_clean", "test_patched", "patch_only", "train_patch_removed",
                                    "train_other_patch"]
    arrays, _, _ = patch.load_patch_arrays(image_dirs[1])
    picked = torch.from_numpy(np.flatnonzero(arrays["train_patched"])[:10])
    clean_x, clean_y = data.eval_sets["train_patch_removed"]
    # the first 10 patched training images, as the clean study's loader gives them (normalised, no patch)
    plain_x, plain_y = study_data.load_images(image_dirs[0], CPU, seed=0).make_epoch(1)(picked)
    assert torch.equal(clean_x, plain_x) and torch.equal(clean_y, plain_y)
    other_x, other_y = data.eval_sets["train_other_patch"]
    assert torch.equal(other_y, clean_y)
    s = arrays["z"].shape[-1]
    row, col = patch_params.patch_location(28, 28, s)
    expected = torch.from_numpy(arrays["z"]) + torch.from_numpy(arrays["zeta"])[(clean_y + 1) % 10]
    torch.testing.assert_close(other_x[:, :, row : row + s, col : col + s], expected, rtol=0, atol=0)
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[row : row + s, col : col + s] = False
    assert torch.equal(other_x[:, :, outside], clean_x[:, :, outside])  # only the patch differs


def test_reliance_rows_in_a_patch_run(image_dirs, monkeypatch) -> None:
    monkeypatch.setattr(study_data, "PATCH_RELIANCE_EXAMPLES", 8)
    data = study_data.load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    cfg = {"study": "patch", "kind": "patch", "schedule": "large_lr", "seed": 0,
           "model": {"name": "small_cnn", "widths": [4, 8]},
           "training": {"epochs": 2, "batch_size": 16, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                        "augment": False, "device": "cpu", "precision": "fp32", "channels_last": False},
           "lr": {"initial": 0.1, "milestones": [], "factors": []},
           "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
           "grad_noise": {"initial": 0.0, "milestones": [], "factors": []}}
    metrics, model, _ = train.train(cfg, data, CPU)
    last = metrics[metrics["epoch"] == 2].set_index("eval_set")
    for name in ("train_patch_removed", "train_other_patch"):
        expected = train.evaluate(model, *data.eval_sets[name], batch_size=1024)
        assert (last.loc[name, "accuracy"], last.loc[name, "margin"]) == (expected.accuracy, expected.margin)
    assert metrics["margin"].notna().all()


def reliance_table() -> pd.DataFrame:
    rows = []
    for schedule, level in (("large_lr", 0.9), ("small_lr", 0.2)):
        for seed in (0, 1):
            for epoch in (1, 2, 3):
                for name in ("test_both_p_alone", "test_both_q_alone"):
                    rows.append({"study": "synthetic", "schedule": schedule, "seed": seed, "epoch": epoch, "lr": 0.1,
                                 "noise": 0.0, "eval_set": name, "loss": 0.5, "accuracy": level,
                                 "margin": level - 0.5 + 0.01 * seed})
    return pd.DataFrame(rows)


def test_reliance_figure_draws_accuracy_and_margin_rows() -> None:
    fig = figures.plot_curves(reliance_table(), ["test_both_p_alone", "test_both_q_alone"], 2, "t",
                              values=("accuracy", "margin"))
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["accuracy", "accuracy", "mean margin", "mean margin"]
    assert axes[0].get_ylim() == (-0.02, 1.02)
    assert axes[2].get_ylim()[0] < -0.2  # the small LR's mean margin, -0.3, is drawn, unclipped
    with pytest.raises(ConfigError, match="--values: expected some of accuracy, margin, loss, got width"):
        figures.plot_curves(reliance_table(), ["test_both_p_alone"], None, "t", values=("width",))
