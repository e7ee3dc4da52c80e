"""GPU check: WRN-16-10 epoch time on CIFAR-10-sized data, and its ratio to bare forward + backward + step.

For a machine with a CUDA GPU; one short run (about 1-3 minutes on a
recent GPU). Uses CIFAR-10-shaped random images (no download), the paper's
settings as ``presets/paper.yaml`` runs them (batch 128, SGD with Nesterov
momentum 0.9, weight decay 5e-4, no augmentation), the run policy of ``training.precision: auto`` and
``training.channels_last: auto`` (bf16 autocast on a GPU with native bf16,
channels_last) and ``torch.backends.cudnn.benchmark`` on, as
``python -m lrorder.train`` sets it on a GPU.

What is timed:

* Ours: one :func:`lrorder.train.train` run of 3 epochs of ``--n`` images,
  data held on the GPU, no evaluation sets. Each epoch is timed from the
  loop's own per-epoch log lines (``bench/common.py``
  :func:`train_epoch_times`, as ``bench/epoch_overhead.py`` does): from the
  line that ends one epoch to the line that ends the next, each written
  after the epoch's loss is read back from the GPU. That is everything the
  loop does in an epoch (the epoch's draws, making, normalising and
  laying out each batch, the steps, the loss and accuracy
  bookkeeping) and nothing else: the model's construction and
  initialisation and the first epoch (cuDNN autotuning, first kernels) are
  not timed. Epochs 2 and 3 are timed.
* Bare: a second WRN-16-10 with the same precision and layout stepping
  through the same batches (epoch 1's, made and laid out in advance),
  forward + float32 cross-entropy + backward + SGD step only
  (:func:`bare_epoch_times`), 3 epochs, the GPU synchronised before and
  after each; epochs 2 and 3 are timed.

Prints, for each epoch of ours, its time and what the run actually used
there, read in the loop from the stem convolution's first forward call of
the epoch: the GPU's name, the precision (bf16 or fp32: the dtype of the
convolution's output under the run's autocast), the input's memory layout
and whether ``torch.backends.cudnn.benchmark`` was on. Then the fastest
timed epoch of each side scaled to 50,000 images (CIFAR-10's training set),
peak GPU memory, and the ratio ours / bare (target at most 1.15x).

Usage: python bench/gpu_check.py [--n 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bare_epoch_times, cifar_like, positive_int, report, train_epoch_times  # noqa: E402

from lrorder import manifest, seeding, train  # noqa: E402
from lrorder.models import build_model  # noqa: E402
from lrorder.study_data import load_images  # noqa: E402

MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]
MODEL = {"name": "wide_resnet", "depth": 16, "widen_factor": 10}
EPOCHS = 3  # epoch 1 pays set-up; epochs 2 and 3 are timed
PRECISIONS = {torch.bfloat16: "bf16", torch.float32: "fp32"}


def run_config(epochs: int) -> dict:
    return {
        "study": "clean", "kind": "image", "schedule": "gpu_check", "seed": 0, "model": MODEL,
        "training": {"epochs": epochs, "batch_size": 128, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                     "augment": False, "device": "cuda", "precision": "auto", "channels_last": "auto"},
        "lr": {"initial": 0.1, "milestones": [], "factors": []},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


def layout_name(x: torch.Tensor) -> str:
    """``channels_last`` or ``nchw`` from a 4-d tensor's strides (as ``Precision.layout`` decides), else the strides."""
    n, c, h, w = x.shape
    if x.stride() == (h * w * c, 1, w * c, c):
        return "channels_last"
    if x.stride() == (c * h * w, h * w, w, 1):
        return "nchw"
    return f"strides {x.stride()}"


class RunWatch:
    """What a training run's forward passes use, read once per epoch from the first ``nn.Conv2d`` call.

    :meth:`arm` registers a global module forward hook; at the first
    convolution that completes (the stem, on the batch as the model gets it)
    the hook records the device, the precision (dtype of the output),
    the input's layout and ``torch.backends.cudnn.benchmark``, and removes
    itself, so the rest of the epoch runs without hooks.
    """

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []
        self._handle: torch.utils.hooks.RemovableHandle | None = None

    def arm(self) -> None:
        self.disarm()
        self._handle = nn.modules.module.register_module_forward_hook(self._hook)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not isinstance(module, nn.Conv2d):
            return
        x = inputs[0]
        self.seen.append({
            "device": x.device,  # named later, outside the timed epoch
            "precision": PRECISIONS.get(output.dtype, str(output.dtype)),
            "layout": layout_name(x),
            "cudnn.benchmark": "on" if torch.backends.cudnn.benchmark else "off",
        })
        self.disarm()


