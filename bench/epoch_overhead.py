"""Training-loop overhead: one epoch of ``lrorder.train.train`` vs bare forward + backward + step.

The default study's ``clean`` setting on CPU: mnist5k (4,000 training
images), the small CNN (16/32/64), batch 128, SGD with Nesterov momentum,
1 thread. Ours: :func:`lrorder.train.train` for a few epochs with no
evaluation sets (so only training is timed), per epoch; it includes the
per-batch normalisation, the epoch's draws, the pre-activation noise hooks
and the loss and accuracy bookkeeping. Bare: the same model and optimiser
stepping through the same batches, already normalised and held in a list.
Target: at most 1.15x.

Usage: python bench/epoch_overhead.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from lrorder import seeding, train  # noqa: E402
from lrorder.models import build_model  # noqa: E402
from lrorder.study_data import load_images  # noqa: E402

RUN_CONFIG = {
    "study": "clean", "kind": "image", "schedule": "bench", "seed": 0,
    "model": {"name": "small_cnn", "widths": [16, 32, 64]},
    "training": {"epochs": 3, "batch_size": 128, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                 "augment": False, "device": "cpu", "precision": "fp32", "channels_last": False},
    "lr": {"initial": 0.08, "milestones": [], "factors": []},
    "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
    "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
}


def bare_epoch(data, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model = build_model(RUN_CONFIG["model"], data.input_shape, data.num_classes)
    model.reset_parameters(seeding.torch_generator(0, "init"))
    opt = torch.optim.SGD(model.parameters(), lr=0.08, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (each side)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lrorder.data.images", "build", "--dataset", "mnist5k",
                        "--out", tmp], check=True)
        data = load_images(tmp, torch.device("cpu"), seed=0)
    data = replace(data, eval_sets={})
    cfg = {**RUN_CONFIG, "training": {**RUN_CONFIG["training"], "epochs": args.epochs}}

    start = time.perf_counter()
    train.train(cfg, data, torch.device("cpu"))
    ours = (time.perf_counter() - start) / args.epochs

    batch = data.make_epoch(1)
    order = torch.randperm(len(data.train_y), generator=seeding.torch_generator(0, "order", 1))
    batches = [batch(idx) for idx in order.split(128)]
    bare = sum(bare_epoch(data, batches) for _ in range(args.epochs)) / args.epochs

    print(f"mnist5k train split ({len(data.train_y)} images), small CNN 16/32/64, batch 128, 1 CPU thread")
    print(f"lrorder.train.train, per epoch:          {ours:.3f} s")
    print(f"bare forward + backward + step, per epoch: {bare:.3f} s")
    ok = report("epoch time / bare time", ours / bare, 1.15, higher_is_better=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
