"""Tests of lrorder.curvature: the curvature along a pattern's direction, and its curve over a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.func import hessian

from lrorder import cli, curvature, study_data, train
from lrorder.data import synthetic
from lrorder.models.two_layer import TwoLayerNet

from fakes import complete_run_config, make_synthetic_dataset

PARAMS = synthetic.SyntheticParams(n_train=120, n_test=40, p_dim=12, q_dim=4)


def autograd_curvature(model: TwoLayerNet, x: torch.Tensor, y: torch.Tensor, u: torch.Tensor, wd: float) -> float:
    """The definition, by autograd: the top Hessian eigenvalue of the loss in ``c`` (w_j -> w_j + c_j u), float64."""
    mask = model.mask.double()
    weight, bias, a = model.hidden.weight.detach().double() * mask, model.hidden.bias.detach().double(), model.a.double()
    unit = u.double() / u.double().norm()
    slope = model.negative_slope if model.activation == "leaky_relu" else 0.0

    def loss(c: torch.Tensor) -> torch.Tensor:
        moved = weight + c[:, None] * unit[None, :]  # the parameter itself; the forward pass masks it
        f = F.leaky_relu(F.linear(x.double(), moved * mask, bias), slope) @ a
        return F.softplus(-y.double() * f).mean() + wd / 2 * ((moved ** 2).sum() + (bias ** 2).sum())

    return float(torch.linalg.eigvalsh(hessian(loss)(torch.zeros(len(a), dtype=torch.float64)))[-1])


@pytest.mark.parametrize(("activation", "split_at", "wd"), [("leaky_relu", None, 0.0), ("relu", None, 1e-3),
                                                            ("leaky_relu", 5, 1e-4)])
def test_curvature_along_is_the_top_eigenvalue_of_the_loss_hessian(activation: str, split_at: int | None,
                                                                   wd: float) -> None:
    gen = torch.Generator().manual_seed(3)
    model = TwoLayerNet(9, 6, activation, 0.1, split_at=split_at)
    model.reset_parameters(gen)
    with torch.no_grad():
        model.hidden.bias.normal_(0, 0.3, generator=gen)
    x = torch.randn(30, 9, generator=gen)
    y = torch.where(torch.rand(30, generator=gen) < 0.5, -1.0, 1.0)
    for u in (torch.randn(9, generator=gen), torch.eye(9)[8] * 3.0):
        expected = autograd_curvature(model, x, y, u, wd)
        assert curvature.curvature_along(model, x, y, u, wd) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_curvature_along_a_hand_set_network() -> None:
    # Two units, one example x = (2, 0), y = +1, f = 0 at w = 0 (b = 0): h = 1/4; along u = (1, 0), moving unit j
    # changes f by a_j * act'(0) * 2 * c_j with act'(0) = slope (pre = 0 is below the kink):
    # G = 2 * slope * (1/sqrt 2, -1/sqrt 2), so the top eigenvalue is |G|^2 / 4 = slope^2.
    model = TwoLayerNet(2, 2, "leaky_relu", 0.5)
    with torch.no_grad():
        model.hidden.weight.zero_()
        model.hidden.bias.zero_()
    x, y = torch.tensor([[2.0, 0.0]]), torch.tensor([1.0])
    assert curvature.curvature_along(model, x, y, torch.tensor([1.0, 0.0])) == pytest.approx(0.25)
    assert curvature.curvature_along(model, x, y, torch.tensor([0.0, 5.0])) == 0.0  # x has nothing along u
    assert curvature.curvature_along(model, x, y, torch.tensor([0.0, 5.0]), weight_decay=0.01) == pytest.approx(0.01)


@pytest.mark.parametrize("direction", [torch.zeros(2), torch.ones(3)])
def test_curvature_along_refuses_a_zero_or_misshapen_direction(direction: torch.Tensor) -> None:
    model = TwoLayerNet(2, 2)
    with pytest.raises(ValueError, match="direction: expected a non-zero vector of shape"):
        curvature.curvature_along(model, torch.ones(1, 2), torch.ones(1), direction)


def run_config(**training) -> dict:
    return complete_run_config({
        "study": "synthetic", "kind": "synthetic", "schedule": "large_lr", "seed": 0,
        "model": {"name": "two_layer", "width": 8, "activation": "leaky_relu", "negative_slope": 0.1,
                  "split_at": None, "noise_shared_over_batch": False},
        "training": {"epochs": 3, "batch_size": 40, "momentum": 0.0, "nesterov": False, "weight_decay": 1e-4,
                     "device": "cpu", **training},
        "lr": {"initial": 0.5, "milestones": [2], "factors": [0.1]},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }, ["test"])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("curvature"), PARAMS, seed=0)


def test_curvature_curve_reads_the_run_as_trained(data_dir: Path) -> None:
    table = curvature.curvature_curve(run_config(), data_dir)
    assert list(table.columns) == list(curvature.CURVATURE_COLUMNS)
    assert table["epoch"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert table["direction"].tolist() == ["p", "q"] * 4
    assert table["lr"].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05])
    assert (table["lr_times_curvature"] == table["lr"] * table["curvature"]).all()
    assert (table["curvature"] >= 1e-4).all()  # the weight decay's floor
    # the last reading is the trained run's final weights: training is the workflow's, step for step
    data = study_data.load_synthetic(data_dir, torch.device("cpu"))
    _, model, _ = train.train(run_config(), data, torch.device("cpu"))
    directions = curvature.pattern_directions(data_dir, data.train_x.shape[1])
    for name, u in directions.items():
        last = table[(table["epoch"] == 3) & (table["direction"] == name)]["curvature"].item()
        assert last == curvature.curvature_along(model, data.train_x, data.train_y, u, 1e-4)
    # the directions: w* in the x1 coordinates, z in the x2 ones, unit length
    assert directions["p"][PARAMS.p_dim:].abs().sum() == 0 and directions["q"][:PARAMS.p_dim].abs().sum() == 0
    assert all(math.isclose(float(u.norm()), 1.0) for u in directions.values())


def test_main_writes_the_csv_and_refuses_an_image_run(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "deep" / "curvature.csv"
    curvature.main(["curve", "--data", str(data_dir), "--run-config", json.dumps(run_config(epochs=1)),
                    "--out", str(out)])
    written = pd.read_csv(out)
    assert written["epoch"].tolist() == [0, 0, 1, 1] and written["study"].tolist() == ["synthetic"] * 4
    with pytest.raises(SystemExit) as exc:
        cli.run(curvature.main, ["curve", "--data", str(data_dir), "--run-config",
                                 json.dumps({**run_config(), "kind": "image"}), "--out", str(tmp_path / "x.csv")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --run-config.kind: expected 'synthetic' (the two-layer network), got 'image'"]
    assert not (tmp_path / "x.csv").exists()


def curve_rows(schedule: str, seed: int, lrs: list[float], products: list[float], direction: str = "q") -> list[dict]:
    """A hand-made curve: epoch 0 (init, curvature 10) then one epoch per entry of ``lrs``."""
    rows = [{"study": "s", "schedule": schedule, "seed": seed, "epoch": 0, "lr": lrs[0], "direction": direction,
             "curvature": 10.0, "lr_times_curvature": lrs[0] * 10.0}]
    rows += [{"study": "s", "schedule": schedule, "seed": seed, "epoch": e, "lr": lr, "direction": direction,
              "curvature": prod / lr, "lr_times_curvature": prod} for e, (lr, prod) in enumerate(zip(lrs, products), 1)]
    return rows


def test_summarise_reads_the_epochs_before_the_first_lr_change() -> None:
    curves = pd.DataFrame(
        curve_rows("big", 0, [1.0, 1.0, 1.0, 0.05], [1.0, 3.0, 2.0, 0.1])  # window 1-3: median 2, 2 of 3 at the edge
        + curve_rows("big", 1, [1.0, 1.0, 1.0, 0.05], [4.0, 4.0, 0.5, 9.0])  # median 4, 2 of 3
        + curve_rows("small", 0, [0.05, 0.05], [0.5, 1.5])  # never changes: window 1-2, median 1, none at the edge
    )
    table = curvature.summarise(curves).set_index("schedule")
    assert list(table.columns) == [c for c in curvature.TABLE_COLUMNS if c != "schedule"]
    big, small = table.loc["big"], table.loc["small"]
    assert (big["initial_lr"], big["n_seeds"], big["window_first"], big["window_last"]) == (1.0, 2, 1, 3)
    assert big["median_lr_times_curvature"] == pytest.approx(3.0)
    assert (big["median_lr_times_curvature_min"], big["median_lr_times_curvature_max"]) == (2.0, 4.0)
    assert big["fraction_at_edge"] == pytest.approx(2 / 3)
    assert big["curvature_at_init"] == 10.0
    assert (small["window_last"], small["median_lr_times_curvature"], small["fraction_at_edge"]) == (2, 1.0, 0.0)


def test_table_command_writes_the_summary_and_the_figure(tmp_path: Path, capsys) -> None:
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"seed{seed}.csv"
        pd.DataFrame(curve_rows("big", seed, [1.0, 1.0, 0.05], [3.0, 2.5, 0.2])
                     + curve_rows("big", seed, [1.0, 1.0, 0.05], [0.01, 0.01, 0.001], direction="p")).to_csv(path, index=False)
        paths.append(str(path))
    out = {name: tmp_path / "out" / name for name in ("t.csv", "f.png", "f.pdf")}
    curvature.main(["table", "--curves", *paths, "--out-table", str(out["t.csv"]), "--out-png", str(out["f.png"]),
                    "--out-pdf", str(out["f.pdf"])])
    table = pd.read_csv(out["t.csv"])
    assert table[["direction", "n_seeds", "median_lr_times_curvature", "fraction_at_edge"]].values.tolist() == [
        ["q", 2, 2.75, 1.0], ["p", 2, 0.01, 0.0]]
    assert out["f.png"].stat().st_size > 0 and out["f.pdf"].stat().st_size > 0
    with pytest.raises(SystemExit):
        cli.run(curvature.main, ["table", "--curves", str(tmp_path / "none.csv"), "--out-table", str(tmp_path / "x"),
                                 "--out-png", str(tmp_path / "x.png"), "--out-pdf", str(tmp_path / "x.pdf")])
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'none.csv'}: no such curvature curve "
                                               "(python -m lrorder.curvature curve writes it)")