def describe(seen: dict[str, object] | None) -> str:
    """``NVIDIA H200, bf16, channels_last, cudnn.benchmark on`` from one :class:`RunWatch` record."""
    if seen is None:
        return "(no convolution seen)"
    device = seen["device"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return f"{name}, {seen['precision']}, {seen['layout']}, cudnn.benchmark {seen['cudnn.benchmark']}"


def measure(n: int, device: torch.device) -> bool:
    """Time both sides on ``device`` (``cuda``; ``cpu`` only to try the script out) and print; return PASS."""
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    if cuda:
        torch.backends.cudnn.benchmark = True  # as python -m lrorder.train does on a GPU
    images, labels = cifar_like(n)
    with tempfile.TemporaryDirectory() as tmp:
        manifest.save_dataset(tmp, {"train_x": images, "train_y": labels, "test_x": images[:1], "test_y": labels[:1]},
                              generator="bench.gpu_check", generator_version="1",
                              params={"class_names": [str(k) for k in range(10)], "image_shape": [32, 32, 3],
                                      "mean": MEAN, "std": STD}, seed=0)
        data = replace(load_images(tmp, device, seed=0, augment=False), eval_sets={})
    cfg = run_config(EPOCHS)
    if not cuda:
        cfg["training"] = {**cfg["training"], "device": "cpu"}

    watch = RunWatch()

    def next_epoch(line: str) -> None:
        watch.arm()  # after train_epoch_times took its stamp: the hook's one call falls in the next epoch

    watch.arm()
    try:
        ours_times = train_epoch_times(cfg, data, device, on_epoch=next_epoch)
    finally:
        watch.disarm()
    if not ours_times:
        print("the training run stopped after its first epoch (diverged?): nothing timed")
        return False

    # the bare side uses the precision and layout train resolves from the same config
    precision = train.Precision.resolve(cfg["training"], device)
    batch = data.make_epoch(1)
    order = torch.randperm(n, generator=seeding.torch_generator(0, "order", 1)).to(device)
    batches = [(precision.layout(x), y) for x, y in (batch(idx) for idx in order.split(128))]
    model = build_model(MODEL, data.input_shape, 10).to(device, memory_format=precision.memory_format)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    bare_times = bare_epoch_times(model, opt, batches, EPOCHS, precision.autocast, sync)[1:]

    scale = 50_000 / n
    print(f"torch {torch.__version__}, WRN-16-10, batch 128, {n} images per epoch, "
          f"times scaled to 50,000 images (CIFAR-10)")
    print(f"lrorder.train.train, epoch 1: set-up, not timed; {describe(watch.seen[0] if watch.seen else None)}")
    for i, seconds in enumerate(ours_times):
        seen = watch.seen[i + 1] if i + 1 < len(watch.seen) else None
        print(f"lrorder.train.train, epoch {i + 2}: {seconds * scale:7.2f} s; {describe(seen)}")
    for i, seconds in enumerate(bare_times):
        print(f"bare forward + backward + step, epoch {i + 2}: {seconds * scale:7.2f} s; "
              f"{precision.identity()['precision']}, {precision.identity()['memory_format']}")
    used = {(seen["precision"], seen["layout"]) for seen in watch.seen}
    bare_used = (precision.identity()["precision"], precision.identity()["memory_format"])
    if used != {bare_used}:
        print(f"note: the run used {sorted(used)}, the bare side {bare_used}: the ratio compares unlike steps")
    ours, bare = min(ours_times), min(bare_times)
    print(f"fastest timed epoch: lrorder.train.train {ours * scale:7.2f} s, bare {bare * scale:7.2f} s")
    if cuda:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    return report("epoch time / bare time", ours / bare, 1.15, higher_is_better=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=positive_int, default=10_000, help="training images per timed epoch")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this check needs a GPU")
        sys.exit(2)
    measure(args.n, torch.device("cuda"))


if __name__ == "__main__":
    main()
