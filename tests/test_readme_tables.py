"""Tests of lrorder.readme_tables (README claims tables from a claims table, between marker lines)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lrorder import readme_tables
from lrorder.errors import DataError

CLAIMS = pd.DataFrame([
    {"study": "synthetic", "claim": "5a", "description": "the small LR fits Q first", "n_seeds": 10,
     "statistic": "epochs until q_only accuracy stays >= 0.95: large_lr - small_lr", "mean": 3.6, "ci_low": 1.06,
     "ci_high": 6.14, "verdict": "reproduced", "std": 3.5, "p_value": 0.01},
    {"study": "synthetic", "claim": "4", "description": "noise | recovers part of the gap", "n_seeds": 10,
     "statistic": "final p_only accuracy: small_lr_noise - small_lr", "mean": -0.0084, "ci_low": -0.0151,
     "ci_high": -0.0016, "verdict": "not reproduced", "std": 0.01, "p_value": 0.5},
    {"study": "clean", "claim": "1", "description": "before the anneal, the small LR is ahead", "n_seeds": 3,
     "statistic": "epoch 14 test accuracy: small_lr - large_lr", "mean": 0.2013, "ci_low": -0.0604,
     "ci_high": 0.4621, "verdict": "inconclusive", "std": 0.1, "p_value": 0.07},
])

SYNTHETIC = """\
| claim | description | statistic (per seed, paired) | n seeds | mean | CI | verdict |
| --- | --- | --- | --- | --- | --- | --- |
| 5a | the small LR fits Q first | epochs until q_only accuracy stays >= 0.95: large_lr - small_lr | 10 | +3.6 | [+1.1, +6.1] | reproduced |
| 4 | noise \\| recovers part of the gap | final p_only accuracy: small_lr_noise - small_lr | 10 | \u22120.008 | [\u22120.015, \u22120.002] | not reproduced |"""

CLEAN = """\
| claim | description | statistic (per seed, paired) | n seeds | mean | CI | verdict |
| --- | --- | --- | --- | --- | --- | --- |
| 1 | before the anneal, the small LR is ahead | epoch 14 test accuracy: small_lr - large_lr | 3 | +0.201 | [\u22120.060, +0.462] | inconclusive |"""

README = """\
# Title

Synthetic:

<!-- claims-table:synthetic:start -->
| claim | mean |
|---|---|
| 5a | 3.6 epochs |
<!-- claims-table:synthetic:end -->

Image:

<!-- claims-table:clean:start -->
<!-- claims-table:clean:end -->

Other text.
"""

REGENERATED = f"""\
# Title

Synthetic:

<!-- claims-table:synthetic:start -->

{SYNTHETIC}

<!-- claims-table:synthetic:end -->

Image:

<!-- claims-table:clean:start -->

{CLEAN}

<!-- claims-table:clean:end -->

