"""The interface of every image dataset of the registry (:mod:`lrorder.data.images`): what a loader returns,
and the one reader of a built dataset folder (:func:`read`).

An :class:`ImageDataset` holds uint8 images ``(N, H, W, C)`` in pixel units
0..255, int64 labels, class names, and the per-channel normalisation
``mean``/``std`` in units of pixel/255 (a model input is
``(x / 255 - mean) / std``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from lrorder import manifest
from lrorder.errors import DataError

#: The arrays every image dataset folder holds (``lrorder.data.images build``).
ARRAYS = ("train_x", "train_y", "test_x", "test_y")


@dataclass(frozen=True)
class ImageDataset:
    """An image classification data set with a fixed train/test split.

    Attributes:
        train_x, test_x: uint8 ``(N, H, W, C)``, pixel values 0..255.
        train_y, test_y: int64 ``(N,)``, class indices ``0..len(class_names)-1``.
        class_names: one name per class, in label order.
        mean, std: per-channel normalisation in units of pixel/255
            (``len == C``).

    Raises:
        DataError: dtypes, shapes or label range are inconsistent.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DataError(f"{split}_x: expected uint8 (N, H, W, C), got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (x.shape[0],):
                raise DataError(f"{split}_y: expected int64 ({x.shape[0]},), got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise DataError(f"{split}_y: labels outside 0..{len(self.class_names) - 1}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(f"train_x {self.train_x.shape[1:]} and test_x {self.test_x.shape[1:]}: image shapes differ")
        channels = self.train_x.shape[-1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise DataError(f"mean/std: expected {channels} values (one per channel)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of every image."""
        return tuple(int(d) for d in self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class LoadResult:
    """What a dataset loader returns.

    Attributes:
        dataset: the images and labels.
        extra_arrays: further arrays saved beside them (e.g. the split's
            ``train_index``/``test_index``).
        split: the resolved split parameters (recorded in the manifest).
        seed: the manifest seed (the split seed; 0 for a fixed official split).
        source: where the raw data came from and its checksums.
    """

    dataset: ImageDataset
    extra_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    source: dict[str, Any] = field(default_factory=dict)


#: ``load(raw_dir, params)``: ``params`` are the resolved split parameters.
LoadFn = Callable[[Path | None, Mapping[str, Any]], LoadResult]


def read(directory: str | os.PathLike, generator: str | None = None) -> tuple[ImageDataset, dict[str, Any]]:
    """Read an image dataset folder (arrays + ``manifest.json``), every checksum verified.

    The one reader of a built image dataset: training (``lrorder.study_data``),
    the patch draws (``lrorder.data.patch``) and the figures read it here.

    Args:
        directory: the folder ``lrorder.data.images build`` wrote.
        generator: if given, the manifest's ``generator`` must be this.

    Returns:
        ``(dataset, manifest)``: the :class:`ImageDataset` and the parsed manifest
        (its ``files`` are the arrays' sha256).

    Raises:
        DataError: the manifest or a file is missing, a checksum differs, the
            folder was written by another generator, the manifest lacks one of
            :data:`ARRAYS` or ``params.class_names`` / ``mean`` / ``std``, or
            the arrays are inconsistent (:class:`ImageDataset`'s checks).
    """
    arrays, man = manifest.load_dataset(directory)
    if generator is not None and man.get("generator") != generator:
        raise DataError(f"{directory}: written by {man.get('generator')!r}, not by {generator} (not an image dataset)")
    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise DataError(f"{directory}: manifest lacks array(s) {', '.join(missing)}")
    params = man.get("params", {})
    for key in ("class_names", "mean", "std"):
        if key not in params:
            raise DataError(f"{Path(directory) / manifest.MANIFEST}: params.{key} missing (not an image dataset?)")
    dataset = ImageDataset(
        train_x=arrays["train_x"],
        train_y=arrays["train_y"],
        test_x=arrays["test_x"],
        test_y=arrays["test_y"],
        class_names=tuple(params["class_names"]),
        mean=tuple(params["mean"]),
        std=tuple(params["std"]),
    )
    return dataset, man
