"""How a run is read at evaluation: recalibrated BatchNorm statistics and the two-step evaluation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from lrorder import train
from lrorder.data import synthetic
from lrorder.errors import ConfigError
from lrorder.study_data import load_images, load_synthetic

from fakes import make_image_dataset, make_synthetic_dataset

CPU = torch.device("cpu")


def image_run(**training) -> dict:
    return {
        "study": "clean", "kind": "image", "schedule": "large_lr", "seed": 0,
        "model": {"name": "small_cnn", "widths": [4, 8]},
        "training": {"epochs": 2, "batch_size": 16, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                     "augment": False, "device": "cpu", "precision": "fp32", "channels_last": False, **training},
        "lr": {"initial": 0.5, "milestones": [2], "factors": [0.2]},
        "preact_noise": {"initial": 0.4, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> train.TrainingData:
    root = make_image_dataset(tmp_path_factory.mktemp("images"), n_train=64, n_test=32, hwc=(28, 28, 1))
    return load_images(root, CPU, seed=0)


def test_recalibrate_batchnorm_sets_the_batch_statistics() -> None:
    model = nn.Sequential(nn.BatchNorm2d(2))
    model[0].running_mean.fill_(5.0)
    x = torch.arange(2 * 2 * 3 * 3, dtype=torch.float32).view(2, 2, 3, 3)

    def batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[idx], torch.zeros(len(idx), dtype=torch.int64)

    train.recalibrate_batchnorm(model, batch, torch.arange(2), batch_size=2)
    per_channel = x.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(model[0].running_mean, per_channel.mean(1))
    assert torch.allclose(model[0].running_var, per_channel.var(1, unbiased=True))
    assert model[0].momentum == 0.1 and model.training  # restored


def test_recalibrated_evaluation_leaves_training_unchanged(images: train.TrainingData) -> None:
    running, _, _ = train.train(image_run(bn_eval="running"), images, CPU)
    recal, model, _ = train.train(image_run(bn_eval="recalibrated", bn_recalibration_examples=48), images, CPU)
    is_train = running["eval_set"] == "train"
    pd.testing.assert_frame_equal(running[is_train], recal[is_train], check_exact=True)
    assert not running.loc[~is_train, "loss"].equals(recal.loc[~is_train, "loss"])
    # The final model carries the statistics of the last epoch's recalibration subset.
    subset = torch.randperm(64, generator=train.seeding.torch_generator(0, "bn_recalibration", 2))[:48]
    expected = model.stages[0].bn.running_mean.clone()
    train.recalibrate_batchnorm(model, images.make_epoch(2), subset, 16)
    assert torch.equal(model.stages[0].bn.running_mean, expected)


class _Linear(nn.Module):
    def __init__(self, w: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def test_two_step_scores_average_both_weights_and_restore_them() -> None:
    model = _Linear([1.0, 0.0])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, -1.0]])
    y = torch.tensor([1.0, 1.0, 1.0, 1.0])
    # current weights: margins 1, 0, 2, 0 -> 2 of 4 correct; previous weights [0, 1]: margins 0, 1, 0, -1 -> 1 of 4
    params = list(model.parameters())
    loss, accuracy, margin = train.two_step_scores(model, params, [torch.tensor([0.0, 1.0])], (x, y), batch_size=3)
    assert accuracy == pytest.approx((0.5 + 0.25) / 2)
    assert margin == pytest.approx((3 / 4 + 0 / 4) / 2)  # mean margins 3/4 now, 0 before
    now = torch.nn.functional.softplus(-torch.tensor([1.0, 0.0, 2.0, 0.0])).mean()
    before = torch.nn.functional.softplus(-torch.tensor([0.0, 1.0, 0.0, -1.0])).mean()
    assert loss == pytest.approx(float(now + before) / 2, rel=1e-6)
    assert torch.equal(model.w.detach(), torch.tensor([1.0, 0.0]))


def synthetic_run(**training) -> dict:
    return {
        "study": "synthetic", "kind": "synthetic", "schedule": "large_lr", "seed": 0,
        "model": {"name": "two_layer", "width": 8, "activation": "relu", "negative_slope": 0.1,
                  "split_at": None, "noise_shared_over_batch": False},
        "training": {"epochs": 2, "batch_size": 50, "momentum": 0.0, "nesterov": False,
                     "weight_decay": 1e-4, "device": "cpu", **training},
        "lr": {"initial": 1.0, "milestones": [], "factors": []},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


@pytest.fixture(scope="module")
def two_pattern(tmp_path_factory) -> train.TrainingData:
    params = synthetic.SyntheticParams(n_train=200, n_test=200, p_dim=20, q_dim=4)
    return load_synthetic(make_synthetic_dataset(tmp_path_factory.mktemp("syn"), params, seed=0), CPU)


def test_two_step_rows_added_without_changing_the_others(two_pattern: train.TrainingData) -> None:
    plain, _, _ = train.train(synthetic_run(), two_pattern, CPU)
    both, _, _ = train.train(synthetic_run(two_step_eval=["test_q_only", "test"]), two_pattern, CPU)
    extra = both["eval_set"].str.endswith("_two_step")
    pd.testing.assert_frame_equal(plain, both[~extra].reset_index(drop=True), check_exact=True)
    assert sorted(both.loc[extra, "eval_set"].unique()) == ["test_q_only_two_step", "test_two_step"]
    assert both.loc[extra, "accuracy"].between(0, 1).all() and len(both[extra]) == 4


def test_two_step_unknown_set_named(two_pattern: train.TrainingData) -> None:
    with pytest.raises(ConfigError, match="training.two_step_eval: unknown evaluation set 'test_r_only'"):
        train.train(synthetic_run(two_step_eval=["test_r_only"]), two_pattern, CPU)
