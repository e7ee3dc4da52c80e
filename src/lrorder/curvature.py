"""Curvature of the training loss along each pattern's direction, epoch by epoch: is a learning rate past the stability edge?

Gradient descent with learning rate ``eta`` on a quadratic with curvature
``lambda`` along a direction is stable along it when ``eta * lambda < 2`` and
oscillates with period 2, growing, past it (the "stability edge"; Cohen et al.
2021, "Gradient descent on neural networks typically occurs at the edge of
stability"). The synthetic study's README reports a period-2 oscillation of
the large LR along ``z``, the Q pattern's direction; this module measures the
curvature that decides it, for the two-layer network of the theory section
(:class:`lrorder.models.two_layer.TwoLayerNet`, ``docs/paper-notes.md``,
"Two-layer network").

**Curvature along a pattern.** Move every hidden unit's weight vector along a
unit input direction ``u``: ``w_j -> w_j + c_j u`` for ``c`` in ``R^m``. The
curvature along ``u`` is the largest eigenvalue of the Hessian of the
full-batch training loss (mean logistic loss over the training set, plus
the weight decay's ``wd / 2 * |W|^2``) with respect to ``c``, at ``c = 0``.
With a piecewise-linear activation the output is linear in ``c`` between
kinks, so that Hessian is exactly the Gauss-Newton matrix
``G^T diag(h) G / n + wd * I`` with ``G[i, j] = a_j * act'(pre_ij) * (u . x_i)``
(masked units of a split network see ``u`` through their mask) and
``h_i = sigmoid(y_i f_i) * sigmoid(-y_i f_i)``, the logistic loss's second
derivative. ``u`` is ``z`` (Q, in the x2 coordinates) or ``w*`` (P, in the
x1 coordinates), from the dataset's ``z.npy`` and ``w_star.npy``.

What it is not: the curvature of the whole loss (the top eigenvalue over
all weights), nor of a minibatch's loss, which SGD steps on; pre-activation
and gradient noise are left out (the network is read as at evaluation). It
is read after each epoch's last step, one phase of a period-2 oscillation.

Usage::

    python -m lrorder.curvature curve --data DIR --run-config JSON --out CURVE.csv
    python -m lrorder.curvature table --curves CURVE.csv [...] --out-table T.csv --out-png F.png --out-pdf F.pdf

``table`` summarises the curves of a study's ``curvature`` schedules (the
workflow's ``curvature_table`` rule): per schedule and direction, over the
epochs before the schedule's first LR change (all epochs if it never
changes), the median of ``lr * curvature`` of each run, and the fraction of
those epochs at or past the stability edge (``lr * curvature >= 2``); then
mean, minimum and maximum over seeds. The figure draws ``lr * curvature``
along Q over epochs, one line per schedule (mean over seeds), the edge at 2.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lrorder import cli, fileio, manifest, schedules, study_data, train
from lrorder.errors import ConfigError, DataError
from lrorder.models.two_layer import TwoLayerNet

#: Columns of ``curvature.csv``: one row per run, epoch (0: at initialisation) and pattern direction.
CURVATURE_COLUMNS = ("study", "schedule", "seed", "epoch", "lr", "direction", "curvature", "lr_times_curvature")

#: Columns of the summary table (:func:`summarise`).
TABLE_COLUMNS = ("study", "schedule", "initial_lr", "direction", "n_seeds", "window_first", "window_last",
                 "curvature_at_init", "median_lr_times_curvature", "median_lr_times_curvature_min",
                 "median_lr_times_curvature_max", "fraction_at_edge")

#: Gradient descent with learning rate eta is stable along a curvature lambda while eta * lambda < EDGE.
EDGE = 2.0

#: The pattern directions measured: name -> the dataset array holding it (a unit vector in that pattern's coordinates).
DIRECTIONS = {"p": "w_star", "q": "z"}


def curvature_along(model: TwoLayerNet, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor,
                    weight_decay: float = 0.0) -> float:
    """Largest eigenvalue of the training loss's Hessian along ``direction`` (module docstring).

    Args:
        model: the two-layer network (its pre-activation noise is not applied).
        x: float32 ``(N, D)`` training inputs; y: float32 ``(N,)`` labels in ``{-1, +1}``.
        direction: float ``(D,)``, non-zero; normalised here to a unit vector.
        weight_decay: the SGD weight decay, added to every eigenvalue.

    Returns:
        The curvature, in loss units per squared weight change (float, >= weight_decay).

    Raises:
        ValueError: ``direction`` is zero or not of shape ``(D,)``.
    """
    if direction.shape != (x.shape[1],) or not bool(direction.abs().sum() > 0):
        raise ValueError(f"direction: expected a non-zero vector of shape ({x.shape[1]},), got shape "
                         f"{tuple(direction.shape)}")
    with torch.no_grad():
        weight = model.hidden.weight * model.mask if model.split else model.hidden.weight
        xd, yd = x.double(), y.double()
        u = direction.double() / direction.double().norm()
        pre = F.linear(xd, weight.double(), model.hidden.bias.double())
        low = model.negative_slope if model.activation == "leaky_relu" else 0.0  # the slope below the kink
        d_act = torch.where(pre > 0, torch.ones_like(pre), torch.full_like(pre, low))
        act = pre * d_act
        a = model.a.double()
        f = act @ a
        h = torch.sigmoid(yd * f) * torch.sigmoid(-yd * f)
        reach = xd @ (model.mask.double() * u).T  # (N, m): u . x_i as unit j sees it
        g = d_act * a * reach
        hessian = (g * h[:, None]).T @ g / len(x) + weight_decay * torch.eye(g.shape[1], dtype=torch.float64)
        return float(torch.linalg.eigvalsh(hessian)[-1])


def pattern_directions(data_dir: str | Path, in_dim: int) -> dict[str, torch.Tensor]:
    """The P and Q directions of a synthetic dataset as float64 ``(D,)`` unit vectors in the input space.

    ``w*`` fills the first ``p_dim`` coordinates (x1), ``z`` the last ``q_dim`` (x2).

    Raises:
        DataError: the dataset lacks ``z`` or ``w_star`` (not a synthetic dataset), or their sizes do not
            add up to ``in_dim``.
    """
    arrays, _ = manifest.load_dataset(data_dir)
    missing = [name for name in DIRECTIONS.values() if name not in arrays]
    if missing:
        raise DataError(f"{data_dir}: not a synthetic dataset (no array {', '.join(missing)})")
    w_star, z = (np.asarray(arrays[name], dtype=np.float64) for name in ("w_star", "z"))
    if w_star.size + z.size != in_dim:
        raise DataError(f"{data_dir}: w_star ({w_star.size}) and z ({z.size}) do not add up to the input "
                        f"dimension {in_dim}")
    p, q = torch.zeros(in_dim, dtype=torch.float64), torch.zeros(in_dim, dtype=torch.float64)
    p[: w_star.size] = torch.from_numpy(w_star / np.linalg.norm(w_star))
    q[w_star.size :] = torch.from_numpy(z / np.linalg.norm(z))
    return {"p": p, "q": q}


def curvature_curve(run_cfg: Mapping[str, Any], data_dir: str | Path) -> pd.DataFrame:
    """Train the run of ``run_cfg`` (a synthetic study's) and read the curvature along P and Q at every epoch.

    Training is :func:`lrorder.train.train`'s, step for step (the run's scoring plan is replaced by one that
    scores ``test`` at every epoch, which leaves training unchanged), on the CPU; the curvature is read
    at initialisation (epoch 0) and after each epoch's last step.

    Returns:
        A DataFrame with :data:`CURVATURE_COLUMNS`, ``lr`` the epoch's learning rate (epoch 0: the
        first epoch's) and ``lr_times_curvature`` their product (stable below 2).

    Raises:
        ConfigError: the run config is not of a synthetic study, or is invalid (:func:`lrorder.train.check_run_config`).
        DataError: the dataset is missing, does not match its manifest, or is not synthetic.
    """
    cfg = copy.deepcopy(dict(run_cfg))
    if cfg.get("kind") != "synthetic":
        raise ConfigError(f"--run-config.kind: expected 'synthetic' (the two-layer network), got {cfg.get('kind')!r}")
    epochs = int(cfg["training"]["epochs"])
    cfg["evaluation"] = {"sets": {"test": list(range(1, epochs + 1))}}
    cfg["training"] = {**cfg["training"], "two_step_eval": [], "device": "cpu"}
    train.check_run_config(cfg)
    device = torch.device("cpu")
    data = study_data.load_synthetic(data_dir, device)
    directions = pattern_directions(data_dir, data.train_x.shape[1])
    weight_decay = float(cfg["training"]["weight_decay"])
    lr = schedules.from_config(cfg["lr"], "lr")
    rows: list[dict[str, Any]] = []

    def read(model: TwoLayerNet, epoch: int) -> None:
        for name, u in directions.items():
            value = curvature_along(model, data.train_x, data.train_y, u, weight_decay)
            eta = lr.value(max(epoch, 1))
            rows.append({"study": cfg["study"], "schedule": cfg["schedule"], "seed": int(cfg["seed"]), "epoch": epoch,
                         "lr": eta, "direction": name, "curvature": value, "lr_times_curvature": eta * value})

    initial, _ = train.fresh_model(cfg, data, device, train.FP32)
    read(initial, 0)
    train.train(cfg, data, device, before_eval=read, threads=1)
    return pd.DataFrame(rows, columns=list(CURVATURE_COLUMNS))


def pre_change_window(curve: pd.DataFrame) -> pd.DataFrame:
    """The rows of one run's curve from epoch 1 to the last epoch before its learning rate first changes
    (every epoch >= 1 if it never changes)."""
    trained = curve[curve["epoch"] >= 1]
    first_lr = trained.loc[trained["epoch"] == trained["epoch"].min(), "lr"].iloc[0]
    changed = trained.loc[trained["lr"] != first_lr, "epoch"]
    return trained if changed.empty else trained[trained["epoch"] < changed.min()]


def summarise(curves: pd.DataFrame) -> pd.DataFrame:
    """Per study, schedule and direction: how far past the stability edge its runs train before the anneal.

    Args:
        curves: rows with :data:`CURVATURE_COLUMNS` of one or more runs (:func:`curvature_curve`).

    Returns:
        :data:`TABLE_COLUMNS`, one row per study, schedule and direction: the epoch-1 learning rate, the seed count,
        the window (:func:`pre_change_window`, the same for every seed of a schedule), the mean curvature at
        initialisation, the mean over seeds of each run's median ``lr * curvature`` over the window with its
        minimum and maximum over seeds, and the mean over seeds of the fraction of window epochs with
        ``lr * curvature >= EDGE``.

    Raises:
        DataError: ``curves`` lacks a column, or a run has no trained epoch.
    """
    missing = [c for c in CURVATURE_COLUMNS if c not in curves.columns]
    if missing:
        raise DataError(f"curvature curves: missing columns {', '.join(missing)}")
    runs = []
    for (study, schedule, seed, direction), curve in curves.groupby(["study", "schedule", "seed", "direction"],
                                                                      sort=False):
        if not (curve["epoch"] >= 1).any():
            raise DataError(f"curvature curve of {study}/{schedule}/seed{seed}: no trained epoch")
        window = pre_change_window(curve)
        product = window["lr_times_curvature"]
        runs.append({"study": study, "schedule": schedule, "seed": seed, "direction": direction,
                     "initial_lr": window["lr"].iloc[0], "window_first": int(window["epoch"].min()),
                     "window_last": int(window["epoch"].max()),
                     "at_init": curve.loc[curve["epoch"] == 0, "curvature"].mean(),
                     "median": float(product.median()), "at_edge": float((product >= EDGE).mean())})
    per_run = pd.DataFrame(runs)
    table = per_run.groupby(["study", "schedule", "direction"], sort=False).agg(
        initial_lr=("initial_lr", "first"), n_seeds=("seed", "nunique"), window_first=("window_first", "min"),
        window_last=("window_last", "max"), curvature_at_init=("at_init", "mean"),
        median_lr_times_curvature=("median", "mean"), median_lr_times_curvature_min=("median", "min"),
        median_lr_times_curvature_max=("median", "max"), fraction_at_edge=("at_edge", "mean"),
    ).reset_index()
    return table[list(TABLE_COLUMNS)]


def plot_curves(curves: pd.DataFrame, direction: str = "q") -> Any:
    """``lr * curvature`` along ``direction`` over epochs, one line per schedule (mean over seeds, log scale),
    the stability edge dashed at :data:`EDGE`. Returns a matplotlib Figure not registered with pyplot.

    matplotlib and seaborn are imported here (through :mod:`lrorder.figures`, which selects the Agg backend),
    so that the ``curve`` command does not load them."""
    from lrorder import figures  # noqa: F401 (selects the Agg backend before seaborn loads pyplot)
    import seaborn as sns
    from matplotlib.figure import Figure

    shown = curves[(curves["direction"] == direction) & (curves["epoch"] >= 1)]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    sns.lineplot(data=shown, x="epoch", y="lr_times_curvature", hue="schedule", errorbar=None, ax=ax)
    ax.axhline(EDGE, color="black", linestyle="--", linewidth=1, label=f"stability edge ({EDGE:g})")
    ax.set_yscale("log")
    ax.set_ylabel(f"LR x curvature along {direction.upper()} (mean over seeds)")
    ax.set_title(f"Curvature along {'z (Q pattern)' if direction == 'q' else 'w* (P pattern)'}, after each epoch")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.curvature", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    curve = sub.add_parser("curve", help="train one synthetic run and write its curvature curve")
    curve.add_argument("--data", required=True, help="the run's synthetic dataset folder (arrays + manifest.json)")
    curve.add_argument("--run-config", required=True, help="resolved run config as JSON (lrorder.plan.run_config)")
    curve.add_argument("--out", required=True, help="curvature CSV to write (CURVATURE_COLUMNS)")
    table = sub.add_parser("table", help="summarise curvature curves into a table and a figure")
    table.add_argument("--curves", required=True, nargs="+", help="curvature CSVs (the curve command's)")
    table.add_argument("--out-table", required=True, help="summary CSV to write (TABLE_COLUMNS)")
    table.add_argument("--out-png", required=True)
    table.add_argument("--out-pdf", required=True)
    args = parser.parse_args(argv)
    if args.command == "curve":
        run_cfg = cli.parse_json_arg(args.run_config, "--run-config")
        if not isinstance(run_cfg, dict):
            raise ConfigError("--run-config: expected a JSON object (lrorder.plan.run_config)")
        torch.set_num_threads(1)
        train.enable_deterministic_algorithms()
        written = curvature_curve(run_cfg, args.data)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with fileio.atomic_path(args.out) as tmp:
            written.to_csv(tmp, index=False, float_format="%.8g")
        return
    curves = pd.concat([read_curve(path) for path in args.curves], ignore_index=True)
    summary = summarise(curves)
    for out in (args.out_table, args.out_png, args.out_pdf):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    with fileio.atomic_path(args.out_table) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    from lrorder.figures import save_figure

    save_figure(plot_curves(curves), args.out_png, args.out_pdf)


def read_curve(path: str | os.PathLike) -> pd.DataFrame:
    """One curvature CSV (:data:`CURVATURE_COLUMNS`).

    Raises:
        DataError: the file is missing, or lacks a column.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: no such curvature curve (python -m lrorder.curvature curve writes it)")
    curve = pd.read_csv(path)
    missing = [c for c in CURVATURE_COLUMNS if c not in curve.columns]
    if missing:
        raise DataError(f"{path}: not a curvature curve (missing columns {', '.join(missing)})")
    return curve


if __name__ == "__main__":
    cli.run(main)
