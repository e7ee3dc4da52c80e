"""A study's data as tensors on the training device, batched with tensor ops.

One loader per kind of study turns the dataset artifacts (verified against
their manifests) into :class:`TrainingData`: the stored training tensors, a
function giving each epoch's batch maker, and the evaluation sets.

* ``synthetic``: features float32 ``(N, D)``, labels float32 ``{-1, +1}``;
  evaluation sets ``test`` and ``test_p_only`` / ``test_q_only`` /
  ``test_both`` (``docs/paper-notes.md``, "Two-pattern distribution"), and
  the pattern-reliance sets (:data:`SYNTHETIC_RELIANCE_SETS`).
* ``image`` (Figure 1): uint8 images, normalised per batch, optionally
  augmented (:mod:`lrorder.data.pipeline`); evaluation set ``test``.
* ``patch``: as ``image``, then the patch applied per batch
  (:mod:`lrorder.data.patch_batches`, the arrays of the run seed); evaluation sets
  ``test_clean``, ``test_patched`` (a fixed 80% of the test images patched,
  some of them patch only) and ``patch_only`` (``docs/paper-notes.md``, "Patch experiment"),
  and the pattern-reliance sets ``train_patch_removed`` and ``train_other_patch``
  (:func:`lrorder.data.patch_batches.patch_reliance_sets`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from lrorder import manifest
from lrorder.data import image_dataset, patch, patch_batches, pipeline, synthetic
from lrorder.errors import DataError

Batch = tuple[torch.Tensor, torch.Tensor]
BatchMaker = Callable[[torch.Tensor], Batch]


@dataclass
class TrainingData:
    """A study's data on the training device.

    Attributes:
        train_x: the stored training inputs (synthetic: float32 ``(N, D)``;
            images: uint8 ``(N, H, W, C)``).
        train_y: training labels (float32 ``(N,)`` in ``{-1, +1}`` for a
            binary score model; int64 ``(N,)`` class indices for a classifier).
        input_shape: one model input's shape (``(D,)`` or ``(C, H, W)``).
        num_classes: number of classes, ``None`` for a binary score.
        make_epoch: ``make_epoch(epoch)`` draws the epoch's augmentation and
            patch randomness (from ``(seed, epoch)`` only) and returns a
            function mapping int64 indices ``(B,)`` to the batch ``(x, y)``
            as the model sees it.
        eval_sets: evaluation set name -> ``(x, y)`` model inputs and labels.
        sha256: data file name -> sha256, from the verified manifests.
        eval_subsets: evaluation subset name -> ``(set name, mask)``: the
            examples of ``eval_sets[set name]`` where the bool mask is True,
            scored from that set's evaluation instead of a second forward
            pass.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    input_shape: tuple[int, ...]
    num_classes: int | None
    make_epoch: Callable[[int], BatchMaker]
    eval_sets: dict[str, Batch]
    sha256: dict[str, str]
    eval_subsets: dict[str, tuple[str, torch.Tensor]] = field(default_factory=dict)


#: The arrays of a synthetic dataset that training reads.
SYNTHETIC_ARRAYS = ("train_x", "train_y", "train_pattern", "test_x", "test_y", "test_pattern", "w_star")

#: The pattern-reliance sets of a synthetic study (the paper's decomposition of what the network relies on,
#: section 3): the training and test examples that carry both patterns, with x2 zeroed (``..._p_alone``: x1
#: alone) or x1 zeroed (``..._q_alone``: x2 alone); accuracy and margin say what each pattern alone gives.
SYNTHETIC_RELIANCE_SETS = ("train_both_p_alone", "train_both_q_alone", "test_both_p_alone", "test_both_q_alone")

#: At most this many patched training images in each of the patch study's pattern-reliance sets: 1,000 of the
#: 3,200 of the default study, so that scoring them costs about a third of scoring the test set.
PATCH_RELIANCE_EXAMPLES = 1000


def load_synthetic(data_dir: str | os.PathLike, device: torch.device) -> TrainingData:
    """Load a synthetic dataset with evaluation set ``test`` and subsets ``test_<pattern>``.

    The batches carry no per-epoch randomness, so no seed is needed.

    Raises:
        DataError: a file is missing or does not match its manifest, or the
            folder is not a synthetic dataset (it lacks one of the arrays read).
    """
    arrays, meta = manifest.load_dataset(data_dir)
    missing = [name for name in SYNTHETIC_ARRAYS if name not in arrays]
    if missing:
        raise DataError(f"{data_dir}: not a synthetic dataset (no array {', '.join(missing)}; "
                        f"generator {meta.get('generator')!r})")

    def tensors(split: str) -> Batch:
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        return torch.from_numpy(x).to(device), torch.from_numpy(y.astype("float32")).to(device)

    train_x, train_y = tensors("train")
    eval_sets = {"test": tensors("test")}
    eval_subsets = {}
    for name, code in synthetic.PATTERN_CODES.items():
        mask = arrays["test_pattern"] == code
        if mask.any():
            eval_subsets[f"test_{name}"] = ("test", torch.from_numpy(mask).to(device))
    p_dim = int(arrays["w_star"].size)  # x1 is the first p_dim features
    for split, (x, y) in (("train", (train_x, train_y)), ("test", eval_sets["test"])):
        both = torch.from_numpy(arrays[f"{split}_pattern"] == synthetic.PATTERN_CODES["both"]).to(device)
        if both.any():
            p_alone, q_alone = x[both].clone(), x[both].clone()
            p_alone[:, p_dim:] = 0.0
            q_alone[:, :p_dim] = 0.0
            eval_sets[f"{split}_both_p_alone"] = (p_alone, y[both])
            eval_sets[f"{split}_both_q_alone"] = (q_alone, y[both])

    def make_epoch(epoch: int) -> BatchMaker:
        return lambda idx: (train_x[idx], train_y[idx])

    return TrainingData(train_x, train_y, tuple(train_x.shape[1:]), None, make_epoch, eval_sets, dict(meta["files"]),
                        eval_subsets)


