"""Tests of lrorder.aggregate: loading runs, pre-anneal epoch, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lrorder import aggregate, cli, columns, fileio
from lrorder.errors import ConfigError, DataError


def run_metrics(schedule: str, seed: int, acc: dict[str, list[float]], study: str = "synthetic") -> pd.DataFrame:
    """Tidy metrics of one run: ``acc[eval_set][epoch - 1]`` is the accuracy at that epoch."""
    rows = [
        {"study": study, "schedule": schedule, "seed": seed, "epoch": e, "lr": 0.1, "noise": 0.0,
         "eval_set": es, "loss": 1.0 - a, "accuracy": a,
         "margin": a - 0.5}
        for es, accs in acc.items() for e, a in enumerate(accs, start=1)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def write_run(tmp_path: Path):
    def _write(name: str, df: pd.DataFrame) -> Path:
        path = tmp_path / name
        df.to_csv(path, index=False)
        return path
    return _write


def test_load_runs_concatenates_and_sorts(write_run) -> None:
    p1 = write_run("b.csv", run_metrics("small_lr", 1, {"test": [0.5, 0.6], "train": [0.4, 0.7]}))
    p2 = write_run("a.csv", run_metrics("large_lr", 0, {"test": [0.3, 0.8]}))
    df = aggregate.load_runs([p1, p2])
    assert list(df.columns) == list(columns.METRIC_COLUMNS)
    assert len(df) == 6
    assert list(df["schedule"]) == ["large_lr"] * 2 + ["small_lr"] * 4
    assert list(df["eval_set"][2:]) == ["test", "test", "train", "train"]
    assert list(df["epoch"][2:]) == [1, 2, 1, 2]


def test_summarize_final_and_pre_anneal_epoch() -> None:
    # 4 epochs, anneal at epoch 3 -> pre-anneal accuracy is read at epoch 2
    df = pd.concat([
        run_metrics("large_lr", 0, {"test": [0.1, 0.2, 0.5, 0.6]}),
        run_metrics("large_lr", 1, {"test": [0.1, 0.4, 0.5, 0.8]}),
    ], ignore_index=True)
    s = aggregate.summarize(df, anneal_epoch=3)
    assert list(s.columns) == list(aggregate.SUMMARY_COLUMNS)
    assert list(s["statistic"]) == ["final_accuracy", "pre_anneal_accuracy"]
    final, pre = s.iloc[0], s.iloc[1]
    assert (final["epoch"], final["n"]) == (4, 2)
    assert final["mean"] == pytest.approx(0.7)
    assert pre["epoch"] == 2
    assert pre["mean"] == pytest.approx(0.3)
    # n = 2: std = 0.1414, t_{0.975,1} = 12.7062, half = 12.7062 * 0.1 = 1.27062
    assert pre["std"] == pytest.approx(0.14142136)
    assert pre["ci_high"] == pytest.approx(0.3 + 1.2706204736)


def test_summarize_without_anneal_epoch() -> None:
    df = run_metrics("small_lr", 0, {"test": [0.5, 0.9], "train": [0.6, 1.0]})
    s = aggregate.summarize(df, None)
    assert set(s["statistic"]) == {"final_accuracy"}
    assert list(s["eval_set"]) == ["test", "train"]
    assert list(s["mean"]) == [0.9, 1.0]


@pytest.mark.parametrize("epoch", [1, 5])
def test_summarize_rejects_bad_anneal_epoch(epoch: int) -> None:
    df = run_metrics("small_lr", 0, {"test": [0.5, 0.9, 0.9]})
    with pytest.raises(ConfigError, match="--anneal-epoch"):
        aggregate.summarize(df, epoch)


def test_duplicate_run_is_an_error(write_run) -> None:
    p1 = write_run("run1.csv", run_metrics("small_lr", 3, {"test": [0.5]}))
    p2 = write_run("run2.csv", run_metrics("small_lr", 3, {"test": [0.6]}))
    with pytest.raises(DataError, match=r"run2\.csv: run study=synthetic schedule=small_lr seed=3 is also in .*run1\.csv"):
        aggregate.load_runs([p1, p2])


def test_missing_column_names_the_file(write_run) -> None:
    path = write_run("broken.csv", run_metrics("small_lr", 0, {"test": [0.5]}).drop(columns=["noise"]))
    with pytest.raises(DataError, match=r"broken\.csv: missing column\(s\) noise"):
        aggregate.load_runs([path])


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: metrics file not found"):
        aggregate.load_runs([tmp_path / "nope.csv"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: metrics file is empty"):
        aggregate.load_runs([empty])
    header = tmp_path / "header.csv"
    header.write_text(",".join(columns.METRIC_COLUMNS) + "\n")
    with pytest.raises(DataError, match=r"header\.csv: .*no rows"):
        aggregate.load_runs([header])


def test_accuracy_out_of_range(write_run) -> None:
    path = write_run("pct.csv", run_metrics("small_lr", 0, {"test": [55.0]}))
    with pytest.raises(DataError, match=r"pct\.csv: column accuracy"):
        aggregate.load_runs([path])


def test_cli_writes_both_tables(write_run, tmp_path: Path) -> None:
    p1 = write_run("r0.csv", run_metrics("large_lr", 0, {"test": [0.2, 0.4, 0.9]}))
    p2 = write_run("r1.csv", run_metrics("large_lr", 1, {"test": [0.2, 0.6, 0.7]}))
    out_m, out_s = tmp_path / "out" / "all.csv", tmp_path / "out" / "summary.csv"
    aggregate.main(["--metrics", str(p1), str(p2), "--anneal-epoch", "3",
                    "--out-metrics", str(out_m), "--out-summary", str(out_s)])
    assert len(pd.read_csv(out_m)) == 6
    s = pd.read_csv(out_s)
    assert s.set_index("statistic")["mean"].to_dict() == pytest.approx(
        {"final_accuracy": 0.8, "pre_anneal_accuracy": 0.5})
    assert sorted(p.name for p in out_m.parent.iterdir()) == ["all.csv", "summary.csv"]  # no temp files left


def test_binary_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\x89\xff\x00\x01binary")
    with pytest.raises(DataError, match=r"weights\.pt: cannot read as CSV"):
        aggregate.load_runs([path])


def test_run_cut_short_is_an_error(write_run) -> None:
    full = write_run("full.csv", run_metrics("large_lr", 0, {"test": [0.1, 0.2, 0.3, 0.4]}, study="clean"))
    cut = write_run("cut.csv", run_metrics("small_lr", 1, {"test": [0.1, 0.2, 0.3]}, study="clean"))
    assert len(aggregate.load_runs([full, cut])) == 7  # without the expected epochs: accepted
    assert len(aggregate.load_runs([full], epochs=4)) == 4
    with pytest.raises(DataError) as err:
        aggregate.load_runs([full, cut], epochs=4)
    assert str(err.value) == (f"{cut}: run study=clean schedule=small_lr seed=1 ends at epoch 3, "
                              "expected 4 (studies.clean.training.epochs)")
    longer = write_run("longer.csv", run_metrics("small_lr", 2, {"test": [0.1] * 5}, study="clean"))
    with pytest.raises(DataError, match="seed=2 ends at epoch 5, expected 4"):
        aggregate.load_runs([full, longer], epochs=4)


def test_gap_inside_a_run_is_an_error(write_run) -> None:
    """Regression: a run missing epoch 3 (or one evaluation set at one epoch) was aggregated
    silently, and the claims then failed with a misleading window message."""
    metrics = run_metrics("small_lr", 1, {"test": [0.1, 0.2, 0.3, 0.4], "test_q_only": [0.5, 0.6, 0.7, 0.8]})
    no_epoch3 = write_run("gap.csv", metrics[metrics["epoch"] != 3])
    with pytest.raises(DataError) as err:
        aggregate.load_runs([no_epoch3], epochs=4)
    assert str(err.value) == (f"{no_epoch3}: run study=synthetic schedule=small_lr seed=1 has no test row for "
                              "epoch 3 (expected every evaluation set at every epoch 1-4)")
    one_set = write_run("one.csv", metrics[~((metrics["epoch"] == 2) & (metrics["eval_set"] == "test_q_only"))])
    with pytest.raises(DataError, match=r"seed=1 has no test_q_only row for epoch 2 \(expected"):
        aggregate.load_runs([one_set], epochs=4)


def test_run_scored_at_some_epochs_is_complete(write_run, tmp_path: Path) -> None:
    """A run that scores its sets at epochs 2 and 4 only (``training.eval_every: 2``) aggregates; one that
    lost a train row or its last epoch's scores does not, nor, given its run.json's scoring plan, one that
    lost a row the plan scores."""
    metrics = run_metrics("small_lr", 1, {"train": [0.1, 0.2, 0.3, 0.4], "test": [0.1, 0.2, 0.3, 0.4],
                                          "test_q_only": [0.5, 0.6, 0.7, 0.8]})
    sparse = metrics[(metrics["eval_set"] == "train") | metrics["epoch"].isin([2, 4])]
    loaded = aggregate.load_runs([write_run("sparse.csv", sparse)], epochs=4)
    assert sorted(zip(loaded["eval_set"], loaded["epoch"])) == sorted(
        [("train", e) for e in range(1, 5)] + [(name, e) for name in ("test", "test_q_only") for e in (2, 4)])
    for name, epoch in [("train", 3), ("test", 4)]:
        cut = sparse[~((sparse["eval_set"] == name) & (sparse["epoch"] == epoch))]
        with pytest.raises(DataError, match=rf"seed=1 has no {name} row for epoch {epoch} \(expected"):
            aggregate.load_runs([write_run("cut.csv", cut)], epochs=4)
    # each set has its own epochs (lrorder.plan.evaluation): test_q_only at 4 only passes the file check, and
    # against a plan that scores it at 2 and 4 it is one row short
    no_q2 = write_run("no_q2.csv", sparse[~((sparse["eval_set"] == "test_q_only") & (sparse["epoch"] == 2))])
    assert len(aggregate.load_runs([no_q2], epochs=4)) == len(sparse) - 1
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"run_config": {"study": "synthetic", "schedule": "small_lr", "seed": 1,
                                                   "evaluation": {"sets": {"test": [2, 4], "test_q_only": [2, 4]}}}}))
    plans = {}
    runs = aggregate.read_run_files([run_json], plans)
    with pytest.raises(DataError, match=r"seed=1 has no test_q_only row for epoch 2 \(its run.json's scoring plan"):
        aggregate.load_runs([no_q2], epochs=4, runs=runs, plans=plans)



def test_scored_epoch_lost_whole_is_caught_by_the_run_json_plan(write_run, tmp_path: Path) -> None:
    """Regression: a run that lost every evaluation row of one scored epoch (here 3, the epoch before the
    anneal) passed the completeness check, which can only infer the scored epochs from the file, and the
    summary reported n=0 there; the run's scoring plan in run.json names the epochs it scored."""
    metrics = run_metrics("small_lr", 1, {"train": [0.1, 0.2, 0.3, 0.4], "test": [0.1, 0.2, 0.3, 0.4]})
    lost = write_run("lost.csv", metrics[(metrics["eval_set"] == "train") | (metrics["epoch"] != 3)])
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"run_config": {"study": "synthetic", "schedule": "small_lr", "seed": 1,
                                                   "evaluation": {"sets": {"test": [1, 2, 3, 4]}}}}))
    assert len(aggregate.load_runs([lost], epochs=4)) == 7  # without the plan: looks like a sparse run
    plans = {}
    runs = aggregate.read_run_files([run_json], plans)
    assert plans == {("synthetic", "small_lr", 1): {"sets": {"test": [1, 2, 3, 4]}}}
    with pytest.raises(DataError) as err:
        aggregate.load_runs([lost], epochs=4, runs=runs, plans=plans)
    assert str(err.value) == (f"{lost}: run study=synthetic schedule=small_lr seed=1 has no test row for epoch 3 "
                              "(its run.json's scoring plan, run_config.evaluation, scores it)")

