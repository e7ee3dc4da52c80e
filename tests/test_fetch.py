"""Tests of lrorder.data.fetch: the fetch step of CIFAR-10 (one archive) and Fashion-MNIST (gzip files).

Nothing is downloaded: the data sets are tiny fixtures in their own on-disk
formats (``image_fixtures``), torchvision's md5s are pointed at them, and
the download is replaced by one that fails as without network.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10, FashionMNIST

from image_fixtures import REAL_TGZ_MD5, forbid_download, idx_bytes, make_tgz, md5, remove_folder, to_hwc
from lrorder import cli
from lrorder.data import fetch as fetching
from lrorder.data import images
from lrorder.errors import DataError


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
        images.DATASETS["cifar10"].fetch(raw)
    msg = str(err.value)
    assert str(bogus) in msg and found in msg and REAL_TGZ_MD5 in msg
    assert "\n" not in msg
    assert bogus.exists()  # the user's file is not deleted


def test_fetch_without_archive_or_network_says_where_to_put_it(tmp_path: Path, monkeypatch) -> None:
    seen = forbid_download(monkeypatch)
    before = socket.getdefaulttimeout()
    raw = tmp_path / "raw"
    with pytest.raises(DataError) as err:
        images.DATASETS["cifar10"].fetch(raw)
    msg = str(err.value)
    assert msg == (
        f"CIFAR-10 not found and cannot be downloaded: put cifar-10-python.tar.gz (md5 {REAL_TGZ_MD5}) "
        f"in {raw}/ and rerun"
    )
    assert seen == [fetching.DOWNLOAD_TIMEOUT_S]  # the attempt ran with a finite socket timeout
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
        images.DATASETS["cifar10"].fetch(raw)
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    files = images.DATASETS["cifar10"].fetch(raw)
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
        images.DATASETS["cifar10"].fetch(raw)
    assert len(seen) == 1


# --------------------------------------------------------------------------- Fashion-MNIST fetch step


def test_fashion_fetch_checks_and_extracts_each_gzip_then_stamps(fashion, monkeypatch, tmp_path: Path) -> None:
    raw, arrays = fashion
    seen = forbid_download(monkeypatch, FashionMNIST)
    folder = raw / "FashionMNIST" / "raw"
    (folder / "train-labels-idx1-ubyte").write_bytes(b"damaged")  # replaced by the verified archive's content
    stamp_path = tmp_path / "stamp.json"
    cli.run(images.main, ["fetch", "--dataset", "fashion_mnist", "--raw-dir", str(raw), "--out-stamp", str(stamp_path)])
    assert seen == []  # every gzip file was there: no download attempted
    stamp = json.loads(stamp_path.read_text())
    assert stamp["dataset"] == "fashion_mnist"
    assert stamp["files_md5"] == {f"{name}.gz": md5(folder / f"{name}.gz") for name in arrays}
    for name, array in arrays.items():
        assert (folder / name).read_bytes() == idx_bytes(array)


def test_fashion_fetch_rejects_a_gzip_with_the_wrong_md5(fashion) -> None:
    raw, _ = fashion
    path = raw / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    expected = md5(path)
    path.write_bytes(gzip.compress(b"truncated", mtime=0))
    with pytest.raises(DataError) as err:
        images.DATASETS["fashion_mnist"].fetch(raw)
    assert str(err.value) == (f"{path}: md5 {md5(path)} does not match the expected {expected} "
                              "(corrupt or partial download; replace it and rerun)")
    assert not (path.parent / "t10k-images-idx3-ubyte").exists()  # checked before anything of it is extracted


def test_fashion_fetch_without_files_or_network_lists_each_file_and_md5(tmp_path: Path, monkeypatch) -> None:
    seen = forbid_download(monkeypatch, FashionMNIST)
    raw = tmp_path / "raw"
    with pytest.raises(DataError) as err:
        images.DATASETS["fashion_mnist"].fetch(raw)
    files = ", ".join(f"{name} (md5 {md5_})" for name, md5_ in FashionMNIST.resources)
    assert str(err.value) == (f"Fashion-MNIST not found and cannot be downloaded: put {files} "
                              f"in {raw}/FashionMNIST/raw/ and rerun")
    assert str(err.value).count(".gz (md5 ") == 4 and "\n" not in str(err.value)
    assert seen == [fetching.DOWNLOAD_TIMEOUT_S]


def test_fashion_fetch_with_one_file_missing_names_only_that_file(fashion, monkeypatch) -> None:
    raw, _ = fashion
    forbid_download(monkeypatch, FashionMNIST)
    (raw / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        images.DATASETS["fashion_mnist"].fetch(raw)
    assert "put train-labels-idx1-ubyte.gz (md5 " in str(err.value) and str(err.value).count("(md5 ") == 1


def test_fashion_fetch_names_a_corrupt_placed_file_beside_the_missing_ones(fashion, monkeypatch) -> None:
    """One round of placing files by hand suffices: the message names the corrupt file too, not only on the next run."""
    raw, _ = fashion
    forbid_download(monkeypatch, FashionMNIST)
    folder = raw / "FashionMNIST" / "raw"
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    corrupt = folder / "t10k-images-idx3-ubyte.gz"
    expected = md5(corrupt)
    corrupt.write_bytes(gzip.compress(b"truncated", mtime=0))
    labels_md5 = dict(FashionMNIST.resources)["train-labels-idx1-ubyte.gz"]
    with pytest.raises(DataError) as err:
        images.DATASETS["fashion_mnist"].fetch(raw)
    assert str(err.value) == (
        f"Fashion-MNIST not found and cannot be downloaded: put train-labels-idx1-ubyte.gz (md5 {labels_md5}) in "
        f"{folder}/; replace t10k-images-idx3-ubyte.gz (md5 {md5(corrupt)}, expected {expected}: corrupt or "
        "partial) and rerun")


def test_md5_of_is_torchvisions_md5(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"lr-order")
    assert fetching.md5_of(path) == hashlib.md5(b"lr-order").hexdigest() == md5(path)


def test_resources_folder_is_torchvisions_raw_folder(tmp_path: Path) -> None:
    unloaded = FashionMNIST.__new__(FashionMNIST)  # torchvision's raw_folder property, without reading data
    unloaded.root = str(tmp_path)
    assert fetching.resources_folder(FashionMNIST, tmp_path) == Path(unloaded.raw_folder) == tmp_path / "FashionMNIST" / "raw"
