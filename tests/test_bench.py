"""The benchmark scripts start (their measurements are not tests; see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from workflow_utils import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs for real")
def test_gpu_check_says_it_needs_a_gpu() -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stdout.strip() == "no CUDA device: this check needs a GPU"


@pytest.mark.parametrize("script", ["data_path.py", "epoch_overhead.py", "job_overhead.py", "batched_seeds.py",
                                    "dag_overhead.py", "gpu_check.py", "perturbation.py"])
def test_bench_help(script: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout
