"""Data path: images/s of the batched tensor pipeline vs a torchvision DataLoader with per-sample PIL transforms.

Same images (CIFAR-10-shaped uint8, 10,000 of them), batch 128, one epoch,
CPU. The baseline is the official code's chain (``train_util.py``):
``RandomCrop(32, padding=4, padding_mode="reflect")``,
``RandomHorizontalFlip()``, ``ToTensor()``, ``Normalize(mean, std)`` over a
dataset of PIL images, DataLoader with ``num_workers=0`` (the job's own
core). Ours (:mod:`lrorder.data.pipeline`): whole dataset as one uint8
tensor, each batch normalised, cropped and flipped with tensor ops, draws
from ``(seed, epoch)``; the patch experiment's per-batch patching is timed
too. Target: at least 10x.

Usage: python bench/data_path.py [--n 10000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, cifar_like, positive_int, report  # noqa: E402

from lrorder.data import patch, patch_batches, patch_params, pipeline  # noqa: E402

MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
BATCH = 128


class PILDataset(Dataset):
    """The official code's per-sample path: PIL image -> transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = [Image.fromarray(img) for img in images]
        self.labels = labels
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), int(self.labels[i])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=positive_int, default=10_000, help="images per epoch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images, labels = cifar_like(args.n)

    loader = DataLoader(PILDataset(images, labels), batch_size=BATCH, shuffle=True, num_workers=0)

    def torchvision_epoch() -> None:
        for x, y in loader:
            pass

    train_x = torch.from_numpy(images)
    train_y = torch.from_numpy(labels)
    mean, std = pipeline.channel_stats(MEAN, "cpu"), pipeline.channel_stats(STD, "cpu")
    arrays = patch.make_patch_arrays(patch_params.PatchParams(), args.n, 0, 10, (3, 32, 32), seed=0)
    patcher = patch_batches.TrainPatcher(arrays, patch_params.PatchParams(), (32, 32))

    def ours_epoch(with_patch: bool) -> None:
        crops = pipeline.augment_draws(0, 1, args.n, "cpu")
        draws = patcher.epoch_draws(0, 1) if with_patch else None
        for idx in torch.randperm(args.n).split(BATCH):
            x, y = pipeline.normalize(train_x[idx], mean, std), train_y[idx]
            x = pipeline.augment(x, crops.offset[idx], crops.flip[idx])
            if with_patch:
                x = patcher.patch_train_batch(x, y, idx, draws)

    t_tv = best_of(torchvision_epoch, repeats=2)
    t_ours = best_of(lambda: ours_epoch(False))
    t_patch = best_of(lambda: ours_epoch(True))
    print(f"images per epoch: {args.n}, batch {BATCH}, 1 CPU thread, torch {torch.__version__}")
    print(f"torchvision DataLoader + PIL transforms: {args.n / t_tv:10.0f} images/s")
    print(f"batched tensor pipeline (crop + flip):   {args.n / t_ours:10.0f} images/s")
    print(f"batched pipeline + patch:                {args.n / t_patch:10.0f} images/s")
    ok = report("speed-up, batched vs torchvision", t_tv / t_ours, 10, higher_is_better=True)
    report("speed-up, batched + patch vs torchvision", t_tv / t_patch, 10, higher_is_better=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
