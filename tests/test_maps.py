"""Tests of lrorder.maps: per-seed values, the map table (means, CIs, counts, dtypes), heatmaps, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from scipy import stats as st

from lrorder import cli, maps
from lrorder.errors import ConfigError, DataError

EPOCHS = 6
P, Q = "test_p_only", "test_q_only"

#: ``{(schedule, seed): (P-only accuracies, Q-only accuracies)}`` at epochs 1..6; a shorter curve is a run
#: that diverged at its last epoch.
CURVES: dict[tuple[str, int], tuple[list[float], list[float]]] = {
    # sweep map, lr 0.1, anneal 3
    ("map_lr0.1_anneal3", 0): ([.5] * 6, [.1, .3, .4, .6, .6, .7]),
    ("map_lr0.1_anneal3", 1): ([.4] * 6, [.2, .2, .5, .5, .7, .9]),
    ("map_lr0.1_anneal3", 2): ([.6] * 6, [.0, .1, .2, .3, .4, .4]),
    # sweep map, lr 0.4, anneal 3
    ("map_lr0.4_anneal3", 0): ([.2] * 6, [.5, .6, .7, .8, .9, .9]),
    ("map_lr0.4_anneal3", 1): ([.3] * 6, [.6, .7, .8, .9, .9, .9]),
    ("map_lr0.4_anneal3", 2): ([.1] * 6, [.3, .5, .6, .7, .8, .8]),
    # sweep map, lr 0.1, anneal 4: seed 1 diverged at epoch 3
    ("map_lr0.1_anneal4", 0): ([.5] * 6, [.1, .2, .3, .4, .5, .6]),
    ("map_lr0.1_anneal4", 1): ([.5] * 3, [.1, .2, .3]),
    ("map_lr0.1_anneal4", 2): ([.5] * 6, [.2, .3, .4, .5, .6, .7]),
    # sweep map, lr 0.4, anneal 4: seeds 0 and 1 diverged at epoch 2
    ("map_lr0.4_anneal4", 0): ([.3] * 2, [.4, .5]),
    ("map_lr0.4_anneal4", 1): ([.3] * 2, [.4, .5]),
    ("map_lr0.4_anneal4", 2): ([.3] * 6, [.4, .5, .6, .7, .8, .9]),
    # sweep const (constant LR): lr 0.1
    ("const_lr0.1", 0): ([.5] * 6, [.2] * 6),
    ("const_lr0.1", 1): ([.5] * 6, [.2] * 6),
    ("const_lr0.1", 2): ([.5] * 6, [.2] * 6),
}

CELLS = [
    {"sweep": "map", "schedule": "map_lr0.1_anneal3", "axes": {"lr": 0.1, "anneal": 3}, "anneal": 3},
    {"sweep": "const", "schedule": "const_lr0.1", "axes": {"lr": 0.1}, "anneal": None},
    {"sweep": "map", "schedule": "map_lr0.4_anneal3", "axes": {"lr": 0.4, "anneal": 3}, "anneal": 3},
    {"sweep": "map", "schedule": "map_lr0.1_anneal4", "axes": {"lr": 0.1, "anneal": 4}, "anneal": 4},
    {"sweep": "map", "schedule": "map_lr0.4_anneal4", "axes": {"lr": 0.4, "anneal": 4}, "anneal": 4},
]
#: Cells in the order of the outputs: sweeps in order of first appearance, then cell order.
ORDER = ["map_lr0.1_anneal3", "map_lr0.4_anneal3", "map_lr0.1_anneal4", "map_lr0.4_anneal4", "const_lr0.1"]

_RECORDS = [
    {"name": "q_mean", "description": "Q-only accuracy after the anneal", "eval_set": Q, "minus": None,
     "summary": "mean", "window": ["anneal", "end"]},
    {"name": "q_minus_p", "description": "Q-only minus P-only accuracy, early", "eval_set": Q, "minus": P,
     "summary": "mean", "window": [1, 2]},
    {"name": "q_auc", "description": "time-averaged Q-only accuracy", "eval_set": Q, "summary": "auc",
     "window": [2, 4]},
    {"name": "q_pass", "description": "epoch Q-only reaches 0.5", "eval_set": Q, "summary": "first_passage",
     "window": [1, "end"], "threshold": 0.5},
    {"name": "pass_gap", "description": "Q passage minus P passage", "eval_set": Q, "minus": P,
     "summary": "first_passage", "window": [1, "end"], "threshold": 0.55},
]
#: A study's ``map_statistics`` as the planner passes them: name -> record.
STATISTICS = {r["name"]: {k: v for k, v in r.items() if k != "name" and v is not None} for r in _RECORDS}
NAMES = list(STATISTICS)


def stat(name: str, **changes) -> dict:
    """``{name: the record of statistic name, with changes}``."""
    return {name: {**STATISTICS[name], **changes}}


def metrics(curves: dict = CURVES) -> pd.DataFrame:
    """Tidy aggregated metrics of :data:`CURVES`, with the ``diverged`` column of ``load_runs``."""
    rows = [
        {"study": "synthetic", "schedule": sch, "seed": seed, "epoch": e, "lr": 0.1, "noise": 0.0,
         "eval_set": es, "loss": 1.0 - a, "accuracy": a, "margin": a - 0.5,
         "diverged": len(p) < EPOCHS}
        for (sch, seed), (p, q) in curves.items()
        for es, accs in ((P, p), (Q, q))
        for e, a in enumerate(accs, start=1)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def seeds() -> pd.DataFrame:
    return maps.per_seed_values(metrics(), CELLS, STATISTICS, EPOCHS)


@pytest.fixture(scope="module")
def table(seeds: pd.DataFrame) -> pd.DataFrame:
    return maps.map_table(seeds, CELLS, STATISTICS, confidence=0.9)


def values(seeds: pd.DataFrame, schedule: str, statistic: str) -> list[float]:
    rows = seeds[(seeds["schedule"] == schedule) & (seeds["statistic"] == statistic)]
    return rows["value"].tolist()


def row(table: pd.DataFrame, schedule: str, statistic: str) -> pd.Series:
    rows = table[(table["schedule"] == schedule) & (table["statistic"] == statistic)]
    assert len(rows) == 1
    return rows.iloc[0]


def t_interval(x: list[float], confidence: float = 0.9) -> tuple[float, float]:
    """The Student-t interval of the mean by scipy, independently of lrorder.stats."""
    return st.t.interval(confidence, len(x) - 1, loc=np.mean(x), scale=st.sem(x))


# --------------------------------------------------------------------------- per-seed values


def test_per_seed_layout_and_order(seeds: pd.DataFrame) -> None:
    assert list(seeds.columns) == list(maps.SEED_COLUMNS)
    assert len(seeds) == len(ORDER) * len(NAMES) * 3
    assert list(dict.fromkeys(seeds["schedule"])) == ORDER
    assert list(dict.fromkeys(seeds["statistic"])) == NAMES
    assert seeds["seed"].tolist()[:3] == [0, 1, 2]
    assert seeds["sweep"].tolist()[:12 * len(NAMES)] == ["map"] * (12 * len(NAMES))
    assert (seeds["seed"].dtype, seeds["value"].dtype, seeds["censored"].dtype, seeds["diverged"].dtype) == (
        np.int64, np.float64, bool, bool)


@pytest.mark.parametrize(("schedule", "statistic", "expected"), [
    # mean Q over [anneal, end]: epochs 3-6 where anneal is 3 ...
    ("map_lr0.1_anneal3", "q_mean", [2.3 / 4, 2.6 / 4, 1.3 / 4]),
    ("map_lr0.4_anneal3", "q_mean", [3.3 / 4, 3.5 / 4, 2.9 / 4]),
    # ... and epochs 4-6 where it is 4 (the cell's own anneal); seed 1 diverged: NaN
    ("map_lr0.1_anneal4", "q_mean", [.5, math.nan, .6]),
    # mean Q - mean P over epochs 1-2
    ("map_lr0.1_anneal3", "q_minus_p", [.2 - .5, .2 - .4, .05 - .6]),
    ("map_lr0.4_anneal3", "q_minus_p", [.55 - .2, .65 - .3, .4 - .1]),
    # trapezoids over epochs 2-4, divided by 2: ((q2 + q3) / 2 + (q3 + q4) / 2) / 2
    ("map_lr0.1_anneal3", "q_auc", [(.35 + .5) / 2, (.35 + .5) / 2, (.15 + .25) / 2]),
    ("map_lr0.4_anneal3", "q_auc", [(.65 + .75) / 2, (.75 + .85) / 2, (.55 + .65) / 2]),
    # first epoch with Q >= 0.5 in 1-6; seed 2 never: censored at 7
    ("map_lr0.1_anneal3", "q_pass", [4.0, 3.0, 7.0]),
    ("map_lr0.4_anneal3", "q_pass", [1.0, 1.0, 2.0]),
    # Q passage (0.55) minus P passage; P never passes for seeds 0, 1 (censored at 7)
    ("map_lr0.1_anneal3", "pass_gap", [4.0 - 7.0, 5.0 - 7.0, 7.0 - 1.0]),
    # both never pass: no value
    ("const_lr0.1", "pass_gap", [math.nan] * 3),
    # the window uses anneal, the cell never anneals: no value
    ("const_lr0.1", "q_mean", [math.nan] * 3),
    # all seeds but seed 2 diverged
    ("map_lr0.4_anneal4", "q_minus_p", [math.nan, math.nan, .45 - .3]),
])
def test_per_seed_values(seeds: pd.DataFrame, schedule: str, statistic: str, expected: list[float]) -> None:
    np.testing.assert_allclose(values(seeds, schedule, statistic), expected, rtol=0, atol=1e-12)


def test_censored_and_diverged_flags(seeds: pd.DataFrame) -> None:
    def flags(schedule: str, statistic: str, col: str) -> list[bool]:
        rows = seeds[(seeds["schedule"] == schedule) & (seeds["statistic"] == statistic)]
        return rows[col].tolist()

    assert flags("map_lr0.1_anneal3", "q_pass", "censored") == [False, False, True]
    assert flags("map_lr0.1_anneal3", "pass_gap", "censored") == [True, True, True]  # one side each
    assert flags("const_lr0.1", "pass_gap", "censored") == [True, True, True]  # both sides: no value
    assert flags("map_lr0.1_anneal3", "q_mean", "censored") == [False] * 3
    assert flags("map_lr0.1_anneal4", "q_mean", "diverged") == [False, True, False]
    assert flags("map_lr0.4_anneal4", "q_pass", "diverged") == [True, True, False]
    assert flags("const_lr0.1", "q_mean", "diverged") == [False] * 3


# --------------------------------------------------------------------------- map table


def test_map_table_layout_and_dtypes(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["sweep", "schedule", "lr", "anneal", *maps.MAP_VALUE_COLUMNS]
    assert len(table) == len(ORDER) * len(NAMES)
    assert table["schedule"].tolist() == [s for s in ORDER for _ in NAMES]
    assert table["statistic"].tolist() == NAMES * len(ORDER)
    # a mixed grid: anneal stays integer (nullable), missing in the sweep without it
    assert str(table["anneal"].dtype) == "Int64"
    assert table["anneal"].tolist()[::len(NAMES)] == [3, 3, 4, 4, pd.NA]
    assert table["lr"].dtype == np.float64
    assert table["lr"].tolist()[::len(NAMES)] == [0.1, 0.4, 0.1, 0.4, 0.1]
    assert str(table["ci_includes_zero"].dtype) == "boolean"
    assert (table["n"].dtype, table["n_censored"].dtype, table["n_diverged"].dtype) == (np.int64,) * 3
    assert set(table["confidence"]) == {0.9}
    assert row(table, "const_lr0.1", "q_auc")["sweep_axes"] == "lr"
    assert row(table, "map_lr0.1_anneal3", "q_auc")["sweep_axes"] == "lr anneal"
    assert row(table, "map_lr0.1_anneal3", "q_auc")["description"] == "time-averaged Q-only accuracy"


@pytest.mark.parametrize(("schedule", "statistic", "x", "includes_zero"), [
    ("map_lr0.1_anneal3", "q_mean", [2.3 / 4, 2.6 / 4, 1.3 / 4], False),
    ("map_lr0.1_anneal3", "q_minus_p", [-.3, -.2, -.55], False),  # CI about [-0.654, -0.046]
    ("map_lr0.1_anneal3", "pass_gap", [-3.0, -2.0, 6.0], True),  # mean 1/3, wide CI
    ("map_lr0.4_anneal3", "q_minus_p", [.35, .35, .3], False),
    ("map_lr0.1_anneal4", "q_minus_p", [-.35, -.25], True),  # 2 seeds: about [-0.616, 0.016]
])
def test_map_means_and_intervals(table: pd.DataFrame, schedule: str, statistic: str, x: list[float],
                                 includes_zero: bool) -> None:
    r = row(table, schedule, statistic)
    lo, hi = t_interval(x)
    assert r["n"] == len(x)
    assert r["mean"] == pytest.approx(np.mean(x), abs=1e-12)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    assert r["ci_includes_zero"] is not pd.NA
    assert bool(r["ci_includes_zero"]) is bool(lo <= 0 <= hi) is includes_zero


def test_confidence_changes_the_interval(seeds: pd.DataFrame) -> None:
    wide = maps.map_table(seeds, CELLS, STATISTICS, confidence=0.99)
    r = row(wide, "map_lr0.1_anneal3", "q_minus_p")
    lo, hi = t_interval([-.3, -.2, -.55], 0.99)  # about [-1.38, 0.68]: the sign is no longer established
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    assert r["ci_includes_zero"] == True and r["confidence"] == 0.99  # noqa: E712


def test_degenerate_interval_of_equal_values(table: pd.DataFrame) -> None:
    r = row(table, "const_lr0.1", "q_minus_p")  # -0.3 for every seed: CI [-0.3, -0.3]
    assert (r["n"], r["mean"], r["ci_low"], r["ci_high"]) == (3, pytest.approx(-.3), pytest.approx(-.3),
                                                            pytest.approx(-.3))
    assert r["ci_includes_zero"] == False  # noqa: E712


def test_undefined_window_gives_n_zero(table: pd.DataFrame) -> None:
    r = row(table, "const_lr0.1", "q_mean")
    assert (r["n"], r["n_censored"], r["n_diverged"]) == (0, 0, 0)
    assert math.isnan(r["mean"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    assert r["ci_includes_zero"] is pd.NA
    # the same cell's other statistics are defined
    assert row(table, "const_lr0.1", "q_auc")["n"] == 3


def test_diverged_runs_left_out_and_counted(table: pd.DataFrame) -> None:
    r = row(table, "map_lr0.1_anneal4", "q_mean")
    assert (r["n"], r["n_diverged"]) == (2, 1)
    assert r["mean"] == pytest.approx(.55)
    r = row(table, "map_lr0.4_anneal4", "q_mean")  # one seed left: no CI, ci_includes_zero missing
    assert (r["n"], r["n_diverged"], r["mean"]) == (1, 2, pytest.approx(.8))
    assert math.isnan(r["ci_low"]) and r["ci_includes_zero"] is pd.NA
    assert (table.loc[table["schedule"].str.endswith("anneal3"), "n_diverged"] == 0).all()


def test_censored_runs_counted(table: pd.DataFrame) -> None:
    assert row(table, "map_lr0.1_anneal3", "q_pass")["n_censored"] == 1
    assert row(table, "map_lr0.1_anneal3", "q_pass")["mean"] == pytest.approx(14 / 3)  # (4 + 3 + 7) / 3
    r = row(table, "const_lr0.1", "pass_gap")  # censored on both sets: counted, no value
    assert (r["n"], r["n_censored"]) == (0, 3)
    assert row(table, "map_lr0.1_anneal3", "q_mean")["n_censored"] == 0


# --------------------------------------------------------------------------- errors


def test_window_not_covered_names_statistic_cell_and_seed() -> None:
    df = metrics()
    gap = (df["schedule"] == "map_lr0.1_anneal3") & (df["seed"] == 1) & (df["eval_set"] == Q) & (df["epoch"] == 4)
    with pytest.raises(ConfigError, match=r"^statistic q_mean: window \[3, 6\] is not covered by cell "
                                          r"map_lr0.1_anneal3 of sweep map seed 1 on test_q_only \(last epoch 6; "
                                          r"it has no test_q_only row"):
        maps.per_seed_values(df[~gap], CELLS, STATISTICS, EPOCHS)


def test_window_out_of_range_in_a_cell() -> None:
    late = stat("q_mean", window=["anneal+3", "end"])  # [7, 6] where anneal is 4
    with pytest.raises(ConfigError, match=r"^map statistic q_mean.window \(cell map_lr0.1_anneal4 of sweep map\): "
                                          r"\['anneal\+3', 'end'\] resolves to \[7, 6\]"):
        maps.per_seed_values(metrics(), CELLS, late, EPOCHS)


@pytest.mark.parametrize(("cells", "statistics", "message"), [
    ([{**CELLS[0], "axes": {"lr": 0.1, "anneal": 3.0}}], STATISTICS,
     r"^--cells.0.axes.anneal: 3.0 is not of type 'integer'$"),
    ([{**CELLS[0], "axes": {"momentum": 0.9}}], STATISTICS,
     r"^--cells.0.axes: Additional properties are not allowed \('momentum' was unexpected\)$"),
    ([CELLS[0], {**CELLS[2], "axes": {"anneal": 3, "lr": 0.4}}], STATISTICS,
     r"^--cells.1.axes: sweep map varies lr, anneal \(in this order\) in --cells.0, this cell anneal, lr$"),
    ([CELLS[0], {**CELLS[2], "axes": CELLS[0]["axes"]}], STATISTICS,
     r"^--cells.1: its point \(0.1, 3\) is also that of --cells.0 of sweep map$"),
    ([{k: v for k, v in CELLS[0].items() if k != "anneal"}], STATISTICS, r"^--cells.0: 'anneal' is a required property$"),
    ([], STATISTICS, r"^--cells: \[\] should be non-empty$"),
    ([{**CELLS[0], "schedule": "nope"}], STATISTICS, r"--cells: schedule nope \(sweep map\) has no run"),
    (CELLS, stat("q_mean", summary="min"), r"^--statistics.q_mean.summary: 'min' is not one of \['mean'"),
    (CELLS, stat("q_pass", threshold=None), r"^--statistics.q_pass.threshold: None is not of type 'number'$"),
    (CELLS, stat("q_mean", window=["start", 3]), r"^--statistics.q_mean.window.0: 'start' does not match"),
    (CELLS, stat("q_mean", threshold=0.5), r"^--statistics.q_mean.threshold: not allowed \(threshold: required by "
                                           r"summary first_passage, used by no other summary\)$"),
    (CELLS, stat("q_minus_p", minus="test_both"), r"statistic q_minus_p.minus: 'test_both' not in the metrics"),
    (CELLS, [_RECORDS[0]], r"^--statistics: expected a non-empty JSON object, statistic name -> record$"),
])
def test_bad_cells_and_statistics(cells: list, statistics: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        maps.per_seed_values(metrics(), cells, statistics, EPOCHS)


# --------------------------------------------------------------------------- heatmaps


def panels(fig) -> list:
    """The heatmap panels of ``fig`` (not the colour bar)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def hatches(ax) -> list[str]:
    return [p.get_hatch() for p in ax.patches if p.get_hatch()]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_plot_two_axis_sweep_marks_and_annotations(table: pd.DataFrame) -> None:
    fig = maps.plot_map(table, "map", "q_minus_p")
    (ax,) = panels(fig)
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("lr", "anneal")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.1", "0.4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "4"]
    assert not ax.yaxis_inverted()  # inverted by seaborn, put back: lr ascends upwards
    # row lr 0.1: anneal 3 -> -0.35, anneal 4 -> -0.3 (2 seeds, CI includes 0); row lr 0.4: 0.333, 0.15 (1 seed)
    np.testing.assert_allclose(ax.collections[0].get_array().reshape(2, 2), [[-.35, -.3], [1 / 3, .15]])
    assert texts(ax) == ["-0.350", "-0.300", "0.333", "0.150"]  # 3 significant digits of the largest, 0.35
    marks = {(p.get_x(), p.get_y()): p.get_hatch() for p in ax.patches if p.get_hatch()}
    assert marks == {(1.0, 0.0): maps.HATCH_INCLUDES_ZERO, (1.0, 1.0): maps.HATCH_NO_CI}
    assert "q_minus_p: Q-only minus P-only accuracy, early" in fig.get_suptitle()
    assert "90% Student-t CI" in fig.get_suptitle()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0].startswith("90% CI includes 0: sign not established")
    assert legend[1:] == ["one seed: no CI", "grey, blank: no value (n = 0, or not in the grid)"]


