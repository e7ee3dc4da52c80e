"""training.cpu_kernels: the environment a training job gets, from the config to its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrorder import cpu_kernels, plan

from workflow_utils import SMOKE, make_workdir, snakemake

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def test_settings_and_their_environment() -> None:
    assert cpu_kernels.env("native") == {}
    assert cpu_kernels.env("avx2") == PINNED
    assert cpu_kernels.shell_prefix("native") == ""
    assert cpu_kernels.shell_prefix("avx2") == "env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 "
    assert cpu_kernels.setting({}) == "native"
    assert cpu_kernels.setting({"cpu_kernels": "avx2"}) == "avx2"
    with pytest.raises(ValueError, match="training.cpu_kernels: expected one of native, avx2, got 'avx512'"):
        cpu_kernels.setting({"cpu_kernels": "avx512"})
    assert cpu_kernels.missing("avx2", {**PINNED, "MKL_CBWR": "AUTO"}) == {"MKL_CBWR": "AVX2"}
    assert cpu_kernels.missing("avx2", PINNED) == {} and cpu_kernels.missing("native", {}) == {}
    assert cpu_kernels.recorded({"MKL_CBWR": "AVX2"}) == {"ATEN_CPU_CAPABILITY": None, "ONEDNN_MAX_CPU_ISA": None,
                                                          "MKL_CBWR": "AVX2"}


def test_module_decides_training_outputs() -> None:
    assert "cpu_kernels.py" in plan.STEP_MODULES["train"]


def test_setting_reaches_the_training_command(tmp_path: Path) -> None:
    """Dry run with -p: the synthetic study's jobs (avx2) run under the three variables, the clean study's
    (default native) without them; the setting is part of the run config."""
    workdir = make_workdir(tmp_path / "wd")
    override = workdir / "avx2.yaml"
    override.write_text("studies:\n  synthetic:\n    training: {cpu_kernels: avx2}\n")
    synthetic = "results/smoke/runs/synthetic/large_lr/seed0/metrics.csv"
    clean = "results/smoke/runs/clean/large_lr/seed0/metrics.csv"
    result = snakemake(workdir, "-n", "-p", synthetic, clean, *SMOKE, str(override))
    assert result.returncode == 0, result.stderr
    commands = [line.strip().removeprefix("Shell command: ") for line in (result.stdout + result.stderr).splitlines()
                if "python -m lrorder.train " in line]
    assert len(commands) == 2, commands
    pinned = [c for c in commands if "--out-metrics " + synthetic in c]
    native = [c for c in commands if "--out-metrics " + clean in c]
    assert len(pinned) == 1 and len(native) == 1
    assert pinned[0].startswith("env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 python -m "
                                "lrorder.train ")
    assert '"cpu_kernels":"avx2"' in pinned[0]
    assert native[0].startswith("python -m lrorder.train ") and '"cpu_kernels":"native"' in native[0]
