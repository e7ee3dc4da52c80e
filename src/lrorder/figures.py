"""Figures: accuracy curves over epochs, mean and 95% CI over seeds.

Usage::

    python -m lrorder.figures curves --metrics ALL.csv --eval-sets SET [SET ...] \\
        [--anneal-epoch E] --title TEXT --out-png X.png --out-pdf X.pdf
    python -m lrorder.figures patch-examples --dataset-dir DIR --patch-dir DIR \\
        [--epoch E] [--n-per-kind N] --out-png X.png --out-pdf X.pdf

The curves are the paper's Figure 1 (clean study) and patch-experiment plots
(``docs/paper-notes.md``, "Image experiments" and "Patch experiment"), and the
learning-order view of the synthetic study ("Learning order": P-only, Q-only
and both-pattern test accuracy), drawn with the seed-level uncertainty of
"Claims". ``patch-examples`` shows training images of the patch experiment
as the model sees them ("Patch experiment").
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from lrorder import cli  # noqa: E402
from lrorder.aggregate import diverged_rows, load_runs  # noqa: E402
from lrorder.errors import ConfigError, DataError  # noqa: E402
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
    "train_both_p_alone": "Both-pattern train, x1 alone",
    "train_both_q_alone": "Both-pattern train, x2 alone",
    "test_both_p_alone": "Both-pattern test, x1 alone",
    "test_both_q_alone": "Both-pattern test, x2 alone",
    "train_patch_removed": "Patched train, patch removed",
    "train_other_patch": "Patched train, next class's patch",
}
ANNEAL_LABEL = "first anneal"


def eval_set_label(name: str) -> str:
    """Readable panel title of evaluation set ``name`` (the raw name when unknown).

    ``<set>_two_step`` (``training.two_step_eval``) reads as the set's title
    followed by "(mean of last two steps' weights)".
    """
    base = name.removesuffix("_two_step")
    if base != name and base in EVAL_SET_LABELS:
        return f"{EVAL_SET_LABELS[base]}\n(mean of last two steps' weights)"
    return EVAL_SET_LABELS.get(name, name)


def t_interval(values: pd.Series) -> tuple[float, float]:
    """95% Student-t CI of the mean over seeds, clipped to the accuracy range [0, 1].

    The seaborn ``errorbar`` callable (NaN for one seed). With few seeds the
    t interval can extend past what an accuracy can take; the band is cut there.
    """
    ci = mean_ci(values)
    return max(ci.ci_low, 0.0), min(ci.ci_high, 1.0)


def t_band(values: pd.Series) -> tuple[float, float]:
    """95% Student-t CI of the mean over seeds, unclipped (margins and losses have no fixed range); the seaborn
    ``errorbar`` callable (NaN for one seed)."""
    ci = mean_ci(values)
    return ci.ci_low, ci.ci_high


#: Metric columns a curve may draw, and their axis labels.
VALUE_LABELS = {"accuracy": "accuracy", "margin": "mean margin", "loss": "mean loss"}


def schedule_label(schedule: str, diverged: int, runs: int) -> str:
    """Legend entry of a schedule: its name, then ``" (<d> of <n> runs diverged, not shown)"`` when ``d`` > 0
    (``"run"`` for ``n`` 1)."""
    if not diverged:
        return schedule
    return f"{schedule} ({diverged} of {runs} run{'' if runs == 1 else 's'} diverged, not shown)"


def plot_curves(
    df: pd.DataFrame,
    eval_sets: Sequence[str],
    anneal_epoch: int | None,
    title: str,
    schedules: Sequence[str] | None = None,
    values: Sequence[str] = ("accuracy",),
) -> Figure:
    """Accuracy (or another metric column) against epoch, one panel per evaluation set and value, one line
    per schedule.

    Each line is the mean accuracy over seeds with a band from
    :func:`t_interval` (95% Student-t, deterministic; no bootstrap).
    Diverged runs (the ``diverged`` column, :func:`lrorder.aggregate.diverged_rows`)
    are left out of the mean and the band, and the schedule's legend entry
    says so (:func:`schedule_label`, e.g. ``"large_lr (1 of 5 runs diverged,
    not shown)"``); a schedule whose runs all diverged has no line. Panels
    share the y axis. A dashed vertical line labelled ``"first anneal"``
    marks ``anneal_epoch`` (the LR drop takes effect at the start of that
    1-indexed epoch, so the first point trained with the annealed LR lies on
    the line); none when ``anneal_epoch`` is None.

    Args:
        df: tidy metrics of one study (columns of
            :data:`lrorder.columns.METRIC_COLUMNS`; ``accuracy`` in [0, 1]).
        eval_sets: evaluation sets to draw, one panel each, in this order.
        anneal_epoch: 1-indexed epoch of the first anneal, or None.
        title: figure title.
        schedules: the schedules to draw (a study with sweeps: its declared
            ones; the cells are drawn as maps, :mod:`lrorder.maps`); None:
            every schedule of ``df``.
        values: the metric columns drawn, one row of panels each (``accuracy``,
            on [0, 1], band clipped to it; ``margin``, the mean signed margin,
            with a line at 0; ``loss``). Panels of a row share the y axis.

    Returns:
        A matplotlib Figure not registered with pyplot (no global state).

    Raises:
        ConfigError: ``values`` is empty or names a column that is not a metric value,
            ``eval_sets`` is empty or names a set absent from ``df``,
            ``schedules`` names one absent from ``df``, or ``df`` holds more
            than one study.
    """
    unknown = [v for v in values if v not in VALUE_LABELS]
    if unknown or not values:
        raise ConfigError(f"--values: expected some of {', '.join(VALUE_LABELS)}, got {', '.join(values) or 'none'}")
    if not eval_sets:
        raise ConfigError("--eval-sets: expected at least one evaluation set")
    studies = sorted(df["study"].astype(str).unique())
    if len(studies) > 1:
        raise ConfigError(f"--metrics: holds several studies ({', '.join(studies)}); plot one study at a time")
    have = set(df["eval_set"])
    missing = [s for s in eval_sets if s not in have]
    if missing:
        raise ConfigError(f"--eval-sets: {', '.join(missing)} not in the metrics (have: {', '.join(sorted(have))})")

    if schedules is not None:
        absent = [s for s in schedules if s not in set(df["schedule"])]
        if absent:
            raise ConfigError(f"--schedules: {', '.join(absent)} not in the metrics")
        df = df[df["schedule"].isin(schedules)]
    schedules = sorted(df["schedule"].unique())
    diverged = diverged_rows(df)
    runs = df.groupby("schedule")["seed"].nunique()
    bad = df[diverged].groupby("schedule")["seed"].nunique()
    labels = {s: schedule_label(s, int(bad.get(s, 0)), int(runs[s])) for s in schedules}
    df = df[~diverged]
    palette = dict(zip(schedules, sns.color_palette("colorblind", len(schedules))))
    fig = Figure(figsize=(4.0 * len(eval_sets) + 1.0, 3.6 * len(values)), layout="constrained")
    grid = fig.subplots(len(values), len(eval_sets), sharey="row", squeeze=False)
    for value, axes in zip(values, grid):
        for ax, name in zip(axes, eval_sets):
            sns.lineplot(
                data=df[df["eval_set"] == name], x="epoch", y=value,
                hue="schedule", hue_order=schedules, palette=palette,
                estimator="mean", errorbar=t_interval if value == "accuracy" else t_band, ax=ax, legend=False,
            )
            if anneal_epoch is not None:
                ax.axvline(anneal_epoch, color="0.3", linestyle="--", linewidth=1.0, label=ANNEAL_LABEL)
            ax.set_title(eval_set_label(name))
            ax.set_xlabel("epoch")
            ax.set_ylabel(VALUE_LABELS[value])
            if value == "accuracy":
                ax.set_ylim(-0.02, 1.02)
            elif value == "margin":
                ax.axhline(0.0, color="0.5", linewidth=0.8)
            ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=palette[s], label=labels[s]) for s in schedules]
    if anneal_epoch is not None:
        handles.append(Line2D([], [], color="0.3", linestyle="--", label=ANNEAL_LABEL))
    fig.legend(handles=handles, loc="outside right center", title="schedule", frameon=False)
    fig.suptitle(title)
    return fig


#: Row titles of :func:`plot_patch_examples`, in row order.
PATCH_KINDS = ("clean", "image + patch", "patch only")


def plot_patch_examples(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    patch_arrays: Mapping[str, Any],
    patch_params: Any,
    seed: int,
    epoch: int = 1,
    n_per_kind: int = 4,
) -> Figure:
    """Training images of the patch experiment as the model sees them in ``epoch``.

    One row per kind of :data:`PATCH_KINDS` (clean: not in the fixed patched
    set; image + patch and patch only: the patched images by that epoch's
    draws, :func:`lrorder.data.patch_batches.epoch_draws`), the first ``n_per_kind``
    training images of each kind. Each panel is titled ``"<kind>: <class
    name> (<label>)"``. Images are un-normalised (``x * std + mean``, clipped
    to [0, 1]) for display, so a zeroed (normalised) image shows the mean
    colour; one channel is drawn with the grey colormap; a thin red square
    outlines the patch in the image + patch row. Source: ``docs/paper-notes.md``,
    "Patch experiment", and the official ``data_util.py`` (``vis_imgs``).

    Args:
        images: uint8 ``(N, H, W, C)`` training images.
        labels: int ``(N,)`` class indices.
        class_names: name of each class.
        mean, std: per-channel normalisation in [0, 1] pixel units (the image
            dataset manifest's ``mean`` and ``std``).
        patch_arrays: the arrays of :func:`lrorder.data.patch.make_patch_arrays`.
        patch_params: the :class:`lrorder.data.patch_params.PatchParams`.
        seed: run seed of the per-epoch draws (the patch folder's seed).
        epoch: 1-indexed epoch whose draws are shown.
        n_per_kind: panels per row.

    Returns:
        A matplotlib Figure not registered with pyplot; a row with no image of
        its kind shows one empty panel titled ``"<kind>: none"``.

    Raises:
        ConfigError: ``n_per_kind`` < 1.
        DataError: the patch arrays do not match the images.
    """
    import torch  # noqa: PLC0415  (lazy: the curves subcommand does not need torch)

    from lrorder.data import patch_batches, pipeline  # noqa: PLC0415  (lazy: imports torch)

    if n_per_kind < 1:
        raise ConfigError(f"--n-per-kind: expected a positive integer, got {n_per_kind}")
    n, h, w, c = images.shape
    patcher = patch_batches.TrainPatcher(patch_arrays, patch_params, (h, w))
    if patcher.n_train != n or labels.shape[0] != n:
        raise DataError(f"patch arrays: made for {patcher.n_train} training images, the dataset has {n}")
    draws = patcher.epoch_draws(seed, epoch)
    top, left = patcher.location
    s = patcher.z.shape[-1]
    patched = patcher.train_patched.numpy()
    only = draws.patch_only.numpy() & patched
    picks = [np.flatnonzero(~patched), np.flatnonzero(patched & ~only), np.flatnonzero(only)]
    # Evenly spaced over each kind's examples, so that several classes show
    # (datasets may be stored sorted by label).
    picks = [p[np.linspace(0, len(p) - 1, min(n_per_kind, len(p))).round().astype(int)] if len(p) else p
             for p in picks]

    fig = Figure(figsize=(1.7 * n_per_kind, 1.9 * len(PATCH_KINDS)), layout="constrained")
    axes = fig.subplots(len(PATCH_KINDS), n_per_kind, squeeze=False)
    m = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    sd = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    for row, (kind, index) in enumerate(zip(PATCH_KINDS, picks)):
        for ax in axes[row]:
            ax.set_axis_off()
        if len(index) == 0:
            axes[row][0].set_title(f"{kind}: none", fontsize=8)
            continue
        idx = torch.from_numpy(index.astype(np.int64))
        y = torch.from_numpy(np.asarray(labels)[index].astype(np.int64))
        x = pipeline.normalize(torch.from_numpy(images[index]), pipeline.channel_stats(mean, "cpu"),
                               pipeline.channel_stats(std, "cpu"))
        shown = patcher.patch_train_batch(x, y, idx, draws).numpy()
        shown = np.clip(shown * sd + m, 0.0, 1.0).transpose(0, 2, 3, 1)
        for ax, img, label in zip(axes[row], shown, y.tolist()):
            if c == 1:
                ax.imshow(img[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
            ax.set_title(f"{kind}: {class_names[label]} ({label})", fontsize=8)
            if kind == "image + patch":  # outline the patch, which can be hard to see on a photo
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), s, s, fill=False, edgecolor="red", linewidth=0.6))
    fig.suptitle(f"Patch experiment: training images as seen in epoch {epoch}")
    return fig


def save_figure(fig: Figure, out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Write ``fig`` atomically as PNG (150 dpi) and PDF, without timestamps or version stamps."""
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with atomic_path(out_pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = cli.ArgumentParser(prog="python -m lrorder.figures", description="Draw lr-order figures.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curves", help="accuracy curves, mean and 95%% CI over seeds")
    p.add_argument("--metrics", required=True, metavar="ALL.csv", help="aggregated tidy metrics of one study")
    p.add_argument("--eval-sets", nargs="+", required=True, metavar="SET")
    p.add_argument("--anneal-epoch", type=int, default=None, metavar="E")
    p.add_argument("--title", required=True, metavar="TEXT")
    p.add_argument("--schedules", nargs="+", default=None, metavar="NAME",
                   help="draw only these schedules (default: every schedule in the metrics)")
    p.add_argument("--values", nargs="+", default=["accuracy"], metavar="COLUMN",
                   help="metric columns to draw, one row of panels each (default: accuracy)")
    p.add_argument("--out-png", required=True, metavar="X.png")
    p.add_argument("--out-pdf", required=True, metavar="X.pdf")
    p = sub.add_parser("patch-examples", help="clean, patched and patch-only training images (patch experiment)")
    p.add_argument("--dataset-dir", required=True, metavar="DIR", help="image dataset folder (manifest-verified)")
    p.add_argument("--patch-dir", required=True, metavar="DIR", help="patch arrays folder made from that dataset")
    p.add_argument("--epoch", type=int, default=1, metavar="E", help="epoch whose draws are shown (default 1)")
    p.add_argument("--n-per-kind", type=int, default=4, metavar="N", help="images per row (default 4)")
    p.add_argument("--out-png", required=True, metavar="X.png")
    p.add_argument("--out-pdf", required=True, metavar="X.pdf")
    args = parser.parse_args(argv)

    if args.command == "patch-examples":
        fig = _patch_examples_from_dirs(args.dataset_dir, args.patch_dir, args.epoch, args.n_per_kind)
    else:
        fig = plot_curves(load_runs([args.metrics]), args.eval_sets, args.anneal_epoch, args.title, args.schedules,
                          args.values)
    save_figure(fig, args.out_png, args.out_pdf)


def _patch_examples_from_dirs(dataset_dir: str, patch_dir: str, epoch: int, n_per_kind: int) -> Figure:
    """:func:`plot_patch_examples` from an image dataset folder and its patch folder (both verified)."""
    from lrorder.data import image_dataset, patch  # noqa: PLC0415  (lazy: only this subcommand reads them)

    dataset, _ = image_dataset.read(dataset_dir)
    patch_arrays, patch_params, patch_meta = patch.load_patch_arrays(patch_dir, dataset_dir)
    return plot_patch_examples(
        dataset.train_x, dataset.train_y, list(dataset.class_names), list(dataset.mean), list(dataset.std),
        patch_arrays, patch_params, seed=int(patch_meta["seed"]), epoch=epoch, n_per_kind=n_per_kind,
    )


if __name__ == "__main__":
    cli.run(main)
