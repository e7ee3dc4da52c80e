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


# --check: stability of verdicts and means between two campaigns

def claim(study: str, cid: str, mean: float, low: float, high: float, verdict: str, **extra) -> dict:
    return {"study": study, "claim": cid, "verdict": verdict, "mean": mean, "ci_low": low, "ci_high": high, **extra}


REFERENCE = [
    claim("clean", "1", 0.20, -0.06, 0.46, "inconclusive"),
    claim("patch", "3b", 0.51, -0.02, 1.04, "inconclusive"),
]


def write_campaign(root: Path, tag: str, claims: list[dict], per_study: bool = False) -> None:
    """A campaign with the given claim rows: claims.csv, or claims/<study>.csv per study; one summary per study."""
    table = pd.DataFrame(claims)
    for study, rows in table.groupby("study"):
        (root / tag / "aggregate" / study).mkdir(parents=True)
        pd.DataFrame([{"study": study, "schedule": "large_lr", "eval_set": "test", "statistic": "final_accuracy",
                       "epoch": 30, "n": 3, "mean": 0.9}]).to_csv(root / tag / "aggregate" / study / "summary.csv",
                                                                   index=False)
        if per_study:
            (root / tag / "claims").mkdir(exist_ok=True)
            rows.to_csv(root / tag / "claims" / f"{study}.csv", index=False)
    if not per_study:
        table.to_csv(root / tag / "claims.csv", index=False)


def rows(table: pd.DataFrame) -> list[list]:
    return table.values.tolist()


def test_check_stable() -> None:
    other = [claim("clean", "1", 0.25, 0.0, 0.5, "inconclusive"), claim("patch", "3b", 0.59, 0.02, 1.17, "inconclusive")]
    table = compare.check_stability(pd.DataFrame(REFERENCE), pd.DataFrame(other))
    assert list(table.columns) == compare.STABILITY_COLUMNS
    assert rows(table) == [["clean", "1", "inconclusive", "inconclusive", 0.20, 0.25, True, True, True],
                           ["patch", "3b", "inconclusive", "inconclusive", 0.51, 0.59, True, True, True]]
    assert compare.stability_report(table) == (
        [], "stable: 2 claims, 0 verdict changes, every mean inside the other's CI")


def test_check_verdict_change_and_mean_outside_ci() -> None:
    # patch 3b: the README's measured channels-last run (inconclusive -> reproduced, means inside each other's CI)
    other = [claim("clean", "1", 0.40, 0.30, 0.50, "reproduced"), claim("patch", "3b", 0.594, 0.018, 1.170, "reproduced")]
    table = compare.check_stability(pd.DataFrame(REFERENCE), pd.DataFrame(other))
    assert rows(table) == [["clean", "1", "inconclusive", "reproduced", 0.20, 0.40, False, True, False],
                           ["patch", "3b", "inconclusive", "reproduced", 0.51, 0.594, True, True, False]]
    failures, summary = compare.stability_report(table, "default", "perturb")
    assert failures == [
        "clean claim 1: verdict 'inconclusive' in default, 'reproduced' in perturb; default's mean 0.2 outside perturb's CI",
        "patch claim 3b: verdict 'inconclusive' in default, 'reproduced' in perturb",
    ]
    assert summary == ("unstable: 2 of 2 claims fail (2 verdict changes, 1 with a mean outside the other's CI, "
                       "0 in one campaign only)")


def test_check_mean_outside_ci_same_verdict() -> None:
    other = [REFERENCE[0], claim("patch", "3b", 1.10, 0.90, 1.30, "inconclusive")]
    table = compare.check_stability(pd.DataFrame(REFERENCE), pd.DataFrame(other))
    assert rows(table)[1] == ["patch", "3b", "inconclusive", "inconclusive", 0.51, 1.10, False, False, False]
    failures, _ = compare.stability_report(table)
    assert failures == ["patch claim 3b: A's mean 0.51 outside B's CI; B's mean 1.1 outside A's CI"]


