"""Tests of lrorder.claims: run summaries, contrasts, Holm's correction, verdicts, pairing, errors, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lrorder import claims
from lrorder.errors import ConfigError, DataError
from lrorder.stats import holm

T_95_2 = 2.919985580355516  # t_{0.95, 2 d.o.f.}: the 90% interval of 3 seeds
T_95_4 = 2.131846786326649  # t_{0.95, 4 d.o.f.}


def metrics(curves: dict[tuple[str, int], dict[str, list[float]]], study: str = "synthetic") -> pd.DataFrame:
    """Tidy metrics from ``{(schedule, seed): {eval_set: [accuracy at epoch 1, 2, ...]}}``."""
    rows = [
        {"study": study, "schedule": sch, "seed": seed, "epoch": e, "lr": 0.1, "noise": 0.0,
         "eval_set": es, "loss": 1.0 - a, "accuracy": a,
         "margin": a - 0.5}
        for (sch, seed), sets in curves.items()
        for es, accs in sets.items()
        for e, a in enumerate(accs, start=1)
    ]
    return pd.DataFrame(rows)


def spec(**over) -> dict:
    """A resolved claim spec: large_lr - small_lr, mean test accuracy over epochs 2-3; ``key=None`` drops a key."""
    out = {"id": "c", "description": "a claim", "eval_set": "test", "summary": "mean", "window": [2, 3],
           "contrast": "difference", "a": "large_lr", "b": "small_lr", "direction": "greater",
           "scale": "absolute", "min_effect": 0.0, "test": "t", "alpha": 0.05, "min_seeds": 3}
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


def plateau(values: dict[str, list[float]], first: float = 0.0) -> pd.DataFrame:
    """``{schedule: [value per seed]}``: accuracy ``first`` at epoch 1, then the value at epochs 2 and 3."""
    return metrics({(sch, seed): {"test": [first, v, v]} for sch, vs in values.items() for seed, v in enumerate(vs)})


def check(df: pd.DataFrame, *specs: dict, study: str = "synthetic") -> pd.DataFrame:
    return claims.check_claims(df, list(specs), study)


def one(df: pd.DataFrame, s: dict, study: str = "synthetic") -> pd.Series:
    return check(df, s, study=study).iloc[0]


def t_p(mean: float, std: float, n: int) -> float:
    """One-sided p of H0 "effect <= 0" by hand: t = mean / (std / sqrt(n)), n - 1 d.o.f."""
    return float(st.t.sf(mean / (std / math.sqrt(n)), n - 1))


# --------------------------------------------------------------------------- run summaries

CURVE = np.array([0.2, 0.4, 0.9, 0.5])
EPOCHS = np.array([1, 2, 3, 4])


@pytest.mark.parametrize(
    ("summary", "extra", "expected"),
    [
        ("mean", {}, (0.5, False)),
        ("median", {}, (0.45, False)),
        ("max", {}, (0.9, False)),  # the peak at epoch 3, whatever the dip after it
        # trapezoids (0.2+0.4)/2 + (0.4+0.9)/2 + (0.9+0.5)/2 = 1.65, over hi - lo = 3
        ("auc", {}, (0.55, False)),
        ("first_passage", {"threshold": 0.8}, (3.0, False)),
        ("first_passage", {"threshold": 0.9}, (3.0, False)),  # >= threshold counts
        ("first_passage", {"threshold": 0.95}, (5.0, True)),  # never: censored at hi + 1
    ],
)
def test_run_summary_hand_computed(summary: str, extra: dict, expected: tuple) -> None:
    value, censored = claims.run_summary(CURVE, EPOCHS, {"summary": summary, "window": [1, 4], **extra})
    assert (value, censored) == (pytest.approx(expected[0]), expected[1])


def test_run_summary_auc_single_epoch_is_the_value() -> None:
    assert claims.run_summary(np.array([0.7]), np.array([5]), {"summary": "auc", "window": [5, 5]}) == (0.7, False)


# --------------------------------------------------------------------------- contrasts


def test_difference_hand_computed() -> None:
    # epoch 1 (outside the window) would reverse the sign; per seed large - small = 0.2, 0.1, 0.3
    df = plateau({"large_lr": [0.7, 0.6, 0.8], "small_lr": [0.5, 0.5, 0.5]}, first=0.9)
    row = one(df, spec())
    half = T_95_2 * 0.1 / math.sqrt(3)
    assert (row["n_seeds"], row["window_lo"], row["window_hi"], row["n_censored"]) == (3, 2, 3, 0)
    assert row["mean"] == pytest.approx(0.2) and row["std"] == pytest.approx(0.1)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert row["p_value"] == pytest.approx(t_p(0.2, 0.1, 3))
    assert row["p_holm"] == pytest.approx(row["p_value"])  # a family of one
    assert math.isnan(row["estimate"])
    assert row["statistic"] == "mean test accuracy over epochs 2-3: large_lr - small_lr > 0"
    assert (row["study"], row["claim"], row["a"], row["b"], row["alpha"]) == (
        "synthetic", "c", "large_lr", "small_lr", 0.05)
    assert row["verdict"] == "reproduced"  # p 0.037


def test_direction_less_negates() -> None:
    df = plateau({"large_lr": [0.7, 0.6, 0.8], "small_lr": [0.5, 0.5, 0.5]})
    row = one(df, spec(direction="less"))
    assert row["mean"] == pytest.approx(-0.2) and row["std"] == pytest.approx(0.1)
    assert row["p_value"] == pytest.approx(1 - t_p(0.2, 0.1, 3))
    assert row["statistic"].endswith("small_lr - large_lr > 0")
    assert row["verdict"] == "not reproduced"  # effect < 0 = min_effect, p_below 0.037


def test_relative_error_hand_computed() -> None:
    # small 0.8 (error 0.2); large 0.9, 0.85, 0.95 remove 0.5, 0.25, 0.75 of it
    df = plateau({"large_lr": [0.9, 0.85, 0.95], "small_lr": [0.8, 0.8, 0.8]})
    row = one(df, spec(scale="relative_error", min_effect=0.1))
    assert row["mean"] == pytest.approx(0.5) and row["std"] == pytest.approx(0.25)
    assert row["statistic"] == "mean test accuracy over epochs 2-3: (large_lr - small_lr) / (1 - small_lr) > 0"


def test_relative_error_with_perfect_b_is_inconclusive() -> None:
    df = plateau({"large_lr": [0.9, 0.85, 1.0], "small_lr": [0.8, 0.8, 1.0]})
    row = one(df, spec(scale="relative_error"))
    assert math.isnan(row["mean"]) and row["verdict"] == "inconclusive"


def test_level_greater_and_less() -> None:
    df = plateau({"small_lr": [0.9, 0.85, 0.95], "large_lr": [0.1, 0.15, 0.05]})
    up = one(df, spec(contrast="level", a="small_lr", b=None, level=0.8))
    assert up["mean"] == pytest.approx(0.1) and up["std"] == pytest.approx(0.05)
    assert up["statistic"] == "mean test accuracy over epochs 2-3: small_lr - 0.8 > 0"
    assert pd.isna(up["b"]) or up["b"] == ""
    down = one(df, spec(contrast="level", a="large_lr", b=None, level=0.2, direction="less"))
    # oriented: -(s - 0.2) = 0.1, 0.05, 0.15
    assert down["mean"] == pytest.approx(0.1) and down["std"] == pytest.approx(0.05)
    assert down["statistic"] == "mean test accuracy over epochs 2-3: 0.2 - large_lr > 0"


def test_ratio_hand_computed() -> None:
    small, large, noise = [0.80, 0.82, 0.81], [0.90, 0.92, 0.91], [0.86, 0.87, 0.86]
    df = plateau({"small_lr": small, "large_lr": large, "act_noise": noise + [0.99]})  # seed 3: no partner
    s = spec(contrast="ratio", a="act_noise", b="small_lr", reference="large_lr", fraction=0.5)
    row = one(df, s)
    # (noise - small) - 0.5 (large - small) = 0.06 - 0.05, 0.05 - 0.05, 0.05 - 0.05
    assert row["n_seeds"] == 3
    assert row["mean"] == pytest.approx(0.01 / 3)
    assert row["std"] == pytest.approx(math.sqrt(((0.02 / 3) ** 2 + 2 * (0.01 / 3) ** 2) / 2))
    assert row["estimate"] == pytest.approx((0.16 / 3) / 0.1)
    assert row["reference"] == "large_lr"
    assert row["statistic"] == ("mean test accuracy over epochs 2-3: "
                                "(act_noise - small_lr) - 0.5 * (large_lr - small_lr) > 0")


def test_auc_and_median_through_check_claims() -> None:
    # small 0, 0.5, 1.0 over epochs 1-3: area (0.25 + 0.75) / 2 = 0.5; large flat 0.1
    curves = {("small_lr", s): {"test": [0.0, 0.5, 1.0]} for s in range(3)}
    curves |= {("large_lr", s): {"test": [0.1, 0.1, 0.1]} for s in range(3)}
    df = metrics(curves)
    auc = one(df, spec(summary="auc", window=[1, 3], a="small_lr", b="large_lr"))
    assert auc["mean"] == pytest.approx(0.4) and auc["std"] == 0.0
    assert auc["statistic"] == "area under test accuracy over epochs 1-3 / 2: small_lr - large_lr > 0"
    med = one(df, spec(summary="median", window=[1, 3], a="small_lr", b="large_lr"))
    assert med["mean"] == pytest.approx(0.4)
    assert med["verdict"] == "reproduced"  # zero spread above 0: p = 0


def test_max_through_check_claims_reads_the_peak_not_the_swing() -> None:
    # small swings 0.4 -> 0.9 -> 0.5 (mean 0.6, peak 0.9 - 0.01 seed); large climbs to 0.5 (peak 0.5)
    curves = {("small_lr", s): {"test": [0.4, 0.9 - 0.01 * s, 0.5]} for s in range(3)}
    curves |= {("large_lr", s): {"test": [0.1, 0.3, 0.5]} for s in range(3)}
    row = one(metrics(curves), spec(summary="max", window=[1, 3], a="small_lr", b="large_lr"))
    assert row["mean"] == pytest.approx(0.39)  # (0.9 + 0.89 + 0.88) / 3 - 0.5
    assert row["statistic"] == "highest test accuracy over epochs 1-3: small_lr - large_lr > 0"


def test_claim_reads_only_its_seeds() -> None:
    # seeds 0-2 full runs (epochs 1-3), seeds 3-4 stop at epoch 2: a claim over epochs 1-2 reads all five,
    # one over epochs 2-3 only the full runs
    curves = {(sch, s): {"test": [0.5, v + 0.01 * s, v]} for sch, v in (("large_lr", 0.8), ("small_lr", 0.6))
              for s in range(3)}
    curves |= {(sch, s): {"test": [0.5, v + 0.01 * s]} for sch, v in (("large_lr", 0.8), ("small_lr", 0.6))
               for s in (3, 4)}
    df = metrics(curves)
    early = one(df, spec(window=[1, 2], seeds=[0, 1, 2, 3, 4]))
    late = one(df, spec(window=[2, 3], seeds=[0, 1, 2]))
    assert (early["n_seeds"], late["n_seeds"]) == (5, 3)
    assert early["mean"] == pytest.approx(0.1) and late["mean"] == pytest.approx(0.2)
    with pytest.raises(ConfigError, match=r"window \[2, 3\] is not covered by schedule large_lr seed 3"):
        one(df, spec(window=[2, 3]))  # without seeds: every seed of the table
    with pytest.raises(ConfigError, match="claim c: no run of schedule large_lr for seed 7 in the metrics "
                                          r"\(the claim reads seeds 0, 7\)"):
        one(df, spec(window=[1, 2], seeds=[0, 7]))


def test_first_passage_with_censoring() -> None:
    curves = {
        ("large_lr", 0): {"patch_only": [0.5, 0.6, 0.9, 1.0]},  # 3
        ("large_lr", 1): {"patch_only": [0.5, 0.5, 0.5, 0.5]},  # never: 5, censored
        ("large_lr", 2): {"patch_only": [0.5, 0.6, 0.8, 0.95]},  # 4
        ("small_lr", 0): {"patch_only": [0.95, 1.0, 1.0, 1.0]},  # 1
        ("small_lr", 1): {"patch_only": [0.5, 0.92, 0.7, 1.0]},  # 2 (first passage, not settling)
        ("small_lr", 2): {"patch_only": [0.91, 0.8, 1.0, 1.0]},  # 1
        ("small_lr", 3): {"patch_only": [0.1, 0.1, 0.1, 0.1]},  # censored, but unpaired
    }
    s = spec(eval_set="patch_only", summary="first_passage", threshold=0.9, window=[1, 4], min_effect=1)
    row = one(metrics(curves, study="patch"), s, study="patch")
    # large - small = 2, 3, 3
    assert (row["n_seeds"], row["n_censored"]) == (3, 1)
    assert row["mean"] == pytest.approx(8 / 3) and row["std"] == pytest.approx(math.sqrt(1 / 3))
    assert row["statistic"] == ("first epoch in 1-4 with patch_only accuracy >= 0.9 (5 if never): "
                                "large_lr - small_lr > 0")


def test_seeds_censored_in_every_role_are_dropped_and_leave_the_claim_inconclusive() -> None:
    """Regression: four seeds censored in both roles gave a difference of 0 each and "not reproduced"."""
    never = {"patch_only": [0.5, 0.5, 0.5, 0.5]}
    curves = {(sch, seed): never for sch in ("large_lr", "small_lr") for seed in range(4)}
    s = spec(eval_set="patch_only", summary="first_passage", threshold=0.9, window=[1, 4], min_effect=1)
    row = one(metrics(curves, study="patch"), s, study="patch")
    assert (row["n_seeds"], row["n_censored"], row["verdict"]) == (0, 8, "inconclusive")
    # one seed informative (large 3, small censored at 5): still below min_seeds
    curves[("large_lr", 0)] = {"patch_only": [0.5, 0.6, 0.9, 1.0]}
    row = one(metrics(curves, study="patch"), s, study="patch")
    assert (row["n_seeds"], row["n_censored"], row["mean"], row["verdict"]) == (1, 7, -2.0, "inconclusive")
    # a level claim keeps a censored seed: passage >= 5 is evidence against "earlier than epoch 5"
    level = spec(eval_set="patch_only", summary="first_passage", threshold=0.9, window=[1, 4], contrast="level",
                 level=5, b=None, direction="less", min_effect=0.5)
    row = one(metrics(curves, study="patch"), level, study="patch")
    assert (row["n_seeds"], row["n_censored"]) == (4, 3)


def test_pairing_by_seed_drops_unmatched_seeds() -> None:
    df = pd.concat([plateau({"large_lr": [0.7, 0.6, 0.8], "small_lr": [0.5, 0.5, 0.5]}),
                    metrics({("large_lr", 9): {"test": [0.1, 0.99, 0.99]},
                             ("small_lr", 7): {"test": [0.1, 0.01, 0.01]}})])
    row = one(df, spec())
    assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(0.2)


def test_seed_with_a_diverged_run_is_dropped_and_counted() -> None:
    """Regression: a diverged run (NaN loss, accuracy 0) was paired and averaged into the claim."""
    df = plateau({"large_lr": [0.7, 0.6, 0.8, 0.9], "small_lr": [0.5, 0.5, 0.5, 0.5]}).assign(diverged=False)
    base = one(df, spec())
    assert (base["n_seeds"], base["n_diverged"]) == (4, 0)
    # seed 3 of large_lr diverged at epoch 1: its window is not covered, and that is no error
    df = df[~((df["schedule"] == "large_lr") & (df["seed"] == 3))]
    df = pd.concat([df, metrics({("large_lr", 3): {"test": [0.0]}}).assign(diverged=True)], ignore_index=True)
    row = one(df, spec())
    half = T_95_2 * 0.1 / math.sqrt(3)
    assert (row["n_seeds"], row["n_diverged"], row["n_censored"]) == (3, 1, 0)
    assert row["mean"] == pytest.approx(0.2) and row["ci_low"] == pytest.approx(0.2 - half)
    assert row["verdict"] == "reproduced"
    # the same seed diverged in both roles still counts once; another seed diverged in b: 2 seeds left
    df.loc[(df["schedule"] == "small_lr") & df["seed"].isin([0, 3]), "diverged"] = True
    row = one(df, spec())
    assert (row["n_seeds"], row["n_diverged"], row["mean"]) == (2, 2, pytest.approx(0.2))  # seeds 1, 2: 0.1, 0.3
    assert row["verdict"] == "inconclusive"  # fewer than min_seeds 3


def test_diverged_runs_outside_the_claims_roles_do_not_count() -> None:
    df = pd.concat([plateau({"large_lr": [0.7, 0.6, 0.8], "small_lr": [0.5, 0.5, 0.5]}).assign(diverged=False),
                    metrics({("other", 0): {"test": [0.0]}}).assign(diverged=True)], ignore_index=True)
    row = one(df, spec())
    assert (row["n_seeds"], row["n_diverged"]) == (3, 0)
    level = one(df, spec(contrast="level", level=0.5, b=None))
    assert (level["n_seeds"], level["n_diverged"]) == (3, 0)
    df.loc[(df["schedule"] == "large_lr") & (df["seed"] == 1), "diverged"] = True
    level = one(df, spec(contrast="level", level=0.5, b=None))
    assert (level["n_seeds"], level["n_diverged"], level["mean"]) == (2, 1, pytest.approx(0.25))


# --------------------------------------------------------------------------- verdicts and Holm


def test_regression_effect_inside_zero_and_min_effect() -> None:
    # large - small = 0.004 .. 0.006: surely positive, surely below 0.01. The old rule said "not reproduced".
    diffs = [0.004, 0.005, 0.006, 0.005, 0.005]
    df = plateau({"large_lr": [0.5 + d for d in diffs], "small_lr": [0.5] * 5})
    row = one(df, spec(min_effect=0.01))
    assert 0 < row["ci_low"] and row["ci_high"] < 0.01
    assert row["verdict"] == "reproduced, below the smallest effect of interest"


@pytest.mark.parametrize(
    ("diffs", "expected"),
    [
        ([0.1, 0.12, 0.08, 0.11, 0.09], "reproduced"),
        ([-0.1, -0.12, -0.08, -0.11, -0.09], "not reproduced"),
        ([-0.01, 0.0, 0.01, -0.005, 0.005], "not reproduced"),  # rules out 0.02
        ([0.1, -0.05, 0.2, -0.1, 0.05], "inconclusive"),
        ([0.3, 0.3], "inconclusive"),  # 2 seeds < min_seeds 3
    ],
)
def test_labels(diffs: list[float], expected: str) -> None:
    df = plateau({"large_lr": [0.5 + d for d in diffs], "small_lr": [0.5] * len(diffs)})
    assert one(df, spec(min_effect=0.02))["verdict"] == expected


def test_holm_within_the_study() -> None:
    df = plateau({"large_lr": [0.7, 0.6, 0.8], "small_lr": [0.5, 0.5, 0.5], "mid_lr": [0.62, 0.55, 0.58],
                  "tiny_lr": [0.5, 0.5]})
    out = check(df, spec(id="x"), spec(id="y", a="mid_lr"), spec(id="z", a="tiny_lr"))
    p = out["p_value"].to_numpy()
    # x: 0.2 +- 0.1; y: 0.12, 0.05, 0.08; z has 2 seeds (< min_seeds): not in the family
    assert p[0] == pytest.approx(t_p(0.2, 0.1, 3))
    assert out["n_seeds"].tolist() == [3, 3, 2]
    assert out["p_holm"].iloc[:2].tolist() == pytest.approx(holm(p[:2]).tolist())
    lo, hi = sorted(p[:2])
    assert sorted(out["p_holm"].iloc[:2]) == pytest.approx([2 * lo, max(2 * lo, hi)])
    assert math.isnan(out["p_holm"].iloc[2]) and math.isnan(out["p_below_holm"].iloc[2])
    assert out["p_below_holm"].iloc[:2].tolist() == pytest.approx(holm(out["p_below"].iloc[:2]).tolist())
    # x alone (p 0.037) would be reproduced; with y (p 0.027) Holm gives 2 * 0.0272 = 0.0544 to both
    assert out["p_holm"].iloc[:2].tolist() == pytest.approx([0.0544, 0.0544], abs=1e-4)
    assert out["verdict"].tolist() == ["inconclusive", "inconclusive", "inconclusive"]
    assert one(df, spec(id="x"))["verdict"] == "reproduced"


def test_wilcoxon_test() -> None:
    diffs = [0.1, 0.12, 0.08, 0.11, 0.09]
    df = plateau({"large_lr": [0.5 + d for d in diffs], "small_lr": [0.5] * 5})
    row = one(df, spec(test="wilcoxon"))
    assert row["p_value"] == pytest.approx(1 / 32)  # all 5 differences positive
    assert row["verdict"] == "reproduced"


def test_output_columns_and_study_filter() -> None:
    df = pd.concat([plateau({"large_lr": [0.7, 0.6], "small_lr": [0.5, 0.5]}),
                    metrics({("other", 0): {"x": [0.1]}}, study="clean")])
    out = check(df, spec(id="5b"), spec(id="5c", window=[1, 1]))
    assert list(out.columns) == list(claims.CLAIM_COLUMNS)
    assert list(out["claim"]) == ["5b", "5c"]
    for name in ("study", "claim", "verdict", "mean", "ci_low", "ci_high"):  # read by lrorder.compare
        assert name in out.columns


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"a": "huge_lr"}, r"^claim c: schedule 'huge_lr' not in the metrics"),
        ({"eval_set": "test_r_only"}, r"^claim c: eval_set 'test_r_only' not in the metrics"),
        ({"window": [2, 4]}, r"^claim c: window \[2, 4\] is not covered by schedule large_lr seed 0 \(last epoch 3\)"),
        ({"window": [0, 3]}, r"^claim c\.window\.0: 0 is less than the minimum of 1"),
        ({"window": [1.0, 3]}, r"^claim c\.window\.0: 1\.0 is not of type 'integer'"),
        ({"window": [3, 2]}, r"^claim c\.window: expected \[lo, hi\] with lo <= hi"),
        ({"summary": "mode"}, r"^claim c\.summary: 'mode' is not one of"),
        ({"threshold": 0.5}, r"^claim c\.threshold: not allowed \(threshold: required by summary first_passage"),
        ({"summary": "first_passage"}, r"^claim c: 'threshold' is a required property"),
        ({"level": 0.5}, r"^claim c\.level: not allowed \(contrast difference"),
        ({"contrast": "ratio"}, r"^claim c: '(reference|fraction)' is a required property \(contrast ratio"),
        ({"contrast": "level", "level": 0.5}, r"^claim c\.b: not allowed \(contrast level"),
        ({"scale": "relative_error", "summary": "first_passage", "threshold": 0.5},
         r"^claim c\.summary: 'first_passage' is not one of \['mean', 'median', 'max', 'auc'\] \(scale relative_error"),
        ({"b": "large_lr"}, r"^claim c: a, b and reference must name different schedules"),
        ({"min_effect": -1}, r"^claim c\.min_effect: -1 is less than the minimum of 0"),
        ({"alpha": 0.5}, r"^claim c\.alpha: 0\.5 is greater than or equal to the maximum of 0\.5"),
        ({"min_seeds": 1}, r"^claim c\.min_seeds"),
        ({"test": "z"}, r"^claim c\.test: 'z' is not one of"),
        ({"epoch": 2}, r"^claim c: Additional properties are not allowed \('epoch' was unexpected\)"),
        ({"alpha": None}, r"^claim c: 'alpha' is a required property"),
    ],
)
def test_spec_errors(over: dict, message: str) -> None:
    df = plateau({"large_lr": [0.7, 0.6], "small_lr": [0.5, 0.5]})
    with pytest.raises(ConfigError, match=message):
        check(df, spec(**over))


def test_spec_error_without_id_names_position() -> None:
    with pytest.raises(ConfigError, match=r"^--spec\[1\]: 'id' is a required property"):
        check(plateau({"large_lr": [0.7], "small_lr": [0.5]}), spec(), spec(id=None))


def test_other_errors() -> None:
    df = plateau({"large_lr": [0.7], "small_lr": [0.5]})
    with pytest.raises(ConfigError, match=r"^--study: no metrics for study 'clean'"):
        check(df, spec(), study="clean")
    with pytest.raises(ConfigError, match=r"^--spec: expected a JSON list"):
        claims.check_claims(df, spec(), "synthetic")
    with pytest.raises(ConfigError, match=r"^--spec: claim id\(s\) c used more than once"):
        check(df, spec(), spec())
    only_small = metrics({("large_lr", 0): {"train": [0.5]}, ("small_lr", 0): {"test": [0.4]}})
    with pytest.raises(ConfigError, match=r"^claim c: eval_set 'test' not in the metrics of schedule large_lr"):
        check(only_small, spec(window=[1, 1]))


def test_empty_spec_list_gives_empty_table() -> None:
    out = check(plateau({"large_lr": [0.7], "small_lr": [0.5]}))
    assert out.empty and list(out.columns) == list(claims.CLAIM_COLUMNS)


# --------------------------------------------------------------------------- CLI


def test_cli_check_and_collect(tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    diffs = [0.1, 0.12, 0.08, 0.11, 0.09]
    plateau({"large_lr": [0.5 + d for d in diffs], "small_lr": [0.5] * 5}, first=0.9).to_csv(all_csv, index=False)
    c1, c2, both = tmp_path / "c1.csv", tmp_path / "c2.csv", tmp_path / "both.csv"
    claims.main(["check", "--metrics", str(all_csv), "--study", "synthetic",
                 "--spec", json.dumps([spec(id="5b", min_effect=0.02)]), "--out", str(c1)])
    claims.main(["check", "--metrics", str(all_csv), "--study", "synthetic",
                 "--spec", json.dumps([spec(id="5c", window=[1, 1], min_effect=0.02)]), "--out", str(c2)])
    claims.main(["collect", str(c1), str(c2), "--out", str(both)])
    out = pd.read_csv(both)
    assert list(out.columns) == list(claims.CLAIM_COLUMNS)
    assert list(out["claim"]) == ["5b", "5c"]
    assert list(out["verdict"]) == ["reproduced", "not reproduced"]  # epoch 1: -0.4 on every seed
    assert out.loc[0, "mean"] == pytest.approx(0.1)
    assert out.loc[0, "ci_low"] == pytest.approx(0.1 - T_95_4 * math.sqrt(0.00025 / 5))
    with pytest.raises(DataError, match=r"claim 5b of study synthetic appears in more than one file"):
        claims.collect([c1, c1])



def test_window_over_an_unscored_epoch_says_why() -> None:
    # a run scored at epochs 1 and 3 only (training.eval_every): a window over epoch 2 is not covered, and
    # the message says that the run's scoring plan left it out (not that the run is too short)
    df = metrics({(sch, s): {"test": [0.5, 0.6, 0.7]} for sch in ("large_lr", "small_lr") for s in range(3)})
    sparse = df[df["epoch"] != 2]
    with pytest.raises(ConfigError, match=r"window \[2, 3\] is not covered by schedule large_lr seed 0 \(last "
                                          r"epoch 3; it has no test row at some epoch of the window: a run scores only "
                                          r"the epochs of its scoring plan"):
        one(sparse, spec())

def test_cli_writes_each_claims_per_seed_values(tmp_path: Path) -> None:
    # --out-seeds: the values each claim tested, by seed (lrorder.compare pairs two campaigns by them)
    all_csv, out, seeds = tmp_path / "all.csv", tmp_path / "c.csv", tmp_path / "seeds.csv"
    diffs = [0.1, 0.12, 0.08, 0.11, 0.09]
    plateau({"large_lr": [0.5 + d for d in diffs], "small_lr": [0.5] * 5}).to_csv(all_csv, index=False)
    specs = [spec(id="5b"), spec(id="3b", a="small_lr", b="large_lr", seeds=[1, 3])]
    claims.main(["check", "--metrics", str(all_csv), "--study", "synthetic", "--spec", json.dumps(specs),
                 "--out", str(out), "--out-seeds", str(seeds)])
    table = pd.read_csv(seeds, dtype={"claim": str})
    assert list(table.columns) == list(claims.SEED_COLUMNS)
    assert table[["claim", "seed"]].values.tolist() == [["5b", s] for s in range(5)] + [["3b", 1], ["3b", 3]]
    assert table["value"].tolist() == pytest.approx(diffs + [-0.12, -0.11])
    assert pd.read_csv(out)["mean"].tolist() == pytest.approx([0.1, -0.115])  # the same values, averaged

def test_cli_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    plateau({"large_lr": [0.7, 0.6], "small_lr": [0.5, 0.5]}).to_csv(all_csv, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "lrorder.claims", "check", "--metrics", str(all_csv), "--study", "synthetic",
         "--spec", json.dumps([spec(b="tiny_lr")]), "--out", str(tmp_path / "c.csv")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: claim c: schedule 'tiny_lr' not in the metrics")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "c.csv").exists()
