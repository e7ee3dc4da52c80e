"""Shared fixtures: one local run of the smoke preset for every end-to-end test; tiny torchvision data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workflow_utils import SMOKE, make_workdir, snakemake


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
