"""Small fake datasets in the on-disk format of the real ones, and complete run configs, for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataclasses import asdict

from lrorder import manifest, schema, study_kinds
from lrorder.data import synthetic

CIFAR_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
CIFAR_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]


def make_image_dataset(directory: Path, n_train: int, n_test: int, hwc: tuple[int, int, int], seed: int = 0) -> Path:
    """A fake image dataset folder like the real one: uint8 NHWC images, int64 labels, manifest."""
    rng = np.random.default_rng(seed)
    h, w, c = hwc
    arrays = {
        "train_x": rng.integers(0, 256, size=(n_train, h, w, c), dtype=np.uint8),
        "train_y": rng.integers(0, 10, size=n_train, dtype=np.int64),
        "test_x": rng.integers(0, 256, size=(n_test, h, w, c), dtype=np.uint8),
        "test_y": rng.integers(0, 10, size=n_test, dtype=np.int64),
    }
    mean, std = (CIFAR_MEAN, CIFAR_STD) if c == 3 else ([0.1307], [0.3081])
    manifest.save_dataset(
        directory, arrays, generator="tests.fake_images", generator_version="1",
        params={"class_names": [f"class{k}" for k in range(10)], "image_shape": [h, w, c],
                "mean": mean, "std": std},
        seed=seed,
    )
    return directory


def make_synthetic_dataset(directory: Path, params: synthetic.SyntheticParams, seed: int) -> Path:
    """A synthetic two-pattern dataset folder as the ``synthetic_data`` rule writes it."""
    manifest.save_dataset(directory, synthetic.generate(params, seed=seed), generator=synthetic.GENERATOR,
                          generator_version=synthetic.GENERATOR_VERSION,
                          params={**asdict(params), "pattern_codes": synthetic.PATTERN_CODES}, seed=seed)
    return directory


def training_defaults(kind: str) -> dict:
    """The training settings of ``kind`` with the schema's defaults, as a run config holds them (no job resources)."""
    return schema.run_config_defaults(study_kinds.KINDS[kind].training_schema)


def complete_run_config(cfg: dict, eval_sets: list[str]) -> dict:
    """``cfg`` as ``lrorder.plan.run_config`` would write it: missing training settings take the kind's
    schema defaults (except ``two_step_eval``: none), and a missing scoring plan scores ``eval_sets`` (plus
    the two-step sets of ``two_step_eval``) at every epoch."""
    defaults = training_defaults(cfg["kind"]) if cfg["kind"] in study_kinds.KINDS else {}  # a bad kind stays bad
    training = {**defaults, "two_step_eval": [], **cfg["training"]}
    two_step = [f"{name}_two_step" for name in training["two_step_eval"]]
    every_epoch = list(range(1, training["epochs"] + 1))
    evaluation = cfg.get("evaluation") or {"sets": {name: every_epoch for name in [*eval_sets, *two_step]}}
    return {**cfg, "training": training, "evaluation": evaluation}
