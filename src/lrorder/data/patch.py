"""The patch experiment: a hard-to-generalize, easy-to-fit patch in CIFAR images.

Source: ``paper.md`` section 3 ("Patch experiment") and the official code
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
  (chosen once, with the data seed) carries a patch. Every time such an image
  is used (every epoch) a sign ``s = +-1`` is drawn; with probability
  ``1 - patch_only_prob`` the patch is ``z + s * zeta_y`` on the image; with
  probability ``patch_only_prob`` the whole image is zeroed and the patch is
  ``z + s * patch_only_scale * u * zeta_y``, ``u ~ U[0, 1)``. Expected mix per
  epoch with the defaults: 20% clean, 64% image + patch, 16% patch only.
* Evaluation sets: the patched test set (every test image gets
  ``z + s * zeta_y``, sign drawn once) and the patch-only set
  (``n_patch_only`` zero images, uniformly random labels, patch
  ``z + s * zeta_y``; chance accuracy ``1 / num_classes``).

The patch alone is not linearly separable: the two sign variants of every
class average to the same ``z``.

The fixed arrays are made once per data seed by :func:`make_patch_arrays`
(CLI below, written with a manifest); the per-epoch draws
(:func:`epoch_draws`) depend only on ``(seed, epoch, index)``, and are
applied to whole batches with tensor operations on any device
(:class:`TrainPatcher`).

Usage::

    python -m lrorder.data.patch --dataset-dir IMAGES --params '{"size": 7}' \\
        --seed 0 --out PATCH_DIR

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
GENERATOR_VERSION = "1"

#: Names and dtypes of the arrays written by :func:`make_patch_arrays`.
ARRAY_DTYPES: dict[str, np.dtype] = {
    "z": np.dtype(np.float32),
    "zeta": np.dtype(np.float32),
    "train_patched": np.dtype(np.bool_),
    "test_sign": np.dtype(np.int8),
    "patch_only_y": np.dtype(np.int64),
    "patch_only_sign": np.dtype(np.int8),
}

#: Stream name of the per-epoch draws (:func:`epoch_draws`).
EPOCH_STREAM = "patch/epoch"

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class PatchParams:
    """Parameters of the patch experiment (defaults: ``train_patches.py``, paper.md section 3).

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


def n_patched(params: PatchParams, n_train: int) -> int:
    """Number of patched training images: ``round(patched_fraction * n_train)``, halves rounded up."""
    return int(math.floor(params.patched_fraction * n_train + 0.5))


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


def make_patch_arrays(
    params: PatchParams,
    n_train: int,
    n_test: int,
    num_classes: int,
    image_shape: Sequence[int],
    seed: int,
) -> dict[str, np.ndarray]:
    """Draw the fixed arrays of the patch experiment for data seed ``seed``.

    Each array comes from its own stream ``seeding.numpy_rng(seed,
    "patch/<name>")``, so changing e.g. ``n_test`` leaves ``z``, ``zeta`` and
    ``train_patched`` unchanged.

    Args:
        params: the patch parameters.
        n_train, n_test: sizes of the image dataset's splits.
        num_classes: number of classes ``K``.
        image_shape: ``(C, H, W)`` of the images (channels first).
        seed: the data seed.

    Returns:
        ``z`` float32 ``(C, s, s)``: ``z_scale * N(0, 1)``;
        ``zeta`` float32 ``(K, C, s, s)``: ``U[-zeta_range, zeta_range)``;
        ``train_patched`` bool ``(n_train,)``: exactly
        :func:`n_patched` True, at uniformly random positions;
        ``test_sign`` int8 ``(n_test,)`` in ``{-1, +1}``;
        ``patch_only_y`` int64 ``(n_patch_only,)`` uniform in ``[0, K)``;
        ``patch_only_sign`` int8 ``(n_patch_only,)`` in ``{-1, +1}``.
        (Official ``pm_sym_pattern`` with ``num_patterns = 1``.)

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
    signs = np.array([-1, 1], dtype=np.int8)

    z = (params.z_scale * seeding.numpy_rng(seed, "patch/z").standard_normal((c, s, s))).astype(np.float32)
    zeta = seeding.numpy_rng(seed, "patch/zeta").uniform(
        -params.zeta_range, params.zeta_range, size=(num_classes, c, s, s)
    ).astype(np.float32)
    train_patched = np.zeros(n_train, dtype=np.bool_)
    chosen = seeding.numpy_rng(seed, "patch/train_patched").permutation(n_train)[: n_patched(params, n_train)]
    train_patched[chosen] = True
    test_sign = seeding.numpy_rng(seed, "patch/test_sign").choice(signs, size=n_test)
    patch_only_y = seeding.numpy_rng(seed, "patch/patch_only_y").integers(
        0, num_classes, size=params.n_patch_only, dtype=np.int64
    )
    patch_only_sign = seeding.numpy_rng(seed, "patch/patch_only_sign").choice(signs, size=params.n_patch_only)
    return {
        "z": z,
        "zeta": zeta,
        "train_patched": train_patched,
        "test_sign": test_sign.astype(np.int8),
        "patch_only_y": patch_only_y,
        "patch_only_sign": patch_only_sign.astype(np.int8),
    }


def _tensor(value: ArrayLike, device: torch.device | str | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = torch.as_tensor(value) if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return t.to(device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype)


def apply_patch(
    x: torch.Tensor,
    patches: torch.Tensor,
    location: tuple[int, int],
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return a copy of ``x`` with the ``s x s`` region at ``location`` replaced by ``patches``.

    Args:
        x: float ``(B, C, H, W)``, normalised pixels; not modified (the copy
            keeps its memory format, e.g. channels_last).
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
    s = patches.shape[-1]
    row, col = location
    if patches.shape[-2] != s or patches.shape[-3] != x.shape[1] or patches.dim() not in (3, 4):
        raise ValueError(f"apply_patch: patches must be (B, C, s, s) with C = {x.shape[1]}, got {tuple(patches.shape)}")
    if row < 0 or col < 0 or row + s > x.shape[2] or col + s > x.shape[3]:
        raise ValueError(f"apply_patch: a {s}x{s} patch at {location} leaves the {x.shape[2]}x{x.shape[3]} image")
    out = x.clone()
    patches = patches.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1, -1, -1)
    region = out[:, :, row : row + s, col : col + s]
    if mask is None:
        region.copy_(patches)
    else:
        keep = mask.to(device=x.device, dtype=torch.bool).view(-1, 1, 1, 1)
        region.copy_(torch.where(keep, patches, region))
    return out


@dataclass(frozen=True)
class EpochDraws:
    """The per-epoch random choices for every training example (index = dataset position).

    Attributes:
        sign: float32 ``(N,)``, ``-1.0`` or ``+1.0``.
        patch_only: bool ``(N,)``; True: shown as patch only this epoch
            (used only where ``train_patched`` is True).
        u: float32 ``(N,)`` in ``[0, 1)``, the patch-only scale draw.
    """

    sign: torch.Tensor
    patch_only: torch.Tensor
    u: torch.Tensor


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
            ``(B, C, H, W)`` in ``x``'s dtype: images with
            ``train_patched[index]`` False unchanged; the others patched with
            ``z + s * zeta_y``, or, where ``draws.patch_only`` is True, zeroed
            and patched with ``z + s * patch_only_scale * u * zeta_y``.
        """
        index = index.to(self.device)
        y = y.to(self.device)
        patched = self.train_patched[index]
        only = draws.patch_only[index] & patched
        sign = draws.sign[index]
        coef = torch.where(only, sign * (self.params.patch_only_scale * draws.u[index]), sign)
        patches = self.z + coef.view(-1, 1, 1, 1) * self.zeta[y]
        zeroed = x.masked_fill(only.view(-1, 1, 1, 1), 0.0)
        return apply_patch(zeroed, patches, self.location, mask=patched)


