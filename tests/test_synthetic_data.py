"""Tests of lrorder.data.synthetic: the two-pattern distribution.

Source: ``docs/paper-notes.md``, "Two-pattern distribution" and "Synthetic study defaults".
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
from scipy.optimize import linprog

from lrorder import fileio, manifest
from lrorder.data import synthetic
from lrorder.data.synthetic import PATTERN_CODES, SyntheticParams, generate
from lrorder.errors import ConfigError

BOTH, P_ONLY, Q_ONLY = PATTERN_CODES["both"], PATTERN_CODES["p_only"], PATTERN_CODES["q_only"]

SMALL = SyntheticParams(n_train=300, n_test=500, p_dim=20, q_dim=4)


@pytest.fixture(scope="module")
def small() -> dict[str, np.ndarray]:
    return generate(SMALL, seed=3)


def split(arrays: dict[str, np.ndarray], params: SyntheticParams, name: str):
    x = arrays[f"{name}_x"].astype(np.float64)
    return x[:, : params.p_dim], x[:, params.p_dim :], arrays[f"{name}_y"].astype(np.float64), arrays[f"{name}_pattern"]


def separable(points: np.ndarray, labels: np.ndarray, bound: float = 1e3) -> tuple[bool, np.ndarray | None]:
    """LP feasibility of ``y (w.x + b) >= 1`` for every row (an affine separator with margin).

    ``|w_i|, |b| <= bound``: the arrays are stored as float32, so the three Q
    points are collinear only up to rounding (~1e-6), and an unbounded LP can
    separate them with weights of order 1e6. The bound 1e3 is far above what P
    needs (``w*/p_margin``, entries <= 34) and far below that.
    """
    n, d = points.shape
    # variables (w, b); constraint -y * (x, 1) . (w, b) <= -1
    a_ub = -labels[:, None] * np.hstack([points, np.ones((n, 1))])
    res = linprog(np.zeros(d + 1), A_ub=a_ub, b_ub=-np.ones(n), bounds=[(-bound, bound)] * (d + 1), method="highs")
    assert res.status in (0, 2), res.message  # 0 solved, 2 infeasible
    return res.status == 0, (res.x if res.status == 0 else None)


# --------------------------------------------------------------------------- shapes, dtypes


def test_keys_shapes_and_dtypes(small: dict[str, np.ndarray]) -> None:
    assert set(small) == {
        "train_x", "train_y", "train_pattern", "test_x", "test_y", "test_pattern", "w_star", "z", "zeta",
    }
    d = SMALL.p_dim + SMALL.q_dim
    for name, n in (("train", 300), ("test", 500)):
        assert small[f"{name}_x"].shape == (n, d)
        assert small[f"{name}_x"].dtype == np.float32
        assert small[f"{name}_y"].shape == (n,)
        assert small[f"{name}_y"].dtype == np.int8
        assert small[f"{name}_pattern"].shape == (n,)
        assert small[f"{name}_pattern"].dtype == np.uint8
        assert set(np.unique(small[f"{name}_y"]).tolist()) == {-1, 1}
        assert set(np.unique(small[f"{name}_pattern"]).tolist()) == {BOTH, P_ONLY, Q_ONLY}
    assert small["w_star"].shape == (20,) and small["w_star"].dtype == np.float64
    assert small["z"].shape == (4,) and small["z"].dtype == np.float64
    assert small["zeta"].shape == (4,) and small["zeta"].dtype == np.float64


def test_pattern_codes() -> None:
    assert PATTERN_CODES == {"both": 0, "p_only": 1, "q_only": 2}


def test_default_params_match_paper_section_5() -> None:
    p = SyntheticParams()
    assert (p.n_train, p.n_test, p.p_only, p.q_only) == (1000, 4000, 0.2, 0.2)
    assert (p.p_dim, p.p_margin, p.p_noise) == (400, 0.03, 2.0)
    assert (p.q_dim, p.q_norm, p.q_offset, p.q_alpha_min) == (20, 20.0, 6.0, 1.0)


# --------------------------------------------------------------------------- mixture and labels


def test_mixture_proportions_within_binomial_tolerance() -> None:
    n = 20000
    params = SyntheticParams(n_train=n, n_test=1, p_dim=2, q_dim=2)
    arrays = generate(params, seed=0)
    pattern, y = arrays["train_pattern"], arrays["train_y"]
    for code, prob in ((P_ONLY, 0.2), (Q_ONLY, 0.2), (BOTH, 0.6)):
        count = int((pattern == code).sum())
        sd = np.sqrt(n * prob * (1 - prob))
        assert abs(count - n * prob) < 5 * sd, (code, count)
    n_pos = int((y == 1).sum())
    assert abs(n_pos - n / 2) < 5 * np.sqrt(n / 4)


def test_other_mixture_proportions() -> None:
    n = 20000
    params = SyntheticParams(n_train=n, n_test=1, p_dim=2, q_dim=2, p_only=0.5, q_only=0.1)
    pattern = generate(params, seed=1)["train_pattern"]
    for code, prob in ((P_ONLY, 0.5), (Q_ONLY, 0.1), (BOTH, 0.4)):
        assert abs(int((pattern == code).sum()) - n * prob) < 5 * np.sqrt(n * prob * (1 - prob))


@pytest.mark.parametrize(("p_only", "q_only"), [(0.8, 0.2), (0.9, 0.1), (0.07, 0.93), (1.0, 0.0), (0.0, 1.0)])
def test_mixture_without_both_examples(p_only: float, q_only: float) -> None:
    # Regression: 1.0 - 0.8 - 0.2 is -5.6e-17 in floating point and numpy's
    # choice() rejected it ("Probabilities are not non-negative").
    params = SyntheticParams(n_train=400, n_test=10, p_dim=3, q_dim=2, p_only=p_only, q_only=q_only)
    pattern = generate(params, seed=0)["train_pattern"]
    assert not (pattern == BOTH).any()
    assert ((pattern == P_ONLY).sum() > 0) == (p_only > 0)
    assert ((pattern == Q_ONLY).sum() > 0) == (q_only > 0)


def test_all_both_when_no_single_pattern_examples() -> None:
    params = SyntheticParams(n_train=200, n_test=10, p_dim=3, q_dim=2, p_only=0.0, q_only=0.0)
    assert (generate(params, seed=0)["train_pattern"] == BOTH).all()


def test_single_pattern_examples_have_other_part_zero(small: dict[str, np.ndarray]) -> None:
    for name in ("train", "test"):
        x1, x2, _, pattern = split(small, SMALL, name)
        assert (x2[pattern == P_ONLY] == 0).all()
        assert (x1[pattern == Q_ONLY] == 0).all()
        # examples carrying a pattern have it non-zero
        assert (np.abs(x1[pattern != Q_ONLY]).sum(axis=1) > 0).all()
        assert (np.abs(x2[pattern != P_ONLY]).sum(axis=1) > 0).all()


# --------------------------------------------------------------------------- constants


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_constants_orthonormal(seed: int) -> None:
    c = synthetic.draw_constants(SyntheticParams(p_dim=50, q_dim=6), seed)
    assert np.linalg.norm(c["w_star"]) == pytest.approx(1.0, abs=1e-12)
    assert np.linalg.norm(c["z"]) == pytest.approx(1.0, abs=1e-12)
    assert np.linalg.norm(c["zeta"]) == pytest.approx(1.0, abs=1e-12)
    assert c["z"] @ c["zeta"] == pytest.approx(0.0, abs=1e-12)


def test_generate_returns_the_constants(small: dict[str, np.ndarray]) -> None:
    c = synthetic.draw_constants(SMALL, 3)
    for key in ("w_star", "z", "zeta"):
        np.testing.assert_array_equal(small[key], c[key])


# --------------------------------------------------------------------------- P: linearly separable


def test_p_margin_holds_for_every_example_carrying_p(small: dict[str, np.ndarray]) -> None:
    w = small["w_star"]
    for name in ("train", "test"):
        x1, _, y, pattern = split(small, SMALL, name)
        carries = pattern != Q_ONLY
        margins = y[carries] * (x1[carries] @ w)
        # float32 storage: tolerance far below the margin 0.03
        assert margins.min() >= SMALL.p_margin - 1e-6
        # and it is a small margin, not a large one: the closest example sits near p_margin
        assert margins.min() < SMALL.p_margin + 0.05


def test_p_noise_scale_is_p_noise_over_sqrt_dim() -> None:
    params = SyntheticParams(n_train=5000, n_test=1, p_dim=50, q_dim=2, p_only=1.0, q_only=0.0)
    arrays = generate(params, seed=2)
    x1 = arrays["train_x"][:, :50].astype(np.float64)
    w = arrays["w_star"]
    perp = x1 - np.outer(x1 @ w, w)
    # orthogonal part: N(0, p_noise^2/p_dim) on 49 coordinates -> E||perp||^2 = 4 * 49/50
    assert np.mean(np.sum(perp**2, axis=1)) == pytest.approx(4.0 * 49 / 50, rel=0.02)
    # along w*: y<w*,x1> = |N(0, 4/50)| + gamma -> mean sqrt(2/pi) * 2/sqrt(50) + 0.03
    along = arrays["train_y"] * (x1 @ w)
    assert np.mean(along) == pytest.approx(np.sqrt(2 / np.pi) * 2 / np.sqrt(50) + 0.03, rel=0.03)


def test_p_lp_feasible_on_small_instance(small: dict[str, np.ndarray]) -> None:
    x1, _, y, pattern = split(small, SMALL, "train")
    carries = pattern != Q_ONLY
    ok, sol = separable(x1[carries], y[carries])
    assert ok
    assert (y[carries] * (x1[carries] @ sol[:-1] + sol[-1]) >= 1 - 1e-6).all()


# --------------------------------------------------------------------------- Q: three rays, not separable


def test_q_geometry_three_points(small: dict[str, np.ndarray]) -> None:
    z, zeta = small["z"], small["zeta"]
    plus = SMALL.q_norm * z
    minus_a = SMALL.q_norm * z + SMALL.q_offset * zeta
    minus_b = SMALL.q_norm * z - SMALL.q_offset * zeta
    # the +1 point is the midpoint of the two -1 points
    np.testing.assert_allclose((minus_a + minus_b) / 2, plus, atol=1e-12)
    _, x2, y, pattern = split(small, SMALL, "train")
    carries = pattern != P_ONLY
    pos, neg = x2[carries & (y == 1)], x2[carries & (y == -1)]
    np.testing.assert_allclose(pos, np.broadcast_to(plus, pos.shape), atol=1e-5)
    is_a = np.all(np.abs(neg - minus_a) < 1e-5, axis=1)
    is_b = np.all(np.abs(neg - minus_b) < 1e-5, axis=1)
    assert (is_a ^ is_b).all()
    assert is_a.sum() > 0 and is_b.sum() > 0  # both signs occur


def test_q_lp_infeasible(small: dict[str, np.ndarray]) -> None:
    _, x2, y, pattern = split(small, SMALL, "train")
    carries = pattern != P_ONLY
    ok, _ = separable(x2[carries], y[carries])
    assert not ok
    # exactly (float64 points, no rounding) it is infeasible even without a bound
    z, zeta = small["z"], small["zeta"]
    exact = np.where(
        (y[carries] == 1)[:, None], SMALL.q_norm * z,
        SMALL.q_norm * z + np.sign(x2[carries] @ zeta)[:, None] * SMALL.q_offset * zeta,
    )
    ok, _ = separable(exact, y[carries], bound=np.inf)
    assert not ok


def test_q_two_rays_alone_are_separable(small: dict[str, np.ndarray]) -> None:
    # Control for the LP: dropping one of the two -1 rays makes Q separable, so the
    # infeasibility above comes from the midpoint structure.
    _, x2, y, pattern = split(small, SMALL, "train")
    keep = (pattern != P_ONLY) & ((y == 1) | (x2 @ small["zeta"] > 0))
    ok, _ = separable(x2[keep], y[keep])
    assert ok


def test_q_alpha_spread() -> None:
    params = SyntheticParams(n_train=2000, n_test=1, p_dim=2, q_dim=3, q_alpha_min=0.25)
    arrays = generate(params, seed=4)
    _, x2, y, pattern = split(arrays, params, "train")
    carries = pattern != P_ONLY
    alpha = x2[carries] @ arrays["z"] / params.q_norm
    assert alpha.min() >= 0.25 - 1e-6
    assert alpha.max() <= 1.0 + 1e-6
    assert alpha.min() < 0.3 and alpha.max() > 0.95
    assert np.mean(alpha) == pytest.approx(0.625, abs=0.02)
    # offset along zeta scales with the same alpha: |x2.zeta| = alpha * q_offset for class -1
    neg = carries & (y == -1)
    np.testing.assert_allclose(
        np.abs(x2[neg] @ arrays["zeta"]), (x2[neg] @ arrays["z"]) / params.q_norm * params.q_offset, atol=1e-4
    )


def test_q_alpha_fixed_at_one_by_default(small: dict[str, np.ndarray]) -> None:
    _, x2, _, pattern = split(small, SMALL, "test")
    alpha = x2[pattern != P_ONLY] @ small["z"] / SMALL.q_norm
    np.testing.assert_allclose(alpha, 1.0, atol=1e-6)


# --------------------------------------------------------------------------- determinism


def test_same_seed_byte_identical() -> None:
    a, b = generate(SMALL, seed=11), generate(SMALL, seed=11)
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype
        assert a[key].tobytes() == b[key].tobytes(), key


def test_different_seeds_differ() -> None:
    a, b = generate(SMALL, seed=0), generate(SMALL, seed=1)
    for key in ("train_x", "test_x", "w_star", "z", "zeta"):
        assert not np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["train_y"], b["train_y"])


def test_train_and_test_are_different_draws(small: dict[str, np.ndarray]) -> None:
    assert not np.array_equal(small["train_x"][:300], small["test_x"][:300])


# --------------------------------------------------------------------------- bad params


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"n_train": 0}, "data.n_train"),
        ({"n_test": 0}, "data.n_test"),
        ({"p_only": -0.1}, "data.p_only"),
        ({"q_only": -0.1}, "data.q_only"),
        ({"p_only": 0.6, "q_only": 0.5}, "data.p_only + data.q_only"),
        ({"p_dim": 0}, "data.p_dim"),
        ({"q_dim": 1}, "data.q_dim"),
        ({"q_alpha_min": 1.5}, "data.q_alpha_min"),
        ({"q_alpha_min": -0.1}, "data.q_alpha_min"),
    ],
)
def test_bad_params_raise_config_error(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("+", r"\+")):
        SyntheticParams(**kwargs)


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lrorder.data.synthetic", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_arrays_and_manifest(tmp_path) -> None:
    params = {"n_train": 60, "n_test": 40, "p_dim": 10, "q_dim": 3}
    out = tmp_path / "data"
    res = run_cli("--params", json.dumps(params), "--seed", "5", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    arrays, meta = manifest.load_dataset(out)
    expected = generate(SyntheticParams(**params), 5)
    assert set(arrays) == set(expected)
    for key in expected:
        assert arrays[key].dtype == expected[key].dtype
        np.testing.assert_array_equal(arrays[key], expected[key])
    assert meta["generator"] == "lrorder.data.synthetic"
    assert meta["generator_version"] == synthetic.GENERATOR_VERSION
    assert meta["seed"] == 5
    assert meta["params"] == {**asdict(SyntheticParams(**params)), "pattern_codes": PATTERN_CODES}
    assert set(meta["files"]) == {f"{k}.npy" for k in expected}
    for filename, digest in meta["files"].items():
        assert fileio.sha256_file(out / filename) == digest
    assert sorted(p.name for p in out.iterdir()) == sorted([*meta["files"], "manifest.json"])


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ("{not json", "--params: expected a JSON value"),
        ('{"n_train": 10, "colour": 3}', "data.colour: unknown field"),
    ],
)
def test_cli_bad_params_exit_2_one_line(tmp_path, params: str, needle: str) -> None:
    res = run_cli("--params", params, "--seed", "0", "--out", str(tmp_path / "d"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ('{"q_dim": 1}', "data.q_dim"),
        ("[1, 2]", "data: expected a JSON object of SyntheticParams fields, got list"),
        ('{"n_train": "many"}', "data.n_train: expected an integer, got 'many'"),
        ('{"n_train": 1.5}', "data.n_train: expected an integer, got 1.5"),
        ('{"p_noise": -1}', "data.p_noise"),
    ],
)
def test_cli_bad_values_in_process(tmp_path, capsys, params: str, needle: str) -> None:
    # Same entry point as ``python -m``, without a second interpreter.
    from lrorder import cli

    with pytest.raises(SystemExit) as exc:
        cli.run(synthetic.main, ["--params", params, "--seed", "0", "--out", str(tmp_path / "d")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert not (tmp_path / "d").exists()


def test_generator_module_does_not_import_torch() -> None:
    # Regression: seeding imported torch at module level, about 1 s of every dataset job.
    code = "import sys, lrorder.data.synthetic; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.strip() == "False"


def test_parameter_fields_are_the_schemas_data_keys_with_its_defaults() -> None:
    """The schema is the one place the defaults are written (docs/paper-notes.md values)."""
    from dataclasses import fields

    from lrorder import schema

    properties = schema.definition(synthetic.SCHEMA_POINTER)["properties"]
    assert [f.name for f in fields(SyntheticParams)] == list(properties)
    assert asdict(SyntheticParams()) == {key: spec["default"] for key, spec in properties.items()}
    assert (SyntheticParams().p_dim, SyntheticParams().q_norm) == (400, 20.0)
