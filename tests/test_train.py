"""Tests of lrorder.train: one training run, metrics, determinism, resume, CLI."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lrorder import aggregate, columns, fileio, manifest, metric_rows, study_data, train
from lrorder.data import synthetic

from fakes import complete_run_config, make_synthetic_dataset, training_defaults
from lrorder.errors import ConfigError, DataError

CPU = torch.device("cpu")
PARAMS = synthetic.SyntheticParams(n_train=200, n_test=200, p_dim=20, q_dim=4)
EVAL_SETS = ["test", "test_both", "test_p_only", "test_q_only"]


def run_cfg(**over) -> dict:
    """A resolved run config (the shape of lrorder.plan.run_config) for the tiny dataset.

    Completed as the workflow would (``fakes.complete_run_config``): training settings not given
    take the schema's defaults (no two-step evaluation), and the scoring plan, unless given, scores
    every set at every epoch.
    """
    cfg = {
        "study": "synthetic",
        "kind": "synthetic",
        "schedule": "large_lr",
        "seed": 0,
        "model": {"name": "two_layer", "width": 8, "activation": "relu", "negative_slope": 0.1,
                  "split_at": None, "noise_shared_over_batch": False},
        "training": {"epochs": 3, "batch_size": 50, "momentum": 0.0, "nesterov": False,
                     "weight_decay": 1e-4, "device": "cpu"},
        "lr": {"initial": 1.0, "milestones": [2], "factors": [0.05]},
        "preact_noise": {"initial": 0.5, "milestones": [3], "factors": [0.0]},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return complete_run_config(cfg, EVAL_SETS)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("data"), PARAMS, seed=0)


@pytest.fixture(scope="module")
def data(data_dir: Path) -> train.TrainingData:
    return study_data.load_synthetic(data_dir, CPU)


@pytest.fixture(scope="module")
def baseline(data: train.TrainingData):
    """An uninterrupted run of the default config, without a checkpoint."""
    metrics, model, resumed = train.train(run_cfg(), data, CPU)
    return metrics, {k: v.clone() for k, v in model.state_dict().items()}, resumed


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- data loading


# --------------------------------------------------------------------------- precision and layout


def test_precision_policy() -> None:
    auto = {"precision": "auto", "channels_last": "auto"}
    cpu = train.Precision.resolve(auto, CPU)
    assert (cpu.bf16, cpu.memory_format) == (False, torch.contiguous_format)
    cuda = train.Precision.resolve(auto, torch.device("cuda"), capability=(8, 0))
    assert (cuda.bf16, cuda.memory_format) == (True, torch.channels_last)
    forced = train.Precision.resolve({"precision": "bf16", "channels_last": True}, CPU)
    assert forced.bf16 and forced.layout(torch.zeros(2, 3, 4, 4)).is_contiguous(memory_format=torch.channels_last)
    assert train.Precision.resolve({}, CPU) == train.FP32


@pytest.mark.parametrize("channels", [1, 3])
def test_layout_follows_the_config_not_the_storage(channels: int) -> None:
    # Regression: a 1-channel batch sliced from (N, H, W, 1) storage has channels-last strides and
    # counts as NCHW-contiguous, so the convolution ran channels-last although the config said NCHW.
    stored = torch.arange(2 * 5 * 6 * channels, dtype=torch.float32).reshape(2, 5, 6, channels)
    batch = stored.permute(0, 3, 1, 2)
    nchw = train.Precision.resolve({"channels_last": False}, CPU).layout(batch)
    last = train.Precision.resolve({"channels_last": True}, CPU).layout(batch)
    assert nchw.stride() == (30 * channels, 30, 6, 1)
    assert last.stride() == (30 * channels, 1, 6 * channels, channels)
    assert torch.equal(nchw, batch) and torch.equal(last, batch)
    assert train.FP32.layout(batch).stride() == nchw.stride()
    flat = torch.zeros(4, 7)
    assert train.FP32.layout(flat) is flat


# --------------------------------------------------------------------------- loss


def test_logistic_loss_hand_computed() -> None:
    output = torch.tensor([0.0, 2.0, -1.0, 3.0])
    target = torch.tensor([1.0, -1.0, -1.0, 1.0])
    # margins y f: 0, -2, 1, 3
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-3))) / 4
    loss, correct = train.loss_and_correct(output, target)
    assert loss.dim() == 0 and correct.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert correct.item() == 2  # margin 0 is not correct
    # large margins: no overflow
    loss, correct = train.loss_and_correct(torch.tensor([100.0, -100.0]), torch.tensor([-1.0, -1.0]))
    assert loss.item() == pytest.approx(50.0, rel=1e-6)
    assert correct.item() == 1


def test_cross_entropy_hand_computed() -> None:
    output = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    target = torch.tensor([0, 2])
    lse1 = math.log(math.e + 2)
    lse2 = math.log(2 + math.exp(2))
    expected = ((lse1 - 1.0) + (lse2 - 0.0)) / 2
    loss, correct = train.loss_and_correct(output, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert correct.item() == 1


def test_evaluate_batches_and_eval_mode() -> None:
    net = train.build_model({"name": "two_layer", "width": 4, "activation": "relu", "negative_slope": 0.1,
                             "split_at": None, "noise_shared_over_batch": False}, (3,))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 3, generator=g)
    y = torch.sign(torch.randn(10, generator=g))
    train.set_preactivation_noise(net, 5.0, g)
    net.train()
    loss_full, acc_full, margin_full = train.evaluate(net, x, y, batch_size=100)
    loss_batched, acc_batched, margin_batched = train.evaluate(net, x, y, batch_size=3)  # 3+3+3+1
    assert not net.training
    net.noise.sigma = 0.0
    with torch.no_grad():
        ref_loss, ref_correct = train.loss_and_correct(net(x), y)
        ref_margin = (y * net(x)).mean().item()
    assert margin_full == pytest.approx(ref_margin, rel=1e-6) and margin_batched == pytest.approx(ref_margin, rel=1e-6)
    assert loss_full == pytest.approx(ref_loss.item(), rel=1e-6)
    assert loss_batched == pytest.approx(ref_loss.item(), rel=1e-6)
    assert acc_full == acc_batched == ref_correct.item() / 10


# --------------------------------------------------------------------------- metrics


def test_metrics_columns_and_rows(baseline) -> None:
    metrics, _, resumed = baseline
    assert resumed == 0
    assert list(metrics.columns) == list(columns.METRIC_COLUMNS)
    assert len(metrics) == 3 * (1 + 4)
    assert metrics["epoch"].tolist() == [e for e in (1, 2, 3) for _ in range(5)]
    assert metrics["eval_set"].tolist() == ["train", "test", "test_both", "test_p_only", "test_q_only"] * 3
    assert set(metrics["study"]) == {"synthetic"}
    assert set(metrics["schedule"]) == {"large_lr"}
    assert set(metrics["seed"]) == {0}
    assert metrics["accuracy"].between(0, 1).all()
    assert (metrics["loss"] > 0).all()
    assert metrics.notna().all().all()



def test_run_scoring_some_epochs_and_sets_trains_the_same(data: train.TrainingData) -> None:
    # lrorder.plan.evaluation: a run scores its sets at some epochs only (eval_every, claim windows) and a
    # pre-anneal run reports only the sets its claims read; the rows it keeps are bitwise those of a run
    # that scores everything, two-step rows included (the model is the same at every epoch).
    two_step = {"two_step_eval": ["test_q_only"]}
    full, full_model, _ = train.train(run_cfg(training=two_step), data, CPU)
    part, part_model, _ = train.train(run_cfg(training=two_step, evaluation={
        "sets": {"test_p_only": [2, 3], "test_q_only_two_step": [2, 3]}}), data, CPU)
    kept = full[(full["eval_set"] == "train") | (full["epoch"].isin([2, 3])
                                                 & full["eval_set"].isin(["test_p_only", "test_q_only_two_step"]))]
    pd.testing.assert_frame_equal(part, kept.reset_index(drop=True), check_exact=True)
    assert part["eval_set"].tolist() == ["train", "train", "test_p_only", "test_q_only_two_step",
                                         "train", "test_p_only", "test_q_only_two_step"]
    assert states_equal(full_model.state_dict(), part_model.state_dict())


def test_unknown_reported_set_is_a_config_error(data: train.TrainingData) -> None:
    with pytest.raises(ConfigError, match=r"evaluation.sets: unknown evaluation set 'patch_only' \(have: test, "):
        train.train(run_cfg(evaluation={"sets": {"patch_only": [1]}}), data, CPU)

def test_lr_and_noise_columns_follow_schedules(baseline) -> None:
    metrics, _, _ = baseline
    per_epoch = metrics.groupby("epoch")[["lr", "noise"]].agg(set)
    assert per_epoch["lr"].tolist() == [{1.0}, {0.05}, {0.05}]
    assert per_epoch["noise"].tolist() == [{0.5}, {0.5}, {0.0}]


def test_cosine_schedules_set_each_epochs_lr_and_noise(data: train.TrainingData) -> None:
    cosine = {"form": "cosine", "initial": 1.0, "final": 0.1, "start": 1, "end": 3, "milestones": [], "factors": []}
    metrics, _, _ = train.train(run_cfg(lr=cosine, preact_noise={**cosine, "initial": 0.5, "final": 0.0}), data, CPU)
    per_epoch = metrics.groupby("epoch")[["lr", "noise"]].agg(set)
    # 0.1 + 0.9 * (1 + cos(pi * t / 3)) / 2 for t = 0, 1, 2: 1.0, 0.775, 0.325
    assert [lr for (lr,) in per_epoch["lr"]] == pytest.approx([1.0, 0.775, 0.325])
    assert [noise for (noise,) in per_epoch["noise"]] == pytest.approx([0.5, 0.375, 0.125])


def test_last_epoch_eval_rows_match_returned_model(data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    net = train.build_model(run_cfg()["model"], (24,))
    net.load_state_dict(state)
    last = metrics[metrics["epoch"] == 3].set_index("eval_set")
    x, y = data.eval_sets["test"]
    loss, acc, margin = train.evaluate(net, x, y, batch_size=1024)
    assert last.loc["test", "loss"] == loss
    assert last.loc["test", "accuracy"] == acc
    assert last.loc["test", "margin"] == margin
    for name, (_, mask) in data.eval_subsets.items():  # a subset scores like a separate evaluation of its examples
        loss, acc, margin = train.evaluate(net, x[mask], y[mask], batch_size=1024)
        assert last.loc[name, "loss"] == pytest.approx(loss, rel=1e-6)
        assert last.loc[name, "accuracy"] == acc
        assert last.loc[name, "margin"] == pytest.approx(margin, rel=1e-6)
    # test accuracy is the pattern-weighted mean of the parts
    sizes = {name: int(mask.sum()) for name, (_, mask) in data.eval_subsets.items()} | {"test": len(x)}
    parts = sum(last.loc[n, "accuracy"] * sizes[n] for n in EVAL_SETS[1:]) / sizes["test"]
    assert last.loc["test", "accuracy"] == pytest.approx(parts)


def test_zero_lr_train_row_is_full_batch_loss(data: train.TrainingData) -> None:
    # lr 0 and no noise: the model never changes, so the epoch's running mean of
    # the minibatch loss equals the loss on the whole training set, and the
    # evaluation rows are the same in every epoch.
    cfg = run_cfg(lr={"initial": 0.0, "milestones": [], "factors": []},
                  preact_noise={"initial": 0.0, "milestones": [], "factors": []}, training={"epochs": 2})
    metrics, model, _ = train.train(cfg, data, CPU)
    loss, acc, margin = train.evaluate(model, data.train_x, data.train_y, batch_size=1024)
    train_rows = metrics[metrics["eval_set"] == "train"]
    assert train_rows["loss"].tolist() == pytest.approx([loss, loss], rel=1e-6)
    assert train_rows["accuracy"].tolist() == pytest.approx([acc, acc])
    assert train_rows["margin"].tolist() == pytest.approx([margin, margin], rel=1e-6)  # the running mean, as trained
    e1 = metrics[metrics["epoch"] == 1].drop(columns="epoch").reset_index(drop=True)
    e2 = metrics[metrics["epoch"] == 2].drop(columns="epoch").reset_index(drop=True)
    pd.testing.assert_frame_equal(e1, e2, check_exact=True)


def test_training_learns(data: train.TrainingData) -> None:
    # a small, stable LR (at width 8, LR 1.0 kills most ReLU units on this data)
    cfg = run_cfg(model={"width": 32}, training={"epochs": 8}, lr={"initial": 0.01, "milestones": [], "factors": []},
                  preact_noise={"initial": 0.0, "milestones": [], "factors": []})
    metrics, _, _ = train.train(cfg, data, CPU)
    train_rows = metrics[metrics["eval_set"] == "train"]
    losses = train_rows["loss"].to_numpy()
    assert (np.diff(losses) < 0).all()  # full-batch-like descent at this LR
    assert losses[-1] < losses[0] - 0.05
    assert train_rows["accuracy"].iloc[-1] > 0.7  # chance is about 0.5


# --------------------------------------------------------------------------- determinism


def test_same_seed_identical(data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    again, model, _ = train.train(run_cfg(), data, CPU)
    pd.testing.assert_frame_equal(again, metrics, check_exact=True)
    assert states_equal(model.state_dict(), state)


def test_different_seed_differs(data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    other, model, _ = train.train(run_cfg(seed=1), data, CPU)
    assert set(other["seed"]) == {1}
    assert not np.array_equal(other["loss"].to_numpy(), metrics["loss"].to_numpy())
    assert not torch.equal(model.state_dict()["hidden.weight"], state["hidden.weight"])


def test_grad_noise_changes_result_and_is_reproducible(data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    cfg = run_cfg(grad_noise={"initial": 0.1, "milestones": [], "factors": []})
    noisy, model, _ = train.train(cfg, data, CPU)
    assert not torch.equal(model.state_dict()["hidden.weight"], state["hidden.weight"])
    # epoch 1 train row differs only after the first step; the eval rows differ at once
    assert not np.array_equal(noisy["loss"].to_numpy(), metrics["loss"].to_numpy())
    again, model2, _ = train.train(cfg, data, CPU)
    pd.testing.assert_frame_equal(again, noisy, check_exact=True)
    assert states_equal(model.state_dict(), model2.state_dict())


def test_preact_noise_changes_result(data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    cfg = run_cfg(preact_noise={"initial": 0.0, "milestones": [], "factors": []})
    clean, model, _ = train.train(cfg, data, CPU)
    assert set(clean["noise"]) == {0.0}
    first_train = lambda m: m[(m["epoch"] == 1) & (m["eval_set"] == "train")]["loss"].item()  # noqa: E731
    assert first_train(clean) != first_train(metrics)
    assert not torch.equal(model.state_dict()["hidden.weight"], state["hidden.weight"])


def test_momentum_and_split_run(data: train.TrainingData) -> None:
    cfg = run_cfg(training={"momentum": 0.9, "nesterov": True}, model={"split_at": 20, "activation": "leaky_relu"},
                  lr={"initial": 0.1, "milestones": [2], "factors": [0.1]})
    metrics, model, _ = train.train(cfg, data, CPU)
    assert len(metrics) == 15
    w = model.state_dict()["hidden.weight"] * model.state_dict()["mask"]
    assert (w[:4, 20:] == 0).all() and (w[4:, :20] == 0).all()


# --------------------------------------------------------------------------- checkpoints


def test_completed_checkpoint_resumes_at_end(tmp_path: Path, data: train.TrainingData, baseline) -> None:
    metrics, state, _ = baseline
    ckpt = tmp_path / "run.ckpt"
    first, _, resumed = train.train(run_cfg(), data, CPU, checkpoint=ckpt)
    assert resumed == 0
    assert ckpt.exists()
    pd.testing.assert_frame_equal(first, metrics, check_exact=True)
    saved = torch.load(ckpt, weights_only=True)  # plain containers and tensors only
    assert saved["format"] == train.CHECKPOINT_FORMAT
    assert saved["epoch"] == 3
    assert saved["config_hash"] == fileio.json_hash(run_cfg())
    assert saved["threads"] == torch.get_num_threads()
    assert [(s["from_epoch"], s["to_epoch"], s["threads"]) for s in saved["segments"]] == [
        (1, 3, torch.get_num_threads())]
    again, model, resumed = train.train(run_cfg(), data, CPU, checkpoint=ckpt)
    assert resumed == 3
    pd.testing.assert_frame_equal(again, metrics, check_exact=True)
    assert states_equal(model.state_dict(), state)
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temp files left


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_interrupted_run_resumes_bitwise(tmp_path: Path, data: train.TrainingData, monkeypatch, momentum) -> None:
    cfg = run_cfg(training={"momentum": momentum},
                  grad_noise={"initial": 0.01, "milestones": [], "factors": []})
    uninterrupted, model_ref, _ = train.train(cfg, data, CPU)

    ckpt = tmp_path / "run.ckpt"
    real_outcomes = train.per_example_outcomes
    calls = {"n": 0}

    passes = len([name for name in data.eval_sets if name in cfg["evaluation"]["sets"]])  # forward passes per epoch

    def failing_outcomes(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2 * passes:  # first evaluation of epoch 3
            raise KeyboardInterrupt("killed in epoch 3")
        return real_outcomes(*args, **kwargs)

    monkeypatch.setattr(train, "per_example_outcomes", failing_outcomes)
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, data, CPU, checkpoint=ckpt)
    assert calls["n"] == 2 * passes + 1
    assert torch.load(ckpt, weights_only=False)["epoch"] == 2
    monkeypatch.setattr(train, "per_example_outcomes", real_outcomes)

    resumed_metrics, model, resumed = train.train(cfg, data, CPU, checkpoint=ckpt)
    assert resumed == 2
    pd.testing.assert_frame_equal(resumed_metrics, uninterrupted, check_exact=True)
    assert states_equal(model.state_dict(), model_ref.state_dict())
    assert torch.load(ckpt, weights_only=False)["epoch"] == 3


def saved_epochs(monkeypatch) -> list[int]:
    """The epochs of the checkpoints :func:`train.train` writes from now on (the files are still written)."""
    epochs: list[int] = []
    real = train.save_torch

    def recording(obj, path, durable=True):
        epochs.append(obj["epoch"])
        real(obj, path, durable)

    monkeypatch.setattr(train, "save_torch", recording)
    return epochs


def test_checkpoint_every_k_epochs_resumes_bitwise(tmp_path: Path, data: train.TrainingData, monkeypatch) -> None:
    """A run killed in epoch 5 with checkpoints every 2 epochs resumes from epoch 4 and ends as if never killed."""
    cfg = run_cfg(training={"epochs": 6, "momentum": 0.9})
    uninterrupted, model_ref, _ = train.train(cfg, data, CPU)
    ckpt = tmp_path / "run.ckpt"
    epochs = saved_epochs(monkeypatch)

    def killed_in_epoch_5(line: str) -> None:
        if line.startswith("epoch 5/"):
            raise KeyboardInterrupt("killed after epoch 5")

    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, data, CPU, checkpoint=ckpt, log=killed_in_epoch_5, checkpoint_every=2)
    assert epochs == [2, 4]
    resumed_metrics, model, resumed = train.train(cfg, data, CPU, checkpoint=ckpt, checkpoint_every=2)
    assert resumed == 4 and epochs == [2, 4, 6]
    pd.testing.assert_frame_equal(resumed_metrics, uninterrupted, check_exact=True)
    assert states_equal(model.state_dict(), model_ref.state_dict())


def test_checkpoint_after_minutes(data: train.TrainingData, tmp_path: Path, monkeypatch) -> None:
    """checkpoint_minutes: a checkpoint after the first epoch that ends that long after the last one."""
    clock = iter(range(0, 10_000, 40))  # each reading of the clock 40 s after the last
    monkeypatch.setattr(train, "time", type("Clock", (), {"monotonic": staticmethod(lambda: next(clock))}))
    epochs = saved_epochs(monkeypatch)
    train.train(run_cfg(training={"epochs": 5}), data, CPU, checkpoint=tmp_path / "run.ckpt", checkpoint_every=100,
                checkpoint_minutes=1)
    # start 0; epoch 1 ends at 40 s; epoch 2 at 80 s: written, at 120 s; epoch 3 at 160 s; epoch 4 at 200 s: written
    assert epochs == [2, 4]


def test_checkpoint_of_other_hardware_is_refused(tmp_path: Path, data: train.TrainingData) -> None:
    """A checkpoint written on a GPU in bf16 is not continued on the CPU in float32, nor the other way round."""
    ckpt = tmp_path / "run.ckpt"
    cfg = run_cfg(training={"epochs": 1})
    train.train(cfg, data, CPU, checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["hardware"] == {"device": "cpu", "precision": "fp32", "memory_format": "nchw"}
    torch.save({**state, "hardware": {"device": "cuda", "precision": "bf16", "memory_format": "channels_last"}}, ckpt)
    with pytest.raises(ConfigError) as caught:
        train.train(cfg, data, CPU, checkpoint=ckpt)
    assert str(caught.value) == (
        f"{ckpt}: written by a run on cuda, bf16, channels_last, this job trains on cpu, fp32, nchw; one run never "
        "mixes them: set training.device / precision / channels_last to match, or delete the checkpoint to start over")
    assert ckpt.exists()  # kept: nothing lost
    # the same config, precision auto: an A100 resolves bf16, a V100 fp32
    torch.save({**state, "hardware": {**state["hardware"], "precision": "bf16"}}, ckpt)
    with pytest.raises(ConfigError, match="written by a run on cpu, bf16, nchw, this job trains on cpu, fp32, nchw"):
        train.train(cfg, data, CPU, checkpoint=ckpt)


def test_saved_model_holds_cpu_tensors(tmp_path: Path) -> None:
    """model.pt of a GPU run loads on a host without one: save_model moves every tensor to the CPU."""
    weight = torch.arange(6.0).reshape(2, 3)

    class OnDevice:  # stands in for a CUDA tensor: torch.save refuses it, .cpu() gives the real tensor
        def cpu(self) -> torch.Tensor:
            return weight

    class Model:
        def state_dict(self) -> dict:
            return {"w": OnDevice()}

    train.save_model(Model(), tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=True)
    assert list(loaded) == ["w"] and loaded["w"].device == CPU and torch.equal(loaded["w"], weight)


def test_checkpoint_of_other_config_starts_over(tmp_path: Path, data: train.TrainingData, capsys) -> None:
    ckpt = tmp_path / "run.ckpt"
    train.train(run_cfg(training={"epochs": 1}), data, CPU, checkpoint=ckpt)
    other = run_cfg(training={"epochs": 2})
    fresh, _, _ = train.train(other, data, CPU)
    resumed, _, resumed_from = train.train(other, data, CPU, checkpoint=ckpt)
    assert resumed_from == 0
    pd.testing.assert_frame_equal(resumed, fresh)
    assert "checkpoint of a different run config (the config changed); starting over" in capsys.readouterr().err


class _Payload:
    """Unpickling it creates the file ``path`` (the pickle calls ``open(path, "w")``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def set_aside_line(ckpt: Path, problem: str) -> str:
    return f"{ckpt}: {problem}; moved to {ckpt}.corrupt-1, starting over from epoch 1\n"


def assert_started_over(ckpt: Path, content: bytes, data: train.TrainingData, capsys, problem: str) -> None:
    """Training with the file ``ckpt`` holding ``content`` sets it aside, says so in one line, and starts over."""
    ckpt.write_bytes(content)
    cfg = run_cfg(training={"epochs": 1})
    fresh, _, _ = train.train(cfg, data, CPU)
    capsys.readouterr()
    out, _, resumed = train.train(cfg, data, CPU, checkpoint=ckpt)
    assert capsys.readouterr().err == set_aside_line(ckpt, problem)
    assert resumed == 0
    pd.testing.assert_frame_equal(out, fresh, check_exact=True)
    assert (ckpt.parent / f"{ckpt.name}.corrupt-1").read_bytes() == content  # kept for inspection
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # a new checkpoint, of this run


def test_unreadable_checkpoint_is_set_aside(tmp_path: Path, data: train.TrainingData, capsys) -> None:
    assert_started_over(tmp_path / "run.ckpt", b"study,schedule\n", data, capsys,
                        "not a readable checkpoint (IndexError)")


def test_checkpoint_that_runs_code_is_refused_unrun(tmp_path: Path, data: train.TrainingData, capsys) -> None:
    import pickle

    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe))).close()
    assert probe.exists()  # the payload works when unpickled without weights_only
    marker = tmp_path / "marker"
    for content in (pickle.dumps(_Payload(marker)), _torch_bytes({"format": train.CHECKPOINT_FORMAT,
                                                                   "epoch": _Payload(marker)})):
        ckpt = tmp_path / f"run{len(content)}.ckpt"
        assert_started_over(ckpt, content, data, capsys, "not a readable checkpoint (UnpicklingError)")
        assert not marker.exists()


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


