"""The patch experiment: a hard-to-generalize, easy-to-fit patch in CIFAR images.

Source: ``docs/paper-notes.md``, "Patch experiment", and the official code
(``cwein3/large-lr-code``: ``data_util.py`` ``pm_sym_pattern``,
``PatchAugmentFixed``, ``FixedAugmentDataset``, ``TransformOnlyDataset``;
``train_patches.py`` for the constants). All patch values live in
*normalised* pixel space, ``(x / 255 - mean) / std`` per channel, and the
patch *replaces* the pixels it covers.

* One shared ``z = z_scale * N(0, 1)`` of shape ``(C, s, s)`` and per class
  ``zeta_c ~ U[-zeta_range, zeta_range]`` of shape ``(C, s, s)``
  (``s = size = 7``, ``z_scale = 1.25``, ``zeta_range = 0.1``).
* Location: the centre, start row ``int(H/2 - s/2)`` and column
  ``int(W/2 - s/2)`` (12 for 32x32, so rows and columns 12..18; 10 for 28x28).
* A fixed set of exactly ``round(patched_fraction * N)`` training images
  (chosen once, at uniformly random positions) carries a patch. Every time
  such an image is used (every epoch) a sign ``s = +-1`` is drawn; with
  probability ``1 - patch_only_prob`` the patch is ``z + s * zeta_y`` on the
  image; with probability ``patch_only_prob`` the whole image is zeroed and
  the patch is ``z + s * patch_only_scale * u * zeta_y``, ``u ~ U[0, 1)``.
  Expected mix per epoch with the defaults: 20% clean, 64% image + patch,
  16% patch only. (Official: each image is in the subset with probability
  ``prop_augment``, so the count is binomial.)
* Evaluation sets, from the same distributions as the official loaders but
  drawn once, so that every epoch scores the same examples:

  - ``test_patched`` (official ``val_aug_loader``, a
    ``FixedAugmentDataset`` of the test split): a fixed subset of exactly
    ``round(patched_fraction * n_test)`` test images (the training rule) is
    patched as a training image is in one epoch, with its own sign,
    patch-only flag and ``u``; a patch-only test example is a zero image
    (zero in normalised space, as the official code zeroes the normalised
    tensor) with ``z + s * patch_only_scale * u * zeta_y``. The other test
    images are clean.
  - ``patch_only`` (official ``TransformOnlyDataset``): ``n_patch_only``
    zero images with uniformly random labels, patched by the same
    transform: ``z + s * zeta_y``, or with probability ``patch_only_prob``
    ``z + s * patch_only_scale * u * zeta_y``. Chance accuracy
    ``1 / num_classes``.

  Official deviation, forced by deterministic evaluation: the official code
  redraws these signs, flags, ``u`` and the patch-only labels at every load
  (every evaluation); here they are drawn once per patch draw.

The patch alone is not linearly separable: the two sign variants of every
class average to the same ``z``.

One function, :func:`patch_batch` (the official ``PatchAugmentFixed``),
patches training batches and builds both evaluation sets.

The fixed arrays (:data:`ARRAY_DTYPES`) are made by
:func:`make_patch_arrays` once per *run seed*: the official code draws
``z`` and ``zeta`` from the global RNG of each training run, so every run
seed has its own patch (the workflow writes
``results/<tag>/data/patch/<dataset>/seed<k>/``, shared by the schedules of
seed ``k``, as the official script shares one draw among its three
schedules). Each array comes from its own stream
``seeding.numpy_rng(seed, "patch/<name>")``. The per-epoch draws
(:func:`epoch_draws`) depend only on ``(seed, epoch, index)``, and are
applied to whole batches with tensor operations on any device
(:class:`TrainPatcher`).

Usage::

    python -m lrorder.data.patch --dataset-dir IMAGES --params '{"size": 7}' \\
        --seed RUN_SEED --out PATCH_DIR

``IMAGES`` is an image dataset folder (manifest-verified arrays ``train_x``
``(N, H, W, C)`` uint8, ``train_y``, ``test_x``, ``test_y``; manifest params
``class_names`` and ``image_shape`` ``[H, W, C]``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from lrorder import cli, fileio, manifest, seeding
from lrorder import params as param_checks
from lrorder.errors import ConfigError, DataError

GENERATOR = "lrorder.data.patch"
GENERATOR_VERSION = "2"

#: Names and dtypes of the arrays written by :func:`make_patch_arrays`.
ARRAY_DTYPES: dict[str, np.dtype] = {
    "z": np.dtype(np.float32),
    "zeta": np.dtype(np.float32),
    "train_patched": np.dtype(np.bool_),
    "test_patched": np.dtype(np.bool_),
    "test_sign": np.dtype(np.int8),
    "test_patch_only": np.dtype(np.bool_),
    "test_u": np.dtype(np.float32),
    "patch_only_y": np.dtype(np.int64),
    "patch_only_sign": np.dtype(np.int8),
    "patch_only_scaled": np.dtype(np.bool_),
    "patch_only_u": np.dtype(np.float32),
}

#: Arrays of the per-example draws of each evaluation set: ``(sign,
#: patch-only flag, u)``, named like the fields of :class:`EpochDraws`.
EVAL_DRAWS = {
    "test_patched": ("test_sign", "test_patch_only", "test_u"),
    "patch_only": ("patch_only_sign", "patch_only_scaled", "patch_only_u"),
}

#: Stream name of the per-epoch draws (:func:`epoch_draws`).
EPOCH_STREAM = "patch/epoch"

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class PatchParams:
    """Parameters of the patch experiment (defaults: ``train_patches.py``; ``docs/paper-notes.md``, "Patch experiment").

    Attributes:
        size: side ``s`` of the square patch in pixels (7).
        z_scale: scale of the shared pattern ``z = z_scale * N(0, 1)``, in
            normalised pixel units (1.25).
        zeta_range: half-width ``r`` of the per-class offsets
            ``zeta_c ~ U[-r, r]`` (0.1; official ``patch_sep``).
        patched_fraction: fraction of training images that carry a patch,
            fixed once (0.8; official ``prop_augment``).
        patch_only_prob: probability that a patched image is shown as patch
            only (image zeroed) in a given epoch (0.2).
        patch_only_scale: factor on ``u * zeta_y`` in a patch-only example
            (1.75).
        n_patch_only: size of the patch-only evaluation set (1000).

    Raises:
        ConfigError: a field has the wrong type or is out of range; the
            message names ``patch.<field>``.
    """

    size: int = 7
    z_scale: float = 1.25
    zeta_range: float = 0.1
    patched_fraction: float = 0.8
    patch_only_prob: float = 0.2
    patch_only_scale: float = 1.75
    n_patch_only: int = 1000

    def __post_init__(self) -> None:
        param_checks.check_integers(self, ("size", "n_patch_only"), "patch", minimum=1)
        param_checks.check_numbers(self, ("z_scale", "zeta_range", "patched_fraction", "patch_only_prob",
                                    "patch_only_scale"), "patch", minimum=0)
        for name in ("patched_fraction", "patch_only_prob"):
            if getattr(self, name) > 1:
                raise ConfigError(f"patch.{name}: expected a probability in [0, 1], got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, raw: Any) -> PatchParams:
        """Build from a JSON-like mapping (missing fields take the defaults).

        Raises:
            ConfigError: ``raw`` is not a mapping, names an unknown field
                (``patch.<key>``), or a value is invalid.
        """
        return param_checks.from_mapping(cls, raw, "patch")


def n_patched(params: PatchParams, n: int) -> int:
    """Number of patched images of a split of ``n``: ``round(patched_fraction * n)``, halves rounded up."""
    return int(math.floor(params.patched_fraction * n + 0.5))


def patch_location(h: int, w: int, size: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of the centred patch: ``(int(h/2 - size/2), int(w/2 - size/2))``.

    Official ``get_start_for_patch_loc(..., "center")`` = ``int(16 - size/2)``
    for 32x32 images: 12 for ``size = 7`` (rows and columns 12..18).

    Raises:
        ConfigError: the patch does not fit in an ``h x w`` image.
    """
    if size < 1 or size > h or size > w:
        raise ConfigError(f"patch.size: a {size}x{size} patch does not fit in a {h}x{w} image")
    return int(h / 2 - size / 2), int(w / 2 - size / 2)


