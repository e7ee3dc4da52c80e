"""Learning-order maps: one statistic per grid cell of a sweep, mean and Student-t interval over seeds, as heatmaps.

Usage::

    python -m lrorder.maps table --metrics ALL.csv [ALL.csv ...] --cells JSON|FILE --statistics JSON|FILE \\
        --epochs N [--confidence 0.9] --out MAP.csv --out-seeds MAP.seeds.csv
    python -m lrorder.maps plot --map MAP.csv --sweep NAME --statistic NAME --out-png X.png --out-pdf X.pdf
    python -m lrorder.maps show --map MAP.csv --sweep NAME --statistic NAME     # a Markdown grid, to stdout

``--cells`` and ``--statistics`` are each JSON text (as ``--spec`` of
:mod:`lrorder.claims`) when it starts with ``[`` (or ``{``), else the path of a file
holding it (a grid of many cells is too long for one command-line
argument; :func:`json_arg`).

A study's *sweep* is a grid over some of the axes of :data:`AXES` (initial
LR, first anneal epoch, pre-activation and gradient noise scales, weight
decay). Each grid *cell* is one schedule, trained for several seeds
(``--cells``: :func:`validate_cells`). A *statistic* (``--statistics``:
:func:`validate_statistics`) turns one run's accuracy curve into one number,
exactly as a claim does (:func:`lrorder.claims.run_summary`), over an epoch
window resolved per cell (:func:`lrorder.windows.resolve_window` with the
cell's own first anneal, so ``[anneal, anneal+10]`` follows the anneal
epoch across an anneal sweep):

- ``mean``, ``median``, ``max`` of the accuracy (fraction in [0, 1]) on
  ``eval_set`` over the window;
- ``auc``: trapezoidal area under accuracy vs epoch over the window divided
  by its length, a time-averaged accuracy (accuracy units);
- ``first_passage``: first epoch of the window with accuracy >=
  ``threshold`` (epochs); a run that never reaches it is *censored* at
  ``hi + 1``, a lower bound on its true passage epoch;
- with ``minus: <set>``, the run's value is the summary on ``eval_set``
  minus the same summary of the same run on ``minus`` (e.g. Q-only minus
  P-only test accuracy: > 0 means the run had learned Q better than P by
  then, the paper's learning order). A run censored on both sets has no value
  (its difference would be 0 whatever the truth; as
  :func:`lrorder.claims.per_seed_values` drops such a seed); it is counted in
  ``n_censored``.

Per cell, the values of its seeds get a mean and a two-sided Student-t
interval at ``--confidence`` (:func:`lrorder.stats.mean_ci`). Runs that
diverged (the aggregated metrics' ``diverged`` column,
:func:`lrorder.aggregate.diverged_rows`) are left out and counted
(``n_diverged``), as :mod:`lrorder.claims` and :mod:`lrorder.figures` do.

What a map tests, and what it does not. ``ci_includes_zero`` says, per cell,
whether the interval includes 0, i.e. whether the *sign* of the cell's mean
(for a ``minus`` difference: which set the runs had learned better) is not
established at the stated confidence. It is computed cell by cell with no
correction over the cells of a map, so about ``1 - confidence`` of the
cells with a true mean of 0 still show an established sign: a map is
descriptive, a picture of where an effect seems to lie, not a claim. Nor
does it test a difference between cells or a trend along an axis: two
cells whose intervals overlap may still differ, and the seeds of two cells
are not paired here. The paper's claims are tested, with Holm's correction,
by :mod:`lrorder.claims`.
For a level (no ``minus``) the mark is rarely of interest (an accuracy is
>= 0), but it is computed the same way. With fewer than 2 seeds there is
no interval: ``ci_includes_zero`` is then missing (``<NA>``), neither True
nor False, since the sign is not established but no interval includes 0
either; the figure marks those cells differently.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import textwrap
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from seaborn.utils import relative_luminance  # noqa: E402

from lrorder import cli, fileio, schema, sweeps  # noqa: E402
from lrorder.aggregate import diverged_rows, load_runs  # noqa: E402
from lrorder.claims import run_summary  # noqa: E402
from lrorder.errors import ConfigError, DataError  # noqa: E402
from lrorder.fileio import atomic_path  # noqa: E402
from lrorder.figures import save_figure  # noqa: E402
from lrorder.windows import map_window  # noqa: E402
from lrorder.stats import mean_ci  # noqa: E402

#: Axes a sweep may vary (:data:`lrorder.sweeps.AXES`; a cell's ``axes`` names some of them, in its own order).
AXES: tuple[str, ...] = tuple(sweeps.AXES)
#: Axes whose values are integers (``anneal``, an epoch); the others are floats.
INTEGER_AXES: frozenset[str] = frozenset(axis for axis, (_, integer) in sweeps.AXES.items() if integer)
#: Columns of :func:`per_seed_values`.
SEED_COLUMNS: tuple[str, ...] = ("sweep", "schedule", "seed", "statistic", "value", "censored", "diverged")
#: Columns of :func:`map_table` before the axis columns.
MAP_KEY_COLUMNS: tuple[str, ...] = ("sweep", "schedule")
#: Columns of :func:`map_table` after the axis columns.
MAP_VALUE_COLUMNS: tuple[str, ...] = (
    "statistic", "n", "n_censored", "n_diverged", "mean", "ci_low", "ci_high", "ci_includes_zero",
    "confidence", "description", "sweep_axes",
)
#: Hatch of a cell whose interval includes 0, and of a cell with one seed (no interval), in :func:`plot_map`.
HATCH_INCLUDES_ZERO = "///"
HATCH_NO_CI = "..."
#: Appended to a cell's number (heatmap and :func:`markdown_grid`) when some of its runs were censored.
CENSORED_MARK = " (c)"
#: Background of a heatmap cell without a value in :func:`plot_map` (no colour map used there reaches it).
BLANK_COLOUR = "0.78"
#: Characters per inch of figure width at which :func:`plot_map` wraps its title (matplotlib's "large" suptitle).
TITLE_CHARS_PER_INCH = 9


# --------------------------------------------------------------------------- inputs


def validate_cells(cells: Any) -> list[dict[str, Any]]:
    """Check ``--cells`` against the config schema's ``$defs/map_cells`` and return the cells normalised.

    Each cell has ``sweep``, ``schedule``, ``axes`` (axis -> value, in the
    sweep's order; ``anneal`` an int, the others returned as floats) and
    ``anneal`` (the cell's first LR milestone, or null for a constant LR),
    as :func:`lrorder.plan.map_cells` writes them.

    Returns:
        Copies of the cells, ordered by sweep (sweeps in order of first
        appearance), then in the given order within a sweep.

    Raises:
        ConfigError: ``--cells.<i>.<key>`` naming the bad key (the schema's
            message); also when the cells of a sweep do not name the same
            axes in the same order, or two cells of a sweep share a schedule
            or a point.
    """
    schema.check(cells, schema.definition("#/$defs/map_cells"), "--cells")
    out = [{"sweep": cell["sweep"], "schedule": cell["schedule"], "anneal": cell["anneal"],
            "axes": {axis: value if axis in INTEGER_AXES else float(value) for axis, value in cell["axes"].items()}}
           for cell in cells]
    index = {id(cell): i for i, cell in enumerate(out)}
    ordered = [cell for sweep in dict.fromkeys(c["sweep"] for c in out) for cell in out if cell["sweep"] == sweep]
    first: dict[str, dict[str, Any]] = {}
    seen: dict[tuple[str, str, Any], int] = {}
    for cell in ordered:
        where = f"--cells.{index[id(cell)]}"
        head = first.setdefault(cell["sweep"], cell)
        if list(cell["axes"]) != list(head["axes"]):
            raise ConfigError(f"{where}.axes: sweep {cell['sweep']} varies {', '.join(head['axes'])} (in this order) "
                              f"in --cells.{index[id(head)]}, this cell {', '.join(cell['axes'])}")
        for kind, key in (("schedule", cell["schedule"]), ("point", tuple(cell["axes"].values()))):
            other = seen.setdefault((cell["sweep"], kind, key), index[id(cell)])
            if other != index[id(cell)]:
                raise ConfigError(f"{where}: its {kind} {key} is also that of --cells.{other} of sweep {cell['sweep']}")
    return ordered


def validate_statistics(statistics: Any) -> list[dict[str, Any]]:
    """Check ``--statistics`` (a study's merged map statistics, :func:`lrorder.plan.map_statistics`: name ->
    record) against the config schema's ``$defs/map_statistic`` and return one record per statistic.

    Returns:
        ``[{"name", "description", "eval_set", "minus", "summary", "window"[, "threshold"]}, ...]`` in the
        given order; ``minus`` None when not given.

    Raises:
        ConfigError: ``--statistics`` is not a non-empty object of records, or a record breaks
            ``$defs/map_statistic`` (``--statistics.<name>.<key>``: the schema's message).
    """
    if not isinstance(statistics, dict) or not statistics:
        raise ConfigError("--statistics: expected a non-empty JSON object, statistic name -> record")
    schema.check(statistics, schema.definition("#/$defs/map_statistics"), "--statistics")
    record_schema = schema.definition("#/$defs/map_statistic")
    out = []
    for name, record in statistics.items():
        if record is None:
            raise ConfigError(f"--statistics.{name}: null (the planner drops these); give a record")
        schema.check(record, record_schema, f"--statistics.{name}")
        out.append({"name": name, "minus": None, **record})
    return out


# --------------------------------------------------------------------------- per-seed values


def per_seed_values(metrics: pd.DataFrame, cells: Any, statistics: Any, epochs: int) -> pd.DataFrame:
    """Each run's value of each statistic in each cell (the rule of the module docstring).

    Args:
        metrics: tidy aggregated metrics of one study (columns of
            :data:`lrorder.columns.METRIC_COLUMNS`, optionally ``diverged``;
            :func:`lrorder.aggregate.load_runs`); ``accuracy`` in [0, 1].
        cells: ``--cells`` (:func:`validate_cells`).
        statistics: ``--statistics`` (:func:`validate_statistics`).
        epochs: the study's ``training.epochs`` (the ``end`` anchor).

    Returns:
        Columns :data:`SEED_COLUMNS`, one row per cell, statistic and run of
        the cell's schedule (every seed in the metrics), ordered by cell
        (:func:`validate_cells`' order), statistic (given order), seed
        ascending: ``sweep``, ``schedule``, ``statistic`` str; ``seed`` int64;
        ``value`` float64 (accuracy units, or epochs for ``first_passage``;
        a difference for ``minus``); ``censored`` bool (a ``first_passage``
        summary of the run, on ``eval_set`` or ``minus``, never reached the
        threshold); ``diverged`` bool (the run diverged). ``value`` is NaN
        where the run has no value: it diverged (``diverged`` True; no
        summary is computed, so its window need not be covered), the window
        is undefined in the cell (``anneal`` in a constant-LR cell), or both
        summaries of a ``minus`` difference are censored (``censored`` True).

    Raises:
        ConfigError: bad ``cells``, ``statistics`` or ``epochs``; the
            metrics hold several studies; a cell's schedule has no run in the
            metrics; a statistic's ``eval_set`` or ``minus`` is not in the
            metrics of a cell; a window does not resolve in a cell
            (:func:`lrorder.windows.map_window`); or a run that did not diverge lacks an
            epoch of the window on one of the sets (the message names the
            statistic, the cell and the seed).
    """
    cells = validate_cells(cells)
    stats = validate_statistics(statistics)
    if type(epochs) is not int or epochs < 1:
        raise ConfigError(f"--epochs: expected a positive integer, got {epochs!r}")
    studies = sorted(metrics["study"].astype(str).unique())
    if len(studies) > 1:
        raise ConfigError(f"--metrics: holds several studies ({', '.join(studies)}); map one study at a time")
    df = metrics.assign(_diverged=diverged_rows(metrics)).sort_values(
        ["schedule", "seed", "eval_set", "epoch"], kind="stable")
    run_diverged = df.groupby(["schedule", "seed"], sort=True)["_diverged"].any()
    last_epoch = df.groupby(["schedule", "seed"], sort=True)["epoch"].max()
    curves = {(sch, int(seed), es): (g["epoch"].to_numpy(dtype=np.int64), g["accuracy"].to_numpy(dtype=float))
              for (sch, seed, es), g in df.groupby(["schedule", "seed", "eval_set"], sort=False)}
    seeds_of: dict[str, list[int]] = {}
    for sch, seed in run_diverged.index:
        seeds_of.setdefault(sch, []).append(int(seed))
    sets_of = df.groupby("schedule")["eval_set"].agg(lambda s: set(s)).to_dict()

    rows: list[tuple] = []
    for cell in cells:
        sweep, sch = cell["sweep"], cell["schedule"]
        if sch not in seeds_of:
            raise ConfigError(f"--cells: schedule {sch} (sweep {sweep}) has no run in the metrics "
                              f"(have: {', '.join(sorted(seeds_of))})")
        for stat in stats:
            name = stat["name"]
            for key in ("eval_set", "minus"):
                es = stat[key]
                if es is not None and es not in sets_of[sch]:
                    raise ConfigError(f"statistic {name}.{key}: {es!r} not in the metrics of cell {sch} of sweep "
                                      f"{sweep} (have: {', '.join(sorted(sets_of[sch]))})")
            window = map_window(stat, cell, epochs)
            for seed in seeds_of[sch]:
                if run_diverged[(sch, seed)]:
                    rows.append((sweep, sch, seed, name, math.nan, False, True))
                    continue
                if window is None:
                    rows.append((sweep, sch, seed, name, math.nan, False, False))
                    continue
                value, censored = _run_value(curves, stat, window, cell, seed, int(last_epoch[(sch, seed)]))
                rows.append((sweep, sch, seed, name, value, censored, False))
    out = pd.DataFrame.from_records(rows, columns=list(SEED_COLUMNS))
    return out.astype({"seed": "int64", "value": "float64", "censored": bool, "diverged": bool})


def _run_value(curves: Mapping[tuple[str, int, str], tuple[np.ndarray, np.ndarray]], stat: Mapping[str, Any],
               window: list[int], cell: Mapping[str, Any], seed: int, last: int) -> tuple[float, bool]:
    """``(value, censored)`` of one run that did not diverge (see :func:`per_seed_values`)."""
    lo, hi = window
    spec = {"summary": stat["summary"], "window": [lo, hi], "threshold": stat.get("threshold")}
    want = np.arange(lo, hi + 1)
    parts = []
    for es in (stat["eval_set"], stat["minus"]):
        if es is None:
            continue
        epochs, acc = curves.get((cell["schedule"], seed, es), (np.empty(0, np.int64), np.empty(0)))
        inside = (epochs >= lo) & (epochs <= hi)
        if not np.array_equal(epochs[inside], want):
            gap = "" if last < hi else (f"; it has no {es} row at some epoch of the window: a run scores only the "
                                        "epochs of its scoring plan (training.eval_every, the windows when it ran)")
            raise ConfigError(f"statistic {stat['name']}: window [{lo}, {hi}] is not covered by cell "
                              f"{cell['schedule']} of sweep {cell['sweep']} seed {seed} on {es} "
                              f"(last epoch {last}{gap})")
        parts.append(run_summary(acc[inside], epochs[inside], spec))
    if len(parts) == 1:
        return parts[0]
    (a, a_cens), (b, b_cens) = parts
    if a_cens and b_cens:
        return math.nan, True
    return a - b, a_cens or b_cens


# --------------------------------------------------------------------------- map table


def axis_columns(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """The axis columns of a map: every axis of ``cells``, in order of first appearance."""
    return list(dict.fromkeys(axis for c in cells for axis in c["axes"]))


def map_table(per_seed: pd.DataFrame, cells: Any, statistics: Any, confidence: float = 0.9) -> pd.DataFrame:
    """One row per sweep, cell and statistic: the seeds' mean and Student-t interval.

    Args:
        per_seed: :func:`per_seed_values` of the same ``cells`` and ``statistics``.
        cells: ``--cells`` (:func:`validate_cells`).
        statistics: ``--statistics`` (:func:`validate_statistics`): their
            order, and the ``description`` each row carries.
        confidence: two-sided coverage of the interval, in (0, 1).

    Returns:
        Tidy table, rows ordered by sweep (cell order), cell (cell order),
        statistic (given order); columns ``sweep``, ``schedule`` (str), then
        one column per axis of any cell (:func:`axis_columns`; ``Int64`` for
        :data:`INTEGER_AXES`, float64 otherwise; missing where the cell's
        sweep lacks the axis), then :data:`MAP_VALUE_COLUMNS`:
        ``statistic`` (str); ``n`` (int64, seeds with a value: not
        diverged, window defined, not censored on both sets of a
        difference); ``n_censored`` (int64, runs not diverged with a
        censored summary, those without a value included); ``n_diverged``
        (int64, runs left out as diverged); ``mean``, ``ci_low``,
        ``ci_high`` (float64, in the statistic's units; :func:`lrorder.stats.mean_ci`:
        NaN for ``n`` 0, CI NaN for ``n`` 1); ``ci_includes_zero``
        (pandas ``boolean``: ``ci_low <= 0 <= ci_high``; ``<NA>`` when the
        CI is NaN, ``n`` < 2); ``confidence`` (float64); ``description``
        (str, the statistic's); ``sweep_axes`` (str, the sweep's axes in
        its cells' order, separated by spaces: the plot's axis order).

    Raises:
        ConfigError: bad ``cells``, ``statistics`` or ``confidence``;
            ``per_seed`` lacks a column of :data:`SEED_COLUMNS` or holds a
            (sweep, schedule, statistic) not among ``cells`` x ``statistics``.
    """
    cells = validate_cells(cells)
    stats = validate_statistics(statistics)
    if not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise ConfigError(f"--confidence: expected a number in (0, 1), got {confidence!r}")
    missing = [c for c in SEED_COLUMNS if c not in per_seed.columns]
    if missing:
        raise ConfigError(f"per-seed values: missing column(s) {', '.join(missing)}")
    groups = {key: g for key, g in per_seed.groupby(["sweep", "schedule", "statistic"], sort=False)}
    known = {(c["sweep"], c["schedule"], s["name"]) for c in cells for s in stats}
    extra = [k for k in groups if k not in known]
    if extra:
        raise ConfigError(f"per-seed values: sweep {extra[0][0]} cell {extra[0][1]} statistic {extra[0][2]} is not "
                          "among the cells and statistics")
    axes = axis_columns(cells)
    empty = pd.DataFrame(columns=list(SEED_COLUMNS))
    records = []
    for cell in cells:
        for stat in stats:
            g = groups.get((cell["sweep"], cell["schedule"], stat["name"]), empty)
            diverged = g["diverged"].astype(bool).to_numpy()
            kept = g[~diverged]
            values = kept["value"].to_numpy(dtype=float)
            ci = mean_ci(values[~np.isnan(values)], confidence)
            includes = pd.NA if math.isnan(ci.ci_low) else bool(ci.ci_low <= 0.0 <= ci.ci_high)
            records.append({
                "sweep": cell["sweep"], "schedule": cell["schedule"],
                **{a: cell["axes"].get(a, pd.NA) for a in axes},
                "statistic": stat["name"], "n": ci.n, "n_censored": int(kept["censored"].astype(bool).sum()),
                "n_diverged": int(diverged.sum()), "mean": ci.mean, "ci_low": ci.ci_low, "ci_high": ci.ci_high,
                "ci_includes_zero": includes, "confidence": float(confidence),
                "description": stat["description"], "sweep_axes": " ".join(cell["axes"]),
            })
    columns = [*MAP_KEY_COLUMNS, *axes, *MAP_VALUE_COLUMNS]
    return _typed(pd.DataFrame.from_records(records, columns=columns), axes)


def _typed(table: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """``table`` with the dtypes of :func:`map_table`."""
    types: dict[str, Any] = {a: ("Int64" if a in INTEGER_AXES else "float64") for a in axes}
    types.update({"n": "int64", "n_censored": "int64", "n_diverged": "int64", "mean": "float64",
                  "ci_low": "float64", "ci_high": "float64", "ci_includes_zero": "boolean", "confidence": "float64"})
    for a in axes:  # pd.NA in an object column: make it NaN before the cast
        table[a] = pd.to_numeric(table[a].astype(object).where(table[a].notna(), np.nan))
    table = table.astype(types)
    for col in ("sweep", "schedule", "statistic", "description", "sweep_axes"):
        table[col] = table[col].fillna("").astype(str)
    return table


def read_map(path: str | os.PathLike) -> pd.DataFrame:
    """Read a map table written by ``python -m lrorder.maps table``, with the dtypes of :func:`map_table`.

    The axis columns are those between ``schedule`` and ``statistic``.

    Raises:
        DataError: the file is missing, empty or not CSV (the message starts
            with ``--map:``), lacks a column of :func:`map_table`, or has an
            axis column not in :data:`AXES`.
    """
    try:
        table = fileio.read_csv(path, "map", dtype={c: str for c in ("sweep", "schedule", "statistic", "description",
                                                                     "sweep_axes")})
    except DataError as exc:
        raise DataError(f"--map: {exc}") from None
    cols = list(table.columns)
    missing = [c for c in (*MAP_KEY_COLUMNS, *MAP_VALUE_COLUMNS) if c not in cols]
    if missing or cols[:2] != list(MAP_KEY_COLUMNS):
        what = f"missing column(s) {', '.join(missing)}" if missing else "sweep, schedule not first"
        raise DataError(f"--map: {path}: not a map table ({what})")
    axes = cols[2:cols.index("statistic")]
    bad = [a for a in axes if a not in AXES]
    if bad:
        raise DataError(f"--map: {path}: unknown axis column(s) {', '.join(bad)} (expected among {', '.join(AXES)})")
    return _typed(table, axes)


# --------------------------------------------------------------------------- heatmaps


def _label(value: Any) -> str:
    """Tick label of an axis value: an int as is, a float with up to 6 significant digits."""
    return str(int(value)) if isinstance(value, (int, np.integer)) else f"{float(value):.6g}"


def annotation_digits(means: np.ndarray) -> int:
    """Decimals that show the largest ``|mean|`` with 3 significant digits (none from 100 up; 2 without a mean)."""
    top = float(np.abs(means).max()) if means.size else 0.0
    if not top > 0.0:
        return 2
    return max(0, 2 - math.floor(math.log10(top)))


def format_mean(value: float, digits: int) -> str:
    """A cell's annotation: ``value`` with ``digits`` decimals ("" for NaN; never "-0.00")."""
    if not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def sweep_rows(table: pd.DataFrame, sweep: str, statistic: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one sweep and statistic of a map table (:func:`map_table`), and the sweep's axes in order.

    Raises:
        ConfigError: ``sweep`` is not in ``table`` (``--sweep: ...``), or
            ``statistic`` is not among the sweep's statistics (``--statistic: ...``).
    """
    sweeps = list(dict.fromkeys(table["sweep"]))
    if sweep not in sweeps:
        raise ConfigError(f"--sweep: {sweep!r} not in the map (have: {', '.join(sweeps)})")
    rows = table[table["sweep"] == sweep]
    names = list(dict.fromkeys(rows["statistic"]))
    if statistic not in names:
        raise ConfigError(f"--statistic: {statistic!r} not in the map of sweep {sweep} (have: {', '.join(names)})")
    rows = rows[rows["statistic"] == statistic].reset_index(drop=True)
    return rows, str(rows["sweep_axes"].iloc[0]).split()


def markdown_grid(table: pd.DataFrame, sweep: str, statistic: str) -> str:
    """One statistic over a one- or two-axis sweep as a Markdown table: rows the first axis, columns the second
    (one column for a one-axis sweep), each cell ``mean [ci_low, ci_high]`` with 3 decimals, ``*`` after a
    cell whose interval includes 0, ``(n = 1)`` for one seed, ``(k of n censored)`` where some runs never
    reached a first-passage threshold (their value is a bound), ``–`` for no value.

    Raises:
        ConfigError: as :func:`sweep_rows`; a sweep of more than two axes (``--sweep: ...``).
    """
    rows, axes = sweep_rows(table, sweep, statistic)
    if len(axes) > 2:
        raise ConfigError(f"--sweep: {sweep} has {len(axes)} axes ({', '.join(axes)}); a grid shows at most 2")
    y_axis, x_axis = axes[0], (axes[1] if len(axes) == 2 else None)

    def cell(row: pd.Series) -> str:
        if row["n"] == 0:
            return "–"
        censored = f" ({row['n_censored']} of {row['n']} censored)" if row["n_censored"] > 0 else ""
        if row["n"] == 1:
            return f"{row['mean']:.3f} (n = 1){censored}"
        mark = "*" if bool(row["ci_includes_zero"]) else ""
        return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]{mark}{censored}"

    ys = sorted(set(rows[y_axis].tolist()))
    xs = sorted(set(rows[x_axis].tolist())) if x_axis else [None]
    head = [f"{y_axis} \\ {x_axis}" if x_axis else y_axis,
            *([f"{x_axis} {_label(x)}" for x in xs] if x_axis else [statistic])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for y in ys:
        found = rows[rows[y_axis] == y]
        cells = []
        for x in xs:
            match = found if x is None else found[found[x_axis] == x]
            cells.append(cell(match.iloc[0]) if len(match) else "")
        lines.append("| " + " | ".join([_label(y), *cells]) + " |")
    return "\n".join(lines) + "\n"


def plot_map(table: pd.DataFrame, sweep: str, statistic: str) -> Figure:
    """Heatmap of one statistic's cell means over one sweep (:func:`map_table` rows).

    The y axis is the sweep's first axis (values ascending upwards), the x
    axis its second (ascending to the right); a one-axis sweep is one row
    with its axis along x. A sweep of more than two axes gets one panel per
    combination of the others (ascending), titled ``"<axis> = <value>, ..."``;
    all panels share one colour scale and one colour bar. The colour map is
    diverging and centred at 0 when the finite means take both signs,
    sequential otherwise. Each cell shows its mean, all cells with the
    decimals that give the largest ``|mean|`` of the map 3 significant
    digits (:func:`annotation_digits`). A cell whose interval includes 0 is hatched ``///``
    (:data:`HATCH_INCLUDES_ZERO`: the sign is not established at the table's
    confidence); a cell with one seed (no interval) is hatched ``...``
    (:data:`HATCH_NO_CI`); a cell with no value (``n`` 0), or a point not in
    the grid, is left blank (grey, :data:`BLANK_COLOUR`). The figure's legend says what each mark means;
    its title is the statistic's name and description, the sweep and the
    confidence.

    Returns:
        A matplotlib Figure not registered with pyplot.

    Raises:
        ConfigError: ``sweep`` is not in ``table`` (``--sweep: ...``), or
            ``statistic`` is not among the sweep's statistics (``--statistic: ...``).
    """
    rows, axes = sweep_rows(table, sweep, statistic)
    confidence = float(rows["confidence"].iloc[0])
    description = str(rows["description"].iloc[0])
    if len(axes) == 1:
        y_axis, x_axis, rest = None, axes[0], []
    else:
        y_axis, x_axis, rest = axes[0], axes[1], axes[2:]

    def values(axis: str | None) -> list:
        return [None] if axis is None else sorted(set(rows[axis].tolist()))

    ys, xs = values(y_axis), values(x_axis)
    combos = list(itertools.product(*(values(a) for a in rest)))
    means = rows["mean"].to_numpy(dtype=float)
    finite = means[np.isfinite(means)]
    if finite.size and finite.min() < 0.0 < finite.max():
        limit = float(np.abs(finite).max())
        colour = {"cmap": "vlag", "vmin": -limit, "vmax": limit}  # symmetric: 0 at the colour map's centre
    elif finite.size:
        colour = {"cmap": "viridis", "vmin": float(finite.min()), "vmax": float(finite.max())}
    else:
        colour = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}

    digits = annotation_digits(finite)
    ncols = min(len(combos), 3)
    nrows = math.ceil(len(combos) / ncols)
    fig = Figure(figsize=(max(7.0, ncols * (0.8 * len(xs) + 1.6) + 1.2), nrows * (0.55 * len(ys) + 1.4) + 1.8),
                 layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
    panels = list(grid.flat)
    for ax in panels[len(combos):]:
        fig.delaxes(ax)
    for ax, combo in zip(panels, combos):
        sel = rows
        for axis, value in zip(rest, combo):
            sel = sel[sel[axis] == value]
        mean = np.full((len(ys), len(xs)), np.nan)
        marks = np.full((len(ys), len(xs)), "", dtype=object)
        censored = np.zeros((len(ys), len(xs)), dtype=bool)
        for r in sel.itertuples(index=False):
            d = r._asdict()
            i = 0 if y_axis is None else ys.index(d[y_axis])
            j = xs.index(d[x_axis])
            mean[i, j] = d["mean"]
            censored[i, j] = d["n_censored"] > 0
            if d["n"] >= 1:
                marks[i, j] = HATCH_NO_CI if pd.isna(d["ci_includes_zero"]) else (
                    HATCH_INCLUDES_ZERO if d["ci_includes_zero"] else "")
        annot = np.vectorize(lambda v: format_mean(v, digits), otypes=[object])(mean)
        annot = np.where(censored & (annot != ""), annot + CENSORED_MARK, annot)
        frame = pd.DataFrame(mean, index=[""] if y_axis is None else [_label(v) for v in ys],
                             columns=[_label(v) for v in xs])
        sns.heatmap(frame, ax=ax, annot=annot, fmt="", cbar=False, linewidths=0.5, linecolor="white",
                    square=False, **colour)
        ax.set_facecolor(BLANK_COLOUR)
        mesh = ax.collections[0]
        labels = {(int(t.get_position()[1]), int(t.get_position()[0])): t for t in ax.texts}  # (row, col)
        for (i, j), hatch in np.ndenumerate(marks):
            if hatch:
                rgba = mesh.cmap(mesh.norm(mean[i, j]))
                # the colour seaborn gives the cell's annotation: dark on light cells, white on dark ones
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch=hatch, linewidth=0,
                                       edgecolor=".15" if relative_luminance(rgba) > 0.408 else "w"))
                if (i, j) in labels:  # the number stays readable on a patch of the cell's colour
                    labels[(i, j)].set_bbox({"facecolor": rgba, "edgecolor": "none", "pad": 2.0})
        if y_axis is None:
            ax.set_yticks([])
        else:
            ax.invert_yaxis()
        ax.set_xlabel(x_axis)
        ax.set_ylabel(y_axis or "")
        ax.set_title(", ".join(f"{a} = {_label(v)}" for a, v in zip(rest, combo)))
    fig.colorbar(panels[0].collections[0], ax=panels[:len(combos)], label=f"mean {statistic}")
    pct = f"{100 * confidence:g}%"
    handles = [
        Patch(facecolor="white", edgecolor="0.3", hatch=HATCH_INCLUDES_ZERO,
              label=f"{pct} CI includes 0: sign not established (per cell, no correction over cells)"),
        Patch(facecolor="white", edgecolor="0.3", hatch=HATCH_NO_CI, label="one seed: no CI"),
        Patch(facecolor=BLANK_COLOUR, edgecolor="0.6", label="grey, blank: no value (n = 0, or not in the grid)"),
    ]
    if rows["n_censored"].gt(0).any():
        handles.append(Patch(facecolor="white", edgecolor="none", label=(
            f"{CENSORED_MARK}: some runs never reached the threshold (counted at the window's end + 1: the mean is "
            "a bound, not a measurement)")))
    fig.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False, fontsize="small")
    head = f"{statistic}: {description}" if description else statistic
    head = textwrap.fill(head, width=int(fig.get_figwidth() * TITLE_CHARS_PER_INCH))  # kept inside the figure
    fig.suptitle(f"{head}\nsweep {sweep}: mean over seeds, {pct} Student-t CI")
    return fig


# --------------------------------------------------------------------------- command line


def json_arg(text: str, flag: str) -> Any:
    """The JSON value given to ``flag``: ``text`` itself when it starts with ``[`` or ``{`` (after blanks), else
    the content of the file at path ``text``.

    Raises:
        ConfigError: naming ``flag``: the text is not JSON, or the file is
            missing, unreadable or not JSON.
    """
    if text.lstrip()[:1] in ("[", "{"):
        return cli.parse_json_arg(text, flag)
    try:
        with open(text, encoding="utf-8") as fh:
            content = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{flag}: {text}: file not found (expected JSON text starting with [, or a JSON "
                          "file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{flag}: {text}: cannot read ({type(exc).__name__})") from None
    return cli.parse_json_arg(content, f"{flag} {text}")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = cli.ArgumentParser(prog="python -m lrorder.maps", description="Learning-order maps over sweeps.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("table", help="per-cell mean and CI of each statistic, and the per-seed values")
    p.add_argument("--metrics", required=True, nargs="+", metavar="ALL.csv",
                   help="aggregated tidy metrics of one study (several files: their runs together)")
    p.add_argument("--cells", required=True, metavar="JSON|FILE", help="JSON list of grid cells, or a file holding it")
    p.add_argument("--statistics", required=True, metavar="JSON|FILE",
                   help="JSON object, statistic name -> record (a study's map_statistics), or a file holding it")
    p.add_argument("--epochs", required=True, type=int, metavar="N", help="the study's training.epochs")
    p.add_argument("--confidence", type=float, default=0.9, metavar="C", help="CI coverage (default 0.9)")
    p.add_argument("--out", required=True, metavar="MAP.csv")
    p.add_argument("--out-seeds", required=True, metavar="MAP.seeds.csv")
    p = sub.add_parser("show", help="one statistic over a one- or two-axis sweep as a Markdown table")
    p.add_argument("--map", required=True, metavar="MAP.csv")
    p.add_argument("--sweep", required=True, metavar="NAME")
    p.add_argument("--statistic", required=True, metavar="NAME")
    p = sub.add_parser("plot", help="heatmap of one statistic over one sweep")
    p.add_argument("--map", required=True, metavar="MAP.csv")
    p.add_argument("--sweep", required=True, metavar="NAME")
    p.add_argument("--statistic", required=True, metavar="NAME")
    p.add_argument("--out-png", required=True, metavar="X.png")
    p.add_argument("--out-pdf", required=True, metavar="X.pdf")
    args = parser.parse_args(argv)

    if args.command == "table":
        cells = json_arg(args.cells, "--cells")
        statistics = json_arg(args.statistics, "--statistics")
        validate_cells(cells)
        validate_statistics(statistics)
        if not 0.0 < args.confidence < 1.0:
            raise ConfigError(f"--confidence: expected a number in (0, 1), got {args.confidence}")
        try:
            metrics = load_runs(args.metrics)
        except DataError as exc:
            raise DataError(f"--metrics: {exc}") from None
        seeds = per_seed_values(metrics, cells, statistics, args.epochs)
        table = map_table(seeds, cells, statistics, args.confidence)
        with atomic_path(args.out_seeds) as tmp:
            seeds.to_csv(tmp, index=False)
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
    elif args.command == "show":
        sys.stdout.write(markdown_grid(read_map(args.map), args.sweep, args.statistic))
    else:
        fig = plot_map(read_map(args.map), args.sweep, args.statistic)
        save_figure(fig, args.out_png, args.out_pdf)


if __name__ == "__main__":
    cli.run(main)