METRIC_ROW = {"study": "synthetic", "schedule": "large_lr", "seed": 0, "epoch": 1, "lr": 1.0, "noise": 0.5,
              "eval_set": "train", "loss": 0.6931471805599453, "accuracy": 0.5,
              "margin": 0.0}


def _checkpoint(**over) -> dict:
    cfg = run_cfg(training={"epochs": 1})
    return {"format": train.CHECKPOINT_FORMAT, "config_hash": fileio.json_hash(cfg), "epoch": 1, "threads": 1,
            "hardware": train.FP32.identity(), "segments": [], "model": {}, "optimizer": {"state": {}, "param_groups": []},
            "metrics": metric_rows.pack([]), **over}


@pytest.mark.parametrize(("state", "problem"), [
    ({k: v for k, v in _checkpoint().items() if k != "format"}, "format marker missing"),
    (_checkpoint(format="lrorder.train checkpoint v0"), "format 'lrorder.train checkpoint v0'"),
    (["not", "a", "dict"], "a list, not a dict"),
    ({k: v for k, v in _checkpoint().items() if k != "metrics"}, "keys missing: metrics"),
    # v2 held the rows as a list of dicts: set aside, the run starts over
    ({**{k: v for k, v in _checkpoint(format="lrorder.train checkpoint v2").items() if k != "metrics"}, "rows": []},
     "format 'lrorder.train checkpoint v2'"),
    (_checkpoint(epoch="2"), "epoch is not a positive int"),
    (_checkpoint(epoch=0), "epoch is not a positive int"),
    (_checkpoint(config_hash=1), "config_hash is not a str"),
    # v1 checkpoints carry no thread count: resuming one could silently change the results
    ({k: v for k, v in _checkpoint(format="lrorder.train checkpoint v1").items() if k not in ("threads", "segments")},
     "format 'lrorder.train checkpoint v1'"),
    ({k: v for k, v in _checkpoint().items() if k != "threads"}, "keys missing: threads"),
    # v3 carries no device / precision: resuming one could silently continue a CPU run on a GPU in bf16
    ({k: v for k, v in _checkpoint(format="lrorder.train checkpoint v3").items() if k != "hardware"},
     "format 'lrorder.train checkpoint v3'"),
    ({k: v for k, v in _checkpoint().items() if k != "hardware"}, "keys missing: hardware"),
    (_checkpoint(hardware={"device": "cuda"}), "hardware is not a device, precision and memory format"),
    (_checkpoint(threads=0), "threads is not a positive int"),
    (_checkpoint(segments=[{"from_epoch": 1}]), "segments are not run segments"),
    (_checkpoint(model={"w": [1.0]}), "model is not a dict of tensors"),
    (_checkpoint(optimizer={"state": {}}), "optimizer is not an optimizer state dict"),
    (_checkpoint(metrics=[{"epoch": 1}]), "metrics: not a dict of the metric columns"),
    (_checkpoint(metrics={**metric_rows.pack([]), "loss": torch.zeros(1, dtype=torch.float32)}),
     "metrics: column loss is not a packed column"),
    (_checkpoint(metrics={**metric_rows.pack([]), "loss": torch.zeros(1, dtype=torch.float64)}),
     "metrics: columns of different lengths"),
    (_checkpoint(epoch=2, metrics=metric_rows.pack([METRIC_ROW])), "metrics end at epoch 1, not 2"),
])
def test_foreign_checkpoint_is_set_aside(tmp_path: Path, data: train.TrainingData, capsys, state, problem) -> None:
    assert_started_over(tmp_path / "run.ckpt", _torch_bytes(state), data, capsys,
                        f"not a checkpoint of lrorder.train ({problem})")


