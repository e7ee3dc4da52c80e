"""The benchmarks' shared helpers measure what they say, and every script starts (their measurements are
not tests; see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from fakes import complete_run_config, make_synthetic_dataset
from lrorder import study_data
from lrorder.data import synthetic
from workflow_utils import REPO

sys.path.insert(0, str(REPO / "bench"))
import common  # noqa: E402  (bench/common.py)
import map_dag_scaling  # noqa: E402  (bench/map_dag_scaling.py)
import perturbation  # noqa: E402  (bench/perturbation.py)
import scoring_cost  # noqa: E402  (bench/scoring_cost.py)
import stability_rule  # noqa: E402  (bench/stability_rule.py)

sys.path.remove(str(REPO / "bench"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs for real")
def test_gpu_check_says_it_needs_a_gpu() -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stdout.strip() == "no CUDA device: this check needs a GPU"


def test_scoring_cost_reads_the_default_config() -> None:
    # regression: the script called lrorder.yaml_files.read_yaml without its second argument and stopped
    config = scoring_cost.default_config()
    assert config["tag"] == "default"
    assert config["studies"]["patch"]["training"]["eval_every"] == 2  # filled and merged as Snakemake does
    assert config["studies"]["patch"]["training"]["bn_eval"] == "recalibrated"  # a schema default


@pytest.mark.parametrize("script", ["data_path.py", "epoch_overhead.py", "job_overhead.py", "batched_seeds.py",
                                    "dag_overhead.py", "gpu_check.py", "perturbation.py", "stability_rule.py",
                                    "scoring_cost.py", "bn_eval.py"])
def test_bench_help(script: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout


def test_stability_rule_false_alarm_rate():
    rng = np.random.default_rng(0)
    # identical campaigns always pass; fully decorrelated ones with 5 seeds and 90% CIs fail
    # about 29% of claims (bench/README.md, "Perturbation")
    assert stability_rule.false_alarm_rate(5, 0.90, 1.0, 2000, rng) == 0.0
    assert stability_rule.false_alarm_rate(5, 0.90, 0.0, 20000, rng) == pytest.approx(0.29, abs=0.015)
    assert stability_rule.false_alarm_rate(5, 0.95, 0.0, 20000, rng) < stability_rule.false_alarm_rate(
        5, 0.90, 0.0, 20000, rng)


def test_train_epoch_times_times_epochs_2_on_from_the_loops_lines(tmp_path) -> None:
    data_dir = make_synthetic_dataset(tmp_path, synthetic.SyntheticParams(n_train=100, n_test=100, p_dim=8, q_dim=2), 0)
    from lrorder import train

    data = study_data.load_synthetic(data_dir, torch.device("cpu"))
    run_cfg = complete_run_config({
        "study": "synthetic", "kind": "synthetic", "schedule": "s", "seed": 0,
        "model": {"name": "two_layer", "width": 8, "activation": "relu", "negative_slope": 0.1, "split_at": None,
                  "noise_shared_over_batch": False},
        "training": {"epochs": 4, "batch_size": 50, "device": "cpu"},
        "lr": {"initial": 0.1, "milestones": [], "factors": []},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }, ["test", "test_both", "test_p_only", "test_q_only"])
    lines: list[str] = []
    times = common.train_epoch_times(run_cfg, data, torch.device("cpu"), on_epoch=lines.append)
    assert len(times) == 3 and all(t > 0 for t in times)  # epochs 2, 3 and 4; epoch 1 pays set-up
    assert [line.split(" lr ")[0] for line in lines] == ["epoch 1/4", "epoch 2/4", "epoch 3/4", "epoch 4/4"]


def test_bare_epoch_times_runs_each_step_once_per_batch() -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    batches = [(torch.ones(4, 3), torch.zeros(4, dtype=torch.long))] * 5
    times = common.bare_epoch_times(model, optimizer, batches, epochs=2)
    assert len(times) == 2 and all(t > 0 for t in times) and len(steps) == 10


def test_report_prints_the_ratio_and_the_verdict(capsys) -> None:
    assert common.report("overhead", 1.1, 1.15, higher_is_better=False) is True
    assert common.report("speed-up", 1.5, 2, higher_is_better=True) is False
    assert capsys.readouterr().out.splitlines() == ["overhead: 1.10x (target <= 1.15x) PASS",
                                                    "speed-up: 1.50x (target >= 2x) MISS"]


def test_positive_int_refuses_zero_and_text() -> None:
    import argparse

    assert common.positive_int("3") == 3
    for text in ("0", "x", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected an integer >= 1"):
            common.positive_int(text)


def test_perturbation_targets_come_before_the_multi_value_flags() -> None:
    command = perturbation.snakemake_command("python", tag="perturb2", cores=4, dry_run=True)
    assert command == ["python", "-m", "snakemake", "--cores", "4", "-n", "-p",
                       "results/perturb2/claims/clean.csv", "results/perturb2/claims/patch.csv",
                       "--configfile", "presets/perturb.yaml", "--config", "tag=perturb2", "--set-threads", "train=2"]


@pytest.mark.parametrize("runs", [500, 1000, 5000])
def test_map_dag_scaling_plans_the_runs_it_says(runs: int) -> None:
    """The scaling benchmark's maps hold exactly ``runs`` runs of cells (plus the preset's 4 declared schedules' 20)."""
    from configs import load_config
    from lrorder import plan

    config = load_config(map_dag_scaling.grid_layer(runs), preset=None)
    plan.check_config(config)
    assert len(plan.map_cells(config, "grid")) * map_dag_scaling.SEEDS == runs
    assert len(plan.study_runs(config, "grid")) == runs + 4 * map_dag_scaling.SEEDS
