"""Download and checksum the raw files of torchvision datasets: the fetch step of the dataset registry.

Its one job is to make a dataset's raw files ready and verified under the
raw-data folder (the ``fetch_dataset`` rule, ``python -m lrorder.data.images
fetch``), with torchvision's own download, md5 and extraction helpers
(:func:`torchvision.datasets.utils.check_integrity`, ``extract_archive``)
and the md5s that torchvision's dataset classes carry. Two on-disk layouts
cover torchvision's classification datasets:

* one archive (:func:`archive_fetcher`: CIFAR-10, CIFAR-100): ``cls.filename``
  with md5 ``cls.tgz_md5``, extracted to ``cls.base_folder``, whose files
  carry their own md5s (``cls.train_list``, ``cls.test_list``, ``cls.meta``);
* one gzip file per split and array (:func:`resources_fetcher`: MNIST,
  Fashion-MNIST, KMNIST): ``cls.resources`` ``[(file name, md5)]`` in
  ``<raw>/<class name>/raw/``, each decompressed beside itself.

Where the network is unreachable (as on many compute nodes), the step stops
with one line naming the files to place by hand and their md5s. The class is
named by its torchvision name (``"CIFAR10"``) and imported when the step
runs, so that building the registry imports no torch.
"""

from __future__ import annotations

import importlib
import os
import socket
import urllib.error
from pathlib import Path
from typing import Callable

from lrorder.errors import DataError

#: Seconds a download attempt may wait on the network before it gives up.
DOWNLOAD_TIMEOUT_S = 30.0

#: ``fetch(raw_dir)`` makes the raw files ready and returns ``{file name: md5}`` of the verified files.
FetchFn = Callable[[Path], dict[str, str]]


def torchvision_class(name: str) -> type:
    """``torchvision.datasets.<name>``, imported on first use (``import lrorder.data.images`` needs no torch)."""
    return getattr(importlib.import_module("torchvision.datasets"), name)


def md5_of(path: Path) -> str:
    """The md5 of a file, as torchvision's ``calculate_md5`` computes it."""
    from torchvision.datasets.utils import calculate_md5  # noqa: PLC0415  (lazy: imports torch)

    return calculate_md5(str(path))


def _download(cls: type, raw_dir: Path, placed_by_hand: str, partial: list[Path]) -> None:
    """torchvision's download (``cls(root, download=True)``) with a socket timeout.

    Raises:
        DataError: the network is unreachable: one line, ``placed_by_hand``
            (the files to put where, with their md5s); partial files removed.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        cls(root=str(raw_dir), train=True, download=True)
    except (urllib.error.URLError, OSError, RuntimeError):
        for path in partial:
            path.unlink(missing_ok=True)  # a partial download would fail the md5 check next time
        raise DataError(placed_by_hand) from None
    finally:
        socket.setdefaulttimeout(previous)


def _check_md5(path: Path, expected: str) -> None:
    found = md5_of(path)
    if found != expected:
        raise DataError(f"{path}: md5 {found} does not match the expected {expected} "
                        "(corrupt or partial download; replace it and rerun)")


# --------------------------------------------------------------------------- one archive (CIFAR)


def _extracted_files(cls: type) -> list[tuple[str, str]]:
    """``(file name, md5)`` of every extracted file of a CIFAR-style dataset (batches and meta)."""
    return [*((name, md5) for name, md5 in [*cls.train_list, *cls.test_list]), (cls.meta["filename"], cls.meta["md5"])]


def extracted_ok(cls: type, raw_dir: Path) -> bool:
    """True if every batch file and the meta file of ``cls`` under ``raw_dir`` has its md5."""
    from torchvision.datasets.utils import check_integrity  # noqa: PLC0415  (lazy: imports torch)

    folder = Path(raw_dir) / cls.base_folder
    return all(check_integrity(str(folder / name), md5) for name, md5 in _extracted_files(cls))


def fetch_archive(cls: type, raw_dir: str | os.PathLike, *, label: str) -> dict[str, str]:
    """Make the extracted files of a CIFAR-style torchvision dataset ready under ``raw_dir``.

    1. The extracted folder (``cls.base_folder``) passes the md5 check of
       every file: nothing to do.
    2. Else ``raw_dir/cls.filename`` exists: verify its md5 against
       ``cls.tgz_md5`` and extract it.
    3. Else try torchvision's download (socket timeout :data:`DOWNLOAD_TIMEOUT_S`).

    Returns:
        ``{file name: md5}`` of every extracted file (for a stamp file).

    Raises:
        DataError: the archive's md5 differs (the message names the file, the
            md5 found and the one expected); the download is impossible (one
            line naming the archive to put in ``raw_dir`` and its md5); the
            extracted files still fail their md5 check.
    """
    from torchvision.datasets.utils import extract_archive  # noqa: PLC0415  (lazy: imports torch)

    raw_dir = Path(raw_dir)
    if not extracted_ok(cls, raw_dir):
        archive = raw_dir / cls.filename
        if archive.exists():
            _check_md5(archive, cls.tgz_md5)
            extract_archive(str(archive), str(raw_dir))
        else:
            _download(cls, raw_dir, f"{label} not found and cannot be downloaded: put {cls.filename} "
                                    f"(md5 {cls.tgz_md5}) in {raw_dir}/ and rerun", [archive])
        if not extracted_ok(cls, raw_dir):
            raise DataError(f"{raw_dir / cls.base_folder}: {label} files fail their md5 check after extraction")
    return dict(_extracted_files(cls))


def archive_fetcher(class_name: str, label: str) -> FetchFn:
    """The :data:`FetchFn` of a CIFAR-style dataset: :func:`fetch_archive` of ``torchvision.datasets.<class_name>``."""

    def fetch(raw_dir: Path) -> dict[str, str]:
        return fetch_archive(torchvision_class(class_name), raw_dir, label=label)

    return fetch


# --------------------------------------------------------------------------- one gzip file per array (MNIST)


def resources_folder(cls: type, raw_dir: Path) -> Path:
    """Where torchvision's MNIST-style classes keep their files: ``<raw_dir>/<class name>/raw``."""
    return Path(raw_dir) / cls.__name__ / "raw"


