"""Tests of lrorder.metric_rows: metric rows packed as columns for checkpoints."""

from __future__ import annotations

import io
import math

import pytest
import torch

from lrorder import columns, metric_rows

ROWS = [
    {"study": "patch", "schedule": "large_lr", "seed": 7, "epoch": 1, "lr": 1.0, "noise": 0.0,
     "eval_set": "train", "loss": 0.1 + 0.2, "accuracy": 1 / 3,
     "margin": -0.25},
    {"study": "patch", "schedule": "large_lr", "seed": 7, "epoch": 1, "lr": 1.0, "noise": 0.0,
     "eval_set": "test_clean", "loss": math.inf, "accuracy": 0.9,
     "margin": 1e300},
    {"study": "patch", "schedule": "large_lr", "seed": 7, "epoch": 2, "lr": 0.04, "noise": 1e-300,
     "eval_set": "train", "loss": math.nan, "accuracy": 5e-324,
     "margin": math.nan},
]


def roundtrip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_pack_unpack_is_exact_through_a_weights_only_file() -> None:
    packed = roundtrip(metric_rows.pack(ROWS))
    assert metric_rows.problem(packed) is None
    got = metric_rows.unpack(packed)
    assert [list(r) for r in got] == [list(columns.METRIC_COLUMNS)] * 3
    for want, row in zip(ROWS, got):
        for column, value in want.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(row[column])
            else:
                assert row[column] == value and type(row[column]) is type(value), column
    assert packed["eval_set"] == {"values": ["test_clean", "train"], "codes": packed["eval_set"]["codes"]}
    assert packed["eval_set"]["codes"].tolist() == [1, 0, 1]


def test_empty() -> None:
    assert metric_rows.unpack(metric_rows.pack([])) == []
    assert metric_rows.problem(metric_rows.pack([])) is None


@pytest.mark.parametrize(("change", "problem"), [
    (lambda p: p.pop("loss"), "not a dict of the metric columns"),
    (lambda p: p.update(seed=p["seed"].double()), "column seed is not a packed column"),
    (lambda p: p.update(eval_set={"values": ["train"], "codes": torch.tensor([0, 1, 0])}),
     "column eval_set is not a packed column"),  # a code past the values
    (lambda p: p.update(study=["patch"] * 3), "column study is not a packed column"),
    (lambda p: p.update(accuracy=p["accuracy"][:2]), "columns of different lengths"),
])
def test_problem_names_the_column(change, problem: str) -> None:
    packed = metric_rows.pack(ROWS)
    change(packed)
    assert metric_rows.problem(packed) == problem
