"""Tiny data sets in the on-disk formats of torchvision's CIFAR-10 and Fashion-MNIST, for tests.

Neither data set can be downloaded in the tests, so these helpers write a
few images in each format (CIFAR-10: ``cifar-10-batches-py/`` with pickled
batches and ``batches.meta``; Fashion-MNIST: the four gzipped IDX files in
``FashionMNIST/raw/``) and point torchvision's hard-coded md5s at them.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import socket
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10, FashionMNIST

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_TRAIN_BATCH = 2  # 5 batches -> 10 training images
N_TEST = 3
REAL_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"

#: IDX magic numbers (LeCun's MNIST format): 0x08 = unsigned byte, then the number of dimensions.
IDX_IMAGES_MAGIC = 0x0803
IDX_LABELS_MAGIC = 0x0801


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- CIFAR-10


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


def forbid_download(monkeypatch: pytest.MonkeyPatch, cls: type = CIFAR10) -> list[float | None]:
    """Make ``cls``'s download fail as without network; record the socket timeout it saw."""
    seen: list[float | None] = []

    def download(self: object) -> None:
        seen.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(cls, "download", download)
    return seen


def to_hwc(rows: np.ndarray) -> np.ndarray:
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def make_tgz(raw: Path) -> Path:
    archive = raw / CIFAR10.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(raw / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    return archive


def remove_folder(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


# --------------------------------------------------------------------------- Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8, 1 or 3 dimensions) in the IDX format: magic, big-endian int32 sizes, then the bytes."""
    magic = IDX_LABELS_MAGIC if array.ndim == 1 else IDX_IMAGES_MAGIC
    return struct.pack(f">{1 + array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def fashion_file_arrays() -> dict[str, np.ndarray]:
    """The arrays of the Fashion-MNIST fixture, keyed by torchvision's file names (without ``.gz``).

    6 training images (labels 0..5) and 2 test images (labels 9, 3), 28x28;
    training image 0 is all 255 and the rest are seeded random pixels.
    """
    rng = np.random.default_rng(7)
    train_x = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    train_x[0] = 255
    test_x = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    return {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": np.array([9, 3], dtype=np.uint8),
    }


def make_fashion_fixture(raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Write the four gzipped IDX files of a tiny Fashion-MNIST under ``raw_dir/FashionMNIST/raw``.

    Points ``FashionMNIST.resources`` at the md5s of the written ``.gz``
    files and returns :func:`fashion_file_arrays`.
    """
    folder = raw_dir / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    arrays = fashion_file_arrays()
    resources = []
    for name, array in arrays.items():
        path = folder / f"{name}.gz"
        path.write_bytes(gzip.compress(idx_bytes(array), mtime=0))
        resources.append((path.name, md5(path)))
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    return arrays
