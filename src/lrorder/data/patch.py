"""The patch experiment: a hard-to-generalize, easy-to-fit patch in CIFAR images.

Source: ``docs/paper-notes.md``, "Patch experiment", and the official code
(``cwein3/large-lr-code``: ``data_util.py`` ``pm_sym_pattern``,
``PatchAugmentFixed``, ``FixedAugmentDataset``, ``TransformOnlyDataset``;
``train_patches.py`` for the constants). All patch values live in
*normalised* pixel space, ``(x / 255 - mean) / std`` per channel, and the
patch *replaces* the pixels it covers.

This module's one job is the patch *data*: it draws the fixed arrays of a
run seed with NumPy (:func:`make_patch_arrays`), writes them with their
manifest (the ``patch_data`` rule's job, ``python -m lrorder.data.patch``)
and reads them back (:func:`load_patch_arrays`); it does not import torch.
The parameters, the patch count and its location are in
:mod:`lrorder.data.patch_params`; the patch applied to batches of tensors
(training batches, the evaluation sets) is in
:mod:`lrorder.data.patch_batches`.

* One shared ``z = z_scale * N(0, 1)`` of shape ``(C, s, s)`` and per class
  ``zeta_c ~ U[-zeta_range, zeta_range]`` of shape ``(C, s, s)``
  (``s = size = 7``, ``z_scale = 1.25``, ``zeta_range = 0.1``).
* Location: the centre (:func:`lrorder.data.patch_params.patch_location`).
* A fixed set of exactly ``round(patched_fraction * N)`` training images
  (chosen once, at uniformly random positions) carries a patch, drawn anew
  with its sign and patch-only flag every time such an image is used
  (:mod:`lrorder.data.patch_batches`). (Official: each image is in the
  subset with probability ``prop_augment``, so the count is binomial.)
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

The fixed arrays (:data:`ARRAY_DTYPES`) are made by
:func:`make_patch_arrays` once per *run seed*: the official code draws
``z`` and ``zeta`` from the global RNG of each training run, so every run
seed has its own patch (the workflow writes
``results/<tag>/data/<study>/<dataset>/seed<k>/``, shared by the schedules of
seed ``k``, as the official script shares one draw among its three
schedules). Each array comes from its own stream
``seeding.numpy_rng(seed, "patch/<name>")``.

Usage::

    python -m lrorder.data.patch --dataset-dir IMAGES --params '{"size": 7}' \\
        --seed RUN_SEED --out PATCH_DIR

``IMAGES`` is an image dataset folder (manifest-verified arrays ``train_x``
``(N, H, W, C)`` uint8, ``train_y``, ``test_x``, ``test_y``; manifest params
``class_names`` and ``image_shape`` ``[H, W, C]``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lrorder import cli, fileio, manifest, seeding
from lrorder.data import image_dataset
from lrorder.data.patch_params import PatchParams, n_patched, patch_location
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
#: patch-only flag, u)``, named like the fields of
#: :class:`lrorder.data.patch_batches.EpochDraws`.
EVAL_DRAWS = {
    "test_patched": ("test_sign", "test_patch_only", "test_u"),
    "patch_only": ("patch_only_sign", "patch_only_scaled", "patch_only_u"),
}


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


def image_dataset_info(dataset_dir: str | os.PathLike) -> dict[str, Any]:
    """What a patch draw needs of an image dataset folder (read and verified by
    :func:`lrorder.data.image_dataset.read`): ``num_classes``, ``image_shape``
    ``(C, H, W)``, ``n_train``, ``n_test`` and ``sha256`` of its manifest.json.

    Raises:
        DataError: see :func:`lrorder.data.image_dataset.read`.
    """
    dataset, _ = image_dataset.read(dataset_dir)
    h, w, c = dataset.image_shape
    return {"num_classes": dataset.num_classes, "image_shape": (c, h, w), "n_train": int(dataset.train_y.shape[0]),
            "n_test": int(dataset.test_y.shape[0]), "sha256": fileio.sha256_file(Path(dataset_dir) / manifest.MANIFEST)}


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
    parser = cli.ArgumentParser(prog="python -m lrorder.data.patch", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-dir", required=True, help="image dataset folder (arrays + manifest.json)")
    parser.add_argument("--params", default="{}", help="JSON object of PatchParams fields (default: paper values)")
    parser.add_argument("--seed", type=int, required=True, help="run seed (each run seed has its own patch)")
    parser.add_argument("--out", required=True, help="output folder (arrays + manifest.json)")
    args = parser.parse_args(argv)
    params = PatchParams.from_mapping(cli.parse_json_arg(args.params, "--params"))
    info = image_dataset_info(args.dataset_dir)
    n_train, n_test = info["n_train"], info["n_test"]
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
