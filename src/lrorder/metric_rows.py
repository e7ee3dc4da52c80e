"""A run's metric rows packed as columns, the form its checkpoint stores them in.

A checkpoint is written after every epoch and holds every row so far. As a
list of dicts, each save pickled every value of every row, so a checkpoint
cost grew with the run: a 200-epoch synthetic run spent about a fifth of its
time pickling. Packed, a checkpoint holds one tensor per numeric column and,
per text column, its distinct values and one tensor of codes: a fixed
number of objects, whatever the run's length. Values round-trip exactly
(float64 and int64 tensors; Python floats are float64).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from lrorder.columns import METRIC_COLUMNS

#: Text and integer columns among :data:`lrorder.columns.METRIC_COLUMNS` (the rest are float64).
TEXT_COLUMNS = ("study", "schedule", "eval_set")
INTEGER_COLUMNS = ("seed", "epoch")


def _dtype(column: str) -> torch.dtype:
    return torch.int64 if column in INTEGER_COLUMNS else torch.float64


def pack(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``rows`` (dicts with :data:`METRIC_COLUMNS`) as columns.

    Returns:
        ``{column: value}`` for every column: a text column maps to
        ``{"values": [str, ...], "codes": int64 tensor of shape (n,)}``
        (row ``i`` has ``values[codes[i]]``), a numeric one to a CPU tensor of
        shape ``(n,)``, int64 for ``seed`` and ``epoch``, float64 otherwise.
    """
    packed: dict[str, Any] = {}
    for column in METRIC_COLUMNS:
        cells = [row[column] for row in rows]
        if column in TEXT_COLUMNS:
            values = sorted(set(cells))
            index = {value: code for code, value in enumerate(values)}
            packed[column] = {"values": values,
                              "codes": torch.tensor([index[c] for c in cells], dtype=torch.int64)}
        else:
            packed[column] = torch.tensor(cells, dtype=_dtype(column))
    return packed


def unpack(packed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows :func:`pack` packed, in order: dicts with :data:`METRIC_COLUMNS` (str, int, float values)."""
    lists = {}
    for column in METRIC_COLUMNS:
        if column in TEXT_COLUMNS:
            values = packed[column]["values"]
            lists[column] = [values[code] for code in packed[column]["codes"].tolist()]
        else:
            lists[column] = packed[column].tolist()
    return [dict(zip(METRIC_COLUMNS, cells)) for cells in zip(*(lists[c] for c in METRIC_COLUMNS))]


def problem(packed: Any) -> str | None:
    """Why ``packed`` (a loaded object) is not the output of :func:`pack`, or ``None``."""
    if not isinstance(packed, dict) or set(packed) != set(METRIC_COLUMNS):
        return "not a dict of the metric columns"
    lengths = set()
    for column in METRIC_COLUMNS:
        cell = packed[column]
        if column in TEXT_COLUMNS:
            ok = (isinstance(cell, dict) and set(cell) == {"values", "codes"}
                  and isinstance(cell["values"], list) and all(isinstance(v, str) for v in cell["values"])
                  and isinstance(cell["codes"], torch.Tensor) and cell["codes"].dtype == torch.int64
                  and cell["codes"].dim() == 1
                  and bool(((cell["codes"] >= 0) & (cell["codes"] < len(cell["values"]))).all()))
            tensor = cell["codes"] if ok else None
        else:
            ok = isinstance(cell, torch.Tensor) and cell.dtype == _dtype(column) and cell.dim() == 1
            tensor = cell if ok else None
        if tensor is None:
            return f"column {column} is not a packed column"
        lengths.add(len(tensor))
    if len(lengths) != 1:
        return "columns of different lengths"
    return None
