"""Tests of lrorder.figures: curves figure, anneal line, files, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrorder import figures
from lrorder.errors import ConfigError

SETS = ["test_p_only", "test_q_only", "my_custom_set"]


@pytest.fixture
def df() -> pd.DataFrame:
    """Two schedules x 3 seeds x 6 epochs x 3 eval sets; accuracy = base + 0.05 * epoch + seed / 100."""
    rows = [
        {"study": "synthetic", "schedule": sch, "seed": seed, "epoch": e, "lr": 0.1, "noise": 0.0,
         "eval_set": es, "loss": 0.5, "accuracy": base + 0.05 * e + seed / 100,
         "margin": 0.1}
        for sch, base in (("large_lr", 0.3), ("small_lr", 0.5))
        for seed in range(3) for e in range(1, 7) for es in SETS
    ]
    return pd.DataFrame(rows)


def test_plot_curves_panels_lines_and_band(df: pd.DataFrame) -> None:
    fig = figures.plot_curves(df, SETS, anneal_epoch=4, title="Synthetic")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["P-only test", "Q-only test", "my_custom_set"]
    assert fig.get_suptitle() == "Synthetic"
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[2])
    # mean line of large_lr: 0.3 + 0.05 e + mean(seed)/100 = 0.31 + 0.05 e
    line = axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(line.get_ydata(), 0.31 + 0.05 * np.arange(1, 7))
    # CI band: std 0.01 over 3 seeds -> half-width t_{0.975,2} * 0.01 / sqrt(3) = 0.024841
    band = axes[0].collections[0].get_paths()[0].vertices[:, 1]
    half = 4.302652729749464 * 0.01 / np.sqrt(3)
    assert band.min() == pytest.approx(0.36 - half)
    assert band.max() == pytest.approx(0.61 + half)


def test_two_step_panel_title() -> None:
    assert figures.eval_set_label("test_q_only_two_step") == "Q-only test\n(mean of last two steps' weights)"
    assert figures.eval_set_label("mine_two_step") == "mine_two_step"


def test_anneal_line_present_and_optional(df: pd.DataFrame) -> None:
    fig = figures.plot_curves(df, SETS, anneal_epoch=4, title="t")
    for ax in fig.axes:
        vlines = [ln for ln in ax.get_lines() if ln.get_label() == "first anneal"]
        assert len(vlines) == 1
        assert list(vlines[0].get_xdata()) == [4, 4]
        assert vlines[0].get_linestyle() == "--"
    assert "first anneal" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig2 = figures.plot_curves(df, SETS, anneal_epoch=None, title="t")
    assert all(ln.get_label() != "first anneal" for ax in fig2.axes for ln in ax.get_lines())
    assert [t.get_text() for t in fig2.legends[0].get_texts()] == ["large_lr", "small_lr"]


def test_diverged_runs_are_left_out_and_named_in_the_legend(df: pd.DataFrame) -> None:
    """Regression: a diverged run's accuracy 0 pulled its schedule's mean curve down."""
    df = df.assign(diverged=False)
    bad = (df["schedule"] == "large_lr") & (df["seed"] == 2)
    df.loc[bad, "accuracy"] = 0.0
    df.loc[bad, "diverged"] = True
    df = df[~bad | (df["epoch"] == 1)]  # it stopped after epoch 1
    fig = figures.plot_curves(df, SETS, anneal_epoch=None, title="t")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "large_lr (1 of 3 runs diverged, not shown)", "small_lr"]
    # mean of seeds 0 and 1 only: 0.3 + 0.05 e + 0.005
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), 0.305 + 0.05 * np.arange(1, 7))
    df.loc[df["schedule"] == "large_lr", "diverged"] = True
    fig = figures.plot_curves(df, SETS, anneal_epoch=None, title="t")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "large_lr (3 of 3 runs diverged, not shown)", "small_lr"]
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), 0.51 + 0.05 * np.arange(1, 7))  # small_lr
    assert figures.schedule_label("x", 1, 1) == "x (1 of 1 run diverged, not shown)"


def test_plot_curves_draws_only_the_schedules_asked(df: pd.DataFrame) -> None:
    """A study with sweeps draws its declared schedules only (``--schedules``): the cells are drawn as maps."""
    fig = figures.plot_curves(df, SETS, anneal_epoch=None, title="t", schedules=["small_lr"])
    line = fig.axes[0].get_lines()[0]
    assert len(fig.axes[0].get_lines()) == 1
    np.testing.assert_allclose(line.get_ydata(), 0.51 + 0.05 * np.arange(1, 7))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["small_lr"]
    with pytest.raises(ConfigError, match=r"^--schedules: map_lr0.1 not in the metrics$"):
        figures.plot_curves(df, SETS, None, "t", schedules=["small_lr", "map_lr0.1"])


def test_plot_curves_errors(df: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="--eval-sets: test_both not in the metrics"):
        figures.plot_curves(df, ["test_both"], None, "t")
    two = pd.concat([df, df.assign(study="clean")])
    with pytest.raises(ConfigError, match="several studies"):
        figures.plot_curves(two, SETS, None, "t")


def test_cli_writes_reproducible_png_and_pdf(df: pd.DataFrame, tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    df.to_csv(all_csv, index=False)
    outs = []
    for name in ("a", "b"):
        png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
        figures.main(["curves", "--metrics", str(all_csv), "--eval-sets", *SETS, "--anneal-epoch", "4",
                      "--title", "Synthetic study", "--out-png", str(png), "--out-pdf", str(pdf)])
        outs.append((png.read_bytes(), pdf.read_bytes()))
    (png_a, pdf_a), (png_b, pdf_b) = outs
    assert png_a.startswith(b"\x89PNG\r\n\x1a\n")
    assert pdf_a.startswith(b"%PDF-")
    assert png_a == png_b and pdf_a == pdf_b
    assert b"CreationDate" not in pdf_a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "all.csv", "b.pdf", "b.png"]


def test_cli_subprocess_error(df: pd.DataFrame, tmp_path: Path) -> None:
    all_csv = tmp_path / "all.csv"
    df.to_csv(all_csv, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "lrorder.figures", "curves", "--metrics", str(all_csv), "--eval-sets", "nope",
         "--title", "t", "--out-png", str(tmp_path / "x.png"), "--out-pdf", str(tmp_path / "x.pdf")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: --eval-sets: nope not in the metrics (have: my_custom_set, test_p_only, test_q_only)\n"
