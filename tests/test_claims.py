"""Tests of lrorder.claims: statistics, verdicts, pairing, errors, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lrorder import claims
from lrorder.errors import ConfigError, DataError

T_975_4 = 2.7764451051977987  # t_{0.975, 4}
T_975_2 = 4.302652729749464  # t_{0.975, 2}


def metrics(curves: dict[tuple[str, int], dict[str, list[float]]], study: str = "synthetic") -> pd.DataFrame:
    """Tidy metrics from ``{(schedule, seed): {eval_set: [accuracy at epoch 1, 2, ...]}}``."""
    rows = [
        {"study": study, "schedule": sch, "seed": seed, "epoch": e, "lr": 0.1, "noise": 0.0,
         "eval_set": es, "loss": 1.0 - a, "accuracy": a}
        for (sch, seed), sets in curves.items()
        for es, accs in sets.items()
        for e, a in enumerate(accs, start=1)
    ]
    return pd.DataFrame(rows)


def final_gap_metrics(diffs: list[float], base: float = 0.6, eval_set: str = "test_p_only") -> pd.DataFrame:
    """large_lr and small_lr over 3 epochs; final accuracy large - small = ``diffs[seed]``."""
    curves = {}
    for seed, d in enumerate(diffs):
        curves[("small_lr", seed)] = {eval_set: [0.5, 0.55, base]}
        curves[("large_lr", seed)] = {eval_set: [0.4, 0.45, base + d]}
    return metrics(curves)


def gap_spec(**over) -> dict:
    spec = {"id": "5b", "description": "large LR ends with higher P-only accuracy", "test": "gap",
            "a": "large_lr", "b": "small_lr", "eval_set": "test_p_only", "epoch": "final",
            "min_effect": 0.02}
    spec.update(over)
    return spec


def test_gap_reproduced_hand_computed() -> None:
    df = final_gap_metrics([0.1, 0.12, 0.08, 0.11, 0.09])
    row = claims.check_claims(df, [gap_spec()], "synthetic").iloc[0]
    half = T_975_4 * math.sqrt(0.00025) / math.sqrt(5)  # std 0.0158114, se 0.0070711
    assert row["n_seeds"] == 5
    assert row["mean"] == pytest.approx(0.1)
    assert row["std"] == pytest.approx(math.sqrt(0.00025))
    assert row["ci_low"] == pytest.approx(0.1 - half)
    assert row["ci_high"] == pytest.approx(0.1 + half)
    assert row["verdict"] == "reproduced"
    assert row["statistic"] == "final test_p_only accuracy: large_lr - small_lr"
    assert (row["study"], row["claim"], row["a"], row["b"]) == ("synthetic", "5b", "large_lr", "small_lr")
    assert math.isnan(row["recovered_fraction"])


def test_gap_not_reproduced_when_ci_excludes_effect_of_interest() -> None:
    # mean 0, std 0.0079057, half-width 2.7764 * 0.0035355 = 0.0098163 < 0.02
    df = final_gap_metrics([-0.01, 0.0, 0.01, -0.005, 0.005])
    row = claims.check_claims(df, [gap_spec()], "synthetic").iloc[0]
    assert row["mean"] == pytest.approx(0.0, abs=1e-12)
    assert row["ci_high"] == pytest.approx(T_975_4 * math.sqrt(0.0000625 / 5))
    assert row["verdict"] == "not reproduced"


def test_gap_reversed_effect_is_not_reproduced() -> None:
    df = final_gap_metrics([-0.1, -0.12, -0.08, -0.11, -0.09])
    row = claims.check_claims(df, [gap_spec()], "synthetic").iloc[0]
    assert row["mean"] == pytest.approx(-0.1)
    assert row["verdict"] == "not reproduced"


def test_gap_inconclusive_with_wide_ci() -> None:
    # mean 0.04, std 0.11937, CI [-0.108, 0.188]: covers 0 and 0.02
    df = final_gap_metrics([0.1, -0.05, 0.2, -0.1, 0.05])
    row = claims.check_claims(df, [gap_spec()], "synthetic").iloc[0]
    assert row["mean"] == pytest.approx(0.04)
    assert row["ci_low"] == pytest.approx(0.04 - T_975_4 * math.sqrt(0.01425) / math.sqrt(5))
    assert row["verdict"] == "inconclusive"


def test_gap_single_seed_is_inconclusive() -> None:
    row = claims.check_claims(final_gap_metrics([0.3]), [gap_spec()], "synthetic").iloc[0]
    assert row["n_seeds"] == 1 and row["mean"] == pytest.approx(0.3)
    assert row["verdict"] == "inconclusive"


def test_pairing_by_seed_drops_unmatched_seeds() -> None:
    df = final_gap_metrics([0.1, 0.12, 0.08, 0.11, 0.09])
    extra = metrics({("large_lr", 9): {"test_p_only": [0.1, 0.1, 0.99]},
                     ("small_lr", 7): {"test_p_only": [0.1, 0.1, 0.01]}})
    row = claims.check_claims(pd.concat([df, extra]), [gap_spec()], "synthetic").iloc[0]
    assert row["n_seeds"] == 5
    assert row["mean"] == pytest.approx(0.1)


def test_gap_at_fixed_epoch() -> None:
    # claim 1 style: before the anneal (epoch 2) small_lr leads by 0.1 on every seed
    df = final_gap_metrics([0.1, 0.12, 0.08])
    spec = gap_spec(id="1", a="small_lr", b="large_lr", epoch=2)
    row = claims.check_claims(df, [spec], "synthetic").iloc[0]
    assert row["statistic"] == "epoch 2 test_p_only accuracy: small_lr - large_lr"
    assert (row["mean"], row["std"], row["ci_low"], row["ci_high"]) == pytest.approx((0.1, 0.0, 0.1, 0.1))
    assert row["verdict"] == "reproduced"


def test_epochs_to_threshold_with_never_reached() -> None:
    # accuracy settles at >= 0.9 (stays there to the end) from epoch: small_lr 1, 2, 3
    # (seed 2 crosses at epoch 1, drops at 2); large_lr 4, never (5 epochs -> 6), 5
    # (seed 2 crosses at epoch 3, drops at 4)
    curves = {
        ("small_lr", 0): {"test_q_only": [0.95, 1.0, 1.0, 1.0, 1.0]},
        ("small_lr", 1): {"test_q_only": [0.5, 0.9, 1.0, 1.0, 1.0]},
        ("small_lr", 2): {"test_q_only": [0.91, 0.8, 1.0, 1.0, 1.0]},
        ("large_lr", 0): {"test_q_only": [0.5, 0.6, 0.7, 0.9, 0.95]},
        ("large_lr", 1): {"test_q_only": [0.5, 0.5, 0.5, 0.6, 0.89]},
        ("large_lr", 2): {"test_q_only": [0.5, 0.6, 0.92, 0.7, 0.95]},
    }
    spec = {"id": "5a", "description": "small LR fits Q first", "test": "epochs_to_threshold",
            "a": "small_lr", "b": "large_lr", "eval_set": "test_q_only", "threshold": 0.9,
            "min_effect": 1}
    row = claims.check_claims(metrics(curves), [spec], "synthetic").iloc[0]
    # per seed large - small = [3, 4, 2]: mean 3, std 1
    assert row["statistic"] == "epochs until test_q_only accuracy stays >= 0.9: large_lr - small_lr"
    assert row["n_seeds"] == 3
    assert row["mean"] == pytest.approx(3.0)
    assert row["std"] == pytest.approx(1.0)
    assert row["ci_low"] == pytest.approx(3.0 - T_975_2 / math.sqrt(3))
    assert row["verdict"] == "reproduced"


def test_recovered_fraction() -> None:
    small, large, noise = [0.80, 0.82, 0.81], [0.90, 0.92, 0.91], [0.86, 0.87, 0.86]
    curves = {}
    for seed in range(3):
        curves[("small_lr", seed)] = {"test_clean": [0.5, small[seed]]}
        curves[("large_lr", seed)] = {"test_clean": [0.4, large[seed]]}
        curves[("act_noise", seed)] = {"test_clean": [0.4, noise[seed]]}
    curves[("act_noise", 3)] = {"test_clean": [0.4, 0.99]}  # no partner: ignored
    spec = {"id": "4", "description": "noise recovers part of the gap", "test": "gap",
            "a": "act_noise", "b": "small_lr", "reference": "large_lr", "eval_set": "test_clean",
            "epoch": "final", "min_effect": 0.01}
    row = claims.check_claims(metrics(curves, study="patch"), [spec], "patch").iloc[0]
    # a - b = [0.06, 0.05, 0.05] (mean 0.05333); reference - b = 0.1 on every seed
    assert row["mean"] == pytest.approx(0.16 / 3)
    assert row["recovered_fraction"] == pytest.approx(0.16 / 3 / 0.1)
    assert row["verdict"] == "reproduced"


def test_output_columns_and_study_filter() -> None:
    df = pd.concat([final_gap_metrics([0.1, 0.12]), metrics({("other", 0): {"x": [0.1]}}, study="clean")])
    out = claims.check_claims(df, [gap_spec(), gap_spec(id="5c", epoch=1)], "synthetic")
    assert list(out.columns) == list(claims.CLAIM_COLUMNS)
    assert list(out["claim"]) == ["5b", "5c"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"a": "huge_lr"}, r"claim 5b: schedule 'huge_lr' not in the metrics"),
        ({"reference": "ref_lr"}, r"claim 5b: schedule 'ref_lr' not in the metrics"),
        ({"eval_set": "test_r_only"}, r"claim 5b: eval_set 'test_r_only' not in the metrics"),
        ({"epoch": 4}, r"claim 5b: epoch 4 is beyond the last epoch \(3\)"),
        ({"epoch": 0}, r"claim 5b: key 'epoch'"),
        ({"test": "ratio"}, r"claim 5b: key 'test' must be one of"),
        ({"threshold": 0.5}, r"claim 5b: unknown key\(s\) threshold"),
        ({"min_effect": -1}, r"claim 5b: key 'min_effect'"),
    ],
)
def test_config_errors(over: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        claims.check_claims(final_gap_metrics([0.1, 0.1]), [gap_spec(**over)], "synthetic")


def test_config_error_missing_key_and_study() -> None:
    spec = gap_spec()
    del spec["eval_set"]
    with pytest.raises(ConfigError, match=r"claim 5b: missing key 'eval_set'"):
        claims.check_claims(final_gap_metrics([0.1]), [spec], "synthetic")
    with pytest.raises(ConfigError, match=r"--study: no metrics for study 'clean'"):
        claims.check_claims(final_gap_metrics([0.1]), [gap_spec()], "clean")
    with pytest.raises(ConfigError, match=r"--spec: expected a JSON list"):
        claims.check_claims(final_gap_metrics([0.1]), gap_spec(), "synthetic")


def test_cli_check_and_collect(tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    final_gap_metrics([0.1, 0.12, 0.08, 0.11, 0.09]).to_csv(all_csv, index=False)
    c1, c2, both = tmp_path / "c1.csv", tmp_path / "c2.csv", tmp_path / "both.csv"
    claims.main(["check", "--metrics", str(all_csv), "--study", "synthetic",
                 "--spec", json.dumps([gap_spec()]), "--out", str(c1)])
    claims.main(["check", "--metrics", str(all_csv), "--study", "synthetic",
                 "--spec", json.dumps([gap_spec(id="5c", epoch=2)]), "--out", str(c2)])
    claims.main(["collect", str(c1), str(c2), "--out", str(both)])
    out = pd.read_csv(both)
    assert list(out.columns) == list(claims.CLAIM_COLUMNS)
    assert list(out["claim"]) == ["5b", "5c"]
    assert list(out["verdict"]) == ["reproduced", "not reproduced"]  # epoch 2: gap -0.1 on every seed
    assert out.loc[0, "mean"] == pytest.approx(0.1)
    with pytest.raises(DataError, match=r"claim 5b of study synthetic appears in more than one file"):
        claims.collect([c1, c1])


def test_cli_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    final_gap_metrics([0.1, 0.12]).to_csv(all_csv, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "lrorder.claims", "check", "--metrics", str(all_csv), "--study", "synthetic",
         "--spec", json.dumps([gap_spec(b="tiny_lr")]), "--out", str(tmp_path / "c.csv")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: claim 5b: schedule 'tiny_lr' not in the metrics")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "c.csv").exists()


def test_config_error_eval_set_missing_for_one_schedule() -> None:
    df = metrics({("large_lr", 0): {"test": [0.5]}, ("small_lr", 0): {"test": [0.4], "test_p_only": [0.3]}})
    with pytest.raises(ConfigError, match=r"claim 5b: eval_set 'test_p_only' not in the metrics of schedule large_lr"):
        claims.check_claims(df, [gap_spec()], "synthetic")


def test_two_agreeing_seeds_are_inconclusive() -> None:
    # zero spread over 2 seeds gives a zero-width CI: no evidence either way
    row = claims.check_claims(final_gap_metrics([0.0, 0.0]), [gap_spec()], "synthetic").iloc[0]
    assert (row["n_seeds"], row["ci_low"], row["ci_high"]) == (2, 0.0, 0.0)
    assert row["verdict"] == "inconclusive"
    row = claims.check_claims(final_gap_metrics([0.0, 0.0, 0.0]), [gap_spec()], "synthetic").iloc[0]
    assert row["verdict"] == "not reproduced"