def test_check_missing_claim() -> None:
    table = compare.check_stability(pd.DataFrame(REFERENCE), pd.DataFrame(REFERENCE[:1]))
    assert rows(table)[0] == ["clean", "1", "inconclusive", "inconclusive", 0.20, 0.20, True, True, True]
    assert rows(table)[1][:4] == ["patch", "3b", "inconclusive", "absent"]
    assert pd.isna(rows(table)[1][5]) and rows(table)[1][6:] == [False, False, False]
    failures, summary = compare.stability_report(table, "default", "perturb")
    assert failures == ["patch claim 3b: only in default"]
    assert summary == ("unstable: 1 of 2 claims fail (0 verdict changes, 0 with a mean outside the other's CI, "
                       "1 in one campaign only)")
    none = pd.DataFrame(columns=list(REFERENCE[0]))
    empty = compare.check_stability(none, none)
    assert compare.stability_report(empty) == (["no claims in either campaign"], "unstable: 0 claims compared")


def test_check_cli_exit_codes(tmp_path: Path, capsys) -> None:
    write_campaign(tmp_path, "ref", [*REFERENCE, claim("synthetic", "5b", 0.085, 0.038, 0.131, "reproduced")])
    write_campaign(tmp_path, "same", REFERENCE, per_study=True)  # image studies only, no claims.csv
    compare.main(["ref", "same", "--root", str(tmp_path), "--studies", "clean", "patch", "--check"])
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("stable: 2 claims, 0 verdict changes, every mean inside the other's CI")
    assert "synthetic" not in captured.out and captured.err == ""

    with pytest.raises(DataError, match="claims.csv missing"):  # without --studies, "same" has no claims.csv
        compare.main(["ref", "same", "--root", str(tmp_path), "--check"])

    write_campaign(tmp_path, "moved", [REFERENCE[0], claim("patch", "3b", 0.594, 0.018, 1.170, "reproduced")],
                   per_study=True)
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["ref", "moved", "--root", str(tmp_path), "--studies", "clean", "patch", "--check"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "patch claim 3b: verdict 'inconclusive' in ref, 'reproduced' in moved",
        "unstable: 1 of 2 claims fail (1 verdict change, 0 with a mean outside the other's CI, 0 in one campaign only)",
    ]


def test_claims_extra_and_missing_optional_columns(tmp_path: Path, capsys) -> None:
    """Only study, claim, verdict, mean, ci_low, ci_high are needed; unknown columns are ignored."""
    write_campaign(tmp_path, "a", [claim("clean", "1", 0.2, 0.1, 0.3, "reproduced", n_seeds=3, new_column="x")])
    write_campaign(tmp_path, "b", [claim("clean", "1", 0.2, 0.1, 0.3, "reproduced", other_new=1.5)])
    compare.main(["a", "b", "--root", str(tmp_path), "--check"])
    assert "stable: 1 claim, 0 verdict changes" in capsys.readouterr().out
    write_campaign(tmp_path, "c", [{"study": "clean", "claim": "1", "verdict": "reproduced", "mean": 0.2}])
    with pytest.raises(DataError, match=r"c/claims.csv: claims table lacks column\(s\) ci_low, ci_high"):
        compare.main(["a", "c", "--root", str(tmp_path)])


# --check: the campaigns' per-seed values, paired by seed

def seed_rows(study: str, cid: str, values: dict[int, float]) -> list[dict]:
    return [{"study": study, "claim": cid, "seed": seed, "value": value} for seed, value in values.items()]


