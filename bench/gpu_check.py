"""GPU check: WRN-16-10 epoch time on CIFAR-10-sized data, and its ratio to bare forward + backward + step.

For a machine with a CUDA GPU; one short run (about 1-3 minutes on a
recent GPU). Uses CIFAR-10-shaped random images (no download), the paper's
settings (batch 128, SGD with Nesterov momentum 0.9, weight decay 5e-4,
augmentation on) and the run policy of ``training.precision: auto`` and
``training.channels_last: auto`` (bf16 autocast, channels_last). Ours:
:func:`lrorder.train.train` for 2 epochs of ``--n`` images with no
evaluation sets, data held on the GPU; bare: the same model stepping through
the same batches, prepared in advance. Prints the time per 50,000-image
epoch (CIFAR-10's training set) and the ratio.

Usage: python bench/gpu_check.py [--n 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cifar_like, positive_int, report  # noqa: E402

from lrorder import manifest, seeding, train  # noqa: E402
from lrorder.models import build_model  # noqa: E402
from lrorder.study_data import load_images  # noqa: E402

MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]
MODEL = {"name": "wide_resnet", "depth": 16, "widen_factor": 10}


def run_config(epochs: int) -> dict:
    return {
        "study": "clean", "kind": "image", "schedule": "gpu_check", "seed": 0, "model": MODEL,
        "training": {"epochs": epochs, "batch_size": 128, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                     "augment": True, "device": "cuda", "precision": "auto", "channels_last": "auto"},
        "lr": {"initial": 0.1, "milestones": [], "factors": []},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=positive_int, default=10_000, help="training images per timed epoch")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this check needs a GPU")
        sys.exit(2)
    device = torch.device("cuda")
    images, labels = cifar_like(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        manifest.save_dataset(tmp, {"train_x": images, "train_y": labels, "test_x": images[:1], "test_y": labels[:1]},
                              generator="bench.gpu_check", generator_version="1",
                              params={"class_names": [str(k) for k in range(10)], "image_shape": [32, 32, 3],
                                      "mean": MEAN, "std": STD}, seed=0)
        data = replace(load_images(tmp, device, seed=0, augment=True), eval_sets={})
    precision = train.Precision.resolve(run_config(1)["training"], device)

    train.train(run_config(1), data, device)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    start = time.perf_counter()
    train.train(run_config(2), data, device)
    torch.cuda.synchronize()
    ours = (time.perf_counter() - start) / 2

    batch = data.make_epoch(1)
    order = torch.randperm(args.n, generator=seeding.torch_generator(0, "order", 1)).to(device)
    batches = [(precision.layout(x), y) for x, y in (batch(idx) for idx in order.split(128))]
    model = build_model(MODEL, data.input_shape, 10).to(device, memory_format=precision.memory_format)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()

    def bare_epoch() -> None:
        for x, y in batches:
            with precision.autocast():
                out = model(x)
            loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    bare_epoch()
    torch.cuda.synchronize()
    start = time.perf_counter()
    bare_epoch()
    bare_epoch()
    torch.cuda.synchronize()
    bare = (time.perf_counter() - start) / 2

    scale = 50_000 / args.n
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, WRN-16-10, batch 128, "
          f"bf16={precision.bf16}, channels_last={precision.memory_format is torch.channels_last}")
    print(f"lrorder.train.train epoch (50,000 images):      {ours * scale:7.2f} s")
    print(f"bare forward + backward + step (50,000 images): {bare * scale:7.2f} s")
    print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    report("epoch time / bare time", ours / bare, 1.15, higher_is_better=False)


if __name__ == "__main__":
    main()
