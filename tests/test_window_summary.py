"""Curves read over epoch windows (lrorder.window_summary): values on a hand-made table, errors, the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from lrorder import window_summary
from lrorder.columns import METRIC_COLUMNS
from lrorder.errors import ConfigError, DataError


def hand_made_metrics(diverged_seed: int | None = None) -> pd.DataFrame:
    """Two schedules x two seeds of 8 epochs, ``train`` at every epoch (accuracy 0.5) and set ``a`` at epochs 2,
    4, 6 and 8: accuracy = epoch / 10 + seed / 100 for ``large``, half that for ``small``; margin = 10 x accuracy."""
    rows = []
    for schedule, scale in (("large", 1.0), ("small", 0.5)):
        for seed in (0, 1):
            for epoch in range(1, 9):
                scored = [("train", 0.5)] + ([("a", scale * (epoch / 10 + seed / 100))] if epoch % 2 == 0 else [])
                for eval_set, acc in scored:
                    rows.append({"study": "s", "schedule": schedule, "seed": seed, "epoch": epoch, "lr": 0.1,
                                 "noise": 0.0, "eval_set": eval_set, "loss": 1.0 - acc, "accuracy": acc,
                                 "margin": 10 * acc, "diverged": schedule == "large" and seed == diverged_seed})
    return pd.DataFrame(rows, columns=[*METRIC_COLUMNS, "diverged"])


def test_window_means_average_each_run_over_its_scored_epochs_then_over_seeds() -> None:
    table = window_summary.window_means(hand_made_metrics(), ["a"], ["accuracy", "margin"], [(3, 6), (8, 8)])
    got = table.set_index(["schedule", "value", "window"])
    # large, seed 0: epochs 4 and 6 -> 0.5; seed 1: 0.51; mean 0.505
    assert got.loc[("large", "accuracy", "3-6"), "mean"] == pytest.approx(0.505)
    assert got.loc[("large", "margin", "3-6"), "mean"] == pytest.approx(5.05)
    assert got.loc[("small", "accuracy", "8-8"), "mean"] == pytest.approx(0.5 * 0.805)
    assert (got["n"] == 2).all()
    # two seeds 0.01 apart: half-width t_{0.975, 1} x 0.01 / sqrt(2) / sqrt(2)
    half = 12.706204736 * (0.01 / math.sqrt(2)) / math.sqrt(2)
    row = got.loc[("large", "accuracy", "3-6")]
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.505 - half), pytest.approx(0.505 + half))
    assert list(table.columns) == list(window_summary.TABLE_COLUMNS)


def test_diverged_runs_are_left_out() -> None:
    table = window_summary.window_means(hand_made_metrics(diverged_seed=1), ["a"], ["accuracy"], [(3, 6)])
    row = table[table["schedule"] == "large"].iloc[0]
    assert (row["n"], row["mean"]) == (1, pytest.approx(0.5))
    assert math.isnan(row["ci_low"])


def test_markdown_has_a_row_per_schedule_and_set_and_a_column_per_value_and_window() -> None:
    table = window_summary.window_means(hand_made_metrics(diverged_seed=1), ["a"], ["accuracy", "margin"], [(3, 6)])
    lines = window_summary.markdown(table).splitlines()
    assert lines[0] == "| schedule | set | accuracy 3-6 | margin 3-6 |"
    assert lines[2] == "| large | a | 0.500 | 5.000 |"
    assert lines[3].startswith("| small | a | 0.253 [")


@pytest.mark.parametrize("sets, values, windows, error, match", [
    (["a"], ["speed"], [(1, 2)], ConfigError, "--values: expected some of accuracy, margin, loss, got speed"),
    (["a"], ["accuracy"], [(5, 4)], ConfigError, "--window 5 4: expected 1 <= lo <= hi"),
    (["b"], ["accuracy"], [(1, 8)], DataError, "--eval-sets: 'b' has no rows"),
    (["a"], ["accuracy"], [(9, 10)], DataError, "schedule large seed 0: a is not scored at any epoch in --window 9 10"),
])
def test_bad_input_names_the_flag(sets, values, windows, error, match) -> None:
    with pytest.raises(error, match=match):
        window_summary.window_means(hand_made_metrics(), sets, values, windows)


def test_command_line_prints_markdown_and_writes_the_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    metrics = tmp_path / "metrics.csv"
    hand_made_metrics().to_csv(metrics, index=False)
    out = tmp_path / "table.csv"
    window_summary.main(["--metrics", str(metrics), "--eval-sets", "a", "--window", "3", "6", "--out", str(out)])
    assert capsys.readouterr().out.splitlines()[0] == "| schedule | set | accuracy 3-6 |"
    written = pd.read_csv(out)
    assert written["mean"].tolist() == pytest.approx([0.505, 0.2525])
