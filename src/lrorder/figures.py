"""Figures: accuracy curves over epochs, mean and 95% CI over seeds.

Usage::

    python -m lrorder.figures curves --metrics ALL.csv --eval-sets SET [SET ...] \\
        [--anneal-epoch E] --title TEXT --out-png X.png --out-pdf X.pdf

The curves are the paper's Figure 1 (clean study) and patch-experiment plots
(``paper.md`` section 3), and the learning-order view of the synthetic study
(section 1: P-only, Q-only and both-pattern test accuracy), drawn with the
seed-level uncertainty of section 4.
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from lrorder import cli  # noqa: E402
from lrorder.aggregate import load_runs  # noqa: E402
from lrorder.errors import ConfigError  # noqa: E402
from lrorder.fileio import atomic_path  # noqa: E402
from lrorder.stats import mean_ci  # noqa: E402

#: Panel titles of known evaluation sets; any other name is shown as is.
EVAL_SET_LABELS: dict[str, str] = {
    "train": "Train (running mean)",
    "test": "Test",
    "test_p_only": "P-only test",
    "test_q_only": "Q-only test",
    "test_both": "Both-pattern test",
    "test_clean": "Clean test",
    "test_patched": "Patched test",
    "patch_only": "Patch-only",
}
ANNEAL_LABEL = "first anneal"


def eval_set_label(name: str) -> str:
    """Readable panel title of evaluation set ``name`` (the raw name when unknown)."""
    return EVAL_SET_LABELS.get(name, name)


def t_interval(values: pd.Series) -> tuple[float, float]:
    """95% Student-t CI of the mean over seeds, clipped to the accuracy range [0, 1].

    The seaborn ``errorbar`` callable (NaN for one seed). With few seeds the
    t interval can extend past what an accuracy can take; the band is cut there.
    """
    ci = mean_ci(values)
    return max(ci.ci_low, 0.0), min(ci.ci_high, 1.0)


def plot_curves(
    df: pd.DataFrame,
    eval_sets: Sequence[str],
    anneal_epoch: int | None,
    title: str,
) -> Figure:
    """Accuracy against epoch, one panel per evaluation set, one line per schedule.

    Each line is the mean accuracy over seeds with a band from
    :func:`t_interval` (95% Student-t, deterministic; no bootstrap). Panels
    share the y axis. A dashed vertical line labelled ``"first anneal"``
    marks ``anneal_epoch`` (the LR drop takes effect at the start of that
    1-indexed epoch, so the first point trained with the annealed LR lies on
    the line); none when ``anneal_epoch`` is None.

    Args:
        df: tidy metrics of one study (columns of
            :data:`lrorder.aggregate.METRIC_COLUMNS`; ``accuracy`` in [0, 1]).
        eval_sets: evaluation sets to draw, one panel each, in this order.
        anneal_epoch: 1-indexed epoch of the first anneal, or None.
        title: figure title.

    Returns:
        A matplotlib Figure not registered with pyplot (no global state).

    Raises:
        ConfigError: ``eval_sets`` is empty or names a set absent from ``df``,
            or ``df`` holds more than one study.
    """
    if not eval_sets:
        raise ConfigError("--eval-sets: expected at least one evaluation set")
    studies = sorted(df["study"].astype(str).unique())
    if len(studies) > 1:
        raise ConfigError(f"--metrics: holds several studies ({', '.join(studies)}); plot one study at a time")
    have = set(df["eval_set"])
    missing = [s for s in eval_sets if s not in have]
    if missing:
        raise ConfigError(f"--eval-sets: {', '.join(missing)} not in the metrics (have: {', '.join(sorted(have))})")

    schedules = sorted(df["schedule"].unique())
    palette = dict(zip(schedules, sns.color_palette("colorblind", len(schedules))))
    fig = Figure(figsize=(4.0 * len(eval_sets) + 1.0, 3.6), layout="constrained")
    axes = fig.subplots(1, len(eval_sets), sharey=True, squeeze=False)[0]
    for ax, name in zip(axes, eval_sets):
        sns.lineplot(
            data=df[df["eval_set"] == name], x="epoch", y="accuracy",
            hue="schedule", hue_order=schedules, palette=palette,
            estimator="mean", errorbar=t_interval, ax=ax, legend=False,
        )
        if anneal_epoch is not None:
            ax.axvline(anneal_epoch, color="0.3", linestyle="--", linewidth=1.0, label=ANNEAL_LABEL)
        ax.set_title(eval_set_label(name))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=palette[s], label=s) for s in schedules]
    if anneal_epoch is not None:
        handles.append(Line2D([], [], color="0.3", linestyle="--", label=ANNEAL_LABEL))
    fig.legend(handles=handles, loc="outside right center", title="schedule", frameon=False)
    fig.suptitle(title)
    return fig


def save_figure(fig: Figure, out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Write ``fig`` atomically as PNG (150 dpi) and PDF, without timestamps or version stamps."""
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with atomic_path(out_pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m lrorder.figures", description="Draw lr-order figures.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curves", help="accuracy curves, mean and 95%% CI over seeds")
    p.add_argument("--metrics", required=True, metavar="ALL.csv", help="aggregated tidy metrics of one study")
    p.add_argument("--eval-sets", nargs="+", required=True, metavar="SET")
    p.add_argument("--anneal-epoch", type=int, default=None, metavar="E")
    p.add_argument("--title", required=True, metavar="TEXT")
    p.add_argument("--out-png", required=True, metavar="X.png")
    p.add_argument("--out-pdf", required=True, metavar="X.pdf")
    args = parser.parse_args(argv)

    fig = plot_curves(load_runs([args.metrics]), args.eval_sets, args.anneal_epoch, args.title)
    save_figure(fig, args.out_png, args.out_pdf)


if __name__ == "__main__":
    cli.run(main)
