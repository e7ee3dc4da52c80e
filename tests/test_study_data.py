"""lrorder.study_data: image batches (normalise, augment, patch per batch), training on image data, and the synthetic data loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lrorder import manifest, study_data, study_kinds, train
from lrorder.data import patch, patch_batches, patch_params, pipeline, synthetic
from lrorder.errors import DataError
from lrorder.study_data import load_images, load_synthetic

from fakes import make_synthetic_dataset

CPU = torch.device("cpu")
SYNTHETIC = synthetic.SyntheticParams(n_train=200, n_test=200, p_dim=20, q_dim=4)


def test_normalize_exact() -> None:
    x = torch.tensor([0, 255, 51, 102], dtype=torch.uint8).view(1, 2, 2, 1)
    out = pipeline.normalize(x, torch.tensor([0.5]), torch.tensor([0.25]))
    assert out.shape == (1, 1, 2, 2) and out.dtype == torch.float32
    expected = (torch.tensor([0.0, 1.0, 0.2, 0.4]) - 0.5) / 0.25
    assert torch.allclose(out.flatten(), expected)


def test_augment_centre_crop_without_flip_is_identity() -> None:
    x = torch.randn(3, 2, 8, 8)
    offset = torch.full((3, 2), pipeline.PAD)
    assert torch.equal(pipeline.augment(x, offset, torch.zeros(3, dtype=torch.bool)), x)


def test_augment_crop_and_flip_match_reflect_padding() -> None:
    x = torch.randn(2, 3, 8, 8)
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    offset = torch.tensor([[0, 0], [8, 3]])
    flip = torch.tensor([False, True])
    out = pipeline.augment(x, offset, flip)
    assert torch.equal(out[0], padded[0, :, 0:8, 0:8])
    assert torch.equal(out[1], padded[1, :, 8:16, 3:11].flip(2))


def test_augment_draws_reproducible_and_in_range() -> None:
    a = pipeline.augment_draws(5, 3, 1000, CPU)
    b = pipeline.augment_draws(5, 3, 1000, CPU)
    c = pipeline.augment_draws(5, 4, 1000, CPU)
    assert torch.equal(a.offset, b.offset) and torch.equal(a.flip, b.flip)
    assert not torch.equal(a.offset, c.offset)
    assert a.offset.min() == 0 and a.offset.max() == 2 * pipeline.PAD
    assert 0.4 < a.flip.float().mean() < 0.6


def test_clean_study_data(image_dirs) -> None:
    data = load_images(image_dirs[0], CPU, seed=0)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert list(data.eval_sets) == ["test"]
    x, y = data.eval_sets["test"]
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    xb, yb = data.make_epoch(1)(torch.arange(8))
    assert torch.equal(xb, pipeline.normalize(data.train_x[:8], torch.tensor([0.1307]), torch.tensor([0.3081])))
    assert torch.equal(yb, data.train_y[:8])


def test_patch_study_batches_depend_only_on_seed_epoch_index(image_dirs) -> None:
    data = load_images(image_dirs[0], CPU, seed=0, augment=True, patch_dir=image_dirs[1])
    assert list(data.eval_sets) == ["test_clean", "test_patched", "patch_only", "train_patch_removed",
                                    "train_other_patch"]
    assert data.eval_sets["patch_only"][0].shape == (20, 1, 28, 28)
    assert any(name.startswith("patch/") for name in data.sha256)
    idx = torch.tensor([5, 17, 40, 63])
    whole, _ = data.make_epoch(2)(idx)
    parts = torch.cat([data.make_epoch(2)(idx[2:])[0], data.make_epoch(2)(idx[:2])[0]])
    assert torch.equal(whole, parts[[2, 3, 0, 1]])
    other, _ = data.make_epoch(3)(idx)
    assert not torch.equal(whole, other)
    # patched examples carry z + s * zeta_y (or its patch-only form) at the centre
    arrays = patch.load_patch_arrays(image_dirs[1])[0]
    row, col = patch_params.patch_location(28, 28, 7)
    z = torch.from_numpy(arrays["z"])
    for k, i in enumerate(idx.tolist()):
        region = whole[k, :, row : row + 7, col : col + 7]
        zeta = torch.from_numpy(arrays["zeta"])[data.train_y[i]]
        if arrays["train_patched"][i]:
            coef = ((region - z) / zeta).flatten()
            assert torch.allclose(coef, coef[0].expand_as(coef), atol=1e-4)
            assert abs(coef[0].item()) <= 1.75 + 1e-4


def test_patch_arrays_belong_to_the_run_seed(image_dirs) -> None:
    with pytest.raises(DataError, match="drawn for run seed 0, but this run has seed 3"):
        load_images(image_dirs[0], CPU, seed=3, patch_dir=image_dirs[1])


def test_patch_study_eval_sets_fixed_and_from_the_arrays(image_dirs) -> None:
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    again = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    for name, (x, y) in data.eval_sets.items():  # the same examples at every load (and so every epoch)
        assert torch.equal(x, again.eval_sets[name][0]) and torch.equal(y, again.eval_sets[name][1]), name
    arrays, params, _ = patch.load_patch_arrays(image_dirs[1])
    clean_x, clean_y = data.eval_sets["test_clean"]
    patched_x, patched_y = data.eval_sets["test_patched"]
    keep = torch.from_numpy(arrays["test_patched"])
    assert int(keep.sum()) == round(0.8 * 32) and torch.equal(patched_y, clean_y)
    assert torch.equal(patched_x[~keep], clean_x[~keep])  # unpatched test images unchanged
    expect_patched = patch_batches.patched_test_set(clean_x, clean_y, arrays, params)[0]
    torch.testing.assert_close(patched_x, expect_patched, rtol=0, atol=0)
    only_x, only_y = data.eval_sets["patch_only"]
    assert torch.equal(only_y, torch.from_numpy(arrays["patch_only_y"]))
    torch.testing.assert_close(only_x, patch_batches.patch_only_set(arrays, params, (1, 28, 28))[0], rtol=0, atol=0)


def run_config(kind: str, **training) -> dict:
    return {
        "study": "patch" if kind == "patch" else "clean", "kind": kind, "schedule": "large_lr", "seed": 0,
        "model": {"name": "small_cnn", "widths": [4, 8]},
        "training": {"epochs": 2, "batch_size": 16, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                     "augment": False, "device": "cpu", "precision": "auto", "channels_last": "auto", **training},
        "lr": {"initial": 0.1, "milestones": [2], "factors": [0.2]},
        "preact_noise": {"initial": 0.4, "milestones": [2], "factors": [1e-5]},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


def test_train_on_patched_images_is_deterministic(image_dirs) -> None:
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    first, model, _ = train.train(run_config("patch"), data, CPU)
    second, _, _ = train.train(run_config("patch"), data, CPU)
    pd.testing.assert_frame_equal(first, second)
    assert sorted(first["eval_set"].unique()) == ["patch_only", "test_clean", "test_patched", "train",
                                                  "train_other_patch", "train_patch_removed"]
    assert list(first.loc[first["eval_set"] == "train", "lr"]) == pytest.approx([0.1, 0.02])
    assert list(first.loc[first["eval_set"] == "train", "noise"]) == pytest.approx([0.4, 4e-6])
    assert first["accuracy"].between(0, 1).all()


@pytest.mark.parametrize("channels_last", [True, False])
def test_runs_are_bitwise_the_same_without_the_nan_fill_of_new_tensors(image_dirs, channels_last: bool) -> None:
    # train.enable_deterministic_algorithms turns off torch's NaN fill of uninitialised memory (a fifth of an
    # image job): no kernel of a run reads memory it did not write, so metrics and weights keep every bit.
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    cfg = run_config("patch", epochs=3, channels_last=channels_last, bn_eval="recalibrated",
                     bn_recalibration_examples=32)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_filling = torch.utils.deterministic.fill_uninitialized_memory
    runs = []
    try:
        for fill in (True, False):
            torch.use_deterministic_algorithms(True)
            torch.utils.deterministic.fill_uninitialized_memory = fill
            metrics, model, _ = train.train(cfg, data, CPU)
            runs.append((metrics, {k: v.clone() for k, v in model.state_dict().items()}))
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = was_filling
    (filled, filled_state), (unfilled, unfilled_state) = runs
    pd.testing.assert_frame_equal(filled, unfilled, check_exact=True)
    assert filled_state.keys() == unfilled_state.keys()
    assert all(torch.equal(filled_state[k], unfilled_state[k]) for k in filled_state)
    assert filled["accuracy"].notna().all()


def test_run_stopped_before_the_anneal_repeats_the_full_runs_first_epochs(image_dirs) -> None:
    # A pre-anneal seed's run (lrorder.plan.run_config: epochs = anneal - 1) stands in for the first
    # epochs of a full run of that seed: the claims read both kinds of run as one sample.
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    full, _, _ = train.train(run_config("patch", epochs=3), data, CPU)
    short, _, _ = train.train(run_config("patch", epochs=1), data, CPU)
    assert list(short["epoch"].unique()) == [1]
    pd.testing.assert_frame_equal(short, full[full["epoch"] == 1].reset_index(drop=True), check_exact=True)



def test_pre_anneal_run_scores_only_what_its_claims_read(image_dirs) -> None:
    # A pre-anneal run scores patch_only at the claims' window only (lrorder.plan.evaluation); with
    # BatchNorm recalibrated before each scored epoch, the rows it keeps are bitwise a full run's.
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    full, _, _ = train.train(run_config("patch", epochs=3, bn_eval="recalibrated"), data, CPU)
    part, _, _ = train.train({**run_config("patch", epochs=3, bn_eval="recalibrated"),
                              "evaluation": {"sets": {"patch_only": [2, 3]}}}, data, CPU)
    kept = full[(full["eval_set"] == "train") | (full["epoch"].isin([2, 3]) & (full["eval_set"] == "patch_only"))]
    pd.testing.assert_frame_equal(part, kept.reset_index(drop=True), check_exact=True)
    assert len(part) == 3 + 2

@pytest.mark.parametrize("channels_last", [False, True])
def test_eval_batch_size_changes_no_image_metric(image_dirs, channels_last: bool) -> None:
    # The default study evaluates its CNN in batches of 128 instead of 1,024 (3x faster on the CPU);
    # its claims rest on the outputs being the same.
    data = load_images(image_dirs[0], CPU, seed=0, patch_dir=image_dirs[1])
    small, _, _ = train.train(run_config("patch", eval_batch_size=7, channels_last=channels_last), data, CPU)
    large, _, _ = train.train(run_config("patch", eval_batch_size=1024, channels_last=channels_last), data, CPU)
    pd.testing.assert_frame_equal(small, large, check_exact=True)


def test_bf16_channels_last_on_cpu_trains(image_dirs) -> None:
    data = load_images(image_dirs[0], CPU, seed=0)
    metrics, _, _ = train.train(run_config("image", precision="bf16", channels_last=True), data, CPU)
    assert np.isfinite(metrics["loss"]).all()
    assert len(metrics) == 2 * 2  # 2 epochs x (train + test)


# --------------------------------------------------------------------------- synthetic data


def test_load_synthetic(tmp_path: Path) -> None:
    data_dir = make_synthetic_dataset(tmp_path, SYNTHETIC, seed=0)
    data = load_synthetic(data_dir, CPU)
    arrays, meta = manifest.load_dataset(data_dir)
    assert data.train_x.dtype == torch.float32 and data.train_x.shape == (200, 24)
    assert data.train_y.dtype == torch.float32 and data.train_y.shape == (200,)
    assert set(data.train_y.tolist()) == {-1.0, 1.0}
    assert list(data.eval_sets) == ["test", *study_data.SYNTHETIC_RELIANCE_SETS]
    assert data.eval_sets["test"][0].shape == (200, 24)
    assert sorted(["test", *data.eval_subsets]) == ["test", "test_both", "test_p_only", "test_q_only"]
    for name, code in synthetic.PATTERN_CODES.items():
        parent, mask = data.eval_subsets[f"test_{name}"]
        assert parent == "test" and mask.dtype == torch.bool
        assert np.array_equal(mask.numpy(), arrays["test_pattern"] == code) and mask.any()
    assert data.sha256 == meta["files"]


def test_load_synthetic_skips_absent_patterns(tmp_path: Path) -> None:
    params = synthetic.SyntheticParams(n_train=20, n_test=30, p_dim=3, q_dim=2, p_only=0.0, q_only=0.0)
    manifest.save_dataset(tmp_path, synthetic.generate(params, 0), generator="g", generator_version="1",
                          params={}, seed=0)
    assert list(load_synthetic(tmp_path, CPU).eval_subsets) == ["test_both"]


def test_load_synthetic_refuses_an_image_dataset(image_dirs) -> None:
    """Regression: a synthetic run given an image dataset folder ended in KeyError 'test_pattern'."""
    with pytest.raises(DataError) as err:
        load_synthetic(image_dirs[0], CPU)
    assert str(err.value) == (f"{image_dirs[0]}: not a synthetic dataset (no array train_pattern, test_pattern, w_star; "
                              f"generator 'tests.fake_images')")


def test_every_kinds_data_rule_has_a_loader() -> None:
    assert {kind.data_rule for kind in study_kinds.KINDS.values()} == set(study_data.LOADERS)


def test_the_image_loader_reads_seed_augment_and_patch_from_the_run(image_dirs) -> None:
    """The run's loader, picked by its kind's data rule, gets the seed and ``training.augment`` of the run config."""
    run_cfg = {"seed": 0, "training": {"augment": True}}
    data = study_data.LOADERS[study_kinds.KINDS["patch"].data_rule](image_dirs[0], CPU, run_cfg, image_dirs[1])
    direct = load_images(image_dirs[0], CPU, seed=0, augment=True, patch_dir=image_dirs[1])
    idx = torch.arange(16)
    assert torch.equal(data.make_epoch(2)(idx)[0], direct.make_epoch(2)(idx)[0])
    plain = load_images(image_dirs[0], CPU, seed=0, augment=False, patch_dir=image_dirs[1])
    assert not torch.equal(data.make_epoch(2)(idx)[0], plain.make_epoch(2)(idx)[0])
    with pytest.raises(DataError, match="drawn for run seed 0, but this run has seed 3"):
        study_data.LOADERS["image_data"](image_dirs[0], CPU, {**run_cfg, "seed": 3}, image_dirs[1])
