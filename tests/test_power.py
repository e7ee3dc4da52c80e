"""Tests of lrorder.power: paired run summaries, campaign sizes per claim, verdict frequencies, CLI errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from lrorder import plan, power
from lrorder.columns import METRIC_COLUMNS
from lrorder.errors import ConfigError

from configs import ROOT, load_config

#: Patch-study curves at epochs 1-4 (the smoke preset anneals at 3), the same for every seed.
CURVES = {
    "large_lr": {"test_clean": [0.5, 0.6, 0.95, 0.95], "patch_only": [0.1, 0.1, 0.9, 0.9]},
    "small_lr": {"test_clean": [0.6, 0.7, 0.8, 0.8], "patch_only": [0.5, 0.9, 0.9, 0.9]},
    "act_noise": {"test_clean": [0.5, 0.6, 0.85, 0.85], "patch_only": [0.1, 0.2, 0.5, 0.5]},
}


def metrics(seeds=range(4), curves=CURVES, epochs: int = 4) -> pd.DataFrame:
    rows = [{"study": "patch", "schedule": sch, "seed": seed, "epoch": e, "eval_set": es, "accuracy": acc[e - 1]}
            for sch, sets in curves.items() for seed in seeds for es, acc in sets.items()
            for e in range(1, epochs + 1)]
    return pd.DataFrame(rows)


def test_run_summaries_pair_the_seeds_that_cover_the_window() -> None:
    spec = {"id": "3b", "eval_set": "patch_only", "summary": "max", "window": [1, 2], "a": "small_lr",
            "b": "large_lr"}
    df = pd.concat([metrics(), metrics(seeds=[7], curves={"large_lr": CURVES["large_lr"]})])  # seed 7: large only
    df = pd.concat([df, metrics(seeds=[8], epochs=1)])  # seed 8 stops at epoch 1: no covering run
    table = power.run_summaries(df, spec)
    assert list(table.index) == [("patch", s) for s in range(4)]
    assert table["a"].tolist() == [0.9] * 4 and table["b"].tolist() == [0.1] * 4
    assert not table["censored"].any()
    with pytest.raises(ConfigError) as exc:
        power.run_summaries(metrics(epochs=2), {**spec, "window": [3, 4]})
    assert str(exc.value) == ("claim 3b: no seed has runs of small_lr, large_lr that cover epochs 3-4 on patch_only "
                              "(to estimate only the claims the runs cover, name them with --claims ID ...)")


def test_claims_before_the_anneal_get_the_pre_anneal_seeds_too() -> None:
    config = load_config()  # smoke: patch seeds 0-1, pre-anneal seed 2, anneal at 3
    table = power.verdict_agreement(metrics(), config, "patch", seeds=[3], pre_anneal_seeds=[0, 4], draws=20)
    n = table.set_index(["pre_anneal_seeds", "claim"])["n"]
    assert n[(0, "2")] == 3 and n[(4, "2")] == 3 and n[(4, "4")] == 3 and n[(4, "3a")] == 3
    assert n[(0, "3b")] == 3 and n[(4, "3b")] == 7 and n[(4, "3d")] == 7
    assert (table["runs"] == 4).all()
    # no spread between seeds: every campaign gives the same verdict
    rows = table.set_index(["pre_anneal_seeds", "claim"])
    for claim in ("2", "3b", "3d"):  # 0.75 relative error removed; peak 0.9 vs 0.1; mean 0.1 below 0.2
        assert rows.loc[(4, claim), "verdicts"] == "reproduced 1.00"
        assert rows.loc[(4, claim), "agreement"] == 1.0
    defaults = power.verdict_agreement(metrics(), config, "patch", draws=5)
    assert set(zip(defaults["seeds"], defaults["pre_anneal_seeds"])) == {(2, 1)}


def test_agreement_is_the_chance_two_campaigns_agree() -> None:
    # half the seeds show the effect, half the opposite: a 2-seed campaign of claim 3d is
    # "reproduced" only when both seeds are below 0.2 (zero spread) ...
    low = {"large_lr": {"test_clean": CURVES["large_lr"]["test_clean"], "patch_only": [0.1, 0.1, 0.9, 0.9]}}
    high = {"large_lr": {"test_clean": CURVES["large_lr"]["test_clean"], "patch_only": [0.3, 0.3, 0.9, 0.9]}}
    rest = {k: v for k, v in CURVES.items() if k != "large_lr"}
    df = pd.concat([metrics(seeds=[0, 1], curves={**low, **rest}), metrics(seeds=[2, 3], curves={**high, **rest})])
    config = load_config({"studies": {"patch": {"verdict": {"min_seeds": 2}}}})
    table = power.verdict_agreement(df, config, "patch", seeds=[2], pre_anneal_seeds=[0], draws=2000, rng_seed=1)
    row = table.set_index("claim").loc["3d"]
    freq = dict(part.rsplit(" ", 1) for part in row["verdicts"].split(", "))
    # ... (both low: 1/4), "not reproduced" when both are high (1/4), else inconclusive (1/2)
    assert float(freq["reproduced"]) == pytest.approx(0.25, abs=0.04)
    assert float(freq["not reproduced"]) == pytest.approx(0.25, abs=0.04)
    assert row["agreement"] == pytest.approx(0.25**2 * 2 + 0.5**2, abs=0.04)
    np.testing.assert_allclose(sum(float(f) for f in freq.values()), 1.0, atol=0.011)


def metrics_file(path, df: pd.DataFrame) -> str:
    """``df`` written as a run's ``metrics.csv`` (every column of :data:`lrorder.columns.METRIC_COLUMNS`)."""
    df.assign(lr=0.1, noise=0.0, loss=1.0, margin=0.0)[list(METRIC_COLUMNS)].to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("args, message", [
    (["--alias", "large_lr_100"], "error: --alias: expected RUN_SCHEDULE=SCHEDULE, got 'large_lr_100'"),
    (["--seeds", "1"], "error: --seeds: expected numbers of seeds of at least 2, got [1]"),
    (["--study", "nope"], "error: --study: 'nope' is not a study of the config"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, message) -> None:
    path = metrics_file(tmp_path / "metrics.csv", metrics())
    study = [] if "--study" in args else ["--study", "patch"]
    result = subprocess.run([sys.executable, "-m", "lrorder.power", str(path), *study, "--configfile",
                             str(ROOT / "presets" / "smoke.yaml"), "--draws", "2", *args],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


class _AllRows:
    """A stand-in for numpy's Generator whose draw takes every row once, in order."""

    @staticmethod
    def integers(low: int, high: int, size: int) -> np.ndarray:
        return np.arange(size) % high


def test_claims_left_out_count_in_holms_family_as_p_1() -> None:

    spec = next(s for s in plan.claim_specs(load_config(), "patch") if s["id"] == "3b")
    spec = {k: v for k, v in spec.items() if k != "seeds"}
    effect = np.array([0.1, 0.2, 0.3, 0.4])  # small - large, per seed
    table = pd.DataFrame({"a": 0.5 + effect, "b": np.full(4, 0.5), "censored": False})
    p = scipy_stats.ttest_1samp(effect, 0.0, alternative="greater").pvalue
    assert 0.01 < p < 0.05 / 2  # significant alone, not once Holm counts a family of 6 (p x 6)
    assert power.draw_verdicts([table], [spec], [4], _AllRows()) == ["reproduced"]
    assert power.draw_verdicts([table], [spec], [4], _AllRows(), family=6) == ["inconclusive"]


def test_a_subset_of_claims_needs_only_their_runs() -> None:
    config = load_config()
    pre = {k: {"patch_only": v["patch_only"]} for k, v in CURVES.items() if k != "act_noise"}
    with pytest.raises(ConfigError, match="claim 2: no seed has runs"):
        power.verdict_agreement(metrics(curves=pre), config, "patch", draws=2)
    table = power.verdict_agreement(metrics(curves=pre), config, "patch", draws=2, claim_ids=["3b", "3d"])
    assert table["claim"].tolist() == ["3b", "3d"]
    with pytest.raises(ConfigError, match="--claims: '9' is not a claim of study 'patch'"):
        power.verdict_agreement(metrics(curves=pre), config, "patch", draws=2, claim_ids=["9"])


def test_mean_and_sd_are_the_claims_per_seed_values_over_the_calibration_seeds() -> None:
    config = load_config()
    spec = next(s for s in plan.claim_specs(config, "patch") if s["id"] == "3b")
    lo, hi = spec["window"]
    frames = []
    for seed, large in enumerate([0.1, 0.2, 0.4]):  # small_lr's patch-only accuracy 0.9: 3b = 0.8, 0.7, 0.5
        curves = {"large_lr": {"patch_only": [large] * hi}, "small_lr": {"patch_only": [0.9] * hi}}
        frames.append(metrics(seeds=[seed], curves=curves, epochs=hi))
    table = power.verdict_agreement(pd.concat(frames), config, "patch", seeds=[2], pre_anneal_seeds=[0],
                                    draws=2, claim_ids=["3b"])
    row = table.iloc[0]
    assert row["runs"] == 3
    assert row["mean"] == pytest.approx(2.0 / 3.0)
    assert row["sd"] == pytest.approx(np.std([0.8, 0.7, 0.5], ddof=1))


def _run_cli(tmp_path, *paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrorder.power", *map(str, paths), "--study", "patch", "--configfile",
                           str(ROOT / "presets" / "smoke.yaml"), "--draws", "2"],
                          cwd=ROOT, capture_output=True, text=True)


def test_cli_refuses_a_run_passed_twice_and_rows_that_are_not_numbers(tmp_path) -> None:
    one = metrics_file(tmp_path / "a.csv", metrics())
    result = _run_cli(tmp_path, one, one)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: METRICS.csv: two of the files hold the row {'study': 'patch', "
                                    "'schedule': 'large_lr', 'seed': 0, 'eval_set': 'test_clean', 'epoch': 1}")
    df = metrics()
    df["accuracy"] = df["accuracy"].astype(object)
    df.loc[3, "accuracy"] = "abc"
    bad = metrics_file(tmp_path / "b.csv", df)
    result = _run_cli(tmp_path, bad)
    assert (result.returncode, result.stderr) == (2, f"error: {bad}: column accuracy must hold numbers in [0, 1]\n")
    df = metrics()
    df.loc[3, "accuracy"] = float("nan")
    nan = metrics_file(tmp_path / "c.csv", df)
    result = _run_cli(tmp_path, nan)
    assert (result.returncode, result.stderr) == (2, f"error: {nan}: column accuracy must hold numbers in [0, 1]\n")
