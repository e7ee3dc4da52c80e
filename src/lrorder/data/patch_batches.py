"""The patch experiment's batch operations: the patch applied to tensors, on any device.

Its one job is to turn the arrays of :mod:`lrorder.data.patch` into patched
batches for training (:class:`TrainPatcher`) and into the two patched
evaluation sets (:func:`patched_test_set`, :func:`patch_only_set`), with
tensor operations on whole batches (``docs/paper-notes.md``, "Patch
experiment"; official ``data_util.py`` ``PatchAugmentFixed``,
``FixedAugmentDataset``, ``TransformOnlyDataset``). Patch values are in
normalised pixel space and *replace* the pixels they cover. Every time a
patched training image is used (every epoch) a sign ``s = +-1`` is drawn;
with probability ``1 - patch_only_prob`` the patch is ``z + s * zeta_y`` on
the image; with probability ``patch_only_prob`` the whole image is zeroed and
the patch is ``z + s * patch_only_scale * u * zeta_y``, ``u ~ U[0, 1)``.
Expected mix per epoch with the defaults: 20% clean, 64% image + patch, 16%
patch only. One function, :func:`patch_batch` (the official
``PatchAugmentFixed``), patches training batches and builds both evaluation
sets. The per-epoch draws (:func:`epoch_draws`) depend only on ``(seed,
epoch, index)``; the evaluation sets' draws are stored with the patch arrays
(:func:`eval_draws`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from lrorder import seeding
from lrorder.data.patch import EVAL_DRAWS
from lrorder.data.patch_params import PatchParams, patch_location
from lrorder.errors import DataError

#: Stream name of the per-epoch draws (:func:`epoch_draws`).
EPOCH_STREAM = "patch/epoch"

ArrayLike = np.ndarray | torch.Tensor


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
        arrays: the arrays of :func:`lrorder.data.patch.make_patch_arrays`
            (NumPy or tensors); ``z``, ``zeta`` and ``train_patched`` are used.
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


def patch_reliance_sets(
    x_train_norm: torch.Tensor, y_train: torch.Tensor, arrays: Mapping[str, ArrayLike], params: PatchParams,
    num_classes: int, n_max: int,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The patch study's pattern-reliance sets: patched training images with the patch removed, and with another
    class's patch.

    The first ``n_max`` training images of the fixed patched subset (``train_patched``), labelled with their
    own class. ``train_patch_removed``: the images as they are (what the network reads from the image alone).
    ``train_other_patch``: the images carrying the patch of the next class, ``z + zeta_((y + 1) mod K)``
    (sign +1, never the patch-only branch): a network that follows the patch calls them ``y + 1``, one that
    reads the image calls them ``y``. The fixed sign and the next class are this project's choice; the
    question is the paper's (section 4, "the large LR ignores the patch").

    Args:
        x_train_norm: float ``(N, C, H, W)`` normalised training images (not modified).
        y_train: int64 ``(N,)`` class labels.
        arrays: the patch arrays (``z``, ``zeta``, ``train_patched``).
        params: the patch parameters (unused beyond validation; the patch-only branch is off).
        num_classes: ``K``.
        n_max: at most this many images (``>= 1``).

    Returns:
        ``{"train_patch_removed": (x, y), "train_other_patch": (x, y)}``: float ``(n, C, H, W)`` on
        ``x_train_norm``'s device and int64 ``(n,)``, ``n = min(n_max, patched images)``.

    Raises:
        DataError: ``train_patched`` does not have one entry per training image.
    """
    device = x_train_norm.device
    patched = _tensor(arrays["train_patched"], device, torch.bool)
    if patched.shape != (x_train_norm.shape[0],):
        raise DataError(f"patch arrays: train_patched has shape {tuple(patched.shape)} for "
                        f"{x_train_norm.shape[0]} training images (made for another dataset?)")
    index = torch.nonzero(patched).flatten()[:n_max]
    x, y = x_train_norm[index], y_train[index]
    n = len(index)
    z = _tensor(arrays["z"], device, torch.float32)
    zeta = _tensor(arrays["zeta"], device, torch.float32)
    loc = patch_location(x.shape[2], x.shape[3], z.shape[-1])
    plus_one = EpochDraws(torch.ones(n, device=device), torch.zeros(n, dtype=torch.bool, device=device),
                          torch.ones(n, device=device))
    other = patch_batch(x, (y + 1) % num_classes, z, zeta, plus_one, params.patch_only_scale, loc)
    return {"train_patch_removed": (x, y), "train_other_patch": (other, y)}


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