def fetch_resources(cls: type, raw_dir: str | os.PathLike, *, label: str) -> dict[str, str]:
    """Make the files of an MNIST-style torchvision dataset ready under ``raw_dir``.

    1. Any of the gzip files ``cls.resources`` missing from
       :func:`resources_folder`: try torchvision's download (socket timeout
       :data:`DOWNLOAD_TIMEOUT_S`; it skips the download where the
       decompressed files are there already).
       Where the download is impossible, the one line names the missing
       files and any placed one whose md5 differs, so that one round of
       placing files by hand suffices.
    2. Every gzip file must then be present with its md5; each is
       decompressed beside itself (again, so that a damaged decompressed file
       is replaced by the verified archive's content).

    Returns:
        ``{file name: md5}`` of every gzip file (for a stamp file).

    Raises:
        DataError: a gzip file's md5 differs (naming the file, the md5 found
            and the one expected); files missing and the download impossible
            (one line naming each file to put in the folder with its md5, and
            each placed file that fails its md5).
    """
    from torchvision.datasets.utils import extract_archive  # noqa: PLC0415  (lazy: imports torch)

    folder = resources_folder(cls, Path(raw_dir))
    archives = [(folder / name, md5) for name, md5 in cls.resources]
    missing = [(path, md5) for path, md5 in archives if not path.exists()]
    if missing:
        corrupt = [(path, md5, found) for path, md5 in archives
                   if path.exists() and (found := md5_of(path)) != md5]
        files = ", ".join(f"{path.name} (md5 {md5})" for path, md5 in missing)
        replace = "".join(f"; replace {path.name} (md5 {found}, expected {md5}: corrupt or partial)"
                          for path, md5, found in corrupt)
        placed_by_hand = f"{label} not found and cannot be downloaded: put {files} in {folder}/{replace} and rerun"
        _download(cls, Path(raw_dir), placed_by_hand, [path for path, _ in missing])
        if any(not path.exists() for path, _ in missing):
            raise DataError(placed_by_hand)
    for path, md5 in archives:
        _check_md5(path, md5)
        extract_archive(str(path), str(folder))
    return {path.name: md5 for path, md5 in archives}


def resources_fetcher(class_name: str, label: str) -> FetchFn:
    """The :data:`FetchFn` of an MNIST-style dataset: :func:`fetch_resources` of ``torchvision.datasets.<class_name>``."""

    def fetch(raw_dir: Path) -> dict[str, str]:
        return fetch_resources(torchvision_class(class_name), raw_dir, label=label)

    return fetch
