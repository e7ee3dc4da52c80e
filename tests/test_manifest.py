"""Tests of lrorder.manifest (dataset folders with checksums) and lrorder.fileio (atomic writes, hashes)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lrorder import fileio, manifest
from lrorder.errors import DataError


def arrays() -> dict[str, np.ndarray]:
    return {
        "x": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "y": np.array([-1, 1, 1], dtype=np.int8),
        "pattern": np.array([0, 1, 2], dtype=np.uint8),
        "w": np.linspace(0, 1, 5),  # float64
        "scalar": np.array(3, dtype=np.int64),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    }


def save(directory: Path) -> dict:
    return manifest.save_dataset(
        directory, arrays(), generator="test.gen", generator_version="7", params={"a": 1, "b": [2, 3]}, seed=4
    )


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------- manifest


def test_round_trip(tmp_path: Path) -> None:
    written = save(tmp_path / "ds")
    loaded, meta = manifest.load_dataset(tmp_path / "ds")
    assert meta == written
    assert meta["generator"] == "test.gen"
    assert meta["generator_version"] == "7"
    assert meta["params"] == {"a": 1, "b": [2, 3]}
    assert meta["seed"] == 4
    original = arrays()
    assert set(loaded) == set(original)
    for name, array in original.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array)
    assert files_in(tmp_path / "ds") == sorted([f"{n}.npy" for n in original] + ["manifest.json"])


def test_zero_d_array_keeps_its_shape(tmp_path: Path) -> None:
    # Regression: np.ascontiguousarray turned a 0-d array into shape (1,).
    manifest.save_dataset(tmp_path, {"s": np.array(2.5)}, generator="g", generator_version="1", params={}, seed=0)
    loaded, _ = manifest.load_dataset(tmp_path)
    assert loaded["s"].shape == ()
    assert loaded["s"].item() == 2.5


def test_fortran_order_saved_as_c_order(tmp_path: Path) -> None:
    # Same values, same bytes: the checksum does not depend on the memory layout.
    c = np.arange(6, dtype=np.int32).reshape(2, 3)
    m1 = manifest.save_dataset(tmp_path / "c", {"a": c}, generator="g", generator_version="1", params={}, seed=0)
    m2 = manifest.save_dataset(tmp_path / "f", {"a": np.asfortranarray(c)}, generator="g", generator_version="1",
                               params={}, seed=0)
    assert m1["files"] == m2["files"]
    loaded, _ = manifest.load_dataset(tmp_path / "f")
    assert loaded["a"].flags["C_CONTIGUOUS"]


def test_manifest_checksums_are_file_sha256(tmp_path: Path) -> None:
    written = save(tmp_path)
    for filename, digest in written["files"].items():
        assert digest == hashlib.sha256((tmp_path / filename).read_bytes()).hexdigest()
        assert len(digest) == 64
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == written
    assert manifest.read_manifest(tmp_path) == written


def test_seed_stored_as_int(tmp_path: Path) -> None:
    meta = manifest.save_dataset(tmp_path, {"a": np.zeros(2)}, generator="g", generator_version="1",
                                 params={}, seed=np.int64(9))
    assert meta["seed"] == 9 and type(meta["seed"]) is int


def test_modified_file_raises_naming_file_and_both_checksums(tmp_path: Path) -> None:
    written = save(tmp_path)
    target = tmp_path / "x.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # flip the last byte of the array data
    target.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    expected = written["files"]["x.npy"]
    assert actual != expected
    with pytest.raises(DataError) as exc:
        manifest.load_dataset(tmp_path)
    message = str(exc.value)
    assert str(target) in message
    assert actual in message
    assert expected in message


def test_same_size_replacement_is_detected(tmp_path: Path) -> None:
    save(tmp_path)
    np.save(tmp_path / "y.npy", np.array([1, 1, 1], dtype=np.int8))  # valid npy, same shape, other values
    with pytest.raises(DataError, match="y.npy"):
        manifest.load_dataset(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    save(tmp_path)
    (tmp_path / "w.npy").unlink()
    with pytest.raises(DataError) as exc:
        manifest.load_dataset(tmp_path)
    assert str(exc.value) == f"{tmp_path / 'w.npy'}: listed in the manifest but missing"


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        manifest.load_dataset(tmp_path)
    assert str(exc.value) == f"{tmp_path / 'manifest.json'}: manifest not found (regenerate the dataset)"
    with pytest.raises(DataError, match="manifest not found"):
        manifest.read_manifest(tmp_path / "nonexistent")


def test_invalid_manifest_json(tmp_path: Path) -> None:
    save(tmp_path)
    (tmp_path / "manifest.json").write_text('{"files": ')
    with pytest.raises(DataError) as exc:
        manifest.load_dataset(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path / 'manifest.json'}: manifest is not valid JSON (")


def test_extra_file_not_in_manifest_is_ignored(tmp_path: Path) -> None:
    save(tmp_path)
    np.save(tmp_path / "extra.npy", np.zeros(3))
    loaded, _ = manifest.load_dataset(tmp_path)
    assert "extra" not in loaded
    assert len(loaded) == 6


def test_save_leaves_no_temp_files(tmp_path: Path) -> None:
    save(tmp_path)
    assert not [name for name in files_in(tmp_path) if name.endswith(".tmp")]


# --------------------------------------------------------------------------- atomic writes


def test_atomic_path_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "out.txt"  # parent folders created
    with fileio.atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp != target
        assert tmp.name.startswith(".out.txt.") and tmp.name.endswith(".tmp")
        tmp.write_text("hello")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text() == "hello"
    assert files_in(target.parent) == ["out.txt"]


def test_atomic_path_failure_leaves_no_temp_and_no_target(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="boom"):
        with fileio.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert files_in(tmp_path) == []


def test_atomic_path_failure_keeps_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("new, incomplete")
            raise KeyboardInterrupt  # BaseException too
    assert target.read_text() == "old"
    assert files_in(tmp_path) == ["out.txt"]


@pytest.mark.parametrize(("durable", "flushes"), [(True, 1), (False, 0)])
def test_atomic_write_flushes_to_disk_only_when_durable(tmp_path: Path, monkeypatch, durable: bool,
                                                        flushes: int) -> None:
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    fileio.write_bytes(tmp_path / "out.bin", b"data", durable=durable)
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert len(calls) == flushes
    assert files_in(tmp_path) == ["out.bin"]


def test_atomic_path_replaces_existing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    fileio.write_text(target, "new")
    assert target.read_text() == "new"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_output_mode_follows_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        fileio.write_bytes(tmp_path / "a.bin", b"x")
        with fileio.atomic_path(tmp_path / "b.npy") as tmp:
            np.save(tmp, np.zeros(2))
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "b.npy").stat().st_mode) == expected
    if umask == 0o022:
        assert expected == 0o644  # not mkstemp's 0600


def test_dataset_files_mode_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save(tmp_path)
    finally:
        os.umask(old)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_write_json_sorted_indented(tmp_path: Path) -> None:
    fileio.write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    text = (tmp_path / "a.json").read_text()
    assert text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_write_text_utf8(tmp_path: Path) -> None:
    fileio.write_text(tmp_path / "t.txt", "σ ≥ 0")
    assert (tmp_path / "t.txt").read_bytes() == "σ ≥ 0".encode("utf-8")


def test_sha256_file_multi_chunk(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB: more than one 1 MiB chunk
    (tmp_path / "big").write_bytes(data)
    assert fileio.sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert fileio.sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


# --------------------------------------------------------------------------- json hashes


def test_canonical_json_compact_and_sorted() -> None:
    assert fileio.canonical_json({"b": [1, 2.5], "a": {"y": None, "x": "s"}}) == '{"a":{"x":"s","y":null},"b":[1,2.5]}'


def test_json_hash_stable_value() -> None:
    # pinned: a change here changes every run's config hash (and invalidates checkpoints)
    obj = {"b": [1, 2.5], "a": {"y": None, "x": "s"}}
    assert fileio.json_hash(obj) == "fcd5c610f11eb59647d9b7e53a8066441273ee64c794412a48288cf6f423a294"
    assert fileio.json_hash(obj) == hashlib.sha256(b'{"a":{"x":"s","y":null},"b":[1,2.5]}').hexdigest()
    assert fileio.json_hash({}) == hashlib.sha256(b"{}").hexdigest()


def test_json_hash_key_order_independent() -> None:
    a = {"x": 1, "y": {"p": [1, 2], "q": "z"}}
    b = {"y": {"q": "z", "p": [1, 2]}, "x": 1}
    assert fileio.json_hash(a) == fileio.json_hash(b)


def test_json_hash_sensitive_to_values_and_list_order() -> None:
    base = fileio.json_hash({"x": [1, 2]})
    assert fileio.json_hash({"x": [2, 1]}) != base
    assert fileio.json_hash({"x": [1, 3]}) != base
    assert fileio.json_hash({"x": [1, 2], "y": None}) != base