def test_cli_run_cut_short_exits_with_one_line(write_run, tmp_path: Path, capsys) -> None:
    """Both seeds of one schedule cut short: not summarised as that schedule's final epoch."""
    paths = [write_run("a0.csv", run_metrics("large_lr", 0, {"test": [0.1, 0.2, 0.3, 0.4]})),
             write_run("a1.csv", run_metrics("large_lr", 1, {"test": [0.1, 0.2, 0.3, 0.5]})),
             write_run("b0.csv", run_metrics("small_lr", 0, {"test": [0.1, 0.2, 0.3]})),
             write_run("b1.csv", run_metrics("small_lr", 1, {"test": [0.1, 0.2, 0.4]}))]
    out = [str(tmp_path / "all.csv"), str(tmp_path / "summary.csv")]
    args = ["--metrics", *map(str, paths), "--epochs", "4", "--out-metrics", out[0], "--out-summary", out[1]]
    with pytest.raises(SystemExit) as exit_info:
        cli.run(aggregate.main, args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: {paths[2]}: run study=synthetic schedule=small_lr seed=0 ends at "
                                       "epoch 3, expected 4 (studies.synthetic.training.epochs)\n")
    assert not any(Path(p).exists() for p in out)


# --------------------------------------------------------------------------- diverged runs


