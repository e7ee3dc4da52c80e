"""The paper preset plans the paper-scale DAG; a campaign stops at a dataset's download (CIFAR-10, Fashion-MNIST) when it cannot get the data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml

from configs import load_config
from lrorder import plan
from workflow_utils import SMOKE, make_workdir, planned_job_details, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

PAPER = ("--configfile", "presets/paper.yaml")
# A proxy on a closed local port: every download fails at once, on any machine.
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


#: The train rule's resources (lrorder.plan.train_resources) of the preset's WRN runs and of config.yaml's
#: synthetic runs, which it keeps.
WRN_RESOURCES = {"gpu": 1, "checkpoint_every": 10, "checkpoint_minutes": 30}
CPU_RESOURCES = {"gpu": 0, "checkpoint_every": 1, "checkpoint_minutes": 0}


def test_paper_dag(tmp_path) -> None:
    result = snakemake(make_workdir(tmp_path / "wd"), "-n", "-p", *PAPER)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = planned_jobs(result)
    # 3 seeds x (2 clean + 3 patch schedules) + 10 seeds x 3 synthetic schedules
    assert jobs["train"] == 3 * 5 + 30
    assert jobs["fetch_dataset"] == 1 and jobs["image_data"] == 1
    assert jobs["patch_data"] == 3  # one patch draw per seed of the patch study
    # Each WRN run asks for one GPU (counted by --resources gpu=N, sbatch --gpus=1 on SLURM) and checkpoints
    # every 10th epoch or after 30 minutes; the synthetic runs ask for none.
    train = [(wildcards, resources) for rule, wildcards, resources in planned_job_details(result) if rule == "train"]
    assert len(train) == jobs["train"]
    for wildcards, resources in train:
        expected = WRN_RESOURCES if wildcards["study"] in ("clean", "patch") else CPU_RESOURCES
        assert {key: resources.get(key) for key in expected} == expected, wildcards
    out = result.stdout + result.stderr
    assert out.count(" --gpus 1 --checkpoint-every 10 --checkpoint-minutes 30 ") == 15
    assert out.count(" --gpus 0 --checkpoint-every 1 --checkpoint-minutes 0 ") == 30


def test_missing_cifar_stops_at_the_download_with_one_line(tmp_path) -> None:
    workdir = make_workdir(tmp_path / "wd")
    result = snakemake(workdir, "--cores", "2", *PAPER, env=NO_NETWORK, timeout=300)
    assert result.returncode != 0
    log = (workdir / "logs" / "paper" / "data" / "fetch_cifar10.log").read_text().strip().splitlines()
    assert log == [
        "error: CIFAR-10 not found and cannot be downloaded: put cifar-10-python.tar.gz "
        "(md5 c58f30108f718f92721af3b95e74349a) in data/raw/ and rerun"
    ]
    assert not (workdir / "results").exists()  # nothing else started


def test_a_fashion_mnist_study_gets_its_own_fetch_job_and_stops_there_without_network(tmp_path) -> None:
    workdir = make_workdir(tmp_path / "wd")
    override = workdir / "fashion.yaml"
    override.write_text(yaml.safe_dump({"studies": {"clean": {"dataset": {"name": "fashion_mnist"}}}}))
    planned = snakemake(workdir, "-n", "-p", *SMOKE, str(override))
    assert planned.returncode == 0, planned.stderr[-2000:]
    jobs = planned_jobs(planned)
    assert jobs["fetch_dataset"] == 1 and jobs["image_data"] == 2  # fashion_mnist (clean) and mnist5k (patch)
    out = planned.stdout + planned.stderr
    assert "fetch --dataset fashion_mnist --raw-dir data/raw --out-stamp data/raw/fashion_mnist.json" in out
    result = snakemake(workdir, "--cores", "1", *SMOKE, str(override), env=NO_NETWORK, timeout=300)
    assert result.returncode != 0
    log = (workdir / "logs" / "smoke" / "data" / "fetch_fashion_mnist.log").read_text().strip().splitlines()
    assert len(log) == 1 and log[0].startswith("error: Fashion-MNIST not found and cannot be downloaded: put ")
    assert log[0].endswith(" in data/raw/FashionMNIST/raw/ and rerun") and log[0].count(".gz (md5 ") == 4
    assert not (workdir / "results" / "smoke" / "runs").exists()  # no training started


@pytest.mark.parametrize("study", ["clean", "patch"])
def test_paper_preset_uses_the_gpu_defaults_not_the_cpu_tuning(study: str) -> None:
    # Regression: the preset inherited config.yaml's CPU tuning (eval batches of 128, a forced layout).
    training = plan.run_config(load_config(preset="paper"), study, "large_lr", 0)["training"]
    assert (training["eval_batch_size"], training["channels_last"], training["precision"]) == (1024, "auto", "auto")
    assert training["device"] == "cuda"  # stops with one line where no GPU is visible, never trains WRNs on CPUs


@pytest.mark.parametrize("study", ["clean", "patch"])
def test_paper_preset_asks_for_a_gpu_and_checkpoints_sparsely(study: str) -> None:
    paper = load_config(preset="paper")
    assert plan.train_resources(paper, study) == WRN_RESOURCES
    assert plan.train_resources(paper, "synthetic") == CPU_RESOURCES  # config.yaml's study, on the CPU
    # The checkpoint cadence is a resource, not part of the run config (a change in it reruns nothing).
    training = plan.run_config(paper, study, "large_lr", 0)["training"]
    assert not {"checkpoint_every", "checkpoint_minutes"} & set(training)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
@pytest.mark.parametrize("study", ["clean", "patch"])
def test_paper_run_without_a_gpu_stops_in_one_line(tmp_path, study: str) -> None:
    """Regression: the preset's WRN-16-10 runs fell back to the CPU without a word (about 1.9 hours per
    CIFAR-10 epoch). The train job, as the rule starts it (--gpus 1), stops before reading any data."""
    config = load_config(preset="paper")
    run_config = plan.run_config(config, study, "large_lr", 0)
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "lrorder.train", "--data", str(tmp_path / "no-data-needed"),
         *(["--patch", str(tmp_path / "no-patch-needed")] if study == "patch" else []),
         "--run-config", json.dumps(run_config), "--out-metrics", str(out / "metrics.csv"),
         "--out-model", str(out / "model.pt"), "--out-run", str(out / "run.json"),
         "--gpus", str(plan.train_resources(config, study)["gpu"])],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training.device: 'cuda' but torch "), result.stderr
    assert not out.exists()
