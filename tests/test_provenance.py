"""Tests of lrorder.provenance (run provenance, the provenance table) and lrorder.report_tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lrorder import provenance, report_tables
from lrorder.errors import DataError


def run_json(study: str, schedule: str, seed: int, **over) -> dict:
    record = {
        "run_config": {"study": study, "schedule": schedule, "seed": seed},
        "run_config_sha256": f"cfg{seed}",
        "dataset": {"path": "d", "manifest_sha256": "m", "files_sha256": {}},
        "git": {"commit": "abc", "dirty": False},
        "packages": {"python": "3.11", **{name: "1.0" for name in provenance.PACKAGES}},
        "device": {"type": "cpu", "name": None, "threads": 1, "deterministic_algorithms": True},
        "host": "h", "platform": "p", "argv": [], "slurm_job_id": "77",
        "resumed_from_epoch": 2, "started_utc": "s", "ended_utc": "e", "wall_time_s": 1.5,
    }
    record.update(over)
    return record


def write(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_collect_one_sorted_row_per_run(tmp_path: Path) -> None:
    files = [write(tmp_path / f"{sched}{seed}.json", run_json("synthetic", sched, seed))
             for sched, seed in [("small_lr", 1), ("large_lr", 1), ("large_lr", 0)]]
    table = provenance.collect(files)
    assert list(table.columns) == [*provenance.COLUMNS, "run_json"]
    assert table[["schedule", "seed"]].values.tolist() == [["large_lr", 0], ["large_lr", 1], ["small_lr", 1]]
    row = table.iloc[0]
    assert row["run_config_sha256"] == "cfg0" and row["dataset_manifest_sha256"] == "m"
    assert row["git_commit"] == "abc" and not row["git_dirty"]
    assert row["torch_version"] == "1.0" and row["python_version"] == "3.11"
    assert row["slurm_job_id"] == "77" and row["resumed_from_epoch"] == 2 and row["wall_time_s"] == 1.5
    assert row["run_json"] == str(tmp_path / "large_lr0.json")


def test_collect_names_file_and_missing_key(tmp_path: Path) -> None:
    record = run_json("synthetic", "a", 0)
    del record["git"]["commit"]
    bad = write(tmp_path / "run.json", record)
    with pytest.raises(DataError, match=r"run.json: key git.commit missing"):
        provenance.collect([bad])


def test_collect_rejects_invalid_json(tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text("{")
    with pytest.raises(DataError, match=r"run.json: not valid JSON"):
        provenance.collect([bad])


def test_cli_writes_tsv(tmp_path: Path) -> None:
    files = [str(write(tmp_path / "a.json", run_json("clean", "small_lr", 0)))]
    provenance.main(["--runs", *files, "--out", str(tmp_path / "out" / "provenance.tsv")])
    table = pd.read_csv(tmp_path / "out" / "provenance.tsv", sep="\t")
    assert table["schedule"].tolist() == ["small_lr"] and len(table.columns) == len(provenance.COLUMNS) + 1


def test_report_table_html(tmp_path: Path) -> None:
    source = tmp_path / "claims.tsv"
    pd.DataFrame({"claim": ["5a"], "mean": [0.123456789], "verdict": ["<b>x</b>"]}).to_csv(source, sep="\t", index=False)
    out = tmp_path / "claims.html"
    report_tables.main(["--table", str(source), "--title", "Claims & checks", "--out", str(out)])
    page = out.read_text()
    assert "<h2>Claims &amp; checks</h2>" in page
    assert "<td>0.1235</td>" in page  # 4 significant digits
    assert "&lt;b&gt;x&lt;/b&gt;" in page  # cell text escaped
    assert page.count("<tr") == 2


def test_report_table_missing_source(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="summary.csv: table file not found"):
        report_tables.read_table(tmp_path / "summary.csv")