def test_a_long_title_wraps_inside_the_figure(table: pd.DataFrame) -> None:
    # the preset's q_ahead_early description ran off both sides of a 7-inch figure
    long = table.assign(description="Q-only (two-step) minus P-only test accuracy, AUC over epochs 1-10: > 0, "
                                    "Q learned first; the whole sentence is longer than the figure is wide")
    fig = maps.plot_map(long, "map", "q_minus_p")
    FigureCanvasAgg(fig).draw()
    box = fig._suptitle.get_window_extent()  # the suptitle's Text (no public getter)
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width
    assert fig.get_suptitle().count("\n") >= 2  # wrapped, then the sweep line


def test_plot_one_axis_sweep_with_a_blank_cell(table: pd.DataFrame) -> None:
    fig = maps.plot_map(table, "const", "q_mean")  # the window uses anneal: n = 0
    (ax,) = panels(fig)
    assert ax.collections[0].get_array().size == 1
    assert ax.collections[0].get_array().mask.all()
    assert texts(ax) == [] and hatches(ax) == []
    assert ax.get_xlabel() == "lr"


def grid_cells() -> list[dict]:
    """A three-axis sweep: lr {0.1, 0.4} x anneal {3, 5} x preact_noise {0, 0.5, 1}."""
    return [{"sweep": "noise", "schedule": f"n_lr{lr}_a{a}_s{s}", "axes": {"lr": lr, "anneal": a, "preact_noise": s},
             "anneal": a}
            for s in (1.0, 0.0, 0.5) for lr in (0.4, 0.1) for a in (5, 3)]


