"""Tests of lrorder.sweeps: grids expanded into schedules with canonical names, and what the workflow plans of them."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import yaml

from configs import load_config
from lrorder import plan, sweeps
from lrorder.errors import ConfigError
from workflow_utils import SMOKE, make_workdir, planned_job_details, planned_jobs, snakemake

#: The synthetic study's pattern-reliance sets, scored like every set (lrorder.study_data).
RELIANCE = ["train_both_p_alone", "train_both_q_alone", "test_both_p_alone", "test_both_q_alone"]


def with_sweeps(sweep_specs: dict, study: str = "synthetic", **study_keys) -> dict:
    """The smoke config with ``sweeps`` (and other keys) set on ``study``."""
    return load_config({"studies": {study: {"sweeps": sweep_specs, **study_keys}}})


def cell_names(config: dict, study: str = "synthetic") -> list[str]:
    return [cell.name for cell in sweeps.cells(study, config["studies"][study])]


# --------------------------------------------------------------------------- canonical names


@pytest.mark.parametrize(("value", "integer", "text"), [
    (0.1, False, "0.1"), (1e-1, False, "0.1"), (0.10, False, "0.1"), (1, False, "1"), (1.0, False, "1"),
    (1e-4, False, "0.0001"), (2.5e6, False, "2500000"), (0.30000000000000004, False, "0.30000000000000004"),
    (25, True, "25"), (25.0, True, "25"),
])
def test_canonical_value(value, integer: bool, text: str) -> None:
    assert sweeps.canonical_value(value, integer) == text


def test_cell_names_follow_the_fixed_axis_order_not_the_configs() -> None:
    forward = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [0.4], "anneal": [3], "weight_decay": [1e-4]}}})
    backward = with_sweeps({"map": {"base": "large_lr", "axes": {"weight_decay": [1e-4], "anneal": [3], "lr": [0.4]}}})
    assert cell_names(forward) == cell_names(backward) == ["map_lr0.4_anneal3_wd0.0001"]


def test_a_yaml_grid_in_every_spelling_gives_one_set_of_names() -> None:
    """YAML reads ``1.0e-1`` and ``0.10`` as 0.1, and ``1`` as an int: the names are the same as for 0.1 and 1.0."""
    a = with_sweeps(yaml.safe_load("map: {base: large_lr, axes: {lr: [1.0e-1, 1], anneal: [3]}}"))
    b = with_sweeps(yaml.safe_load("map: {base: large_lr, axes: {lr: [0.10, 1.0], anneal: [3]}}"))
    assert cell_names(a) == cell_names(b) == ["map_lr0.1_anneal3", "map_lr1_anneal3"]
    assert plan.run_config(a, "synthetic", "map_lr1_anneal3", 0) == plan.run_config(b, "synthetic", "map_lr1_anneal3", 0)


def test_a_mixed_int_float_grid_keeps_integers_integers() -> None:
    """Snakemake's Paramspace has coerced int columns to float in mixed grids; here the anneal epoch stays an int
    in the name and in the run config, and an integer LR is a float there."""
    config = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [1, 0.5], "anneal": [3, 5]}}})
    assert cell_names(config) == ["map_lr1_anneal3", "map_lr1_anneal5", "map_lr0.5_anneal3", "map_lr0.5_anneal5"]
    run = plan.run_config(config, "synthetic", "map_lr1_anneal5", 0)
    assert run["lr"] == {"initial": 1.0, "milestones": [5], "factors": [0.05]}
    assert type(run["lr"]["initial"]) is float and type(run["lr"]["milestones"][0]) is int
    cell = sweeps.cells("synthetic", config["studies"]["synthetic"])[1]
    assert cell.axes == {"lr": 1.0, "anneal": 5} and type(cell.axes["anneal"]) is int and cell.anneal == 5
    assert json.dumps(cell.as_dict()) == ('{"sweep": "map", "schedule": "map_lr1_anneal5", '
                                          '"axes": {"lr": 1.0, "anneal": 5}, "anneal": 5}')


def test_a_float_anneal_epoch_is_refused_by_the_schema() -> None:
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.sweeps\.map\.axes\.anneal\.0: 3\.0 is not of type 'integer'"):
        plan.check_integer_types(with_sweeps({"map": {"base": "large_lr", "axes": {"anneal": [3.0]}}}), plan.SCHEMA_PATH)


# --------------------------------------------------------------------------- what a cell is


def test_anneal_moves_every_milestone_of_the_lr_and_the_noise() -> None:
    config = with_sweeps({"arm": {"base": "small_lr_noise", "axes": {"anneal": [3]}}},
                         schedules={"small_lr_noise": {"lr": {"initial": 0.05, "milestones": [4, 5], "factors": [0.5, 0.5]},
                                                       "preact_noise": {"initial": 1.0, "milestones": [4],
                                                                        "factors": [0.0]}}})
    run = plan.run_config(config, "synthetic", "arm_anneal3", 0)
    assert run["lr"] == {"initial": 0.05, "milestones": [3, 4], "factors": [0.5, 0.5]}
    assert run["preact_noise"] == {"initial": 1.0, "milestones": [3], "factors": [0.0]}


def test_noise_axes_set_the_initial_std_and_keep_the_milestones() -> None:
    config = with_sweeps({"noise": {"base": "small_lr_noise", "axes": {"preact_noise": [0.5], "grad_noise": [0.01]}}})
    run = plan.run_config(config, "synthetic", "noise_preact0.5_grad0.01", 0)
    assert run["preact_noise"] == {"initial": 0.5, "milestones": [4], "factors": [0.0]}
    assert run["grad_noise"] == {"initial": 0.01, "milestones": [], "factors": []}
    assert run["lr"] == {"initial": 0.05, "milestones": [], "factors": []}


def test_weight_decay_axis_and_a_schedules_own_weight_decay_set_the_runs_weight_decay() -> None:
    config = with_sweeps({"wd": {"base": "small_lr", "axes": {"weight_decay": [0, 0.002]}}})
    assert plan.run_config(config, "synthetic", "wd_wd0.002", 0)["training"]["weight_decay"] == 0.002
    assert plan.run_config(config, "synthetic", "wd_wd0", 0)["training"]["weight_decay"] == 0.0
    assert plan.run_config(config, "synthetic", "small_lr", 0)["training"]["weight_decay"] == 1e-4
    matched = load_config({"studies": {"synthetic": {"schedules": {"small_lr": {"lr": {"initial": 0.05},
                                                                               "weight_decay": 0.002}}}}})
    assert plan.run_config(matched, "synthetic", "small_lr", 0)["training"]["weight_decay"] == 0.002


def test_cells_are_runs_of_every_seed_after_the_declared_schedules() -> None:
    config = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [0.1, 0.2]}}})
    assert plan.study_runs(config, "synthetic") == [
        (name, seed) for name in ("large_lr", "small_lr", "small_lr_noise", "map_lr0.1", "map_lr0.2") for seed in (0, 1)]
    plan.check_config(config)


# --------------------------------------------------------------------------- refused grids


@pytest.mark.parametrize(("specs", "message"), [
    ({"map": {"base": "large_lr", "axes": {"lr": [0.1, 0.10]}}},
     "studies.synthetic.sweeps.map.axes.lr: 0.1 and 0.1 are one value (0.1); list it once"),
    ({"map": {"base": "large_lr", "axes": {"lr": [1, 1.0]}}},
     "studies.synthetic.sweeps.map.axes.lr: 1 and 1.0 are one value (1); list it once"),
    # regression: -0.0 made a cell grad-0 that no rule could build
    ({"map": {"base": "small_lr", "axes": {"grad_noise": [0.0, -0.0]}}},
     "studies.synthetic.sweeps.map.axes.grad_noise: 0.0 and -0.0 are one value (0); list it once"),
    ({"map": {"base": "huge_lr", "axes": {"lr": [0.1]}}},
     "studies.synthetic.sweeps.map.base: unknown schedule 'huge_lr' (defined: large_lr, small_lr, small_lr_noise)"),
    ({"map": {"base": "small_lr", "axes": {"anneal": [3]}}},
     "studies.synthetic.sweeps.map.axes.anneal: the base schedule's lr has no milestone to move (a constant or "
     "cosine LR); give the base a piecewise lr with milestones"),
    ({"m": {"base": "large_lr", "axes": {"lr": [1], "weight_decay": [0]}},
      "m_lr1": {"base": "large_lr", "axes": {"weight_decay": [0]}}},
     "studies.synthetic.sweeps.m_lr1: cell m_lr1_wd0 is also a cell of studies.synthetic.sweeps.m; rename one of "
     "the sweeps"),
    ({"map": {"base": "large_lr", "axes": {"anneal": [9]}}},
     "studies.synthetic.schedules.map_anneal9.lr.milestones: [9] beyond studies.synthetic.training.epochs = 6"),
    ({"map": {"base": "large_lr", "axes": {}}}, "studies.synthetic.sweeps.map.axes: {} should be non-empty"),
    ({"map": {"base": "large_lr", "axes": {"momentum": [0.9]}}},
     "studies.synthetic.sweeps.map.axes: Additional properties are not allowed ('momentum' was unexpected)"),
])
def test_bad_grids_are_one_line_naming_the_key(specs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        plan.check_config(with_sweeps(specs))
    assert str(exc.value) == message


def test_an_anneal_moving_a_noise_milestone_below_2_is_refused() -> None:
    """Regression: the base's noise milestone moved with the anneal to epoch 1 passed the config check and failed
    in the training job."""
    config = with_sweeps({"map": {"base": "early_noise", "axes": {"anneal": [3]}}}, schedules={"early_noise": {
        "lr": {"initial": 1.0, "milestones": [5], "factors": [0.05]},
        "preact_noise": {"initial": 1.0, "milestones": [3], "factors": [0.0]}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.synthetic.sweeps.map.axes.anneal: 3 moves the base's preact_noise milestones "
                              "by -2 epochs, to [1]; a milestone must be >= 2")


def test_a_cell_named_like_a_declared_schedule_is_refused() -> None:
    declared = load_config({"studies": {"synthetic": {
        "schedules": {"map_lr0": {"lr": {"initial": 0.1}}},
        "sweeps": {"map": {"base": "large_lr", "axes": {"lr": [1.0e-9]}}}}}})
    plan.check_config(declared)  # map_lr0.000000001 is not map_lr0
    assert cell_names(declared) == ["map_lr0.000000001"]
    with pytest.raises(ConfigError) as exc:
        plan.check_config(load_config({"studies": {"synthetic": {
            "schedules": {"map_wd0": {"lr": {"initial": 0.1}}},
            "sweeps": {"map": {"base": "map_wd0", "axes": {"weight_decay": [0.0]}}}}}}))
    assert str(exc.value) == ("studies.synthetic.sweeps.map: cell map_wd0 is also a declared schedule "
                              "(studies.synthetic.schedules.map_wd0); rename the sweep or the schedule")


# --------------------------------------------------------------------------- planning the maps


def test_a_cell_scores_a_map_statistics_minus_set_over_its_window() -> None:
    config = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [0.1]}}}, map_statistics={
        "p_only_before_anneal": None, "p_only_final": None, "q_learned_epoch": None, "q_only_auc_early": None,
        "q_ahead_early": {"minus": "test_both", "window": [1, 2]}})
    scored = plan.evaluation(config, "synthetic", 0, "map_lr0.1")["sets"]
    # eval_every 4, the anneal at 4 and the last epoch 6 for every set; q_ahead_early reads both of its sets
    # over [1, 2]; test has no window, and the claims' windows (5a [1, 1], 5b and 4 [5, 6]) are the declared ones
    assert scored["test_both"] == scored["test_q_only_two_step"] == [1, 2, 3, 4, 6]
    assert scored["test"] == scored["test_q_only"] == [3, 4, 6] and scored["test_p_only"] == [3, 4, 5, 6]


def test_a_cell_scores_the_epochs_its_map_statistics_read() -> None:
    config = with_sweeps({"map": {"base": "large_lr", "axes": {"anneal": [3, 5]}}})
    declared = plan.evaluation(config, "synthetic", 0, "large_lr")["sets"]
    # every set at 4 (eval_every), 3 (before the anneal at 4) and 6 (the last); the claims' windows: 5a [1, 1]
    # on test_q_only_two_step, 5b and 4 [5, 6] on test_p_only
    assert declared == plan.evaluation(config, "synthetic", 0)["sets"] == {
        "test": [3, 4, 6], "test_p_only": [3, 4, 5, 6], "test_q_only": [3, 4, 6], "test_both": [3, 4, 6],
        **{name: [3, 4, 6] for name in RELIANCE}, "test_q_only_two_step": [1, 3, 4, 6]}
    # presets/smoke.yaml: p_only_before_anneal [anneal-2, anneal-1] and p_only_final [end-1, end] on
    # test_p_only, q_only_auc [1, 3] on test_q_only_two_step and q_ahead [1, 3] on both; the schema's default
    # q_learned_epoch [1, end] on test_q_only_two_step; and every set at 2, the epoch before the cell's anneal
    assert plan.evaluation(config, "synthetic", 0, "map_anneal3")["sets"] == {
        "test": [2, 3, 4, 6], "test_p_only": [1, 2, 3, 4, 5, 6], "test_q_only": [2, 3, 4, 6],
        "test_both": [2, 3, 4, 6], **{name: [2, 3, 4, 6] for name in RELIANCE},
        "test_q_only_two_step": [1, 2, 3, 4, 5, 6]}
    assert plan.map_windows(config, "synthetic", plan.map_cells(config, "synthetic")[1]) == {
        "p_only_before_anneal": [3, 4], "p_only_final": [5, 6], "q_learned_epoch": [1, 6], "q_only_auc_early": [1, 3],
        "q_ahead_early": [1, 3]}


def test_a_window_using_anneal_is_undefined_in_a_constant_lr_cell() -> None:
    config = with_sweeps({"const": {"base": "small_lr", "axes": {"lr": [0.1]}}})
    (cell,) = plan.map_cells(config, "synthetic")
    assert cell == {"sweep": "const", "schedule": "const_lr0.1", "axes": {"lr": 0.1}, "anneal": None}
    assert plan.map_windows(config, "synthetic", cell) == {"p_only_final": [5, 6], "q_learned_epoch": [1, 6],
                                                           "q_only_auc_early": [1, 3], "q_ahead_early": [1, 3]}
    assert plan.map_panels(config, "synthetic") == [("const", name) for name in (
        "p_only_final", "q_learned_epoch", "q_only_auc_early", "q_ahead_early")]  # no heatmap that is all blank


def test_map_statistics_are_checked_against_the_studys_sets_and_every_cells_windows() -> None:
    bad_set = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [0.1]}}},
                          map_statistics={"q": {"description": "d", "eval_set": "test_clean", "summary": "mean",
                                                "window": [1, 2]}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(bad_set)
    assert str(exc.value) == ("studies.synthetic.map_statistics.q.eval_set: 'test_clean' is not an evaluation set of "
                              "the synthetic study (have: train, test, test_p_only, test_q_only, test_both, "
                              "train_both_p_alone, train_both_q_alone, test_both_p_alone, test_both_q_alone, "
                              "test_q_only_two_step)")
    early = with_sweeps({"map": {"base": "large_lr", "axes": {"anneal": [2]}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(early)
    assert str(exc.value).startswith("map statistic p_only_before_anneal.window (cell map_anneal2 of sweep map): "
                                     "['anneal-2', 'anneal-1'] resolves to [0, 1]")
    no_sweep = load_config({"studies": {"synthetic": {"map_statistics": {"q": {
        "description": "d", "eval_set": "test_clean", "summary": "mean", "window": [1, 2]}}}}})
    plan.check_config(no_sweep)  # a study without sweeps draws no map: its statistics are not read
    assert plan.map_studies(no_sweep) == [] and plan.map_studies(early) == ["synthetic"]


def test_the_no_q_ablation_drops_the_sets_without_examples() -> None:
    """p_only 1, q_only 0: no Q-only and no both-pattern examples; the runs, the figure, the claims and the map
    statistics know it, and a claim still reading Q is one line saying why."""
    ablation = {"data": {"p_only": 1.0, "q_only": 0.0}, "training": {"two_step_eval": []},
                "claims": {"5a": None},
                "map_statistics": {"q_learned_epoch": None, "q_only_auc_early": None, "q_ahead_early": None},
                "sweeps": {"map": {"base": "large_lr", "axes": {"lr": [0.1]}}}}
    config = with_sweeps(ablation.pop("sweeps"), **ablation)
    plan.check_config(config)
    assert plan.absent_sets(config, "synthetic") == ["test_q_only", "test_both", *RELIANCE]
    assert list(plan.evaluation(config, "synthetic", 0, "map_lr0.1")["sets"]) == ["test", "test_p_only"]
    assert plan.figure_sets(config, "synthetic") == ["test", "test_p_only"]
    assert list(plan.map_statistics(config, "synthetic")) == ["p_only_before_anneal", "p_only_final"]
    reads_q = copy.deepcopy(config)
    reads_q["studies"]["synthetic"]["claims"] = {}
    with pytest.raises(ConfigError) as exc:
        plan.check_config(reads_q)
    assert str(exc.value) == ("studies.synthetic.claims.5a.eval_set: 'test_q_only_two_step' is not an evaluation set "
                              "of the synthetic study (have: train, test, test_p_only; its pattern has no examples: "
                              "data.p_only = 1, data.q_only = 0)")
    two_step = copy.deepcopy(config)
    two_step["studies"]["synthetic"]["training"]["two_step_eval"] = ["test_q_only"]
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.training\.two_step_eval: test_q_only has no examples"):
        plan.check_config(two_step)


def test_map_statistics_merge_over_the_kinds_defaults_as_claims_do() -> None:
    """Regression: a study's map_statistics replaced the defaults (one added statistic dropped the other five, and
    the shipped no-Q study was left with none, failing only after training)."""
    added = load_config({"studies": {"synthetic": {"map_statistics": {"train_final": {
        "description": "training accuracy, last epoch", "eval_set": "train", "summary": "mean",
        "window": ["end", "end"]}}}}}, preset=None)
    assert list(plan.map_statistics(added, "synthetic")) == [
        "p_only_before_anneal", "p_only_final", "q_learned_epoch", "q_only_auc_early", "q_ahead_early", "train_final"]
    partial = load_config({"studies": {"synthetic": {"map_statistics": {"q_learned_epoch": {"threshold": 0.8}}}}},
                          preset=None)
    assert plan.map_statistics(partial, "synthetic")["q_learned_epoch"] == {
        "description": "first epoch with two-step Q-only test accuracy >= 0.9 (censored at the last epoch + 1)",
        "eval_set": "test_q_only_two_step", "summary": "first_passage", "threshold": 0.8, "window": [1, "end"]}
    dropped = with_sweeps({"map": {"base": "large_lr", "axes": {"lr": [0.1]}}}, map_statistics={
        name: None for name in ("p_only_before_anneal", "p_only_final", "q_learned_epoch", "q_only_auc_early",
                                "q_ahead_early")})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(dropped)
    assert str(exc.value) == ("studies.synthetic.map_statistics: every statistic is dropped, and the study has "
                              "sweeps; keep or add at least one")


@pytest.mark.parametrize(("entry", "message"), [
    ({"summary": "min"}, "studies.synthetic.map_statistics.q_only_auc_early.summary: 'min' is not one of ['mean'"),
    ({"summary": "first_passage", "threshold": 2},
     "studies.synthetic.map_statistics.q_only_auc_early.threshold: 2 is greater than the maximum"),
    ({"threshold": 0.5}, "studies.synthetic.map_statistics.q_only_auc_early.threshold: not allowed (threshold: "
                         "required by summary first_passage, used by no other summary)"),
    ({"window": ["anneal", "start"]},
     "studies.synthetic.map_statistics.q_only_auc_early.window.1: 'start' does not match"),
    ({"summary": "first_passage"}, "studies.synthetic.map_statistics.q_only_auc_early: 'threshold' is a required"),
])
def test_a_bad_map_statistic_names_its_field(entry: dict, message: str) -> None:
    """Regression: these gave the whole record and "is not valid under any of the given schemas"."""
    config = load_config({"studies": {"synthetic": {"map_statistics": {"q_only_auc_early": entry}}}}, preset=None)
    with pytest.raises(ConfigError) as exc:
        plan.map_statistics(config, "synthetic")
    assert str(exc.value).startswith(message)


# --------------------------------------------------------------------------- staleness


def test_adding_a_value_to_an_axis_adds_only_its_runs() -> None:
    grid = {"map": {"base": "large_lr", "axes": {"lr": [0.1, 0.4], "anneal": [3, 5]}}}
    before = with_sweeps(grid)
    bigger = copy.deepcopy(grid)
    bigger["map"]["axes"]["lr"] = [0.1, 0.2, 0.4]
    after = with_sweeps(bigger)
    old = {run: plan.run_config(before, "synthetic", *run) for run in plan.study_runs(before, "synthetic")}
    new = {run: plan.run_config(after, "synthetic", *run) for run in plan.study_runs(after, "synthetic")}
    assert {run: new[run] for run in old} == old
    assert sorted(set(new) - set(old)) == [("map_lr0.2_anneal3", 0), ("map_lr0.2_anneal3", 1),
                                           ("map_lr0.2_anneal5", 0), ("map_lr0.2_anneal5", 1)]


@pytest.mark.workflow
def test_maps_of_a_sweep_then_a_value_added_plans_only_its_run(tmp_path) -> None:
    """``snakemake maps`` on a 2 x 1 grid of the smoke synthetic study writes the map table and one heatmap per
    statistic, and the curvature table of the one cell it lists; adding an LR plans the new cell's one run, and
    what reads it, and nothing else."""
    work = make_workdir(tmp_path / "work")

    def run(lrs: list[float], *flags: str):
        layer = work / f"sweep{len(lrs)}.yaml"
        layer.write_text(yaml.safe_dump({"studies": {"synthetic": {
            "seeds": [0], "sweeps": {"map": {"base": "large_lr", "axes": {"lr": lrs, "anneal": [3]}}},
            "curvature": ["map_lr0.4_anneal3"]}}}))
        return snakemake(work, *flags, "maps", *SMOKE, layer.name)

    done = run([0.1, 0.4], "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    maps_dir = work / "results" / "smoke" / "maps" / "synthetic"
    table = pd.read_csv(maps_dir / "map.csv")
    # the rule passes the statistics as canonical JSON (sorted names): the table lists them in that order
    statistics = ["p_only_before_anneal", "p_only_final", "q_ahead_early", "q_learned_epoch", "q_only_auc_early"]
    assert table[["schedule", "statistic"]].values.tolist() == [
        [cell, name] for cell in ("map_lr0.1_anneal3", "map_lr0.4_anneal3") for name in statistics]
    assert (table["n"] == 1).all()
    accuracies = table[table["statistic"].isin(["p_only_before_anneal", "p_only_final", "q_only_auc_early"])]
    assert accuracies["mean"].between(0, 1).all() and table["mean"].notna().all()
    assert table.loc[table["statistic"] == "q_ahead_early", "mean"].between(-1, 1).all()
    passage = table[table["statistic"] == "q_learned_epoch"]  # epochs 1..6, or 7 when censored (and counted)
    assert passage["mean"].between(1, 7).all() and ((passage["mean"] == 7) == (passage["n_censored"] == 1)).all()
    assert sorted(path.name for path in (maps_dir / "map").iterdir()) == sorted(
        f"{name}.{ext}" for name in statistics for ext in ("pdf", "png"))
    curve = pd.read_csv(work / "results" / "smoke" / "curvature" / "synthetic" / "map_lr0.4_anneal3" / "seed0.csv")
    assert curve["epoch"].tolist() == [e for e in range(7) for _ in ("p", "q")]  # init, then the smoke study's 6
    assert curve.loc[curve["epoch"] == 1, "lr"].tolist() == [0.4, 0.4]
    curvature_table = pd.read_csv(maps_dir / "curvature.csv")
    assert curvature_table[["schedule", "direction", "n_seeds", "window_first", "window_last"]].values.tolist() == [
        ["map_lr0.4_anneal3", "p", 1, 1, 2], ["map_lr0.4_anneal3", "q", 1, 1, 2]]
    assert (maps_dir / "curvature.png").stat().st_size > 0
    assert json.loads((maps_dir / "cells.json").read_text())[1] == {
        "sweep": "map", "schedule": "map_lr0.4_anneal3", "axes": {"lr": 0.4, "anneal": 3}, "anneal": 3}

    again = run([0.1, 0.2, 0.4], "-n")
    assert again.returncode == 0, again.stderr[-3000:]
    assert planned_jobs(again) == {"train_cell": 1, "aggregate": 1, "map_cells": 1, "map_table": 1,
                                   "map_figure": 5, "maps": 1}
    assert [wildcards["schedule"] for rule, wildcards, _ in planned_job_details(again) if rule == "train_cell"] == [
        "map_lr0.2_anneal3"]
