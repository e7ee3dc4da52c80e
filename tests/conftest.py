"""Shared fixtures: one local run of the smoke preset for every end-to-end test; tiny torchvision data sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakes import make_image_dataset
from workflow_utils import SMOKE, make_workdir, snakemake


@pytest.fixture(scope="session")
def image_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """A fake 28x28 image dataset (64 train, 32 test images) and its patch arrays for run seed 0 (20 patch-only)."""
    root = tmp_path_factory.mktemp("images")
    data = make_image_dataset(root / "images", n_train=64, n_test=32, hwc=(28, 28, 1))
    patch_dir = root / "patch"
    subprocess.run([sys.executable, "-m", "lrorder.data.patch", "--dataset-dir", str(data),
                    "--params", json.dumps({"n_patch_only": 20}), "--seed", "0", "--out", str(patch_dir)],
                   check=True, capture_output=True)
    return data, patch_dir


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A copy of the repository in which ``snakemake --cores 2`` ran the smoke preset."""
    workdir = make_workdir(tmp_path_factory.mktemp("smoke"))
    result = snakemake(workdir, "--cores", "2", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture
def cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny CIFAR-10 in ``tmp_path/raw`` that torchvision accepts: ``(raw folder, arrays written)``."""
    from image_fixtures import make_cifar_fixture, point_torchvision_at  # noqa: PLC0415  (imports torchvision)

    raw = tmp_path / "raw"
    written = make_cifar_fixture(raw)
    point_torchvision_at(monkeypatch, raw)
    return raw, written


@pytest.fixture
def fashion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny Fashion-MNIST (gzipped IDX files) in ``tmp_path/raw`` that torchvision accepts: ``(raw folder, arrays)``."""
    from image_fixtures import make_fashion_fixture  # noqa: PLC0415  (imports torchvision)

    raw = tmp_path / "raw"
    return raw, make_fashion_fixture(raw, monkeypatch)
