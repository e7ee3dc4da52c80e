"""The benchmark scripts start (their measurements are not tests; see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
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
                                    "dag_overhead.py", "gpu_check.py", "perturbation.py", "stability_rule.py"])
def test_bench_help(script: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout


def test_stability_rule_false_alarm_rate():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import stability_rule
    finally:
        sys.path.remove(str(REPO / "bench"))
    rng = np.random.default_rng(0)
    # identical campaigns always pass; fully decorrelated ones with 5 seeds and 90% CIs fail
    # about 29% of claims (bench/README.md, "Perturbation")
    assert stability_rule.false_alarm_rate(5, 0.90, 1.0, 2000, rng) == 0.0
    assert stability_rule.false_alarm_rate(5, 0.90, 0.0, 20000, rng) == pytest.approx(0.29, abs=0.015)
    assert stability_rule.false_alarm_rate(5, 0.95, 0.0, 20000, rng) < stability_rule.false_alarm_rate(
        5, 0.90, 0.0, 20000, rng)
