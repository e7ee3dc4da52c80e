"""Tests of lrorder.data.images: the registry, CIFAR-10 and Fashion-MNIST through the real torchvision loaders, and mnist5k.

The torchvision data sets are tiny fixtures in their own on-disk formats
(``image_fixtures``); the fetch step is tested in ``test_fetch.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10

from image_fixtures import LABEL_NAMES, md5, to_hwc
from lrorder import cli, manifest, schema
from lrorder.data import images
from lrorder.errors import ConfigError, DataError


# --------------------------------------------------------------------------- CIFAR-10 loading


def test_cifar10_fixture_round_trips_through_torchvision(cifar) -> None:
    raw, written = cifar
    ds = images.load("cifar10", raw).dataset
    assert ds.train_x.shape == (10, 32, 32, 3) and ds.test_x.shape == (3, 32, 32, 3)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    np.testing.assert_array_equal(ds.train_x, to_hwc(written["train_data"]))
    np.testing.assert_array_equal(ds.test_x, to_hwc(written["test_data"]))
    assert ds.train_y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert ds.test_y.tolist() == [9, 0, 4]
    # channel planes R, G, B are the last axis; a row-major pixel (r, c) = (5, 7)
    assert (ds.train_x[0, :, :, 0] == 10).all() and (ds.train_x[0, :, :, 1] == 20).all()
    assert (ds.train_x[0, :, :, 2] == 30).all()
    assert ds.train_x[3, 5, 7, 2] == written["train_data"][3, 2 * 1024 + 5 * 32 + 7]
    assert ds.class_names == tuple(LABEL_NAMES)
    assert ds.image_shape == (32, 32, 3) and ds.num_classes == 10


def test_cifar10_normalisation_is_the_official_codes(cifar) -> None:
    ds = images.load("cifar10", cifar[0]).dataset
    assert ds.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    assert ds.std == pytest.approx((63.0 / 255, 62.1 / 255, 66.7 / 255))
    assert ds.mean[0] == pytest.approx(0.49137, abs=1e-5)


def test_cifar10_build_then_load_image_dataset(cifar, tmp_path: Path) -> None:
    raw, written = cifar
    out = tmp_path / "cifar10"
    man = images.build("cifar10", raw, out)
    assert man["generator"] == "lrorder.data.images" and man["generator_version"] == "1" and man["seed"] == 0
    assert set(man["files"]) == {"train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"}
    params = man["params"]
    assert params["dataset"] == "cifar10" and params["class_names"] == LABEL_NAMES
    assert params["image_shape"] == [32, 32, 3] and (params["n_train"], params["n_test"]) == (10, 3)
    assert params["source"]["files_md5"]["test_batch"] == md5(raw / CIFAR10.base_folder / "test_batch")
    back = images.load_image_dataset(out)
    np.testing.assert_array_equal(back.train_x, to_hwc(written["train_data"]))
    assert back.test_y.tolist() == [9, 0, 4] and back.test_y.dtype == np.int64
    assert back.class_names == tuple(LABEL_NAMES) and back.mean == pytest.approx(images.CIFAR10_MEAN)


def test_cifar10_build_without_fetch_names_the_fetch_step(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        images.load("cifar10", tmp_path / "empty")
    raw = tmp_path / "empty"
    assert str(exc.value) == (f"{raw}/cifar-10-batches-py: cifar10 not found or corrupted (run: python -m "
                              f"lrorder.data.images fetch --dataset cifar10 --raw-dir {raw} --out-stamp {raw}/cifar10.json)")


def test_cifar10_takes_no_split_params(cifar) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) test_fraction \(allowed: none\)"):
        images.load("cifar10", cifar[0], {"test_fraction": 0.1})


# --------------------------------------------------------------------------- Fashion-MNIST loading


def test_fashion_mnist_fixture_round_trips_through_torchvision(fashion) -> None:
    raw, arrays = fashion
    images.DATASETS["fashion_mnist"].fetch(raw)
    result = images.load("fashion_mnist", raw)
    ds = result.dataset
    assert ds.train_x.shape == (6, 28, 28, 1) and ds.test_x.shape == (2, 28, 28, 1)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    np.testing.assert_array_equal(ds.train_x[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test_x[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert ds.train_y.tolist() == [0, 1, 2, 3, 4, 5] and ds.test_y.tolist() == [9, 3]
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot" and ds.num_classes == 10
    assert result.split == {"official": True} and result.seed == 0


def test_fashion_mnist_normalisation_is_computed_from_its_training_images(fashion) -> None:
    raw, arrays = fashion
    images.DATASETS["fashion_mnist"].fetch(raw)
    ds = images.load("fashion_mnist", raw).dataset
    pixels = arrays["train-images-idx3-ubyte"].astype(np.float64) / 255
    assert ds.mean == pytest.approx((pixels.mean(),), abs=1e-12)
    assert ds.std == pytest.approx((pixels.std(),), abs=1e-12)
    # image 0 is all 255: it pulls the mean above the 0.5 of uniform random pixels
    assert ds.mean[0] == pytest.approx((1.0 + 5 * pixels[1:].mean()) / 6, abs=1e-12)


def test_fashion_mnist_build_then_load_image_dataset(fashion, tmp_path: Path) -> None:
    raw, arrays = fashion
    images.DATASETS["fashion_mnist"].fetch(raw)
    out = tmp_path / "fashion_mnist"
    man = images.build("fashion_mnist", raw, out)
    params = man["params"]
    assert params["dataset"] == "fashion_mnist" and params["image_shape"] == [28, 28, 1]
    assert (params["n_train"], params["n_test"]) == (6, 2)
    assert params["source"]["files_md5"]["t10k-labels-idx1-ubyte.gz"] == md5(
        raw / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    back = images.load_image_dataset(out)
    np.testing.assert_array_equal(back.test_x[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert back.mean == pytest.approx(tuple(params["mean"])) and len(back.std) == 1


def test_fashion_mnist_build_without_fetch_names_the_fetch_step(tmp_path: Path) -> None:
    raw = tmp_path / "empty"
    with pytest.raises(DataError) as exc:
        images.load("fashion_mnist", raw)
    assert str(exc.value) == (f"{raw}/FashionMNIST: fashion_mnist not found or corrupted (run: python -m "
                              f"lrorder.data.images fetch --dataset fashion_mnist --raw-dir {raw} "
                              f"--out-stamp {raw}/fashion_mnist.json)")


# --------------------------------------------------------------------------- registry


def test_schema_dataset_names_are_the_registrys() -> None:
    definition = schema.load_schema()["$defs"]["image_dataset"]
    assert definition["properties"]["name"]["enum"] == sorted(images.DATASETS)


def test_split_settings_take_their_defaults_from_the_schema() -> None:
    defaults = schema.defaults_at("#/$defs/image_dataset")
    assert defaults == {"name": "mnist5k", "test_fraction": 0.2, "split_seed": 0}
    assert images.resolve_params(images.DATASETS["mnist5k"], {"split_seed": 4}) == {"test_fraction": 0.2, "split_seed": 4}
    assert images.resolve_params(images.DATASETS["cifar10"], None) == {}


def test_registry_entries_match_what_their_loaders_return(cifar, fashion) -> None:
    assert images.FETCHED == ("cifar10", "fashion_mnist")
    assert images.DATASETS["cifar10"].image_shape == images.load("cifar10", cifar[0]).dataset.image_shape
    images.DATASETS["fashion_mnist"].fetch(fashion[0])
    assert images.DATASETS["fashion_mnist"].image_shape == images.load("fashion_mnist", fashion[0]).dataset.image_shape
    mnist = images.DATASETS["mnist5k"]
    assert mnist.image_shape == (28, 28, 1) and sum(mnist.class_sizes) == 5000 and mnist.fetch is None


# --------------------------------------------------------------------------- build and load


def test_corrupted_array_file_is_a_data_error(tmp_path: Path) -> None:
    out = tmp_path / "mnist5k"
    images.build("mnist5k", None, out, {"split_seed": 3})
    assert images.load_image_dataset(out).train_y.size == 4000
    path = out / "test_y.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_y\.npy: sha256 .* does not match the manifest"):
        images.load_image_dataset(out)


def test_load_image_dataset_rejects_another_generator(tmp_path: Path) -> None:
    manifest.save_dataset(tmp_path, {"train_x": np.zeros(1)}, generator="lrorder.data.synthetic",
                          generator_version="1", params={}, seed=0)
    with pytest.raises(DataError, match="not an image dataset"):
        images.load_image_dataset(tmp_path)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build", "--dataset", "imagenet", "--out", "x"], "--dataset imagenet: unknown dataset (expected one of: cifar10, fashion_mnist, mnist5k)"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"seed": 1}'], "unknown key(s) seed"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"test_fraction": 1.5}'], "test_fraction: expected a value in (0, 1)"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"split_seed": "a"}'], "split_seed: expected an integer"),
        # regression: a negative split seed was a numpy traceback
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"split_seed": -1}'],
         "split_seed: expected an integer >= 0, got -1"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", "[1]"], "--params: expected a JSON object"),
        (["build", "--dataset", "cifar10", "--out", "x"], "--raw-dir: dataset cifar10 needs"),
        (["fetch", "--dataset", "mnist5k", "--raw-dir", "r", "--out-stamp", "s"], "needs no fetch step"),
    ],
)
def test_bad_input_is_one_error_line(argv: list[str], expected: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.run(images.main, argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert not (tmp_path / "x").exists()