Other text.
"""


def test_number_format() -> None:
    assert [readme_tables.number(v, 3) for v in (0.0846, -0.0084, 0.0, -0.0001, float("nan"))] == [
        "+0.085", "\u22120.008", "0.000", "0.000", "n/a"]
    assert readme_tables.number(4.6667, 1) == "+4.7"


def test_exact_markdown() -> None:
    assert readme_tables.tables(CLAIMS) == {"synthetic": SYNTHETIC, "clean": CLEAN}


def test_perturbation_columns() -> None:
    other = pd.DataFrame([{**CLAIMS.iloc[2].to_dict(), "mean": 0.35, "verdict": "reproduced"}])
    table = readme_tables.tables(CLAIMS, other)
    assert table["synthetic"] == SYNTHETIC  # the rerun has no synthetic study: no extra columns
    assert table["clean"].splitlines() == [
        "| claim | description | statistic (per seed, paired) | n seeds | mean | CI | verdict "
        "| mean, other CPU layout/threads | verdict, other CPU layout/threads |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        "| 1 | before the anneal, the small LR is ahead | epoch 14 test accuracy: small_lr - large_lr | 3 | +0.201 "
        "| [\u22120.060, +0.462] | inconclusive | +0.350 | reproduced |",
    ]
    missing = readme_tables.tables(CLAIMS, other.assign(claim="2"))["clean"]
    assert missing.splitlines()[2].endswith("| inconclusive | n/a | absent |")


def test_seeds_dropped_for_divergence_are_shown() -> None:
    with_column = CLAIMS.assign(n_diverged=[0, 1, 0])
    table = readme_tables.tables(with_column)
    assert table["clean"] == CLEAN
    assert table["synthetic"].splitlines()[3].startswith(
        "| 4 | noise \\| recovers part of the gap | final p_only accuracy: small_lr_noise - small_lr "
        "| 10 (1 diverged, dropped) | ")


def test_replace_tables() -> None:
    tables = readme_tables.tables(CLAIMS)
    assert readme_tables.replace_tables(README, tables) == REGENERATED
    assert readme_tables.replace_tables(REGENERATED, tables) == REGENERATED  # idempotent


@pytest.mark.parametrize("text, message", [
    (README.replace("<!-- claims-table:clean:end -->\n", ""),
     "README.md: marker line <!-- claims-table:clean:end --> missing"),
    (README.replace("<!-- claims-table:synthetic:start -->", "x"),
     "README.md: marker line <!-- claims-table:synthetic:start --> missing"),
    (README + "<!-- claims-table:clean:start -->\n",
     "README.md: marker line <!-- claims-table:clean:start --> appears 2 times"),
    (README.replace("<!-- claims-table:clean:start -->\n<!-- claims-table:clean:end -->",
                    "<!-- claims-table:clean:end -->\n<!-- claims-table:clean:start -->"),
     "README.md: marker line <!-- claims-table:clean:end --> comes before <!-- claims-table:clean:start -->"),
])
def test_bad_markers(text: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        readme_tables.replace_tables(text, readme_tables.tables(CLAIMS), "README.md")
    assert str(info.value) == message


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrorder.readme_tables", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_cli_print_write_and_check(tmp_path: Path) -> None:
    CLAIMS.to_csv(tmp_path / "claims.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text(README)

    printed = run("claims.csv", cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout == (
        f"<!-- claims-table:synthetic:start -->\n\n{SYNTHETIC}\n\n<!-- claims-table:synthetic:end -->\n\n"
        f"<!-- claims-table:clean:start -->\n\n{CLEAN}\n\n<!-- claims-table:clean:end -->\n")

    stale = run("claims.csv", "--check", "README.md", cwd=tmp_path)
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr == ("README.md: claims tables of synthetic, clean differ from claims.csv "
                            "(regenerate: the same command with --readme instead of --check)\n")

    written = run("claims.csv", "--readme", "README.md", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert readme.read_text() == REGENERATED

    fresh = run("claims.csv", "--check", "README.md", cwd=tmp_path)
    assert fresh.returncode == 0 and fresh.stderr == ""
    assert fresh.stdout == "README.md: claims tables of synthetic, clean match claims.csv\n"


def test_cli_missing_marker_leaves_readme(tmp_path: Path) -> None:
    CLAIMS.to_csv(tmp_path / "claims.csv", index=False)
    text = README.replace("<!-- claims-table:clean:start -->\n", "")
    (tmp_path / "README.md").write_text(text)
    for flag in ("--readme", "--check"):
        result = run("claims.csv", flag, "README.md", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == "error: README.md: marker line <!-- claims-table:clean:start --> missing\n"
    assert (tmp_path / "README.md").read_text() == text


def test_missing_column(tmp_path: Path) -> None:
    CLAIMS.drop(columns=["statistic"]).to_csv(tmp_path / "claims.csv", index=False)
    with pytest.raises(DataError, match=r"claims.csv: claims table lacks column\(s\) statistic"):
        readme_tables.read_claims([tmp_path / "claims.csv"])