def write_run_json(tmp_path: Path, name: str, schedule: str, seed: int, diverged, study: str = "synthetic") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"run_config": {"study": study, "schedule": schedule, "seed": seed},
                                **({} if diverged == "absent" else {"diverged": diverged})}))
    return path


@pytest.fixture
def diverged_campaign(write_run, tmp_path: Path):
    """large_lr seeds 0-2 (seed 2 diverged at epoch 1, accuracy 0 there), small_lr seeds 0-1; 4 epochs, anneal at 3."""
    metrics = [write_run("l0.csv", run_metrics("large_lr", 0, {"test": [0.1, 0.4, 0.5, 0.6]})),
               write_run("l1.csv", run_metrics("large_lr", 1, {"test": [0.1, 0.2, 0.5, 0.8]})),
               write_run("l2.csv", run_metrics("large_lr", 2, {"test": [0.0]})),
               write_run("s0.csv", run_metrics("small_lr", 0, {"test": [0.5, 0.6, 0.7, 0.7]})),
               write_run("s1.csv", run_metrics("small_lr", 1, {"test": [0.5, 0.6, 0.7, 0.9]}))]
    runs = [write_run_json(tmp_path, "l0.json", "large_lr", 0, None),
            write_run_json(tmp_path, "l1.json", "large_lr", 1, False),
            write_run_json(tmp_path, "l2.json", "large_lr", 2, {"epoch": 1, "training_loss": "nan"}),
            write_run_json(tmp_path, "s0.json", "small_lr", 0, "absent"),
            write_run_json(tmp_path, "s1.json", "small_lr", 1, None)]
    return metrics, runs


