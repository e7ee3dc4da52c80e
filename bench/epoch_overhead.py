"""Training-loop overhead: one epoch of ``lrorder.train.train`` vs bare forward + backward + step.

The default study's ``clean`` setting on CPU: mnist5k (4,000 training
images), the small CNN (16/32/64), batch 128, SGD with Nesterov momentum,
1 thread; the fastest warm epoch of each side over a few interleaved
rounds. Ours: :func:`lrorder.train.train` with no
evaluation sets (so only training is timed), per epoch; it includes the
per-batch normalisation, the epoch's draws, the pre-activation noise hooks
and the loss and accuracy bookkeeping. Bare: the same model and optimiser
stepping through the same batches, already normalised and held in a list.
Both run in channels-last layout, as the default config asks. Target: at
most 1.15x. Also printed: the epoch of ``train`` in NCHW layout
(``channels_last: false``), and the epoch of ``train`` with torch's NaN fill
of new tensors on (``torch.utils.deterministic.fill_uninitialized_memory``,
which :func:`lrorder.train.enable_deterministic_algorithms` turns off), each
as a ratio to the channels-last epoch.

Usage: python bench/epoch_overhead.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bare_epoch_times, positive_int, report, train_epoch_times  # noqa: E402

from lrorder import seeding, train  # noqa: E402
from lrorder.models import build_model  # noqa: E402
from lrorder.study_data import load_images  # noqa: E402

RUN_CONFIG = {
    "study": "clean", "kind": "image", "schedule": "bench", "seed": 0,
    "model": {"name": "small_cnn", "widths": [16, 32, 64]},
    "training": {"epochs": 3, "batch_size": 128, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                 "augment": False, "device": "cpu", "precision": "fp32", "channels_last": True},
    "lr": {"initial": 0.08, "milestones": [], "factors": []},
    "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
    "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
}


def bare_epoch(data, batches: list[tuple[torch.Tensor, torch.Tensor]], epochs: int) -> float:
    """Fastest of ``epochs`` bare epochs of one model over ``batches``, in seconds (the first pays set-up)."""
    model = build_model(RUN_CONFIG["model"], data.input_shape, data.num_classes)
    model.reset_parameters(seeding.torch_generator(0, "init"))
    model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.08, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return min(bare_epoch_times(model, opt, batches, epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=4, help="interleaved rounds; the fastest epoch of each side counts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train.enable_deterministic_algorithms()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lrorder.data.images", "build", "--dataset", "mnist5k",
                        "--out", tmp], check=True)
        data = load_images(tmp, torch.device("cpu"), seed=0)
    data = replace(data, eval_sets={})
    cfg = {**RUN_CONFIG, "training": {**RUN_CONFIG["training"], "epochs": 2}}
    nchw_cfg = {**cfg, "training": {**cfg["training"], "channels_last": False}}
    batch = data.make_epoch(1)
    order = torch.randperm(len(data.train_y), generator=seeding.torch_generator(0, "order", 1))
    layout = train.Precision.resolve(cfg["training"], torch.device("cpu")).layout
    batches = [(layout(x), y) for x, y in (batch(idx) for idx in order.split(128))]

    def second_epoch(config: dict) -> float:
        """Time of the second epoch of a 2-epoch ``train`` run (the first pays one-off set-up), from its log lines."""
        return train_epoch_times(config, data, torch.device("cpu"))[0]

    # The sides take turns, so that a slow spell of a shared machine hits them alike.
    times: dict[str, list[float]] = {"ours": [], "bare": [], "nchw": [], "filled": []}
    for _ in range(args.rounds):
        times["ours"].append(second_epoch(cfg))
        times["bare"].append(bare_epoch(data, batches, 2))
        times["nchw"].append(second_epoch(nchw_cfg))
        torch.utils.deterministic.fill_uninitialized_memory = True
        times["filled"].append(second_epoch(cfg))
        torch.utils.deterministic.fill_uninitialized_memory = False
    ours, bare, nchw, filled = (min(times[side]) for side in ("ours", "bare", "nchw", "filled"))

    print(f"mnist5k train split ({len(data.train_y)} images), small CNN 16/32/64, batch 128, 1 CPU thread")
    print(f"fastest warm epoch of {args.rounds} interleaved rounds, each side")
    print(f"lrorder.train.train, per epoch:          {ours:.3f} s")
    print(f"bare forward + backward + step, per epoch: {bare:.3f} s")
    print(f"lrorder.train.train in NCHW layout (channels_last: false), per epoch: {nchw:.3f} s"
          f" = {nchw / ours:.2f}x the channels-last epoch")
    print(f"lrorder.train.train with torch's NaN fill of new tensors, per epoch: {filled:.3f} s"
          f" = {filled / ours:.2f}x the epoch without it")
    ok = report("epoch time / bare time", ours / bare, 1.15, higher_is_better=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