def _fixed_subset(params: PatchParams, n: int, seed: int, stream: str) -> np.ndarray:
    """Bool ``(n,)`` with exactly :func:`n_patched` True, at uniformly random positions."""
    chosen = np.zeros(n, dtype=np.bool_)
    chosen[seeding.numpy_rng(seed, stream).permutation(n)[: n_patched(params, n)]] = True
    return chosen


def _transform_draws(params: PatchParams, n: int, seed: int, names: tuple[str, str, str]) -> dict[str, np.ndarray]:
    """Sign, patch-only flag and ``u`` of ``n`` loads (official ``PatchAugmentFixed.__call__``), drawn once.

    Returns ``{sign: int8 +-1, flag: bool (probability patch_only_prob),
    u: float32 in [0, 1)}`` under ``names``, each from its own stream
    ``patch/<name>``.
    """
    sign, flag, u = names
    return {
        sign: seeding.numpy_rng(seed, f"patch/{sign}").choice(np.array([-1, 1], dtype=np.int8), size=n),
        flag: seeding.numpy_rng(seed, f"patch/{flag}").random(n) < params.patch_only_prob,
        u: seeding.numpy_rng(seed, f"patch/{u}").random(n, dtype=np.float32),
    }


def make_patch_arrays(
    params: PatchParams,
    n_train: int,
    n_test: int,
    num_classes: int,
    image_shape: Sequence[int],
    seed: int,
) -> dict[str, np.ndarray]:
    """Draw the fixed arrays of the patch experiment for run seed ``seed``.

    Each array comes from its own stream ``seeding.numpy_rng(seed,
    "patch/<name>")``, so changing e.g. ``n_test`` leaves ``z``, ``zeta``,
    ``train_patched`` and the patch-only set unchanged.

    Args:
        params: the patch parameters.
        n_train, n_test: sizes of the image dataset's splits.
        num_classes: number of classes ``K``.
        image_shape: ``(C, H, W)`` of the images (channels first).
        seed: the run seed.

    Returns:
        ``z`` float32 ``(C, s, s)``: ``z_scale * N(0, 1)``;
        ``zeta`` float32 ``(K, C, s, s)``: ``U[-zeta_range, zeta_range)``
        (official ``pm_sym_pattern`` with ``num_patterns = 1``);
        ``train_patched`` bool ``(n_train,)`` and ``test_patched`` bool
        ``(n_test,)``: exactly :func:`n_patched` True each, at uniformly
        random positions;
        ``test_sign`` int8 ``(n_test,)`` in ``{-1, +1}``,
        ``test_patch_only`` bool ``(n_test,)`` (True with probability
        ``patch_only_prob``), ``test_u`` float32 ``(n_test,)`` in ``[0, 1)``:
        the draws of each test image (used where ``test_patched``);
        ``patch_only_y`` int64 ``(n_patch_only,)`` uniform in ``[0, K)``;
        ``patch_only_sign``, ``patch_only_scaled`` (True with probability
        ``patch_only_prob``: scale ``patch_only_scale * u``),
        ``patch_only_u``: the draws of the patch-only set.

    Raises:
        ConfigError: ``num_classes`` or a split size is not positive, or the
            patch does not fit in the image.
    """
    if num_classes < 1:
        raise ConfigError(f"num_classes: expected a positive integer, got {num_classes}")
    if n_train < 1 or n_test < 0:
        raise ConfigError(f"n_train / n_test: expected n_train >= 1 and n_test >= 0, got {n_train}, {n_test}")
    if len(image_shape) != 3:
        raise ConfigError(f"image_shape: expected (C, H, W), got {tuple(image_shape)}")
    c, h, w = (int(v) for v in image_shape)
    patch_location(h, w, params.size)
    s = params.size

    z = (params.z_scale * seeding.numpy_rng(seed, "patch/z").standard_normal((c, s, s))).astype(np.float32)
    zeta = seeding.numpy_rng(seed, "patch/zeta").uniform(
        -params.zeta_range, params.zeta_range, size=(num_classes, c, s, s)
    ).astype(np.float32)
    patch_only_y = seeding.numpy_rng(seed, "patch/patch_only_y").integers(
        0, num_classes, size=params.n_patch_only, dtype=np.int64
    )
    return {
        "z": z,
        "zeta": zeta,
        "train_patched": _fixed_subset(params, n_train, seed, "patch/train_patched"),
        "test_patched": _fixed_subset(params, n_test, seed, "patch/test_patched"),
        **_transform_draws(params, n_test, seed, EVAL_DRAWS["test_patched"]),
        "patch_only_y": patch_only_y,
        **_transform_draws(params, params.n_patch_only, seed, EVAL_DRAWS["patch_only"]),
    }