def test_read_run_files(diverged_campaign, tmp_path: Path) -> None:
    _, runs = diverged_campaign
    assert aggregate.read_run_files(runs) == {
        ("synthetic", "large_lr", 0): None, ("synthetic", "large_lr", 1): None, ("synthetic", "large_lr", 2): 1,
        ("synthetic", "small_lr", 0): None, ("synthetic", "small_lr", 1): None}
    bad = write_run_json(tmp_path, "bad.json", "large_lr", 5, {"epoch": "1"})
    with pytest.raises(DataError, match=r"bad\.json: diverged: expected"):
        aggregate.read_run_files([bad])
    with pytest.raises(DataError, match=r"l0\.json: run study=synthetic schedule=large_lr seed=0 is also in"):
        aggregate.read_run_files([runs[0], runs[0]])


def test_diverged_run_may_end_early_only_if_its_run_json_says_so(diverged_campaign, tmp_path: Path) -> None:
    metrics, runs = diverged_campaign
    with pytest.raises(DataError, match=r"l2\.csv: run study=synthetic schedule=large_lr seed=2 ends at epoch 1, "
                                        r"expected 4"):
        aggregate.load_runs(metrics, epochs=4)
    df = aggregate.load_runs(metrics, epochs=4, runs=aggregate.read_run_files(runs))
    assert list(df.columns) == [*columns.METRIC_COLUMNS, "diverged"]
    assert df.groupby(["schedule", "seed"])["diverged"].all().to_dict() == {
        ("large_lr", 0): False, ("large_lr", 1): False, ("large_lr", 2): True,
        ("small_lr", 0): False, ("small_lr", 1): False}
    # run.json says diverged at epoch 2, the metrics end at 1
    other = {**aggregate.read_run_files(runs), ("synthetic", "large_lr", 2): 2}
    with pytest.raises(DataError, match=r"seed=2 ends at epoch 1, but its run.json says it diverged at epoch 2"):
        aggregate.load_runs(metrics, epochs=4, runs=other)
    with pytest.raises(DataError, match=r"l2\.csv: run study=synthetic schedule=large_lr seed=2 has no run.json"):
        aggregate.load_runs(metrics, epochs=4, runs=aggregate.read_run_files(runs[:2]))


