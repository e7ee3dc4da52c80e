"""lrorder.blowups: the largest fall of training accuracy below its running maximum."""

import pandas as pd
import pytest

from lrorder import blowups
from lrorder.errors import DataError


def test_largest_fall_of_a_blow_up():
    # reported seed 0 at large LR 1.25 (README, "Calibration"): 0.85 -> 0.23 at the 14th epoch
    curve = [0.35, 0.69, 0.82, 0.54, 0.80, 0.85, 0.23, 0.42]
    fall, t, peak = blowups.largest_fall(curve)
    assert fall == pytest.approx(0.62)
    assert (t, peak) == (6, 0.85)


def test_largest_fall_of_a_rising_curve_is_zero():
    assert blowups.largest_fall([0.1, 0.5, 0.5, 0.9]) == (0.0, 0, 0.1)


def test_largest_fall_keeps_the_first_of_equal_falls():
    assert blowups.largest_fall([0.8, 0.6, 0.9, 0.7]) == (pytest.approx(0.2), 1, 0.8)


@pytest.mark.parametrize("curve", [[], [0.5, float("nan")]])
def test_largest_fall_rejects_empty_and_non_finite_curves(curve):
    with pytest.raises(ValueError):
        blowups.largest_fall(curve)


def _metrics(curves):
    rows = []
    for (schedule, seed), curve in curves.items():
        for epoch, acc in enumerate(curve, start=1):
            rows.append({"study": "patch", "schedule": schedule, "seed": seed, "epoch": epoch,
                         "eval_set": "train", "accuracy": acc})
            rows.append({"study": "patch", "schedule": schedule, "seed": seed, "epoch": epoch,
                         "eval_set": "test_clean", "accuracy": 0.0})  # ignored: not a training row
    return pd.DataFrame(rows)


def test_run_falls_reads_only_the_window_and_the_training_rows():
    metrics = _metrics({("large_lr", 0): [0.4, 0.8, 0.5, 0.9, 0.1], ("small_lr", 0): [0.2, 0.4, 0.6, 0.7, 0.8]})
    falls = blowups.run_falls(metrics, 1, 4)  # epoch 5's fall to 0.1 lies outside the window
    large = falls.set_index("schedule").loc["large_lr"]
    assert large["largest_fall"] == pytest.approx(0.3)
    assert (large["fall_epoch"], large["peak_before_fall"]) == (3, 0.8)
    assert falls.set_index("schedule").loc["small_lr", "largest_fall"] == 0.0


def test_run_falls_window_starts_the_running_maximum_at_lo():
    metrics = _metrics({("large_lr", 0): [0.9, 0.5, 0.6, 0.4]})
    assert blowups.run_falls(metrics, 2, 4)["largest_fall"].item() == pytest.approx(0.2)


def test_run_falls_names_a_run_missing_epochs():
    metrics = _metrics({("large_lr", 3): [0.4, 0.8]})
    with pytest.raises(DataError, match="patch/large_lr/seed3: training accuracy for epochs 1-4"):
        blowups.run_falls(metrics, 1, 4)


def test_summarise_counts_blow_ups_at_the_threshold():
    falls = pd.DataFrame({"study": "patch", "schedule": "large_lr", "seed": [0, 1, 2],
                          "largest_fall": [0.62, 0.25, 0.1], "fall_epoch": [14, 7, 3],
                          "peak_before_fall": [0.85, 0.8, 0.7]})
    row = blowups.summarise(falls, threshold=0.25).iloc[0]
    assert (row["n_runs"], row["n_blowups"], row["worst_seed"], row["worst_epoch"]) == (3, 2, 0, 14)
    assert row["median_fall"] == pytest.approx(0.25)


def test_main_prints_the_summary(tmp_path, capsys):
    for seed, curve in ((0, [0.4, 0.8, 0.2]), (1, [0.4, 0.6, 0.7])):
        run = tmp_path / "runs" / "patch" / "large_lr" / f"seed{seed}"
        run.mkdir(parents=True)
        _metrics({("large_lr", seed): curve}).to_csv(run / "metrics.csv", index=False)
    blowups.main([str(tmp_path), "--study", "patch", "--epochs", "1", "3"])
    out = capsys.readouterr().out
    assert out.splitlines()[-1].split() == ["patch", "large_lr", "2", "1", "0.300", "0.600", "0", "3"]


def test_main_without_runs_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no <schedule>/seed<k>/metrics.csv"):
        blowups.main([str(tmp_path), "--study", "patch", "--epochs", "1", "3"])
