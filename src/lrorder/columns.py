"""Columns of the tidy per-epoch metrics table: the one definition.

Written by training (each run's ``metrics.csv``, :mod:`lrorder.train`; packed
into checkpoints by :mod:`lrorder.metric_rows`) and read by aggregation,
claims and figures (:mod:`lrorder.aggregate`). One row per run, epoch and
evaluation set: ``study`` (str), ``schedule`` (str), ``seed`` (int),
``epoch`` (int, from 1), ``lr`` (float, the epoch's learning rate),
``noise`` (float, its pre-activation noise level), ``eval_set`` (str:
``train`` for the running mean over the epoch's minibatches, else an
evaluation set), ``loss`` (float), ``accuracy`` (float in [0, 1]) and
``margin`` (float: the mean signed margin, ``y f`` for a binary score, the
target's logit minus the largest other logit for a classifier;
:func:`lrorder.train.per_example_margin`).
"""

from __future__ import annotations

METRIC_COLUMNS: tuple[str, ...] = ("study", "schedule", "seed", "epoch", "lr", "noise", "eval_set", "loss", "accuracy",
                                    "margin")
