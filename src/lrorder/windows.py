"""Epoch windows of claims and map statistics: ``[lo, hi]`` with anchors, resolved to epochs.

A window end is a 1-indexed epoch or an anchor ``(anneal|end)([+-]N)?``:
``anneal`` is a first LR milestone (of the ``large`` role's schedule for a
claim, of the cell's own schedule for a map statistic), ``end`` is
``training.epochs``. Windows are read over, not single epochs
(``docs/paper-notes.md``, "Claims"). This module imports nothing of the
project, so that the planner and the map step share it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from lrorder.errors import ConfigError

#: An anchored window end: ``anneal`` or ``end``, optionally plus or minus a number of epochs.
_ANCHOR = re.compile(r"^(anneal|end)([+-][0-9]+)?$")


def resolve_window(window: list[Any], key: str, epochs: int, anneal: int | None, large: str) -> list[int]:
    """``[lo, hi]`` of a claim (or a map statistic) as integer epochs.

    An end is an integer epoch (1-indexed) or an anchor expression
    ``(anneal|end)([+-]N)?``: ``anneal`` is the first LR milestone of the
    ``large`` role's schedule (of a map cell's own schedule), ``end`` is
    ``training.epochs``.

    Args:
        window: the claim's ``window`` (already schema-checked).
        key: dotted config key of the window, for messages.
        epochs: ``training.epochs`` of the study.
        anneal: the study's first anneal (:func:`lrorder.plan.anneal_epoch`), or None.
        large: the schedule in role ``large`` (for messages).

    Raises:
        ConfigError: naming ``key``: ``anneal`` used while the large LR never
            anneals, or the window does not resolve to
            ``1 <= lo <= hi <= epochs``.
    """
    out = []
    for end in window:
        if isinstance(end, int):
            out.append(end)
            continue
        match = _ANCHOR.match(end)
        if match is None:  # the schema admits only these forms
            raise ConfigError(f"{key}: {end!r} is not an epoch or an anchor (anneal|end)([+-]N)")
        anchor, offset = match.group(1), int(match.group(2) or 0)
        if anchor == "anneal" and anneal is None:
            claim_key = key.rsplit(".", 1)[0]
            raise ConfigError(f"{key}: uses anneal, but schedule {large!r} (roles.large) never anneals; "
                              f"set {claim_key} to null")
        out.append((anneal if anchor == "anneal" else epochs) + offset)
    lo, hi = out
    if not 1 <= lo <= hi <= epochs:
        raise ConfigError(f"{key}: {list(window)} resolves to [{lo}, {hi}]; expected 1 <= lo <= hi <= "
                          f"training.epochs = {epochs}")
    return out


def map_window(statistic: Mapping[str, Any], cell: Mapping[str, Any], epochs: int) -> list[int] | None:
    """A map statistic's window ``[lo, hi]`` (1-indexed epochs, inclusive) in ``cell``, or None where undefined.

    An end ``anneal[+-N]`` uses the cell's own ``anneal`` (its first LR
    milestone); in a cell whose LR never anneals (``anneal`` null) such a
    window is undefined (None).

    Args:
        statistic: a record of :func:`lrorder.plan.map_statistics` with its ``name``.
        cell: a cell of :func:`lrorder.plan.map_cells`.
        epochs: the study's ``training.epochs`` (the ``end`` anchor).

    Raises:
        ConfigError: the window does not resolve to ``1 <= lo <= hi <= epochs``
            in this cell (:func:`resolve_window`; the message names the
            statistic and the cell).
    """
    window = statistic["window"]
    if cell["anneal"] is None and any(isinstance(end, str) and end.startswith("anneal") for end in window):
        return None
    key = f"map statistic {statistic['name']}.window (cell {cell['schedule']} of sweep {cell['sweep']})"
    return resolve_window(window, key, epochs, cell["anneal"], cell["schedule"])