def _tensor(value: ArrayLike, device: torch.device | str | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = torch.as_tensor(value) if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return t.to(device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype)


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` if the 4-d ``x`` is laid out channels-last, else ``torch.contiguous_format``.

    The strides decide, as in ``lrorder.train.Precision.layout``: canonical
    channels-last strides ``(H*W*C, 1, W*C, C)`` mean channels-last even with
    one channel, where ``is_contiguous`` accepts both layouts (a batch
    normalised from ``(N, H, W, 1)`` storage has them). Other strides count
    as channels-last only when ``x`` is channels-last contiguous and not
    NCHW contiguous.
    """
    n, c, h, w = x.shape
    if x.stride() == (h * w * c, 1, w * c, c):
        return torch.channels_last
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _patch_region_(
    out: torch.Tensor, patches: torch.Tensor, location: tuple[int, int], mask: torch.Tensor | None = None
) -> None:
    """Write ``patches`` into the ``s x s`` region of ``out`` at ``location``, in place (:func:`apply_patch`)."""
    if out.dim() != 4:
        raise ValueError(f"apply_patch: x must be (B, C, H, W), got {tuple(out.shape)}")
    s = patches.shape[-1]
    row, col = location
    if patches.shape[-2] != s or patches.shape[-3] != out.shape[1] or patches.dim() not in (3, 4):
        raise ValueError(f"apply_patch: patches must be (B, C, s, s) with C = {out.shape[1]}, got {tuple(patches.shape)}")
    if row < 0 or col < 0 or row + s > out.shape[2] or col + s > out.shape[3]:
        raise ValueError(f"apply_patch: a {s}x{s} patch at {location} leaves the {out.shape[2]}x{out.shape[3]} image")
    patches = patches.to(device=out.device, dtype=out.dtype).expand(out.shape[0], -1, -1, -1)
    region = out[:, :, row : row + s, col : col + s]
    if mask is None:
        region.copy_(patches)
    else:
        keep = mask.to(device=out.device, dtype=torch.bool).view(-1, 1, 1, 1)
        region.copy_(torch.where(keep, patches, region))


def apply_patch(
    x: torch.Tensor,
    patches: torch.Tensor,
    location: tuple[int, int],
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return a copy of ``x`` with the ``s x s`` region at ``location`` replaced by ``patches``.

    Args:
        x: float ``(B, C, H, W)``, normalised pixels; not modified (the copy
            keeps its memory format, :func:`memory_format_of`, with
            canonical strides).
        patches: ``(B, C, s, s)`` or ``(C, s, s)`` (the same patch for every
            image); cast to ``x``'s dtype and device.
        location: top-left ``(row, col)`` (:func:`patch_location`).
        mask: optional bool ``(B,)``; only images where it is True are
            patched, the others are copied unchanged.

    Raises:
        ValueError: shapes do not match or the patch leaves the image.
    """
    if x.dim() != 4:
        raise ValueError(f"apply_patch: x must be (B, C, H, W), got {tuple(x.shape)}")
    out = x.clone(memory_format=memory_format_of(x))
    _patch_region_(out, patches, location, mask)
    return out


@dataclass(frozen=True)
class EpochDraws:
    """The random choices of the patch transform, one per example.

    For training, those of one epoch for every training example (index =
    dataset position, :func:`epoch_draws`); for an evaluation set, drawn
    once and stored with the patch arrays (:func:`eval_draws`).

    Attributes:
        sign: float32 ``(N,)``, ``-1.0`` or ``+1.0``.
        patch_only: bool ``(N,)``; True: the patch-only branch (image
            zeroed, patch scaled by ``patch_only_scale * u``); used only
            where the example is patched.
        u: float32 ``(N,)`` in ``[0, 1)``, the patch-only scale draw.
    """

    sign: torch.Tensor
    patch_only: torch.Tensor
    u: torch.Tensor

    def __getitem__(self, index: torch.Tensor) -> EpochDraws:
        """The draws of the examples at ``index``."""
        return EpochDraws(self.sign[index], self.patch_only[index], self.u[index])


def patch_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor,
    zeta: torch.Tensor,
    draws: EpochDraws,
    patch_only_scale: float,
    location: tuple[int, int],
    patched: torch.Tensor | None = None,
) -> torch.Tensor:
    """The official ``PatchAugmentFixed`` applied to a batch (a new tensor; ``x`` is not modified).

    Args:
        x: float ``(B, C, H, W)``, normalised images.
        y: int64 ``(B,)`` class labels.
        z, zeta: float ``(C, s, s)`` and ``(K, C, s, s)`` on ``x``'s device.
        draws: the :class:`EpochDraws` of these ``B`` examples, row by row.
        patch_only_scale: factor on ``u`` in the patch-only branch.
        location: top-left ``(row, col)`` of the patch.
        patched: optional bool ``(B,)``; examples where it is False are
            returned unchanged (``None``: all are patched).

    Returns:
        ``(B, C, H, W)`` in ``x``'s dtype and memory format
        (:func:`memory_format_of`, canonical strides): each patched example
        carries ``z + s * zeta_y``, or, where ``draws.patch_only`` is True,
        is zeroed and carries ``z + s * patch_only_scale * u * zeta_y``.
    """
    if x.dim() != 4:
        raise ValueError(f"patch_batch: x must be (B, C, H, W), got {tuple(x.shape)}")
    only = draws.patch_only if patched is None else draws.patch_only & patched
    coef = torch.where(only, draws.sign * (patch_only_scale * draws.u), draws.sign)
    patches = z + coef.view(-1, 1, 1, 1) * zeta[y]
    # one copy in x's layout, zeroed and patched in place (an out-of-place
    # masked_fill with the (B, 1, 1, 1) mask would come back NCHW)
    out = x.clone(memory_format=memory_format_of(x))
    out.masked_fill_(only.view(-1, 1, 1, 1), 0.0)
    _patch_region_(out, patches, location, mask=patched)
    return out


def epoch_draws(
    seed: int,
    epoch: int,
    n_train: int,
    device: torch.device | str = "cpu",
    patch_only_prob: float = PatchParams.patch_only_prob,
) -> EpochDraws:
    """Draw sign, patch-only flag and ``u`` for all ``n_train`` examples of ``epoch``.

    Drawn on the CPU from ``seeding.torch_generator(seed, "patch/epoch",
    epoch)`` (sign, then flag, then ``u``) and moved to ``device``, so every
    value depends only on ``(seed, epoch, n_train, index)`` and is identical
    on CPU and GPU, whatever the batch order. The official code draws the
    same three quantities with ``np.random`` each time an image is loaded
    (``PatchAugmentFixed.__call__``).
    """
    gen = seeding.torch_generator(seed, EPOCH_STREAM, epoch)
    sign = torch.randint(0, 2, (n_train,), generator=gen).to(torch.float32).mul_(2.0).sub_(1.0)
    patch_only = torch.rand(n_train, generator=gen) < patch_only_prob
    u = torch.rand(n_train, generator=gen)
    return EpochDraws(sign.to(device), patch_only.to(device), u.to(device))


class TrainPatcher:
    """Applies the patch to training batches, on the device of the arrays.

    Args:
        arrays: the arrays of :func:`make_patch_arrays` (NumPy or tensors);
            ``z``, ``zeta`` and ``train_patched`` are used.
        params: the patch parameters (``patch_only_prob``,
            ``patch_only_scale``).
        image_hw: ``(H, W)`` of the images (for the location).
        device: where the batches live.

    Raises:
        DataError: an array is missing or has the wrong shape.
    """

    def __init__(
        self,
        arrays: Mapping[str, ArrayLike],
        params: PatchParams,
        image_hw: tuple[int, int],
        device: torch.device | str = "cpu",
    ) -> None:
        for name in ("z", "zeta", "train_patched"):
            if name not in arrays:
                raise DataError(f"patch arrays: {name!r} missing")
        self.params = params
        self.device = torch.device(device)
        self.z = _tensor(arrays["z"], self.device, torch.float32)
        self.zeta = _tensor(arrays["zeta"], self.device, torch.float32)
        self.train_patched = _tensor(arrays["train_patched"], self.device, torch.bool)
        s = self.z.shape[-1]
        if self.z.dim() != 3 or self.zeta.dim() != 4 or self.zeta.shape[1:] != self.z.shape or self.z.shape[1] != s:
            raise DataError(f"patch arrays: z (C, s, s) and zeta (K, C, s, s) expected, got "
                            f"{tuple(self.z.shape)} and {tuple(self.zeta.shape)}")
        self.location = patch_location(int(image_hw[0]), int(image_hw[1]), s)

    @property
    def n_train(self) -> int:
        """Number of training examples the arrays were made for."""
        return int(self.train_patched.shape[0])

    def epoch_draws(self, seed: int, epoch: int) -> EpochDraws:
        """:func:`epoch_draws` for this dataset's size, on this patcher's device."""
        return epoch_draws(seed, epoch, self.n_train, self.device, self.params.patch_only_prob)

    def patch_train_batch(
        self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, draws: EpochDraws
    ) -> torch.Tensor:
        """The batch as the model sees it this epoch (a new tensor; ``x`` is not modified).

        Args:
            x: float ``(B, C, H, W)``, normalised training images at
                dataset positions ``index``.
            y: int64 ``(B,)`` class labels.
            index: int64 ``(B,)`` positions in the training set.
            draws: this epoch's :class:`EpochDraws`.

        Returns:
            ``(B, C, H, W)`` in ``x``'s dtype and memory format
            (:func:`patch_batch`): images with
            ``train_patched[index]`` False unchanged; the others patched with
            ``z + s * zeta_y``, or, where ``draws.patch_only`` is True, zeroed
            and patched with ``z + s * patch_only_scale * u * zeta_y``.
        """
        index = index.to(self.device)
        return patch_batch(x, y.to(self.device), self.z, self.zeta, draws[index], self.params.patch_only_scale,
                           self.location, patched=self.train_patched[index])


def eval_draws(arrays: Mapping[str, ArrayLike], eval_set: str, device: torch.device | str = "cpu") -> EpochDraws:
    """The stored draws of ``eval_set`` (``"test_patched"`` or ``"patch_only"``, :data:`EVAL_DRAWS`)."""
    sign, flag, u = EVAL_DRAWS[eval_set]
    for name in EVAL_DRAWS[eval_set]:
        if name not in arrays:
            raise DataError(f"patch arrays: {name!r} missing (made by an older version? regenerate them)")
    return EpochDraws(_tensor(arrays[sign], device, torch.float32), _tensor(arrays[flag], device, torch.bool),
                      _tensor(arrays[u], device, torch.float32))


def patched_test_set(
    x_test_norm: torch.Tensor, y_test: ArrayLike, arrays: Mapping[str, ArrayLike], params: PatchParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set with the fixed subset ``test_patched`` patched by its stored draws.

    Args:
        x_test_norm: float ``(N, C, H, W)`` normalised test images (not modified).
        y_test: ``(N,)`` class labels.
        arrays: the patch arrays (``z``, ``zeta``, ``test_patched``,
            ``test_sign``, ``test_patch_only``, ``test_u``).
        params: the patch parameters (``patch_only_scale``).

    Returns:
        ``(x, y)``: float ``(N, C, H, W)`` on ``x_test_norm``'s device and
        int64 ``(N,)``. Images outside ``test_patched`` are unchanged;
        patched ones carry ``z + s * zeta_y``, or are zero images with
        ``z + s * patch_only_scale * u * zeta_y`` where ``test_patch_only``.

    Raises:
        DataError: an array is missing or does not have one entry per test image.
    """
    device = x_test_norm.device
    n = x_test_norm.shape[0]
    y = _tensor(y_test, device, torch.int64)
    draws = eval_draws(arrays, "test_patched", device)
    patched = _tensor(arrays["test_patched"], device, torch.bool)
    for name, value in (("test_patched", patched), ("test_sign", draws.sign), ("test_patch_only", draws.patch_only),
                        ("test_u", draws.u), ("test_y", y)):
        if value.shape != (n,):
            raise DataError(f"patch arrays: {name} has shape {tuple(value.shape)} for "
                            f"{n} test images (made for another dataset?)")
    z = _tensor(arrays["z"], device, torch.float32)
    zeta = _tensor(arrays["zeta"], device, torch.float32)
    loc = patch_location(x_test_norm.shape[2], x_test_norm.shape[3], z.shape[-1])
    return patch_batch(x_test_norm, y, z, zeta, draws, params.patch_only_scale, loc, patched=patched), y


def patch_only_set(
    arrays: Mapping[str, ArrayLike],
    params: PatchParams,
    image_shape: Sequence[int],
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The patch-only evaluation set: zero images (normalised) patched by the stored draws.

    Args:
        arrays: the patch arrays (``z``, ``zeta``, ``patch_only_y``,
            ``patch_only_sign``, ``patch_only_scaled``, ``patch_only_u``).
        params: the patch parameters (``patch_only_scale``).
        image_shape: ``(C, H, W)``.
        device: where to build the tensors.

    Returns:
        ``(x, y)``: float32 ``(n_patch_only, C, H, W)``, zero outside the
        patch ``z + s * zeta_y`` (``z + s * patch_only_scale * u * zeta_y``
        where ``patch_only_scaled``), and int64 ``(n_patch_only,)``; labels
        are uniform over the classes, so chance accuracy is ``1 / K``
        (official ``TransformOnlyDataset``).
    """
    y = _tensor(arrays["patch_only_y"], device, torch.int64)
    draws = eval_draws(arrays, "patch_only", device)
    z = _tensor(arrays["z"], device, torch.float32)
    zeta = _tensor(arrays["zeta"], device, torch.float32)
    c, h, w = (int(v) for v in image_shape)
    x = torch.zeros((y.shape[0], c, h, w), dtype=torch.float32, device=device)
    return patch_batch(x, y, z, zeta, draws, params.patch_only_scale, patch_location(h, w, z.shape[-1])), y


def image_dataset_info(dataset_dir: str | os.PathLike) -> dict[str, Any]:
    """Read an image dataset's manifest: ``num_classes``, ``image_shape`` ``(C, H, W)``, ``sha256`` of manifest.json.

    Raises:
        DataError: the manifest is missing, unreadable, or lacks
            ``class_names`` / ``image_shape`` ``[H, W, C]``.
    """
    meta = manifest.read_manifest(dataset_dir)
    params = meta.get("params", {})
    path = Path(dataset_dir) / manifest.MANIFEST
    names, shape = params.get("class_names"), params.get("image_shape")
    if not isinstance(names, list) or not names:
        raise DataError(f"{path}: params.class_names: expected a non-empty list of class names")
    if not isinstance(shape, list) or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise DataError(f"{path}: params.image_shape: expected [H, W, C] positive integers, got {shape!r}")
    h, w, c = shape
    return {"num_classes": len(names), "image_shape": (c, h, w), "sha256": fileio.sha256_file(path)}


def load_patch_arrays(
    patch_dir: str | os.PathLike, dataset_dir: str | os.PathLike | None = None
) -> tuple[dict[str, np.ndarray], PatchParams, dict[str, Any]]:
    """Load a patch folder (manifest-verified) and its parameters.

    When ``dataset_dir`` is given, also checks that the patch arrays were made
    from that image dataset (its manifest's sha256).

    Returns:
        ``(arrays, params, manifest)``.

    Raises:
        DataError: a file is missing or corrupted, the folder was not written
            by this generator, or it belongs to another image dataset.
    """
    arrays, meta = manifest.load_dataset(patch_dir)
    if meta.get("generator") != GENERATOR:
        raise DataError(f"{Path(patch_dir) / manifest.MANIFEST}: generator {meta.get('generator')!r}, expected {GENERATOR!r}")
    fields = {f.name for f in dataclasses.fields(PatchParams)}
    params = PatchParams(**{k: v for k, v in meta["params"].items() if k in fields})
    if dataset_dir is not None:
        expected = meta["params"].get("source_manifest_sha256")
        actual = fileio.sha256_file(Path(dataset_dir) / manifest.MANIFEST)
        if expected != actual:
            raise DataError(f"{patch_dir}: made from an image dataset with manifest sha256 {expected}, "
                            f"but {dataset_dir} has {actual} (regenerate the patch arrays)")
    return arrays, params, meta


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lrorder.data.patch", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-dir", required=True, help="image dataset folder (arrays + manifest.json)")
    parser.add_argument("--params", default="{}", help="JSON object of PatchParams fields (default: paper values)")
    parser.add_argument("--seed", type=int, required=True, help="run seed (each run seed has its own patch)")
    parser.add_argument("--out", required=True, help="output folder (arrays + manifest.json)")
    args = parser.parse_args(argv)
    params = PatchParams.from_mapping(cli.parse_json_arg(args.params, "--params"))
    info = image_dataset_info(args.dataset_dir)
    source, _ = manifest.load_dataset(args.dataset_dir)
    for name in ("train_y", "test_y"):
        if name not in source:
            raise DataError(f"{args.dataset_dir}: array {name} missing (not an image dataset?)")
    n_train, n_test = int(source["train_y"].shape[0]), int(source["test_y"].shape[0])
    c, h, w = info["image_shape"]
    arrays = make_patch_arrays(params, n_train, n_test, info["num_classes"], info["image_shape"], args.seed)
    manifest.save_dataset(
        args.out,
        arrays,
        generator=GENERATOR,
        generator_version=GENERATOR_VERSION,
        params={
            **asdict(params),
            "num_classes": info["num_classes"],
            "image_shape": [h, w, c],
            "n_train": n_train,
            "n_test": n_test,
            "n_patched": n_patched(params, n_train),
            "n_test_patched": n_patched(params, n_test),
            "location": list(patch_location(h, w, params.size)),
            "source_manifest_sha256": info["sha256"],
        },
        seed=args.seed,
    )


if __name__ == "__main__":
    cli.run(main)