def load_images(
    data_dir: str | os.PathLike,
    device: torch.device,
    seed: int,
    augment: bool = False,
    patch_dir: str | os.PathLike | None = None,
) -> TrainingData:
    """Load an image dataset (and, for the patch study, its patch arrays).

    Args:
        data_dir: image dataset folder (``lrorder.data.images build``).
        device: where the tensors live (the whole dataset, as uint8).
        seed: run seed; augmentation and per-load patch draws of epoch ``e``
            come from ``(seed, e)``.
        augment: reflect-pad 4, random crop, horizontal flip (official
            ``train_util.py``; off in both of the paper's experiments).
        patch_dir: patch arrays (``lrorder.data.patch``) drawn for this run
            seed; ``None`` for a clean study.

    Raises:
        DataError: a file is missing or does not match its manifest, or the
            patch arrays were made from another dataset or for another seed.
    """
    dataset, meta = image_dataset.read(data_dir)
    mean = pipeline.channel_stats(dataset.mean, device)
    std = pipeline.channel_stats(dataset.std, device)
    train_x = torch.from_numpy(dataset.train_x).to(device)
    train_y = torch.from_numpy(dataset.train_y).to(device=device, dtype=torch.int64)
    test_x = pipeline.normalize(torch.from_numpy(dataset.test_x).to(device), mean, std)
    test_y = torch.from_numpy(dataset.test_y).to(device=device, dtype=torch.int64)
    n, h, w, c = train_x.shape
    sha256 = dict(meta["files"])

    patcher = None
    if patch_dir is None:
        eval_sets = {"test": (test_x, test_y)}
    else:
        patch_arrays, patch_params, patch_meta = patch.load_patch_arrays(patch_dir, data_dir)
        if int(patch_meta["seed"]) != int(seed):
            raise DataError(f"{patch_dir}: patch arrays drawn for run seed {patch_meta['seed']}, "
                            f"but this run has seed {seed} (each run seed has its own patch)")
        patcher = patch_batches.TrainPatcher(patch_arrays, patch_params, (h, w), device)
        eval_sets = {
            "test_clean": (test_x, test_y),
            "test_patched": patch_batches.patched_test_set(test_x, test_y, patch_arrays, patch_params),
            "patch_only": patch_batches.patch_only_set(patch_arrays, patch_params, (c, h, w), device),
            **patch_batches.patch_reliance_sets(pipeline.normalize(train_x, mean, std), train_y, patch_arrays,
                                                patch_params, dataset.num_classes, PATCH_RELIANCE_EXAMPLES),
        }
        sha256.update({f"patch/{name}": digest for name, digest in patch_meta["files"].items()})

    def make_epoch(epoch: int) -> BatchMaker:
        crops = pipeline.augment_draws(seed, epoch, n, device) if augment else None
        draws = patcher.epoch_draws(seed, epoch) if patcher is not None else None

        def batch(idx: torch.Tensor) -> Batch:
            x, y = pipeline.normalize(train_x[idx], mean, std), train_y[idx]
            if crops is not None:
                x = pipeline.augment(x, crops.offset[idx], crops.flip[idx])
            if patcher is not None:
                x = patcher.patch_train_batch(x, y, idx, draws)
            return x, y

        return batch

    return TrainingData(train_x, train_y, (c, h, w), dataset.num_classes, make_epoch, eval_sets, sha256)


#: ``loader(data folder, device, run config, patch folder or None) -> TrainingData``.
RunLoader = Callable[[str | os.PathLike, torch.device, Mapping[str, Any], "str | os.PathLike | None"], TrainingData]

#: The loader of each data rule (``lrorder.study_kinds.StudyKind.data_rule``): training picks a run's loader by
#: its kind's record, never by the kind's name (the records stay free of torch, so they name the rule, not
#: the function). The run config supplies the seed and ``training.augment`` of an image run.
LOADERS: dict[str, RunLoader] = {
    "synthetic_data": lambda data_dir, device, run_cfg, patch_dir: load_synthetic(data_dir, device),
    "image_data": lambda data_dir, device, run_cfg, patch_dir: load_images(
        data_dir, device, int(run_cfg["seed"]), run_cfg["training"]["augment"], patch_dir),
}
