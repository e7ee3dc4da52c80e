"""Shared fixtures: one local run of the smoke preset for every end-to-end test."""

from __future__ import annotations

import pytest

from workflow_utils import SMOKE, make_workdir, snakemake


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A copy of the repository in which ``snakemake --cores 2`` ran the smoke preset."""
    workdir = make_workdir(tmp_path_factory.mktemp("smoke"))
    result = snakemake(workdir, "--cores", "2", *SMOKE)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir
