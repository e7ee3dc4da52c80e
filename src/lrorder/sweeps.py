"""Sweeps: grids over schedule and training settings, expanded into schedules with one canonical name per cell.

A study may declare named sweeps (``studies.<study>.sweeps``, schema
``$defs/sweep``)::

    sweeps:
      map:
        base: large_lr                # the declared schedule the grid varies
        axes:
          lr: [0.1, 0.2, 0.4, 0.8]    # lr.initial
          anneal: [25, 50, 100]       # the first LR milestone (every milestone moves with it)

Each cell of the grid (the product of the axes) is one more schedule of the
study, trained for every seed of the study like a declared one
(:func:`lrorder.plan.study_runs`), and named canonically (:func:`cell_name`):
``<sweep>_<token><value>`` per axis, in the fixed order of :data:`AXES`
whatever the order the config lists them in, e.g. ``map_lr0.4_anneal50``.
Numbers are written in their shortest positional form (:func:`canonical_value`):
``0.1`` (never ``1e-1`` or ``0.10``), ``1`` for 1.0 and 1 alike, and the
integer axis (``anneal``) as an integer. Two values of an axis with one
canonical form, or a cell named like a declared schedule, are a
:class:`ConfigError`. Adding a value to an axis adds only the cells that
hold it: the other cells keep their names and run configs, so Snakemake
reruns nothing of them.

The axes (the learning-order maps of the synthetic study; ``docs/paper-notes.md``):

* ``lr``: the initial learning rate (``lr.initial``), > 0;
* ``anneal``: the epoch of the first LR milestone (>= 2); every milestone of
  the base schedule's LR and noise moves by the same number of epochs (a
  noise switched off at the anneal stays switched off at it). The base LR
  must have milestones (form ``piecewise`` or a named form, not ``cosine``);
* ``preact_noise``: the pre-activation noise std (``preact_noise.initial``),
  its milestones kept (the paper's noise is switched off at the anneal);
* ``grad_noise``: the gradient noise std (``grad_noise.initial``), milestones kept;
* ``weight_decay``: the weight decay of the cell's runs (the schedule's
  ``weight_decay``, which overrides ``training.weight_decay``).

The expansion holds no state: it is a function of the study's schedules and
sweeps (cached by their content, so that planning thousands of runs expands
each grid once).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from lrorder import fileio, schedules
from lrorder.errors import ConfigError

#: The axes a sweep may vary, in the order cell names list them: axis -> (name token, integer axis).
AXES: dict[str, tuple[str, bool]] = {
    "lr": ("lr", False),
    "anneal": ("anneal", True),
    "preact_noise": ("preact", False),
    "grad_noise": ("grad", False),
    "weight_decay": ("wd", False),
}


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep.

    Attributes:
        name: the schedule name (:func:`cell_name`).
        sweep: the sweep's name.
        axes: axis -> value (int for ``anneal``, float otherwise), in :data:`AXES` order.
        anneal: the first LR milestone of the cell's schedule (epoch), or ``None`` for a constant LR.
        declaration: the cell's schedule, in the config's form (``lr``, ``preact_noise``,
            ``grad_noise`` and, with a ``weight_decay`` axis, ``weight_decay``).
    """

    name: str
    sweep: str
    axes: dict[str, int | float]
    anneal: int | None
    declaration: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """``{"sweep", "schedule", "axes", "anneal"}``: the JSON the map step reads (``lrorder.maps``)."""
        return {"sweep": self.sweep, "schedule": self.name, "axes": dict(self.axes), "anneal": self.anneal}


def canonical_value(value: int | float, integer: bool) -> str:
    """The one spelling of an axis value in a cell name.

    Integers as integers (``25``); other numbers in their shortest
    positional form, without a trailing point (``0.1``, ``1``, ``0.0001``,
    ``1000000``), so that ``1e-1``, ``0.10`` and ``0.1`` are one name, and so
    are ``1`` and ``1.0``.
    """
    if integer:
        return str(int(value))
    return np.format_float_positional(float(value), trim="-")


def cell_name(sweep: str, axes: Mapping[str, int | float]) -> str:
    """``<sweep>_<token><value>_...`` over the axes in :data:`AXES` order (e.g. ``map_lr0.4_anneal50``)."""
    parts = [f"{AXES[axis][0]}{canonical_value(axes[axis], AXES[axis][1])}" for axis in AXES if axis in axes]
    return "_".join([sweep, *parts])


def _axis_values(sweep: str, axis: str, values: list[Any], key: str) -> list[int | float]:
    """The axis's values as ints or floats, duplicates (one canonical form) refused."""
    integer = AXES[axis][1]
    typed = [int(v) if integer else float(v) + 0.0 for v in values]  # + 0.0: -0.0 is 0.0
    seen: dict[str, Any] = {}
    for given, value in zip(values, typed):
        text = canonical_value(value, integer)
        if text in seen:
            raise ConfigError(f"{key}.axes.{axis}: {seen[text]!r} and {given!r} are one value ({text}); list it once")
        seen[text] = given
    return typed


def _shifted(declaration: Mapping[str, Any], delta: int) -> dict[str, Any]:
    """A resolved piecewise declaration with every milestone moved by ``delta`` epochs."""
    return {**declaration, "milestones": [m + delta for m in declaration.get("milestones", [])]}