def test_plot_small_multiples_share_one_colour_scale() -> None:
    cells = grid_cells()
    stat = {"gap": {"description": "a gap", "eval_set": Q, "minus": P, "summary": "mean", "window": [1, 2]}}
    rows = []
    for c in cells:
        lr, a, s = c["axes"].values()
        for seed in range(3):
            if c["schedule"] == "n_lr0.1_a3_s0.5":  # every run diverged: n = 0, blank
                rows.append(("noise", c["schedule"], seed, "gap", math.nan, False, True))
            else:  # mean lr + s - a / 10 + 0.1 (0 at lr 0.4, anneal 5, noise 0), spread 0.01 by the seed
                rows.append(("noise", c["schedule"], seed, "gap", lr + s - a / 10 + 0.1 + 0.01 * (seed - 1), False,
                             False))
    per_seed = pd.DataFrame(rows, columns=list(maps.SEED_COLUMNS))
    table = maps.map_table(per_seed, cells, stat)
    fig = maps.plot_map(table, "noise", "gap")
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["preact_noise = 0", "preact_noise = 0.5", "preact_noise = 1"]
    assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 1
    limits = {(ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) for ax in axes}
    assert len(limits) == 1  # shared colour scale; diverging and centred at 0: both signs occur
    (vmin, vmax), = limits
    assert vmin == -vmax == pytest.approx(-(0.4 + 1.0 - 0.3 + 0.1))
    # panel preact_noise = 0.5: the cell lr 0.1, anneal 3 is blank; 3 annotated cells
    assert len(texts(axes[1])) == 3
    assert np.ma.getmaskarray(axes[1].collections[0].get_array()).reshape(2, 2).tolist() == [
        [True, False], [False, False]]
    # CI half-width t_{0.95,2} * 0.01 / sqrt(3) = 0.017: only the cell of mean 0 (lr 0.4, anneal 5, noise 0;
    # the next nearest is -0.1) has a CI including 0: hatched, at row lr 0.4, column anneal 5
    ci = table.set_index("schedule")["ci_includes_zero"]
    assert ci[ci.fillna(False)].index.tolist() == ["n_lr0.4_a5_s0.0"]
    assert [(p.get_x(), p.get_y(), p.get_hatch()) for p in axes[0].patches if p.get_hatch()] == [
        (1.0, 1.0, maps.HATCH_INCLUDES_ZERO)]
    assert hatches(axes[1]) == hatches(axes[2]) == []


