"""Evaluation with running vs recalibrated BatchNorm statistics, measured on the same training runs.

Trains runs of one image study of a config (default: the ``patch`` study of
``config.yaml``) with ``training.bn_eval: recalibrated`` and, in each epoch,
also scores the evaluation sets with the running statistics just before they
are recalibrated (``lrorder.train.train``'s ``before_eval`` hook). Training is
the same either way, so each epoch gives both readings of one network.

Prints, per schedule and evaluation set, over all seeds and epochs:

* ``collapses``: epochs whose accuracy is below 0.5 while the run's training
  accuracy (running mean over the epoch) is at least 0.9;
* ``mean |step|``: mean absolute change of accuracy from one epoch to the next;
* ``last5``: mean accuracy over the last 5 epochs (mean over seeds).

Writes the per-epoch table (``bn_stats`` = running / recalibrated) to
``--out`` if given. The datasets are built first with Snakemake (the study's
``image_data`` / ``patch_data`` targets of the config's tag; one patch
draw per seed).

Usage: python bench/bn_eval.py [--study patch] [--seeds 1000 1001] [--configfile presets/X.yaml] [--out bn_eval.csv]
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lrorder import plan  # noqa: E402
from lrorder.study_data import load_images  # noqa: E402
from lrorder.train import enable_deterministic_algorithms, evaluate, train  # noqa: E402
from lrorder.yaml_files import read_yaml  # noqa: E402


def resolved_config(configfiles: list[str]) -> dict:
    """config.yaml with the layers deep-merged and the schema defaults filled (as the Snakefile does)."""
    return plan.layered_config(read_yaml(REPO / "config.yaml", "config"),
                               [read_yaml(layer, "--configfile") for layer in configfiles])


def build_data(config: dict, study: str, configfiles: list[str], seeds: list[int]) -> tuple[Path, dict[int, Path]]:
    """Build the study's dataset (and each seed's patch arrays) with Snakemake; return their folders."""
    dataset = config["studies"][study]["dataset"]["name"]
    results = Path("results") / config["tag"] / "data"
    images = results / "images" / dataset
    patches = ({seed: results / study / dataset / f"seed{seed}" for seed in seeds}
               if plan.study_kind(config, study).per_seed_patch else {})
    targets = [str(images / "manifest.json")] + [str(patch / "manifest.json") for patch in patches.values()]
    layers = ["--configfile", *configfiles] if configfiles else []
    subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", "1", "--quiet", "all", *layers],
                   cwd=REPO, check=True)
    return REPO / images, {seed: REPO / patch for seed, patch in patches.items()}


def measure(config: dict, study: str, seeds: list[int], images: Path, patches: dict[int, Path]) -> pd.DataFrame:
    """Per-epoch accuracy of every evaluation set with both kinds of BatchNorm statistics."""
    torch.set_num_threads(1)
    enable_deterministic_algorithms()
    device = torch.device("cpu")
    frames = []
    for seed in seeds:
        data = load_images(images, device, seed, config["studies"][study]["training"]["augment"], patches.get(seed))
        for schedule in config["studies"][study]["schedules"]:
            run_cfg = copy.deepcopy(plan.run_config(config, study, schedule, seed))
            run_cfg["training"]["bn_eval"] = "recalibrated"
            eval_batch = int(run_cfg["training"]["eval_batch_size"])
            running: list[dict] = []

            def score_running(model: torch.nn.Module, epoch: int) -> None:
                for name, (x, y) in data.eval_sets.items():
                    acc = evaluate(model, x, y, eval_batch).accuracy
                    running.append({"epoch": epoch, "eval_set": name, "accuracy": acc})
                model.train()

            metrics, _, _ = train(run_cfg, data, device, before_eval=score_running)
            recal = metrics[metrics["eval_set"] != "train"][["epoch", "eval_set", "accuracy"]]
            train_acc = metrics[metrics["eval_set"] == "train"].set_index("epoch")["accuracy"]
            for label, table in (("running", pd.DataFrame(running)), ("recalibrated", recal)):
                table = table.assign(schedule=schedule, seed=seed, bn_stats=label)
                frames.append(table.assign(train_accuracy=table["epoch"].map(train_acc)))
            print(f"seed {seed} {schedule}: done", flush=True)
    return pd.concat(frames, ignore_index=True)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """collapses, mean |step| and last-5 mean per schedule, evaluation set and kind of statistics."""
    rows = []
    for (schedule, eval_set, bn), g in table.groupby(["schedule", "eval_set", "bn_stats"]):
        g = g.sort_values(["seed", "epoch"])
        steps = g.groupby("seed")["accuracy"].diff().abs()
        last = g["epoch"].max()
        rows.append({
            "schedule": schedule, "eval_set": eval_set, "bn_stats": bn,
            "collapses": int(((g["accuracy"] < 0.5) & (g["train_accuracy"] >= 0.9)).sum()),
            "mean_abs_step": float(steps.mean()),
            "last5": float(g[g["epoch"] > last - 5]["accuracy"].mean()),
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="patch")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001])
    parser.add_argument("--configfile", nargs="*", default=[], help="config layers over config.yaml")
    parser.add_argument("--out", help="per-epoch CSV")
    args = parser.parse_args()
    config = resolved_config(args.configfile)
    if args.study not in config["studies"] or config["studies"][args.study]["kind"] == "synthetic":
        parser.error(f"--study: expected an image study of the config, got {args.study!r}")
    images, patches = build_data(config, args.study, args.configfile, args.seeds)
    table = measure(config, args.study, args.seeds, images, patches)
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"{args.study} study, seeds {args.seeds}: evaluation with running vs recalibrated BatchNorm statistics")
    print(summarise(table).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
