"""Atomic file writes and checksums.

Every output of the workflow is written to a temporary file in the target's
folder and renamed over the target only when complete, so that a killed job
never leaves a file that looks complete (``os.replace`` is atomic on POSIX
within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from lrorder.errors import DataError

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The caller writes the temporary file by any means (``np.save``,
    ``torch.save``, ``DataFrame.to_csv``, ...). If the ``with`` block raises,
    the temporary file is removed and ``path`` is left untouched. Parent
    folders are created. ``durable`` flushes the file to the disk
    (``fsync``) before the rename, so that it survives a power loss or an
    operating-system crash too; without it, a killed process still never
    leaves a partial file, but a crash of the machine can (for files whose
    reader detects damage, such as checkpoints).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give outputs the usual mode
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (``durable``: see :func:`atomic_path`)."""
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` to compact, key-sorted JSON (the input of :func:`json_hash`)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def json_hash(obj: Any) -> str:
    """Return the hex SHA-256 of ``obj``'s canonical JSON (stable across runs)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def read_csv(path: str | os.PathLike, what: str, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV table with :func:`pandas.read_csv` (``kwargs`` passed on).

    ``what`` names the table in error messages ("metrics", "claims").

    Raises:
        DataError: the file is missing, empty or not readable as CSV; the
            message names the file.
    """
    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError:
        raise DataError(f"{path}: {what} file not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: {what} file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read as CSV ({type(exc).__name__})") from None