def test_checkpoint_not_fitting_the_model_is_set_aside(tmp_path: Path, data: train.TrainingData, capsys) -> None:
    """Right format, keys, types and config hash, but a model state dict of another network."""
    assert_started_over(tmp_path / "run.ckpt", _torch_bytes(_checkpoint()), data, capsys,
                        "not a checkpoint of this run (RuntimeError loading it)")


def test_set_aside_never_overwrites(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint.pt"
    for n, content in enumerate([b"first", b"second", b"third"], start=1):
        ckpt.write_bytes(content)
        assert train.set_aside(ckpt) == tmp_path / f"checkpoint.pt.corrupt-{n}"
    assert not ckpt.exists()
    assert [(tmp_path / f"checkpoint.pt.corrupt-{n}").read_bytes() for n in (1, 2, 3)] == [b"first", b"second",
                                                                                          b"third"]


def test_attempt_marker_counts_earlier_attempts(tmp_path: Path, monkeypatch) -> None:
    import socket

    log = tmp_path / "seed0.attempts.log"
    now = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    host = socket.gethostname()
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert train.attempt_marker(log, now) == f"=== attempt 1 started 2024-05-06T07:08:09+00:00 on {host} ==="
    log.write_text(f"=== attempt 1 started x on y ===\nepoch 1/3 lr 1\n=== attempt 2 started x on y ===\n")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert train.attempt_marker(log, now) == (f"=== attempt 3 started 2024-05-06T07:08:09+00:00 on {host}"
                                              " (SLURM job 4242) ===")


def test_missing_checkpoint_starts_fresh(tmp_path: Path, data: train.TrainingData, baseline) -> None:
    metrics, _, _ = baseline
    ckpt = tmp_path / "sub" / "run.ckpt"
    out, _, resumed = train.train(run_cfg(), data, CPU, checkpoint=ckpt)
    assert resumed == 0
    pd.testing.assert_frame_equal(out, metrics, check_exact=True)


# --------------------------------------------------------------------------- CLI


def cli(data_dir: Path, out: Path, cfg: dict, checkpoint: Path | None = None,
        extra: list[str] = ()) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "lrorder.train", "--data", str(data_dir), "--run-config", json.dumps(cfg),
            "--out-metrics", str(out / "metrics.csv"), "--out-model", str(out / "model.pt"),
            "--out-run", str(out / "run.json"), *extra]
    if checkpoint is not None:
        args += ["--checkpoint", str(checkpoint)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_cli_end_to_end(tmp_path: Path, data_dir: Path, baseline) -> None:
    metrics, state, _ = baseline
    out = tmp_path / "run"
    ckpt = out / "checkpoint.pt"
    res = cli(data_dir, out, run_cfg(), checkpoint=ckpt)
    assert res.returncode == 0, res.stderr
    assert not ckpt.exists()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "model.pt", "run.json"]
    lines = res.stdout.splitlines()  # one log line per epoch
    assert [line.split(" lr ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert lines[0].startswith("epoch 1/3 lr 1 noise 0.5 | train loss ")
    assert all(f"| {name} loss " in lines[-1] for name in EVAL_SETS)

    csv = pd.read_csv(out / "metrics.csv")
    assert list(csv.columns) == list(columns.METRIC_COLUMNS)
    assert len(csv) == 15
    assert csv["eval_set"].tolist() == metrics["eval_set"].tolist()
    np.testing.assert_allclose(csv["loss"], metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(csv["accuracy"], metrics["accuracy"], rtol=1e-6)

    saved = torch.load(out / "model.pt", weights_only=True)
    assert set(saved) == {"hidden.weight", "hidden.bias", "a", "mask"}
    for key in saved:
        assert torch.allclose(saved[key], state[key], rtol=1e-5, atol=1e-7)

    run = json.loads((out / "run.json").read_text())
    for key in ("run_config", "run_config_sha256", "dataset", "git", "packages", "device", "wall_time_s",
                "resumed_from_epoch", "started_utc", "ended_utc", "host", "argv"):
        assert key in run, key
    assert run["run_config"] == run_cfg()
    assert run["run_config_sha256"] == fileio.json_hash(run_cfg())
    assert run["dataset"]["files_sha256"] == manifest.read_manifest(data_dir)["files"]
    assert run["dataset"]["manifest_sha256"] == fileio.sha256_file(data_dir / "manifest.json")
    assert set(run["git"]) == {"commit", "dirty"}
    assert run["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert run["packages"]["lrorder"] == "0.1.0"
    assert run["device"]["type"] == "cpu"
    # device and precision as resolved (lrorder.devices, train.Precision)
    assert {key: run["device"][key] for key in ("name", "index", "compute_capability", "gpus_granted", "precision",
                                                 "memory_format", "cudnn_benchmark")} == {
        "name": None, "index": None, "compute_capability": None, "gpus_granted": 0, "precision": "fp32",
        "memory_format": "nchw", "cudnn_benchmark": False}
    assert run["device"]["threads"] == 1
    assert run["device"]["deterministic_algorithms"] is True
    assert run["device"]["cpu_kernels"] == "native"
    assert run["device"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(run["device"]["cpu_kernel_env"]) == {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"}
    assert run["segments"] == [{"from_epoch": 1, "to_epoch": 3, "threads": 1, "host": run["host"],
                                "slurm_job_id": run["slurm_job_id"]}]
    assert run["resumed_from_epoch"] == 0
    assert run["diverged"] is None
    # what the job wrote, so that a later change to a file is caught (lrorder.manifest.run_output_problems)
    assert run["outputs_sha256"] == {name: fileio.sha256_file(out / name) for name in ("metrics.csv", "model.pt")}
    assert manifest.run_output_problems(out / "run.json") == []
    assert isinstance(run["wall_time_s"], float) and run["wall_time_s"] >= 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_cli_cuda_without_a_gpu_stops_in_one_line(tmp_path: Path, data_dir: Path) -> None:
    """The paper preset's training.device: cuda on a host without a GPU: one line, exit 2, nothing written
    (it used to fall back to the CPU: WRN-16-10 at about 1.9 hours per CIFAR-10 epoch)."""
    out = tmp_path / "run"
    cfg = run_cfg(training={**run_cfg()["training"], "device": "cuda"})
    res = cli(data_dir, out, cfg, checkpoint=out / "checkpoint.pt")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith("error: training.device: 'cuda' but torch ") and "sees no CUDA device" in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(("flag", "value", "least"), [("--checkpoint-every", "0", 1), ("--gpus", "-1", 0), ("--threads", "0", 1),
                                                     ("--checkpoint-minutes", "nan", 0),
                                                     ("--checkpoint-minutes", "inf", 0)])
def test_cli_refuses_bad_checkpoint_interval(tmp_path: Path, data_dir: Path, flag: str, value: str, least: int) -> None:
    """Regression: argparse's usage block came before the error line, and an infinite interval was accepted."""
    res = cli(data_dir, tmp_path / "run", run_cfg(), extra=[flag, value])
    assert res.returncode == 2 and not (tmp_path / "run").exists()
    assert res.stderr.splitlines() == [
        f"error: python -m lrorder.train: {flag}: expected a finite number >= {least}, got {value} (see --help)"]


# --------------------------------------------------------------------------- divergence

HUGE_LR = {"initial": 1.0e30}
DIVERGED_LINE = "diverged: synthetic/large_lr/seed0 at epoch 1 (training loss nan); stopping"


def test_diverged_run_stops_after_the_first_non_finite_epoch(tmp_path: Path, data: train.TrainingData) -> None:
    """Regression: a NaN run trained on to its last epoch and was scored as accuracy 0."""
    lines: list[str] = []
    ckpt = tmp_path / "checkpoint.pt"
    metrics, model, resumed = train.train(run_cfg(lr=HUGE_LR), data, CPU, checkpoint=ckpt, log=lines.append)
    assert resumed == 0
    assert metrics["epoch"].tolist() == [1] * (1 + len(EVAL_SETS))  # the diverged epoch's rows, none after
    assert metrics["eval_set"].tolist() == ["train", *EVAL_SETS]
    assert math.isnan(metrics["loss"].iloc[0])
    assert train.diverged_epoch(metrics) == 1
    assert len(lines) == 2 and lines[0].startswith("epoch 1/3 lr 1e+30 ")
    assert lines[1] == DIVERGED_LINE
    assert not ckpt.exists()  # the diverged epoch is not checkpointed: a restart recomputes it
    assert not all(torch.isfinite(p).all() for p in model.state_dict().values())


def test_diverged_epoch_reads_every_loss(baseline) -> None:
    metrics = baseline[0]
    assert train.diverged_epoch(metrics) is None
    bad = metrics.copy()
    bad.loc[(bad["eval_set"] == "train") & (bad["epoch"] >= 3), "loss"] = math.inf
    assert train.diverged_epoch(bad) == 3
    # regression: a blow-up on an epoch's last step leaves the training loss finite and only the
    # evaluation losses infinite; it was not marked diverged and its accuracies were averaged
    bad.loc[(bad["eval_set"] == EVAL_SETS[0]) & (bad["epoch"] == 2), "loss"] = math.inf
    assert train.diverged_epoch(bad) == 2
    assert train.nonfinite_losses(bad[bad["epoch"] == 3].to_dict("records")) == {"train": math.inf}
    assert train.divergence_line("s/x/seed3", 2, {"train": math.inf}) == (
        "diverged: s/x/seed3 at epoch 2 (training loss inf); stopping")
    assert train.divergence_line("s/x/seed3", 6, {"test_p_only": math.inf, "test_q_only": math.nan}) == (
        "diverged: s/x/seed3 at epoch 6 (test_p_only loss inf, test_q_only loss nan); stopping")


def test_blow_up_on_the_last_step_of_an_epoch_is_divergence(tmp_path: Path, data: train.TrainingData) -> None:
    """Regression: an LR x3e38 from epoch 2 with one step per epoch blows the weights up on that
    step; epoch 2's training loss (taken before the step) is finite, its evaluation losses are not."""
    one_step = dataclasses.replace(data, train_x=data.train_x[:50], train_y=data.train_y[:50])
    lines: list[str] = []
    cfg = run_cfg(lr={"initial": 1.0, "milestones": [2], "factors": [3.0e38]})
    metrics, _, _ = train.train(cfg, one_step, CPU, log=lines.append)
    assert train.diverged_epoch(metrics) == 2 and metrics["epoch"].max() == 2
    epoch2 = metrics[metrics["epoch"] == 2].set_index("eval_set")["loss"]
    assert math.isfinite(epoch2["train"]) and not all(map(math.isfinite, epoch2[EVAL_SETS]))
    assert lines[-1].startswith("diverged: synthetic/large_lr/seed0 at epoch 2 (") and "training" not in lines[-1]


@pytest.mark.parametrize("factor, one_step", [(1.0e30, False), (3.0e38, True)])
def test_a_run_diverging_where_its_plan_scores_one_set_reports_every_set(data: train.TrainingData, factor: float,
                                                                         one_step: bool) -> None:
    """Regression: a run whose scoring plan scored only test_p_only at its divergence epoch (2) wrote that row
    alone, and aggregation, which reads every set at a run's last epoch, refused the run. Both ways of
    diverging: a non-finite training loss (LR x1e30 from epoch 2) and a blow-up on the epoch's last step
    (one step per epoch, LR x3e38: only the evaluation losses are non-finite)."""
    if one_step:
        data = dataclasses.replace(data, train_x=data.train_x[:50], train_y=data.train_y[:50])
    two_step = {"two_step_eval": ["test_q_only"]}
    plan = {"sets": {"test": [3], "test_p_only": [2, 3], "test_q_only": [3], "test_both": [3],
                     "test_q_only_two_step": [1, 3]}}
    cfg = run_cfg(training=two_step, evaluation=plan, lr={"initial": 1.0, "milestones": [2], "factors": [factor]})
    metrics, _, _ = train.train(cfg, data, CPU)
    assert train.diverged_epoch(metrics) == 2 and metrics["epoch"].max() == 2
    assert metrics.loc[metrics["epoch"] == 2, "eval_set"].tolist() == ["train", *EVAL_SETS, "test_q_only_two_step"]
    assert metrics.loc[metrics["epoch"] == 1, "eval_set"].tolist() == ["train", "test_q_only_two_step"]
    aggregate.check_complete(metrics, "metrics.csv")  # every set at the last epoch: no DataError


def test_cli_diverged_run_exits_0_and_is_marked(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "run"
    ckpt = out / "checkpoint.pt"
    res = cli(data_dir, out, run_cfg(lr=HUGE_LR), checkpoint=ckpt)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == DIVERGED_LINE
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "model.pt", "run.json"]
    run = json.loads((out / "run.json").read_text())
    assert run["diverged"]["epoch"] == 1 and run["diverged"]["training_loss"] == "nan"
    assert run["diverged"]["nonfinite_losses"]["train"] == "nan"
    assert run["segments"][0]["from_epoch"] == 1 and run["segments"][0]["to_epoch"] == 1
    csv = pd.read_csv(out / "metrics.csv")
    assert csv["epoch"].tolist() == [1] * 5 and csv["loss"].isna().iloc[0]
    assert set(torch.load(out / "model.pt", weights_only=True)) == {"hidden.weight", "hidden.bias", "a", "mask"}


def test_cli_corrupted_dataset_exits_2(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "data"
    shutil.copytree(data_dir, bad)
    target = bad / "train_x.npy"
    raw = bytearray(target.read_bytes())
    raw[-3] ^= 0x01
    target.write_bytes(bytes(raw))
    out = tmp_path / "run"
    res = cli(bad, out, run_cfg())
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert str(target) in lines[0]
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_cli_unwritable_output_fails_before_training(tmp_path: Path, data_dir: Path) -> None:
    """Regression: a run whose --out-run could not be written trained first and left metrics.csv and model.pt."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = subprocess.run([sys.executable, "-m", "lrorder.train", "--data", str(data_dir), "--run-config",
                          json.dumps(run_cfg()), "--out-metrics", str(tmp_path / "out" / "metrics.csv"),
                          "--out-model", str(tmp_path / "out" / "model.pt"), "--out-run", str(blocker / "run.json")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stdout == ""  # no epoch line: nothing trained
    assert res.stderr.splitlines() == [f"error: {blocker}: File exists"]
    assert not (tmp_path / "out" / "metrics.csv").exists() and not (tmp_path / "out" / "model.pt").exists()


def without_training_key(key: str) -> dict:
    cfg = run_cfg()
    del cfg["training"][key]
    return cfg


def with_schedule(part: str, declaration: dict) -> dict:
    """``run_cfg`` with schedule ``part`` replaced by ``declaration`` (not merged into the default one)."""
    cfg = run_cfg()
    cfg[part] = declaration
    return cfg


def without_model_key(key: str) -> dict:
    cfg = run_cfg()
    del cfg["model"][key]
    return cfg


def image_run_cfg(**training) -> dict:
    """``run_cfg`` of kind image, its training the image kind's schema defaults updated with ``training``."""
    return {**run_cfg(kind="image"), "training": {**training_defaults("image"), **training}}


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ("{", "--run-config: expected a JSON value"),
        (json.dumps({k: v for k, v in run_cfg().items() if k != "lr"}), "--run-config: 'lr' is a required property"),
        (json.dumps(run_cfg(kind="cifar")),
         "--run-config.kind: 'cifar' is not one of ['synthetic', 'image', 'patch']"),
        (json.dumps(run_cfg(training={"device": "tpu"})),
         "--run-config.training.device: 'tpu' is not one of ['auto', 'cpu', 'cuda']"),
        # regressions: a missing training key was a KeyError traceback; a bad precision trained as fp32
        (json.dumps(without_training_key("device")),
         "--run-config.training: 'device' is a required property"),
        (json.dumps(image_run_cfg(precision="fp16")),
         "--run-config.training.precision: 'fp16' is not one of ['auto', 'fp32', 'bf16']"),
        (json.dumps(image_run_cfg(channels_last="yes")), "--run-config.training.channels_last: 'yes' is not one of ['auto', True, False]"),
        (json.dumps(run_cfg(training={"checkpoint_every": 2})),
         "--run-config.training.checkpoint_every: not allowed (a job resource: give it as a flag)"),
        (json.dumps(run_cfg(evaluation={"sets": {"test": [0]}})),
         "--run-config.evaluation.sets.test.0: 0 is less than the minimum of 1"),
        # regressions: a NaN LR trained (and diverged); scored epochs past the end were silently skipped
        (json.dumps(run_cfg(lr={"initial": float("nan")})), "--run-config.lr.initial: expected a finite number, got nan"),
        (json.dumps(run_cfg(evaluation={"sets": {"test": [3], "test_p_only": [1, 99]}})),
         "--run-config.evaluation.sets.test_p_only: epochs [99] beyond training.epochs = 3"),
        # regression: a plan without the last epoch trained, and aggregation then refused the run
        (json.dumps(run_cfg(evaluation={"sets": {"test": [2]}})),
         "--run-config.evaluation.sets.test: expected the last epoch, training.epochs = 3, among the scored epochs "
         "(aggregation reads every set there)"),
        # regressions: the planner's per-epoch schedule checks were not repeated on a run config given by hand
        (json.dumps(with_schedule("lr", {"form": "cosine", "initial": 0.1, "end": 2})),
         "--run-config.lr: the learning rate in epoch 3 is 0, 0 in float32; expected > 0 in every epoch"),
        # regressions: the model was checked for its name only (KeyError, TypeError, or code defaults used)
        (json.dumps(without_model_key("width")), "--run-config.model: 'width' is a required property"),
        (json.dumps(run_cfg(model={"width": "400"})), "--run-config.model.width: '400' is not of type 'integer'"),
        (json.dumps(run_cfg(model={"junk": 1})),
         "--run-config.model: Additional properties are not allowed ('junk' was unexpected)"),
        (json.dumps({**run_cfg(), "model": {"name": "wide_resnet", "depth": 16}}),
         "--run-config.model: 'widen_factor' is a required property"),
        (json.dumps(with_schedule("preact_noise", {"initial": 1e39})),
         "--run-config.preact_noise: the value from epoch 1 is 1e+39, beyond the float32 maximum"),
        (json.dumps(with_schedule("lr", {"initial": 0.1, "milestones": [2], "factors": [0.5, 0.5]})),
         "--run-config.lr.factors: expected one factor per milestone (1 milestones, 2 factors)"),
    ],
)
def test_main_bad_run_config(tmp_path: Path, data_dir: Path, capsys, cfg: str, needle: str) -> None:
    from lrorder import cli as lr_cli

    argv = ["--data", str(data_dir), "--run-config", cfg, "--out-metrics", str(tmp_path / "m.csv"),
            "--out-model", str(tmp_path / "m.pt"), "--out-run", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit) as exc:
        lr_cli.run(train.main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert list(tmp_path.iterdir()) == []


def test_a_schedule_reaching_past_the_run_is_accepted() -> None:
    """A pre-anneal run trains ``anneal - 1`` epochs of a schedule that anneals later (or ends its cosine later):
    only the values of the epochs it trains are checked."""
    assert train.check_run_config(with_schedule("lr", {"initial": 1.0, "milestones": [9], "factors": [0.04]})).name == "synthetic"
    assert train.check_run_config(with_schedule("lr", {"form": "cosine", "initial": 1.0, "end": 9})).name == "synthetic"


def test_the_no_q_ablation_trains_and_scores_the_sets_it_has(tmp_path: Path) -> None:
    """Data without x2 (p_only 1, q_only 0: the no-Q ablation of the learning-order maps) trains, and its runs score
    ``test`` and ``test_p_only`` only (``lrorder.plan.absent_sets``)."""
    no_q = dataclasses.replace(PARAMS, p_only=1.0, q_only=0.0)
    data = study_data.load_synthetic(make_synthetic_dataset(tmp_path, no_q, seed=0), CPU)
    assert not data.train_x[:, no_q.p_dim:].any()  # x2 = 0 everywhere
    assert list(data.eval_subsets) == ["test_p_only"]
    cfg = run_cfg(evaluation={"sets": {"test": [1, 2, 3], "test_p_only": [1, 2, 3]}})
    metrics, _, _ = train.train(cfg, data, CPU)
    assert sorted(set(metrics["eval_set"])) == ["test", "test_p_only", "train"]
    assert metrics.loc[metrics["eval_set"] == "test_p_only", "accuracy"].tolist() == \
        metrics.loc[metrics["eval_set"] == "test", "accuracy"].tolist()  # every test example is P-only


def test_enable_deterministic_algorithms_skips_the_compiler_import_and_the_nan_fill() -> None:
    # Regression: torch.use_deterministic_algorithms imports torch._inductor.config,
    # about 1 s of every training job's start-up.
    # Regression: torch's NaN fill of every new tensor under deterministic algorithms took about a fifth of an
    # image job (tests/test_study_data.py pins that results are the same without it).
    code = ("import sys, torch; from lrorder import train; train.enable_deterministic_algorithms(); "
            "print(torch.are_deterministic_algorithms_enabled(), 'torch._inductor.config' in sys.modules, "
            "torch.utils.deterministic.fill_uninitialized_memory)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.split() == ["True", "False", "False"]


def test_checkpoints_are_not_flushed_to_disk_and_pack_the_metrics(tmp_path: Path, data: train.TrainingData,
                                                                  baseline, monkeypatch) -> None:
    # an fsync per epoch and pickling every metric row again at every epoch were about a fifth of a
    # 200-epoch synthetic run; a checkpoint garbled by a machine crash is set aside on reading instead
    flushed = []
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(fd))
    ckpt = tmp_path / "run.ckpt"
    metrics, _, _ = train.train(run_cfg(), data, CPU, checkpoint=ckpt)
    assert flushed == []
    saved = torch.load(ckpt, weights_only=True)
    assert "rows" not in saved and metric_rows.problem(saved["metrics"]) is None
    unpacked = pd.DataFrame(metric_rows.unpack(saved["metrics"]), columns=list(columns.METRIC_COLUMNS))
    pd.testing.assert_frame_equal(unpacked, baseline[0], check_exact=True)