def test_summary_counts_diverged_runs_and_leaves_them_out(diverged_campaign, tmp_path: Path) -> None:
    """Regression: a diverged run's accuracy 0 was averaged into the schedule's mean."""
    metrics, runs = diverged_campaign
    out_m, out_s = tmp_path / "all.csv", tmp_path / "summary.csv"
    aggregate.main(["--metrics", *map(str, metrics), "--runs", *map(str, runs), "--epochs", "4",
                    "--anneal-epoch", "3", "--out-metrics", str(out_m), "--out-summary", str(out_s)])
    s = pd.read_csv(out_s)
    assert list(s.columns) == list(aggregate.SUMMARY_COLUMNS)
    got = {(r.schedule, r.statistic): (r.epoch, r.n, r.n_diverged, round(r.mean, 10)) for r in s.itertuples()}
    assert got == {("large_lr", "final_accuracy"): (4, 2, 1, 0.7),  # (0.6 + 0.8) / 2, not (0.6 + 0.8 + 0) / 3
                   ("large_lr", "pre_anneal_accuracy"): (2, 2, 1, 0.3),
                   ("small_lr", "final_accuracy"): (4, 2, 0, 0.8),
                   ("small_lr", "pre_anneal_accuracy"): (2, 2, 0, 0.6)}
    all_rows = pd.read_csv(out_m)
    assert all_rows["diverged"].sum() == 1 and len(all_rows) == 17
    # the table aggregated once more (as claims and figures read it) keeps the mark
    assert aggregate.load_runs([out_m])["diverged"].sum() == 1


def test_schedule_whose_runs_all_diverged() -> None:
    df = pd.concat([run_metrics("large_lr", 0, {"test": [0.0]}).assign(diverged=True),
                    run_metrics("large_lr", 1, {"test": [0.2, 0.0]}).assign(diverged=True),
                    run_metrics("small_lr", 0, {"test": [0.5, 0.6, 0.7]}).assign(diverged=False)],
                   ignore_index=True)
    s = aggregate.summarize(df, anneal_epoch=3).set_index(["schedule", "statistic"])
    row = s.loc[("large_lr", "final_accuracy")]
    assert (row["n"], row["n_diverged"]) == (0, 2) and pd.isna(row["epoch"]) and pd.isna(row["mean"])
    row = s.loc[("large_lr", "pre_anneal_accuracy")]
    assert (row["epoch"], row["n"], row["n_diverged"]) == (2, 0, 2) and pd.isna(row["mean"])
    assert s.loc[("small_lr", "pre_anneal_accuracy"), ["epoch", "n", "n_diverged", "mean"]].tolist() == [2, 1, 0, 0.6]


def test_metrics_changed_after_its_job_is_refused(write_run, tmp_path: Path) -> None:
    """Regression: an edited metrics.csv flowed into the aggregate, claims and figures before the
    results manifest step refused it; the aggregate now checks the sha256 its training job recorded."""
    run = tmp_path / "runs" / "synthetic" / "large_lr" / "seed0"
    run.mkdir(parents=True)
    metrics = run / "metrics.csv"
    run_metrics("large_lr", 0, {"test": [0.1, 0.2]}).to_csv(metrics, index=False)
    recorded = fileio.sha256_file(metrics)
    info = {"run_config": {"study": "synthetic", "schedule": "large_lr", "seed": 0}, "diverged": None,
            "outputs_sha256": {"metrics.csv": recorded}}
    (run / "run.json").write_text(json.dumps(info))
    assert aggregate.read_run_files([run / "run.json"]) == {("synthetic", "large_lr", 0): None}
    metrics.write_text(metrics.read_text().replace("0.2", "0.9"))
    with pytest.raises(DataError) as err:
        aggregate.read_run_files([run / "run.json"])
    assert str(err.value) == (f"{metrics}: sha256 {fileio.sha256_file(metrics)} differs from {recorded}, recorded by its "
                              f"training job in {run / 'run.json'} (changed after the job wrote it); delete it and "
                              "rerun snakemake to rebuild it")