def test_plot_errors(table: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"^--sweep: 'nope' not in the map \(have: map, const\)$"):
        maps.plot_map(table, "nope", "q_mean")
    with pytest.raises(ConfigError, match=r"^--statistic: 'nope' not in the map of sweep map \(have: q_mean, "):
        maps.plot_map(table, "map", "nope")


# --------------------------------------------------------------------------- command line


def table_args(tmp_path: Path, cells: object = CELLS, statistics: object = STATISTICS) -> list[str]:
    return ["table", "--metrics", str(tmp_path / "all.csv"), "--cells", json.dumps(cells),
            "--statistics", json.dumps(statistics), "--epochs", str(EPOCHS),
            "--out", str(tmp_path / "map.csv"), "--out-seeds", str(tmp_path / "map.seeds.csv")]


def test_cli_table_and_plot_round_trip(tmp_path: Path, table: pd.DataFrame, seeds: pd.DataFrame) -> None:
    metrics().to_csv(tmp_path / "all.csv", index=False)
    cells = tmp_path / "cells.json"  # the cells as a file (a large grid), the statistics as JSON text
    cells.write_text(json.dumps(CELLS, indent=1))
    args = table_args(tmp_path)
    args[args.index("--cells") + 1] = str(cells)
    maps.main(args)
    back = maps.read_map(tmp_path / "map.csv")
    pd.testing.assert_frame_equal(back, table)
    seeds_back = pd.read_csv(tmp_path / "map.seeds.csv")
    pd.testing.assert_frame_equal(seeds_back, seeds, check_dtype=False)
    out = [tmp_path / "m.png", tmp_path / "m.pdf"]
    maps.main(["plot", "--map", str(tmp_path / "map.csv"), "--sweep", "map", "--statistic", "q_minus_p",
               "--out-png", str(out[0]), "--out-pdf", str(out[1])])
    assert out[0].read_bytes().startswith(b"\x89PNG") and out[1].read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.csv", "cells.json", "m.pdf", "m.png", "map.csv",
                                                          "map.seeds.csv"]


