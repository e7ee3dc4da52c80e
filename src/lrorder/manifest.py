"""Dataset manifests: what made a dataset, and the checksum of every array file.

A dataset is a folder of ``.npy`` array files plus ``manifest.json``::

    {"generator": "lrorder.data.synthetic", "generator_version": "1",
     "params": {...}, "seed": 0,
     "files": {"train_x.npy": "<sha256>", ...}}

Writers call :func:`save_dataset`; readers call :func:`load_dataset`, which
verifies every checksum before returning the arrays (design.md, "Artifacts
and versioning").
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from lrorder import fileio
from lrorder.errors import DataError

MANIFEST = "manifest.json"


def save_dataset(
    directory: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    *,
    generator: str,
    generator_version: str,
    params: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Write each array to ``<directory>/<name>.npy`` and then the manifest.

    Every file is written atomically and the manifest last, so a folder whose
    manifest exists is complete. Returns the manifest as written.
    """
    directory = Path(directory)
    files: dict[str, str] = {}
    for name, array in arrays.items():
        filename = f"{name}.npy"
        with fileio.atomic_path(directory / filename) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(array, order="C"), allow_pickle=False)  # ascontiguousarray made 0-d arrays 1-d
        files[filename] = fileio.sha256_file(directory / filename)
    manifest = {
        "generator": generator,
        "generator_version": generator_version,
        "params": dict(params),
        "seed": int(seed),
        "files": files,
    }
    fileio.write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """Read ``<directory>/manifest.json``.

    Raises:
        DataError: the manifest is missing or is not valid JSON.
    """
    path = Path(directory) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found (regenerate the dataset)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: manifest is not valid JSON ({exc.msg})") from None


def load_dataset(directory: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Verify every array file against the manifest, then load the arrays.

    Returns:
        ``(arrays, manifest)``; ``arrays`` maps the name without ``.npy`` to
        the array as saved (dtype and shape unchanged).

    Raises:
        DataError: the manifest or a file is missing, or a file's sha256
            differs from the manifest (the message names the file and both
            checksums).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    arrays: dict[str, np.ndarray] = {}
    for filename, expected in manifest["files"].items():
        path = directory / filename
        if not path.exists():
            raise DataError(f"{path}: listed in the manifest but missing")
        actual = fileio.sha256_file(path)
        if actual != expected:
            raise DataError(
                f"{path}: sha256 {actual} does not match the manifest's {expected} "
                "(file changed or corrupted; regenerate the dataset)"
            )
        arrays[filename.removesuffix(".npy")] = np.load(path, allow_pickle=False)
    return arrays, manifest