def _cell_declaration(base: Mapping[str, Any], axes: Mapping[str, int | float], key: str) -> tuple[dict[str, Any], int | None]:
    """The schedule of one cell and its first LR milestone (``None``: a constant LR)."""
    built = {part: schedules.from_config(base[part], f"{key}.base.{part}") for part in schedules.PARTS}
    parts = {part: sched.as_dict() for part, sched in built.items()}
    first = built["lr"].first_milestone
    if "anneal" in axes:
        if not isinstance(built["lr"], schedules.PiecewiseConstant) or first is None:
            raise ConfigError(f"{key}.axes.anneal: the base schedule's lr has no milestone to move "
                              f"(a constant or cosine LR); give the base a piecewise lr with milestones")
        delta = int(axes["anneal"]) - first
        parts = {part: _shifted(parts[part], delta) if isinstance(sched, schedules.PiecewiseConstant) else parts[part]
                 for part, sched in built.items()}
        for part, value in parts.items():
            early = [m for m in value.get("milestones", []) if m < 2]
            if early:
                raise ConfigError(f"{key}.axes.anneal: {axes['anneal']} moves the base's {part} milestones by {delta} "
                                  f"epochs, to {value['milestones']}; a milestone must be >= 2")
        first = int(axes["anneal"])
    for axis in ("lr", "preact_noise", "grad_noise"):
        if axis in axes:
            parts[axis] = {**parts[axis], "initial": float(axes[axis])}
    if "weight_decay" in axes:
        parts["weight_decay"] = float(axes["weight_decay"])
    elif "weight_decay" in base:
        parts["weight_decay"] = base["weight_decay"]
    return parts, first


@functools.lru_cache(maxsize=32)
def _expand(study: str, schedules_json: str, sweeps_json: str) -> tuple[Cell, ...]:
    declared = json.loads(schedules_json)
    cells: list[Cell] = []
    names: dict[str, str] = {}
    for sweep, spec in json.loads(sweeps_json).items():
        key = f"studies.{study}.sweeps.{sweep}"
        if spec["base"] not in declared:
            raise ConfigError(f"{key}.base: unknown schedule {spec['base']!r} (defined: {', '.join(declared)})")
        axes = {axis: _axis_values(sweep, axis, spec["axes"][axis], key) for axis in AXES if axis in spec["axes"]}
        for values in itertools.product(*axes.values()):
            point = dict(zip(axes, values))
            name = cell_name(sweep, point)
            if name in declared:
                raise ConfigError(f"{key}: cell {name} is also a declared schedule (studies.{study}.schedules."
                                  f"{name}); rename the sweep or the schedule")
            if name in names:
                raise ConfigError(f"{key}: cell {name} is also a cell of studies.{study}.sweeps.{names[name]}; "
                                  f"rename one of the sweeps")
            names[name] = sweep
            declaration, anneal = _cell_declaration(declared[spec["base"]], point, key)
            cells.append(Cell(name, sweep, point, anneal, declaration))
    return tuple(cells)


def _key(study: str, study_cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    return study, json.dumps(study_cfg["schedules"], sort_keys=True), json.dumps(study_cfg.get("sweeps") or {})


def cells(study: str, study_cfg: Mapping[str, Any]) -> list[Cell]:
    """Every cell of the study's sweeps, sweep by sweep in config order, cells in grid order
    (the last axis of :data:`AXES` varying fastest).

    Args:
        study: the study's name (for messages).
        study_cfg: the study's (schema-validated) config: ``schedules`` and ``sweeps`` (absent: none).

    Raises:
        ConfigError: naming ``studies.<study>.sweeps.<sweep>[...]``: a base that
            is not a declared schedule; two values of an axis with one
            canonical form; a cell named like a declared schedule or like a
            cell of another sweep; an ``anneal`` axis on a base LR without
            milestones.
    """
    return list(_expand(*_key(study, study_cfg)))


@functools.lru_cache(maxsize=32)
def _by_name(study: str, schedules_json: str, sweeps_json: str) -> dict[str, Cell]:
    return {cell.name: cell for cell in _expand(study, schedules_json, sweeps_json)}


def schedule_names(study: str, study_cfg: Mapping[str, Any]) -> list[str]:
    """The study's declared schedules in config order, then its sweeps' cells (:func:`cells` order)."""
    return [*study_cfg["schedules"], *_by_name(*_key(study, study_cfg))]


def declaration(study: str, study_cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The schedule ``name`` of the study, declared or a cell (a fresh copy).

    Raises:
        ConfigError: ``studies.<study>.schedules: no schedule named <name>``.
    """
    if name in study_cfg["schedules"]:
        return copy.deepcopy(dict(study_cfg["schedules"][name]))
    cell = _by_name(*_key(study, study_cfg)).get(name)
    if cell is None:
        raise ConfigError(f"studies.{study}.schedules: no schedule named {name!r}")
    return copy.deepcopy(cell.declaration)


def write_cells(cells: list[dict[str, Any]], out: str, log: str) -> None:
    """Write the cells of :func:`lrorder.plan.map_cells` to ``out`` as JSON (atomically), a count to ``log``.

    Keys keep their order (not :func:`lrorder.fileio.write_json`, which sorts
    them): the order of a cell's axes is the maps' layout.
    """
    fileio.write_text(out, json.dumps(cells, indent=1) + "\n")
    fileio.write_text(log, f"{len(cells)} cells\n")
