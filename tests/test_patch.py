"""Tests of the patch experiment (``docs/paper-notes.md``, "Patch experiment") and its figure.

Modules: lrorder.data.patch_params, lrorder.data.patch (the arrays), lrorder.data.patch_batches.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from lrorder import cli, fileio, figures, manifest
from lrorder.data import patch, patch_batches, patch_params
from lrorder.errors import ConfigError, DataError

from fakes import make_image_dataset

PARAMS = patch_params.PatchParams()


@pytest.fixture(scope="module")
def arrays32() -> dict[str, np.ndarray]:
    return patch.make_patch_arrays(PARAMS, n_train=200, n_test=50, num_classes=10, image_shape=(3, 32, 32), seed=3)


@pytest.fixture(scope="module")
def patcher32(arrays32: dict[str, np.ndarray]) -> patch_batches.TrainPatcher:
    return patch_batches.TrainPatcher(arrays32, PARAMS, (32, 32))


def batch(n: int, c: int = 3, hw: int = 32, seed: int = 0) -> torch.Tensor:
    """Non-zero normalised images, so zeroing and replacement are visible."""
    return torch.randn(n, c, hw, hw, generator=torch.Generator().manual_seed(seed)) + 5.0


def region_mask(hw: int, row: int, size: int) -> np.ndarray:
    m = np.zeros((hw, hw), dtype=bool)
    m[row : row + size, row : row + size] = True
    return m


# ---------------------------------------------------------------- parameters


def test_params_defaults_match_official_code() -> None:
    p = patch_params.PatchParams()
    assert (p.size, p.z_scale, p.zeta_range, p.patched_fraction) == (7, 1.25, 0.1, 0.8)
    assert (p.patch_only_prob, p.patch_only_scale, p.n_patch_only) == (0.2, 1.75, 1000)


@pytest.mark.parametrize(
    "field, value",
    [("size", 0), ("size", 7.5), ("size", True), ("z_scale", -1.0), ("zeta_range", "0.1"),
     ("patched_fraction", 1.5), ("patch_only_prob", -0.1), ("patch_only_scale", float("nan")),
     ("n_patch_only", 0)],
)
def test_params_validation_names_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^patch\.{field}:"):
        patch_params.PatchParams(**{field: value})


def test_params_from_mapping_rejects_unknown_key() -> None:
    assert patch_params.PatchParams.from_mapping({"size": 5}).size == 5
    with pytest.raises(ConfigError, match=r"^patch\.sizee: unknown field"):
        patch_params.PatchParams.from_mapping({"sizee": 5})
    with pytest.raises(ConfigError, match=r"^patch: expected a JSON object"):
        patch_params.PatchParams.from_mapping([1])


# ---------------------------------------------------------------- fixed arrays


def test_arrays_shapes_dtypes_and_exact_patched_count(arrays32: dict[str, np.ndarray]) -> None:
    a = arrays32
    assert {k: (v.dtype, v.shape) for k, v in a.items()} == {
        "z": (np.float32, (3, 7, 7)),
        "zeta": (np.float32, (10, 3, 7, 7)),
        "train_patched": (np.bool_, (200,)),
        "test_patched": (np.bool_, (50,)),
        "test_sign": (np.int8, (50,)),
        "test_patch_only": (np.bool_, (50,)),
        "test_u": (np.float32, (50,)),
        "patch_only_y": (np.int64, (1000,)),
        "patch_only_sign": (np.int8, (1000,)),
        "patch_only_scaled": (np.bool_, (1000,)),
        "patch_only_u": (np.float32, (1000,)),
    }
    assert {k: v.dtype for k, v in a.items()} == patch.ARRAY_DTYPES
    assert a["train_patched"].sum() == 160  # exactly round(0.8 * 200)
    assert a["test_patched"].sum() == 40  # the same rule on the test split: round(0.8 * 50)
    assert np.abs(a["zeta"]).max() <= 0.1 and np.abs(a["zeta"]).max() > 0.09
    assert 1.0 < a["z"].std() < 1.5  # 1.25 * N(0, 1) over 147 values
    assert set(np.unique(a["test_sign"])) == {-1, 1}
    assert set(np.unique(a["patch_only_sign"])) == {-1, 1}
    for n in (1, 5, 7, 333):
        arr = patch.make_patch_arrays(PARAMS, n, n, 10, (3, 32, 32), seed=0)
        assert arr["train_patched"].sum() == arr["test_patched"].sum() == int(np.floor(0.8 * n + 0.5))


def test_arrays_deterministic_and_streams_independent(arrays32: dict[str, np.ndarray]) -> None:
    again = patch.make_patch_arrays(PARAMS, 200, 50, 10, (3, 32, 32), seed=3)
    for k in arrays32:
        np.testing.assert_array_equal(again[k], arrays32[k])
    other_n_test = patch.make_patch_arrays(PARAMS, 200, 77, 10, (3, 32, 32), seed=3)
    for k in ("z", "zeta", "train_patched", "patch_only_y", "patch_only_sign", "patch_only_scaled", "patch_only_u"):
        np.testing.assert_array_equal(other_n_test[k], arrays32[k])
    other_seed = patch.make_patch_arrays(PARAMS, 200, 50, 10, (3, 32, 32), seed=4)
    for k in ("z", "zeta", "train_patched", "test_patched", "test_sign", "test_u", "patch_only_y", "patch_only_u"):
        assert not np.array_equal(other_seed[k], arrays32[k]), k  # each run seed has its own patch


def test_arrays_reject_patch_larger_than_image() -> None:
    with pytest.raises(ConfigError, match=r"^patch\.size:"):
        patch.make_patch_arrays(patch_params.PatchParams(size=9), 10, 10, 10, (1, 8, 8), seed=0)


# ---------------------------------------------------------------- location and apply_patch


def test_patch_location() -> None:
    assert patch_params.patch_location(32, 32, 7) == (12, 12)  # official int(16 - 7/2)
    assert patch_params.patch_location(28, 28, 7) == (10, 10)
    assert patch_params.patch_location(32, 28, 7) == (12, 10)
    assert patch_params.patch_location(32, 32, 8) == (12, 12)


def test_apply_patch_replaces_region_only_and_leaves_input() -> None:
    x = batch(4)
    before = x.clone()
    patches = torch.full((4, 3, 7, 7), -2.0)
    out = patch_batches.apply_patch(x, patches, (12, 12))
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    m = torch.from_numpy(region_mask(32, 12, 7))
    assert torch.equal(out[:, :, m], torch.full((4, 3, 49), -2.0))
    assert torch.equal(out[:, :, ~m], x[:, :, ~m])
    # rows/cols 12..18 inclusive, nothing at 11 or 19
    assert (out[:, :, 12:19, 12:19] == -2.0).all()
    assert (out[:, :, 11, :] != -2.0).all() and (out[:, :, 19, :] != -2.0).all()
    masked = patch_batches.apply_patch(x, patches, (12, 12), mask=torch.tensor([True, False, True, False]))
    assert torch.equal(masked[1], x[1]) and torch.equal(masked[0], out[0])


def test_apply_patch_keeps_channels_last_and_checks_bounds() -> None:
    x = batch(2).to(memory_format=torch.channels_last)
    out = patch_batches.apply_patch(x, torch.zeros(3, 7, 7), (12, 12))
    assert out.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="leaves"):
        patch_batches.apply_patch(x, torch.zeros(3, 7, 7), (26, 0))


# ---------------------------------------------------------------- training batches


def kinds(patcher: patch_batches.TrainPatcher, draws: patch_batches.EpochDraws) -> tuple[np.ndarray, np.ndarray]:
    patched = patcher.train_patched.numpy()
    only = draws.patch_only.numpy() & patched
    return patched, only


def test_train_batch_values_exact(arrays32: dict[str, np.ndarray], patcher32: patch_batches.TrainPatcher) -> None:
    x, y, idx = batch(200), torch.from_numpy(np.arange(200) % 10), torch.arange(200)
    draws = patcher32.epoch_draws(seed=0, epoch=1)
    out = patcher32.patch_train_batch(x, y, idx, draws).numpy()
    xn = x.numpy()
    patched, only = kinds(patcher32, draws)
    m = region_mask(32, 12, 7)
    z, zeta, sign = arrays32["z"], arrays32["zeta"], draws.sign.numpy()
    assert patched.sum() == 160 and 0 < only.sum() < 160
    # clean: unchanged
    np.testing.assert_array_equal(out[~patched], xn[~patched])
    for i in np.flatnonzero(patched & ~only):  # image + patch: exactly z +- zeta_y, rest untouched
        expect = z + np.float32(sign[i]) * zeta[y[i]]
        np.testing.assert_array_equal(out[i][:, 12:19, 12:19], expect)
        np.testing.assert_array_equal(out[i][:, ~m], xn[i][:, ~m])
    for i in np.flatnonzero(only):  # patch only: zero outside; patch on the segment z +- 1.75 u zeta_y
        assert (out[i][:, ~m] == 0).all()
        coef = (out[i][:, 12:19, 12:19] - z) / zeta[y[i]]
        np.testing.assert_allclose(coef, coef.mean(), atol=1e-3)
        assert np.sign(coef.mean()) == sign[i] or abs(coef.mean()) < 1e-3
        assert abs(coef.mean()) <= 1.75 + 1e-4
        np.testing.assert_allclose(coef.mean(), sign[i] * 1.75 * draws.u[i].item(), atol=1e-3)
    assert not np.array_equal(x.numpy(), out)  # input itself not modified
    np.testing.assert_array_equal(xn, x.numpy())


def test_epoch_mix_fractions() -> None:
    n = 50_000
    arrays = patch.make_patch_arrays(PARAMS, n, 1, 10, (3, 32, 32), seed=1)
    patcher = patch_batches.TrainPatcher(arrays, PARAMS, (32, 32))
    draws = patcher.epoch_draws(seed=1, epoch=5)
    patched, only = kinds(patcher, draws)
    assert patched.sum() == 40_000
    # among patched, patch-only ~ Binomial(40000, 0.2): sd = 0.002; 5 sd tolerance
    assert abs(only.sum() / 40_000 - 0.2) < 0.01
    frac = np.array([(~patched).mean(), (patched & ~only).mean(), only.mean()])
    np.testing.assert_allclose(frac, [0.2, 0.64, 0.16], atol=0.01)
    sign = draws.sign.numpy()
    assert set(np.unique(sign)) == {-1.0, 1.0} and abs((sign > 0).mean() - 0.5) < 0.012
    u = draws.u.numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_sign_symmetry_patch_not_linearly_separable(arrays32: dict[str, np.ndarray],
                                                     patcher32: patch_batches.TrainPatcher) -> None:
    z, zeta = arrays32["z"], arrays32["zeta"]
    for k in range(10):  # the two sign variants average to z for every class
        np.testing.assert_allclose(((z + zeta[k]) + (z - zeta[k])) / 2, z, atol=1e-6)
    # the patches the model sees over a few epochs, for classes 0 and 1
    index = torch.arange(200)
    y = torch.from_numpy(np.where(np.arange(200) % 2 == 0, 0, 1))
    feats, labels, plain_plus = [], [], []
    for epoch in (1, 2, 3):
        draws = patcher32.epoch_draws(seed=0, epoch=epoch)
        out = patcher32.patch_train_batch(batch(200, seed=epoch), y, index, draws)
        keep = patcher32.train_patched.numpy()
        feats.append(out[keep][:, :, 12:19, 12:19].reshape(int(keep.sum()), -1).numpy().astype(np.float64))
        labels.append(np.where(y.numpy()[keep] == 0, 1.0, -1.0))
        plain_plus.append((draws.sign.numpy() > 0)[keep] & ~draws.patch_only.numpy()[keep])
    x, t, plus = np.concatenate(feats), np.concatenate(labels), np.concatenate(plain_plus)
    assert len(t) == 480 and abs((t > 0).mean() - 0.5) < 0.1

    def max_margin(x: np.ndarray, t: np.ndarray) -> float:
        # max gamma s.t. t_i (w . x_i + b) >= gamma, |w_j| <= 1: variables (w, b, gamma), minimise -gamma
        d = x.shape[1]
        a_ub = np.hstack([-t[:, None] * x, -t[:, None], np.ones((len(x), 1))])
        res = linprog(np.r_[np.zeros(d + 1), -1.0], A_ub=a_ub, b_ub=np.zeros(len(x)),
                      bounds=[(-1.0, 1.0)] * d + [(None, None), (None, 10.0)], method="highs")
        assert res.status == 0, res.message
        return -res.fun

    # the sign variants of a class surround z, so the best margin is float32 rounding (~1e-6)
    assert max_margin(x, t) < 1e-4
    # positive control: the same patches with sign +1 only (z + zeta_0 vs z + zeta_1) separate widely
    assert {1.0, -1.0} <= set(t[plus])
    assert max_margin(x[plus], t[plus]) > 1.0


def test_draws_depend_only_on_seed_epoch_index(patcher32: patch_batches.TrainPatcher) -> None:
    x = batch(200)
    y = torch.from_numpy(np.arange(200) % 10)
    draws = patcher32.epoch_draws(seed=7, epoch=2)
    full = patcher32.patch_train_batch(x, y, torch.arange(200), draws)
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(1))
    for chunk in perm.split(33):  # any batch composition/order, draws recomputed: same images
        redraw = patcher32.epoch_draws(seed=7, epoch=2)
        out = patcher32.patch_train_batch(x[chunk], y[chunk], chunk, redraw)
        assert torch.equal(out, full[chunk])
    other_epoch = patcher32.epoch_draws(seed=7, epoch=3)
    assert not torch.equal(other_epoch.sign, draws.sign)
    assert not torch.equal(other_epoch.u, draws.u)
    assert not torch.equal(patcher32.epoch_draws(seed=8, epoch=2).u, draws.u)


def channels_last_strides(x: torch.Tensor) -> tuple[int, int, int, int]:
    n, c, h, w = x.shape
    return (h * w * c, 1, w * c, c)


def nchw_strides(x: torch.Tensor) -> tuple[int, int, int, int]:
    n, c, h, w = x.shape
    return (c * h * w, h * w, w, 1)


@pytest.mark.parametrize("c", [3, 1])
def test_patched_batches_keep_channels_last(c: int) -> None:
    """A channels-last batch (as ``pipeline.normalize`` makes one from NHWC storage) comes back with
    canonical channels-last strides, bit for bit equal to the NCHW path; an NCHW batch stays NCHW.

    Strides, not ``is_contiguous``, are compared: with one channel an NCHW tensor also counts as
    channels-last contiguous (``Precision.layout`` in ``lrorder.train`` copies on strides).
    """
    hw = 32 if c == 3 else 28
    arrays = patch.make_patch_arrays(PARAMS, 60, 60, 10, (c, hw, hw), seed=2)
    patcher = patch_batches.TrainPatcher(arrays, PARAMS, (hw, hw))
    nchw = batch(60, c=c, hw=hw)
    last = nchw.clone(memory_format=torch.channels_last)  # NHWC storage, as normalize gives
    assert last.stride() == channels_last_strides(last) and nchw.stride() == nchw_strides(nchw)
    y, idx = torch.from_numpy(np.arange(60) % 10), torch.arange(60)
    draws = patcher.epoch_draws(seed=0, epoch=1)
    assert (draws.patch_only & patcher.train_patched).any()  # the zeroing branch is exercised
    outputs = {
        "train": lambda x: patcher.patch_train_batch(x, y, idx, draws),
        "test_patched": lambda x: patch_batches.patched_test_set(x, y, arrays, PARAMS)[0],
        "apply_patch": lambda x: patch_batches.apply_patch(x, torch.zeros(c, 7, 7), patcher.location),
    }
    for name, make in outputs.items():
        ref, out = make(nchw), make(last)
        assert ref.stride() == nchw_strides(ref), name
        assert out.stride() == channels_last_strides(out), name
        assert torch.equal(out, ref), name
        assert torch.equal(out.contiguous().view(torch.int32), ref.view(torch.int32)), name  # bitwise


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu(arrays32: dict[str, np.ndarray], patcher32: patch_batches.TrainPatcher) -> None:
    gpu = patch_batches.TrainPatcher(arrays32, PARAMS, (32, 32), device="cuda")
    x, y, idx = batch(200), torch.from_numpy(np.arange(200) % 10), torch.arange(200)
    cpu_out = patcher32.patch_train_batch(x, y, idx, patcher32.epoch_draws(0, 1))
    gpu_draws = gpu.epoch_draws(0, 1)
    assert gpu_draws.sign.device.type == "cuda"
    gpu_out = gpu.patch_train_batch(x.cuda(), y.cuda(), idx.cuda(), gpu_draws)
    torch.testing.assert_close(gpu_out.cpu(), cpu_out, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- evaluation sets


def centre_coef(out: np.ndarray, z: np.ndarray, zeta_y: np.ndarray) -> np.ndarray:
    """``c`` such that the centre patch is ``z + c * zeta_y`` (one value per example; checked constant)."""
    coef = (out[:, :, 12:19, 12:19] - z) / zeta_y
    np.testing.assert_allclose(coef, coef.mean(axis=(1, 2, 3), keepdims=True) + 0 * coef, atol=1e-3)
    return coef.mean(axis=(1, 2, 3))


def test_patched_test_set(arrays32: dict[str, np.ndarray]) -> None:
    x = batch(50)
    y = np.arange(50) % 10
    xp, yp = patch_batches.patched_test_set(x, y, arrays32, PARAMS)
    assert xp.shape == (50, 3, 32, 32) and yp.dtype == torch.int64
    np.testing.assert_array_equal(yp.numpy(), y)
    out, xn = xp.numpy(), x.numpy()
    m = region_mask(32, 12, 7)
    patched, only = arrays32["test_patched"], arrays32["test_patch_only"] & arrays32["test_patched"]
    plain = patched & ~only
    assert plain.any() and only.any() and (~patched).any()
    z, zeta, sign = arrays32["z"], arrays32["zeta"], arrays32["test_sign"].astype(np.float32)
    # unpatched test images: unchanged, bit for bit
    np.testing.assert_array_equal(out[~patched], xn[~patched])
    # image + patch: exactly z + s * zeta_y at the centre, the image elsewhere
    np.testing.assert_array_equal(out[plain][:, :, 12:19, 12:19], z + sign[plain, None, None, None] * zeta[y[plain]])
    np.testing.assert_array_equal(out[plain][:, :, ~m], xn[plain][:, :, ~m])
    # patch only: a zero image carrying z + s * 1.75 * u * zeta_y
    assert (out[only][:, :, ~m] == 0).all()
    coef = centre_coef(out[only], z, zeta[y[only]])
    np.testing.assert_allclose(coef, sign[only] * 1.75 * arrays32["test_u"][only], atol=1e-3)
    assert (np.abs(coef) < 1.75).all()
    # deterministic: the same arrays give the same set
    torch.testing.assert_close(patch_batches.patched_test_set(x, y, arrays32, PARAMS)[0], xp, rtol=0, atol=0)
    with pytest.raises(DataError, match="test_patched has shape"):
        patch_batches.patched_test_set(x[:10], y[:10], arrays32, PARAMS)
    with pytest.raises(DataError, match="'test_u' missing"):
        patch_batches.patched_test_set(x, y, {k: v for k, v in arrays32.items() if k != "test_u"}, PARAMS)


def test_patched_test_set_is_the_training_transform(arrays32: dict[str, np.ndarray]) -> None:
    # the test set is what a training epoch would show for the same subset and draws (one code path)
    x, y = batch(50, seed=4), torch.from_numpy(np.arange(50) % 10)
    as_train = patch_batches.TrainPatcher({**arrays32, "train_patched": arrays32["test_patched"]}, PARAMS, (32, 32))
    expect = as_train.patch_train_batch(x, y, torch.arange(50), patch_batches.eval_draws(arrays32, "test_patched"))
    torch.testing.assert_close(patch_batches.patched_test_set(x, y, arrays32, PARAMS)[0], expect, rtol=0, atol=0)


def test_patched_test_set_proportions() -> None:
    n = 10_000
    a = patch.make_patch_arrays(PARAMS, 10, n, 10, (1, 28, 28), seed=11)
    assert a["test_patched"].sum() == 8_000  # exact, as for the training subset
    only = a["test_patch_only"][a["test_patched"]]
    # patch-only share among patched ~ Binomial(8000, 0.2)/8000: sd 0.0045; 5 sd tolerance
    assert abs(only.mean() - 0.2) < 0.0225
    sign = a["test_sign"][a["test_patched"]]
    assert set(np.unique(sign)) == {-1, 1} and abs((sign > 0).mean() - 0.5) < 0.028  # sd 0.0056
    u = a["test_u"]
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.015  # sd 0.0029
    x, _ = patch_batches.patched_test_set(batch(n, c=1, hw=28), np.zeros(n, dtype=np.int64), a, PARAMS)
    zero_images = (x.flatten(1)[:, ~torch.from_numpy(region_mask(28, 10, 7)).flatten()] == 0).all(dim=1).numpy()
    np.testing.assert_array_equal(zero_images, a["test_patched"] & a["test_patch_only"])


def test_patch_only_set(arrays32: dict[str, np.ndarray]) -> None:
    x, y = patch_batches.patch_only_set(arrays32, PARAMS, (3, 32, 32))
    assert x.shape == (1000, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (1000,)
    np.testing.assert_array_equal(y.numpy(), arrays32["patch_only_y"])
    m = region_mask(32, 12, 7)
    assert (x.numpy()[:, :, ~m] == 0).all()  # zero images outside the patch
    z, zeta, yn = arrays32["z"], arrays32["zeta"], y.numpy()
    sign = arrays32["patch_only_sign"].astype(np.float32)
    scaled, u = arrays32["patch_only_scaled"], arrays32["patch_only_u"]
    # unscaled: exactly z + s * zeta_y
    np.testing.assert_array_equal(x.numpy()[~scaled][:, :, 12:19, 12:19],
                                  z + sign[~scaled, None, None, None] * zeta[yn[~scaled]])
    # scaled: z + s * 1.75 * u * zeta_y, |scale| in [0, 1.75)
    coef = centre_coef(x.numpy()[scaled], z, zeta[yn[scaled]])
    np.testing.assert_allclose(coef, sign[scaled] * 1.75 * u[scaled], atol=1e-3)
    assert (np.abs(coef) < 1.75).all() and u.min() >= 0 and u.max() < 1
    # shares: scaled ~ Binomial(1000, 0.2) (sd 0.013), sign ~ Binomial(1000, 0.5) (sd 0.016); 5 sd
    assert abs(scaled.mean() - 0.2) < 0.065 and abs((sign > 0).mean() - 0.5) < 0.08
    # labels uniform over the classes: each class present, ~100 each (sd 9.5)
    counts = np.bincount(yn, minlength=10)
    assert counts.sum() == 1000 and counts.min() > 60 and counts.max() < 140
    # fixed across loads (the official set redraws them at every load)
    again_x, again_y = patch_batches.patch_only_set(arrays32, PARAMS, (3, 32, 32))
    assert torch.equal(again_y, y) and torch.equal(again_x, x)


def test_patch_only_labels_cover_every_class_for_every_seed() -> None:
    for seed in range(20):
        a, b = (patch.make_patch_arrays(PARAMS, 10, 10, 10, (1, 28, 28), seed=seed) for _ in range(2))
        assert set(np.unique(a["patch_only_y"])) == set(range(10)), seed
        np.testing.assert_array_equal(a["patch_only_y"], b["patch_only_y"])  # deterministic from the seed


def test_one_channel_28x28() -> None:
    arrays = patch.make_patch_arrays(PARAMS, 30, 20, 10, (1, 28, 28), seed=0)
    assert arrays["z"].shape == (1, 7, 7) and arrays["zeta"].shape == (10, 1, 7, 7)
    patcher = patch_batches.TrainPatcher(arrays, PARAMS, (28, 28))
    assert patcher.location == (10, 10)
    x = batch(30, c=1, hw=28)
    out = patcher.patch_train_batch(x, torch.zeros(30, dtype=torch.int64), torch.arange(30), patcher.epoch_draws(0, 1))
    m = region_mask(28, 10, 7)
    patched = arrays["train_patched"]
    assert patched.sum() == 24
    assert (out[torch.from_numpy(patched)][:, :, m] != x[torch.from_numpy(patched)][:, :, m]).all()
    xo, _ = patch_batches.patch_only_set(arrays, PARAMS, (1, 28, 28))
    assert (xo[:, :, 10:17, 10:17] != 0).all() and xo[:, :, ~torch.from_numpy(m)].abs().sum() == 0


# ---------------------------------------------------------------- CLI and figure


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


def test_cli_end_to_end(tmp_path: Path) -> None:
    images = make_image_dataset(tmp_path / "images", 200, 40, (32, 32, 3))
    out = tmp_path / "patch"
    res = run_module("lrorder.data.patch", "--dataset-dir", str(images), "--params", '{"n_patch_only": 300}',
                     "--seed", "5", "--out", str(out))
    assert res.returncode == 0, res.stderr
    arrays, meta = manifest.load_dataset(out)  # verifies every sha256
    assert meta["generator"] == "lrorder.data.patch" and meta["generator_version"] == "2" and meta["seed"] == 5
    assert set(meta["files"]) == {f"{k}.npy" for k in patch.ARRAY_DTYPES}
    for name, digest in meta["files"].items():
        assert fileio.sha256_file(out / name) == digest
    p = meta["params"]
    assert p["source_manifest_sha256"] == fileio.sha256_file(images / "manifest.json")
    assert (p["n_train"], p["n_test"], p["n_patched"], p["n_test_patched"], p["num_classes"]) == (200, 40, 160, 32, 10)
    assert p["image_shape"] == [32, 32, 3] and p["location"] == [12, 12] and p["n_patch_only"] == 300
    expect = patch.make_patch_arrays(patch_params.PatchParams(n_patch_only=300), 200, 40, 10, (3, 32, 32), seed=5)
    for k, v in expect.items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == patch.ARRAY_DTYPES[k]
    loaded, params, _ = patch.load_patch_arrays(out, images)
    assert params == patch_params.PatchParams(n_patch_only=300)
    # a different image dataset is refused
    other = make_image_dataset(tmp_path / "other", 200, 40, (32, 32, 3), seed=1)
    with pytest.raises(DataError, match="regenerate the patch arrays"):
        patch.load_patch_arrays(out, other)
    with pytest.raises(DataError, match="expected 'lrorder.data.patch'"):
        patch.load_patch_arrays(images)  # not a patch folder


def test_cli_bad_input_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = make_image_dataset(tmp_path / "images", 20, 10, (32, 32, 3))

    def run_main(*argv: str) -> str:
        with pytest.raises(SystemExit) as exc:
            cli.run(patch.main, [*argv, "--seed", "0", "--out", str(tmp_path / "p")])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        return err.strip()

    assert run_main("--dataset-dir", str(images), "--params", '{"size": 0}') == (
        "error: patch.size: expected an integer >= 1, got 0")
    assert "patch.sizee: unknown field" in run_main("--dataset-dir", str(images), "--params", '{"sizee": 7}')
    assert "--params: expected a JSON value" in run_main("--dataset-dir", str(images), "--params", "{")
    assert "manifest not found" in run_main("--dataset-dir", str(tmp_path / "missing"))
    (images / "train_y.npy").write_bytes(b"corrupt")
    assert "does not match the manifest" in run_main("--dataset-dir", str(images))
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("hwc, subprocess_run", [((32, 32, 3), True), ((28, 28, 1), False)])
def test_figure_subcommand_writes_png_pdf(tmp_path: Path, hwc: tuple[int, int, int], subprocess_run: bool) -> None:
    images = make_image_dataset(tmp_path / "images", 60, 10, hwc)
    info = patch.image_dataset_info(images)
    arrays = patch.make_patch_arrays(PARAMS, 60, 10, info["num_classes"], info["image_shape"], seed=2)
    manifest.save_dataset(tmp_path / "patch", arrays, generator=patch.GENERATOR, generator_version="1",
                          params={**PARAMS.__dict__, "source_manifest_sha256": info["sha256"]}, seed=2)
    png, pdf = tmp_path / "fig" / "ex.png", tmp_path / "fig" / "ex.pdf"
    argv = ["patch-examples", "--dataset-dir", str(images), "--patch-dir", str(tmp_path / "patch"),
            "--out-png", str(png), "--out-pdf", str(pdf)]
    if subprocess_run:  # the real entry point once; in-process otherwise (each subprocess imports torch)
        res = run_module("lrorder.figures", *argv)
        assert res.returncode == 0, res.stderr
    else:
        figures.main(argv)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(q.name for q in png.parent.iterdir()) == ["ex.pdf", "ex.png"]  # no temp files left


def test_plot_patch_examples_panels(tmp_path: Path) -> None:
    images = make_image_dataset(tmp_path / "images", 60, 10, (28, 28, 1))
    arrays_np, _ = manifest.load_dataset(images)
    arrays = patch.make_patch_arrays(PARAMS, 60, 10, 10, (1, 28, 28), seed=2)
    fig = figures.plot_patch_examples(arrays_np["train_x"], arrays_np["train_y"], [f"c{k}" for k in range(10)],
                                      [0.1307], [0.3081], arrays, PARAMS, seed=0, epoch=1, n_per_kind=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    for kind in figures.PATCH_KINDS:
        assert any(t.startswith(f"{kind}: ") for t in titles)
    y0 = int(arrays_np["train_y"][np.flatnonzero(~arrays["train_patched"])[0]])
    assert titles[0] == f"clean: c{y0} ({y0})"
    img = fig.axes[0].get_images()[0]
    assert img.get_cmap().name == "gray"
    shown = img.get_array()
    assert shown.shape == (28, 28) and shown.min() >= 0 and shown.max() <= 1
    with pytest.raises(ConfigError, match="--n-per-kind"):
        figures.plot_patch_examples(arrays_np["train_x"], arrays_np["train_y"], ["c"] * 10, [0.1], [0.3],
                                    arrays, PARAMS, seed=0, n_per_kind=0)


def test_parameter_fields_are_the_schemas_patch_keys_with_its_defaults() -> None:
    """The schema is the one place the defaults are written (the official code's values, zeta_range 0.1)."""
    import dataclasses

    from lrorder import schema

    properties = schema.definition(patch_params.SCHEMA_POINTER)["properties"]
    assert [f.name for f in dataclasses.fields(patch_params.PatchParams)] == list(properties)
    assert dataclasses.asdict(patch_params.PatchParams()) == {key: spec["default"] for key, spec in properties.items()}
    assert (patch_params.PatchParams().size, patch_params.PatchParams().zeta_range) == (7, 0.1)
