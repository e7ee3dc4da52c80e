"""Tests of lrorder.compare (two campaigns side by side)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lrorder import compare
from lrorder.errors import DataError


def campaign(root: Path, tag: str, final: float, claim_mean: float, verdict: str, extra_claim: bool = False) -> None:
    base = root / tag
    (base / "aggregate" / "synthetic").mkdir(parents=True)
    pd.DataFrame([
        {"study": "synthetic", "schedule": "large_lr", "eval_set": "test", "statistic": "final_accuracy",
         "epoch": 200, "n": 10, "mean": final, "std": 0.01, "ci_low": final - 0.01, "ci_high": final + 0.01},
    ]).to_csv(base / "aggregate" / "synthetic" / "summary.csv", index=False)
    claims = [{"study": "synthetic", "claim": "5b", "n_seeds": 10, "mean": claim_mean, "ci_low": claim_mean - 0.05,
               "ci_high": claim_mean + 0.05, "verdict": verdict}]
    if extra_claim:
        claims.append({"study": "synthetic", "claim": "4", "n_seeds": 10, "mean": 0.0, "ci_low": -0.01,
                       "ci_high": 0.01, "verdict": "not reproduced"})
    pd.DataFrame(claims).to_csv(base / "claims.csv", index=False)


def test_compare_deltas_and_verdict_changes(tmp_path: Path) -> None:
    campaign(tmp_path, "a", final=0.90, claim_mean=0.08, verdict="reproduced", extra_claim=True)
    campaign(tmp_path, "b", final=0.95, claim_mean=0.02, verdict="inconclusive")
    summary = compare.compare_summaries(compare.read_summaries(tmp_path / "a"), compare.read_summaries(tmp_path / "b"))
    assert summary["delta"].tolist() == pytest.approx([0.05])
    assert summary[["mean_a", "mean_b", "epoch_a", "n_b"]].values.tolist() == [[0.90, 0.95, 200, 10]]

    claims = compare.compare_claims(pd.read_csv(tmp_path / "a" / "claims.csv"), pd.read_csv(tmp_path / "b" / "claims.csv"))
    by_claim = claims.set_index("claim")
    assert by_claim.loc["5b", "delta"] == pytest.approx(-0.06)
    assert by_claim.loc["5b", ["verdict_a", "verdict_b"]].tolist() == ["reproduced", "inconclusive"]
    assert bool(by_claim.loc["5b", "verdict_changed"])
    assert by_claim.loc["4", "verdict_b"] == "absent" and pd.isna(by_claim.loc["4", "delta"])


def test_cli_prints_and_writes(tmp_path: Path, capsys) -> None:
    campaign(tmp_path, "a", final=0.90, claim_mean=0.08, verdict="reproduced")
    campaign(tmp_path, "b", final=0.90, claim_mean=0.08, verdict="reproduced")
    out = tmp_path / "cmp" / "claims.csv"
    compare.main(["a", "b", "--root", str(tmp_path), "--out-claims", str(out)])
    printed = capsys.readouterr().out
    assert "A = a, B = b; delta = B - A" in printed and "5b" in printed and "large_lr" in printed
    written = pd.read_csv(out)
    assert written["delta"].tolist() == [0.0] and not written["verdict_changed"].any()


def test_missing_campaign_names_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope: no finished campaign with tag 'nope'"):
        compare.campaign_dir(tmp_path, "nope")