def test_paired_differences_by_hand() -> None:
    a = pd.DataFrame(seed_rows("patch", "2", {0: 0.60, 1: 0.70, 2: 0.65, 3: float("nan")})
                     + seed_rows("patch", "4", {0: 0.1, 1: 0.2}) + seed_rows("clean", "1", {0: 0.1}))
    b = pd.DataFrame(seed_rows("patch", "2", {0: 0.50, 1: 0.72, 2: 0.62, 3: 0.9, 4: 0.7})
                     + seed_rows("patch", "4", {0: 0.1, 1: 0.2}) + seed_rows("clean", "1", {0: 0.3}))
    table = compare.paired_differences(a, b)
    assert list(table.columns) == compare.PAIRED_COLUMNS
    assert table[["study", "claim", "n_paired"]].values.tolist() == [["clean", "1", 1], ["patch", "2", 3],
                                                                     ["patch", "4", 2]]
    two = table.iloc[1]
    # differences -0.10, +0.02, -0.03 (seed 3: NaN in A; seed 4: only in B): mean -0.03667, sd 0.06028,
    # t = -1.05355 on 2 df, two-sided p = 1 - |t| / sqrt(t^2 + 2) = 0.40258 (the t distribution's closed form
    # for 2 df); 95% CI mean -+ 4.3027 * sd / sqrt(3)
    assert two["mean_difference"] == pytest.approx(-0.036667, abs=1e-6)
    assert two["p_value"] == pytest.approx(0.40258, abs=2e-5)
    assert (two["ci_low"], two["ci_high"]) == pytest.approx((-0.18641, 0.11307), abs=1e-4)
    # patch 4: every difference 0, no scatter: p = 1 (identical); clean 1: one pair, untested
    four = table.iloc[2]
    assert (four["p_value"], four["ci_low"], four["ci_high"]) == (1.0, 0.0, 0.0)
    assert two["p_holm"] == pytest.approx(min(1.0, 2 * two["p_value"]))  # Holm over patch 2 and 4
    assert pd.isna(table.iloc[0]["p_value"]) and pd.isna(table.iloc[0]["p_holm"])
    assert compare.paired_summary(table) == ("no claim's per-seed values differ between the campaigns "
                                             "(Holm p >= 0.05, 2 claims); 1 with fewer than 2 paired seeds, untested")


def test_paired_shift_without_scatter_differs() -> None:
    """Regression: a rerun shifted by exactly +0.25 on every seed had no scatter, got p = NaN and was not
    flagged."""
    a = pd.DataFrame(seed_rows("patch", "4", {s: float(s) for s in range(5)}))
    b = pd.DataFrame(seed_rows("patch", "4", {s: s + 0.25 for s in range(5)}))
    table = compare.paired_differences(a, b)
    assert table[["p_value", "p_holm", "ci_low", "ci_high"]].values.tolist()[0] == [0.0, 0.0, 0.25, 0.25]
    assert compare.paired_summary(table) == ("1 of 1 tested claims have per-seed values that differ between the "
                                             "campaigns (Holm p < 0.05): patch 4")


@pytest.mark.parametrize("rows, message", [
    ([{"study": "patch", "claim": "2", "seed": 0, "value": "high"}], "column value must hold numbers"),
    ([{"study": "patch", "claim": "2", "seed": "zero", "value": 0.1}], "column seed must hold integers"),
    (seed_rows("patch", "2", {0: 0.1}) * 2, "two rows for study patch claim 2 seed 0"),
])
def test_bad_per_seed_table_is_one_line(tmp_path: Path, rows: list, message: str) -> None:
    (tmp_path / "claims").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "claims" / "patch.seeds.csv", index=False)
    with pytest.raises(DataError, match=message):
        compare.read_seed_values(tmp_path, ["patch"])


def test_check_prints_the_paired_differences(tmp_path: Path, capsys) -> None:
    write_campaign(tmp_path, "ref", REFERENCE, per_study=True)
    write_campaign(tmp_path, "rerun", REFERENCE, per_study=True)
    for tag in ("ref", "rerun"):  # the rerun: clean 1 scattered around the reference, patch 3b shifted by 0.5
        for study, cid, shift in (("clean", "1", 0.0), ("patch", "3b", 0.5)):
            values = {seed: 0.1 * seed + (shift + 0.01 * (-1) ** seed if tag == "rerun" else 0.0) for seed in range(5)}
            pd.DataFrame(seed_rows(study, cid, values)).to_csv(tmp_path / tag / "claims" / f"{study}.seeds.csv",
                                                              index=False)
    compare.main(["ref", "rerun", "--root", str(tmp_path), "--studies", "clean", "patch", "--check"])
    out = capsys.readouterr().out
    assert "Paired by seed, B - A" in out
    assert "paired: 1 of 2 tested claims have per-seed values that differ between the campaigns (Holm p < 0.05): " \
           "patch 3b" in out
    (tmp_path / "rerun" / "claims" / "clean.seeds.csv").unlink()
    compare.main(["ref", "rerun", "--root", str(tmp_path), "--studies", "clean", "patch", "--check"])
    assert ("note: no paired comparison: rerun has no claims/<study>.seeds.csv for every study compared"
            in capsys.readouterr().out)