@pytest.mark.parametrize(("argv", "line"), [
    (["--cells", "[{"], "error: --cells: expected a JSON value"),
    (["--statistics", "nope.json"], "error: --statistics: nope.json: file not found (expected JSON text"),
    (["--cells", "bad.json"], "error: --cells bad.json: expected a JSON value"),
    (["--confidence", "1.5"], "error: --confidence: expected a number in (0, 1), got 1.5"),
    (["--metrics", "missing.csv"], "error: --metrics: missing.csv: metrics file not found"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                   argv: list[str], line: str) -> None:
    metrics().to_csv(tmp_path / "all.csv", index=False)
    (tmp_path / "bad.json").write_text("[{\n")
    monkeypatch.chdir(tmp_path)
    args = table_args(tmp_path)
    flag, value = argv
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += argv
    with pytest.raises(SystemExit) as exc:
        cli.run(maps.main, args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1
    assert not (tmp_path / "map.csv").exists()


def test_read_map_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^--map: .*nope.csv: map file not found"):
        maps.read_map(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("sweep,schedule,momentum,statistic,n,n_censored,n_diverged,mean,ci_low,ci_high,"
                                      "ci_includes_zero,confidence,description,sweep_axes\n")
    with pytest.raises(DataError, match=r"unknown axis column\(s\) momentum"):
        maps.read_map(tmp_path / "bad.csv")


def test_cli_subprocess_unknown_statistic(tmp_path: Path, table: pd.DataFrame) -> None:
    table.to_csv(tmp_path / "map.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "lrorder.maps", "plot", "--map", str(tmp_path / "map.csv"), "--sweep", "const",
         "--statistic", "nope", "--out-png", str(tmp_path / "x.png"), "--out-pdf", str(tmp_path / "x.pdf")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == ("error: --statistic: 'nope' not in the map of sweep const "
                           "(have: q_mean, q_minus_p, q_auc, q_pass, pass_gap)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv"]


def test_markdown_grid_of_a_two_axis_and_a_one_axis_sweep(table: pd.DataFrame) -> None:
    lo, hi = t_interval([-.3, -.2, -.55])
    lo4, hi4 = t_interval([-.35, -.25])
    assert maps.markdown_grid(table, "map", "q_minus_p") == (
        "| lr \\ anneal | anneal 3 | anneal 4 |\n"
        "|---|---|---|\n"
        f"| 0.1 | -0.350 [{lo:.3f}, {hi:.3f}] | -0.300 [{lo4:.3f}, {hi4:.3f}]* |\n"
        f"| 0.4 | 0.333 [{t_interval([.35, .35, .3])[0]:.3f}, {t_interval([.35, .35, .3])[1]:.3f}] | 0.150 (n = 1) |\n")
    assert maps.markdown_grid(table, "const", "q_mean") == "| lr | q_mean |\n|---|---|\n| 0.1 | – |\n"


def test_show_prints_the_grid(tmp_path: Path, table: pd.DataFrame, capsys: pytest.CaptureFixture) -> None:
    table.to_csv(tmp_path / "map.csv", index=False)
    maps.main(["show", "--map", str(tmp_path / "map.csv"), "--sweep", "const", "--statistic", "q_auc"])
    assert capsys.readouterr().out == "| lr | q_auc |\n|---|---|\n| 0.1 | 0.200 [0.200, 0.200] |\n"


def test_censored_cells_are_marked_in_the_grid_and_the_heatmap(table: pd.DataFrame) -> None:
    """Regression: a cell whose runs never reached a first-passage threshold read as a measured epoch."""
    lo, hi = t_interval([4.0, 3.0, 7.0])
    grid = maps.markdown_grid(table, "map", "q_pass")
    assert f"| 0.1 | 4.667 [{lo:.3f}, {hi:.3f}] (1 of 3 censored) |" in grid
    fig = maps.plot_map(table, "map", "q_pass")
    (ax,) = panels(fig)
    assert texts(ax)[0].endswith(maps.CENSORED_MARK) and not texts(ax)[1].endswith(maps.CENSORED_MARK)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-1].startswith(f"{maps.CENSORED_MARK}: some runs never reached the threshold")
    assert not any(maps.CENSORED_MARK in label for label in
                   [t.get_text() for t in maps.plot_map(table, "map", "q_mean").legends[0].get_texts()])
