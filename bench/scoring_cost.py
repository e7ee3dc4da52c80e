"""What scoring only the evaluations a claim or figure reads saves: runs with and without the scoring plan.

A run scores each evaluation set at the epochs of its scoring plan
(``lrorder.plan.evaluation``: every set every ``training.eval_every``-th
epoch, before the anneal and at the last epoch, and each set a claim reads
over that claim's window; a pre-anneal run only the set and window of its
claims). Training is the same either way (tests/test_train.py,
tests/test_study_data.py check the kept rows bitwise). This times, in one
process and in alternating rounds, runs of the default config, each with
its plan vs scoring every set at every epoch:

- ``synthetic/large_lr/seed0`` (200 epochs);
- ``clean/large_lr/seed0`` and ``patch/large_lr/seed0``, full image runs
  (20 epochs);
- ``patch/small_lr/seed5``, a pre-anneal run (14 epochs);

and prints each pair's training wall times (fastest of the rounds) and
their ratio. The datasets are built first by Snakemake in a copy of the
workflow (about a minute).

Usage: python bench/scoring_cost.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import positive_int

REPO = Path(__file__).resolve().parents[1]
FILES = ("Snakefile", "config.yaml", "workflow", "presets", "profiles", "envs", "src")
RUNS = (("synthetic", "large_lr", 0), ("clean", "large_lr", 0), ("patch", "large_lr", 0), ("patch", "small_lr", 5))


def default_config() -> dict:
    """This repository's ``config.yaml``, validated and with the schema's defaults filled, as Snakemake reads it."""
    sys.path.insert(0, str(REPO / "src"))
    from lrorder import plan
    from lrorder.yaml_files import read_yaml

    return plan.layered_config(read_yaml(REPO / "config.yaml", "config"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=2, help="timed rounds per variant (default 2)")
    args = parser.parse_args()
    from lrorder import plan, train
    from lrorder.study_data import load_images, load_synthetic

    config = default_config()
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, Path(tmp) / name)
        data = Path(tmp) / "results" / "default" / "data"
        targets = ["results/default/data/synthetic/seed0/manifest.json",
                   "results/default/data/patch/mnist5k/seed0/manifest.json",
                   "results/default/data/patch/mnist5k/seed5/manifest.json"]
        built = subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--quiet", "all"],
                               cwd=tmp, capture_output=True, text=True)
        if built.returncode != 0:
            sys.exit(f"building the datasets failed:\n{built.stderr[-2000:]}")
        print(f"training wall time, fastest of {args.rounds} alternating rounds, 1 thread")
        for study, schedule, seed in RUNS:
            run_cfg = plan.run_config(config, study, schedule, seed)
            if study == "synthetic":
                loaded = load_synthetic(data / "synthetic" / "seed0", cpu)
            else:
                patch = data / "patch" / "mnist5k" / f"seed{seed}" if study == "patch" else None
                loaded = load_images(data / "images" / "mnist5k", cpu, seed, False, patch)
            variants = {"scoring plan": run_cfg, "every set, every epoch": {
                key: value for key, value in run_cfg.items() if key != "evaluation"}}
            best = {name: float("inf") for name in variants}
            for _ in range(args.rounds):
                for name, cfg in variants.items():
                    start = time.perf_counter()
                    train.train(cfg, loaded, cpu, threads=1)
                    best[name] = min(best[name], time.perf_counter() - start)
            scored = ", ".join(f"{name} {len(epochs)}" for name, epochs in run_cfg["evaluation"]["sets"].items())
            print(f"{study}/{schedule}/seed{seed} ({run_cfg['training']['epochs']} epochs; epochs scored: {scored})")
            for name, seconds in best.items():
                print(f"  {name:24s} {seconds:7.2f} s")
            print(f"  speed-up: {best['every set, every epoch'] / best['scoring plan']:.2f}x")


if __name__ == "__main__":
    main()