def patched_test_set(
    x_test_norm: torch.Tensor, y_test: ArrayLike, arrays: Mapping[str, ArrayLike]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set with every image patched with ``z + test_sign * zeta_y``.

    Args:
        x_test_norm: float ``(N, C, H, W)`` normalised test images (not modified).
        y_test: ``(N,)`` class labels.
        arrays: the patch arrays (``z``, ``zeta``, ``test_sign``).

    Returns:
        ``(x, y)``: float ``(N, C, H, W)`` on ``x_test_norm``'s device and
        int64 ``(N,)``.

    Raises:
        DataError: ``test_sign`` does not have one entry per test image.
    """
    device = x_test_norm.device
    y = _tensor(y_test, device, torch.int64)
    sign = _tensor(arrays["test_sign"], device, torch.float32)
    if sign.shape[0] != x_test_norm.shape[0] or y.shape[0] != x_test_norm.shape[0]:
        raise DataError(f"patch arrays: test_sign has {sign.shape[0]} entries for "
                        f"{x_test_norm.shape[0]} test images (made for another dataset?)")
    z = _tensor(arrays["z"], device, torch.float32)
    zeta = _tensor(arrays["zeta"], device, torch.float32)
    patches = z + sign.view(-1, 1, 1, 1) * zeta[y]
    loc = patch_location(x_test_norm.shape[2], x_test_norm.shape[3], z.shape[-1])
    return apply_patch(x_test_norm, patches, loc), y


def patch_only_set(
    arrays: Mapping[str, ArrayLike],
    image_shape: Sequence[int],
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The patch-only evaluation set: zero images (normalised) with patch ``z + s * zeta_y``.

    Args:
        arrays: the patch arrays (``z``, ``zeta``, ``patch_only_y``,
            ``patch_only_sign``).
        image_shape: ``(C, H, W)``.
        device: where to build the tensors.

    Returns:
        ``(x, y)``: float32 ``(n_patch_only, C, H, W)`` and int64
        ``(n_patch_only,)``; labels are uniform over the classes, so chance
        accuracy is ``1 / K`` (official ``TransformOnlyDataset``).
    """
    y = _tensor(arrays["patch_only_y"], device, torch.int64)
    sign = _tensor(arrays["patch_only_sign"], device, torch.float32)
    z = _tensor(arrays["z"], device, torch.float32)
    zeta = _tensor(arrays["zeta"], device, torch.float32)
    c, h, w = (int(v) for v in image_shape)
    x = torch.zeros((y.shape[0], c, h, w), dtype=torch.float32, device=device)
    patches = z + sign.view(-1, 1, 1, 1) * zeta[y]
    return apply_patch(x, patches, patch_location(h, w, z.shape[-1])), y


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
    parser.add_argument("--seed", type=int, required=True, help="data seed")
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
            "location": list(patch_location(h, w, params.size)),
            "source_manifest_sha256": info["sha256"],
        },
        seed=args.seed,
    )


if __name__ == "__main__":
    cli.run(main)
