"""Would training all seeds of a synthetic schedule in one job, with batched weights, pay off?

The performance issue asks for an opt-in mode that trains every seed of one
synthetic schedule in one job (weights stacked along a seed dimension) only
if it is at least 2x faster end to end than one job per seed, with per-seed
metrics identical to separate runs. This script measures both sides in one
run on the default study's setting (two-layer net, width 400, 1,000
training / 4,000 test points, batch 50, 1 thread):

* separate: :func:`lrorder.train.train` for each seed in turn, plus one job
  start-up (interpreter, imports) per seed;
* batched: the same SGD steps for all seeds at once (one ``baddbmm`` per step
  on weights ``(S, m, D)``, each seed with its own data, data order and
  pre-activation noise draws), plus one job start-up.

It prints the end-to-end ratio against the 2x target and the largest
per-seed difference of the test accuracy from the separate runs (batched
matrix products round differently, and the large learning rate amplifies
the difference over the epochs).

Usage: python bench/batched_seeds.py [--seeds 10] [--epochs 200] [--schedule large_lr]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_of, positive_int, report  # noqa: E402

from lrorder import seeding, train  # noqa: E402
from lrorder.models import build_model  # noqa: E402
from lrorder.study_data import TrainingData, load_synthetic  # noqa: E402

DATA = {"n_train": 1000, "n_test": 4000, "p_only": 0.2, "q_only": 0.2}
SCHEDULES = {  # config.yaml, synthetic study
    "large_lr": {"lr": {"initial": 1.0, "milestones": [100], "factors": [0.05]},
                 "preact_noise": {"initial": 0.0, "milestones": [], "factors": []}},
    "small_lr_noise": {"lr": {"initial": 0.05, "milestones": [], "factors": []},
                       "preact_noise": {"initial": 1.0, "milestones": [100], "factors": [0.0]}},
}
RUN_CONFIG = {
    "study": "synthetic", "kind": "synthetic", "seed": 0,
    "model": {"name": "two_layer", "width": 400, "activation": "leaky_relu", "negative_slope": 0.1,
              "noise_shared_over_batch": False, "split_at": None},
    "training": {"epochs": 200, "batch_size": 50, "momentum": 0.0, "nesterov": False, "weight_decay": 1e-4,
                 "device": "cpu"},
    "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
}


def batched_test_accuracy(run_cfg: dict, datas: list[TrainingData], seeds: list[int]) -> torch.Tensor:
    """Train ``len(seeds)`` two-layer nets at once; return test accuracy float64 ``(epochs, S)``."""
    nets = []
    for seed in seeds:
        net = build_model(run_cfg["model"], datas[0].input_shape)
        net.reset_parameters(seeding.torch_generator(seed, "init"))
        nets.append(net)
    weight = torch.stack([net.hidden.weight.detach() for net in nets]).requires_grad_()
    bias = torch.stack([net.hidden.bias.detach() for net in nets]).requires_grad_()
    mask, out_weights, slope = nets[0].mask, nets[0].a, run_cfg["model"]["negative_slope"]
    train_x, train_y = torch.stack([d.train_x for d in datas]), torch.stack([d.train_y for d in datas])
    test_x = torch.stack([d.eval_sets["test"][0] for d in datas])
    test_y = torch.stack([d.eval_sets["test"][1] for d in datas])
    lr_schedule, noise_schedule = train._schedule(run_cfg["lr"]), train._schedule(run_cfg["preact_noise"])
    training = run_cfg["training"]
    rows = torch.arange(len(seeds)).unsqueeze(1)

    def forward(x: torch.Tensor, sigma: float = 0.0, generators: list | None = None) -> torch.Tensor:
        pre = torch.baddbmm(bias.unsqueeze(1), x, (weight * mask).transpose(1, 2))
        if sigma:
            pre = pre + sigma * torch.stack([torch.randn(pre.shape[1:], generator=g) for g in generators])
        return F.leaky_relu(pre, slope) @ out_weights

    accuracy = []
    for epoch in range(1, training["epochs"] + 1):
        lr, sigma = lr_schedule.value(epoch), noise_schedule.value(epoch)
        generators = [seeding.torch_generator(s, "preact_noise", epoch) for s in seeds]
        order = torch.stack([torch.randperm(train_x.shape[1], generator=seeding.torch_generator(s, "order", epoch))
                             for s in seeds])
        for idx in order.split(training["batch_size"], dim=1):
            margin = train_y[rows, idx] * forward(train_x[rows, idx], sigma, generators)
            weight.grad = bias.grad = None
            F.softplus(-margin).mean(dim=1).sum().backward()
            with torch.no_grad():
                for p in (weight, bias):
                    p.add_(p.grad.add(p, alpha=training["weight_decay"]), alpha=-lr)
        with torch.no_grad():
            margin = torch.cat([test_y[:, i : i + 1024] * forward(test_x[:, i : i + 1024])
                                for i in range(0, test_x.shape[1], 1024)], dim=1)
        accuracy.append((margin > 0).double().mean(dim=1))
    return torch.stack(accuracy)


def job_start_up() -> float:
    """Median wall time of a process that starts Python and imports what a training job imports."""
    code = "import lrorder.train as t; t.enable_deterministic_algorithms()"
    return median_of(lambda: subprocess.run([sys.executable, "-c", code], check=True), repeats=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=10, help="seeds 0..N-1 (default study: 10)")
    parser.add_argument("--epochs", type=positive_int, default=200, help="epochs per run (default study: 200)")
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="large_lr",
                        help="a default-study schedule without and with pre-activation noise")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train.enable_deterministic_algorithms()
    seeds = list(range(args.seeds))
    run_cfg = copy.deepcopy({**RUN_CONFIG, **SCHEDULES[args.schedule], "schedule": args.schedule})
    run_cfg["training"]["epochs"] = args.epochs

    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            subprocess.run([sys.executable, "-m", "lrorder.data.synthetic", "--params", json.dumps(DATA),
                            "--seed", str(seed), "--out", f"{tmp}/seed{seed}"], check=True)
        datas = [load_synthetic(f"{tmp}/seed{seed}", torch.device("cpu")) for seed in seeds]

    warm_up = {**run_cfg, "training": {**run_cfg["training"], "epochs": 1}}
    train.train(warm_up, datas[0], torch.device("cpu"))  # one-off lazy initialisation, timed by neither side
    batched_test_accuracy(warm_up, datas, seeds)
    start = time.perf_counter()
    separate = []
    for seed, data in zip(seeds, datas):
        metrics, _, _ = train.train({**run_cfg, "seed": seed}, data, torch.device("cpu"))
        separate.append(torch.tensor(metrics[metrics.eval_set == "test"].accuracy.to_numpy()))
    separate_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = batched_test_accuracy(run_cfg, datas, seeds)
    batched_s = time.perf_counter() - start
    start_up = job_start_up()

    deviation = (batched - torch.stack(separate, dim=1)).abs().amax(dim=0)
    print(f"synthetic {args.schedule}, {args.seeds} seeds x {args.epochs} epochs, 1 thread")
    print(f"training, one seed after another: {separate_s:7.2f} s")
    print(f"training, seeds batched:          {batched_s:7.2f} s  ({separate_s / batched_s:.2f}x)")
    print(f"job start-up (python + imports):  {start_up:7.2f} s per job")
    print("largest |test accuracy difference| per seed, batched vs separate: "
          + " ".join(f"{d:.1e}" for d in deviation.tolist()))
    end_to_end = (separate_s + args.seeds * start_up) / (batched_s + start_up)
    report(f"end to end, {args.seeds} jobs vs 1 batched job", end_to_end, 2.0, higher_is_better=True)


if __name__ == "__main__":
    main()
