"""The two-pattern synthetic distribution of the paper's theory section.

Li, Wei & Ma (2019), section 3 ("Setup"); ``docs/paper-notes.md``, "Two-pattern distribution"
and "Synthetic study defaults". An example is ``x = (x1, x2)`` in ``R^(p_dim + q_dim)`` with a
label ``y`` in ``{-1, +1}``:

* **P pattern** (``x1``, easy to fit, hard to generalize): a random unit
  vector ``w*`` separates the classes with margin ``p_margin``;
  ``xi ~ N(0, p_noise^2 I / p_dim)`` is reflected so that ``y <w*, xi> >= 0``
  (half-Gaussian) and ``x1 = xi + p_margin * y * w*``.
* **Q pattern** (``x2``, hard to fit, easy to generalize): orthonormal
  ``z, zeta``; class ``+1`` lies at ``alpha * q_norm * z`` and class ``-1``
  at ``alpha * (q_norm * z + s * q_offset * zeta)`` with a random sign
  ``s``, ``alpha ~ U[q_alpha_min, 1]``. Not linearly separable: the ``+1``
  point is the midpoint of the two ``-1`` points.
* **Mixture**: with probability ``p_only`` only ``x1`` (``x2 = 0``), with
  probability ``q_only`` only ``x2`` (``x1 = 0``), else both.

Each seed draws its own ``w*, z, zeta`` and its own train and test examples
(``docs/paper-notes.md``, "Synthetic study defaults").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from lrorder import cli, manifest, schema, seeding
from lrorder import params as param_checks
from lrorder.errors import ConfigError

GENERATOR = "lrorder.data.synthetic"
GENERATOR_VERSION = "1"

#: Codes of the ``pattern`` array: which patterns an example carries.
PATTERN_CODES = {"both": 0, "p_only": 1, "q_only": 2}


#: Where the config schema defines these parameters; the field defaults are the schema's (``studies.<name>.data`` of a synthetic study).
SCHEMA_POINTER = "#/$defs/synthetic_study/properties/data"
_DEFAULTS = schema.defaults_at(SCHEMA_POINTER)


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of the two-pattern distribution (defaults: ``docs/paper-notes.md``, "Synthetic study defaults").

    Attributes:
        n_train, n_test: number of examples per split.
        p_only, q_only: mixture probabilities of P-only and Q-only examples
            (paper: 0.2 each; the rest carry both patterns).
        p_dim: dimension ``d1`` of the P pattern (400).
        p_margin: margin ``gamma`` of P along ``w*`` (0.03).
        p_noise: total noise scale ``sP`` of P; per coordinate ``sP/sqrt(d1)`` (2.0).
        q_dim: dimension ``d2`` of the Q pattern (20).
        q_norm: distance ``zn`` of the Q cluster from the origin along ``z`` (20.0).
        q_offset: offset ``r`` of the second class along ``zeta`` (6.0).
        q_alpha_min: lower end of ``alpha ~ U[q_alpha_min, 1]``; 1.0 fixes
            ``alpha = 1`` (``U[0, 1]`` breaks the effect: same section).
    """

    n_train: int = _DEFAULTS["n_train"]
    n_test: int = _DEFAULTS["n_test"]
    p_only: float = _DEFAULTS["p_only"]
    q_only: float = _DEFAULTS["q_only"]
    p_dim: int = _DEFAULTS["p_dim"]
    p_margin: float = _DEFAULTS["p_margin"]
    p_noise: float = _DEFAULTS["p_noise"]
    q_dim: int = _DEFAULTS["q_dim"]
    q_norm: float = _DEFAULTS["q_norm"]
    q_offset: float = _DEFAULTS["q_offset"]
    q_alpha_min: float = _DEFAULTS["q_alpha_min"]

    def __post_init__(self) -> None:
        param_checks.check_integers(self, ("n_train", "n_test", "p_dim", "q_dim"), "data")
        param_checks.check_numbers(self, ("p_only", "q_only", "p_margin", "p_noise", "q_norm", "q_offset", "q_alpha_min"),
                             "data")
        if self.p_margin < 0 or self.p_noise < 0 or self.q_norm <= 0 or self.q_offset <= 0:
            raise ConfigError("data.p_margin, data.p_noise: expected >= 0; data.q_norm, data.q_offset: expected > 0")
        if self.n_train < 1 or self.n_test < 1:
            raise ConfigError("data.n_train / data.n_test: expected positive integers")
        if min(self.p_only, self.q_only) < 0 or self.p_only + self.q_only > 1:
            raise ConfigError("data.p_only + data.q_only: expected non-negative values summing to at most 1")
        if self.p_dim < 1 or self.q_dim < 2:
            raise ConfigError("data.p_dim >= 1 and data.q_dim >= 2 expected (Q needs two orthogonal directions)")
        if not 0.0 <= self.q_alpha_min <= 1.0:
            raise ConfigError("data.q_alpha_min: expected a value in [0, 1]")


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def draw_constants(params: SyntheticParams, seed: int) -> dict[str, np.ndarray]:
    """Draw the per-seed directions ``w_star`` (p_dim,), ``z`` and ``zeta`` (q_dim,), float64.

    ``z`` and ``zeta`` are orthonormal (Gram-Schmidt on two Gaussian vectors).
    """
    rng = seeding.numpy_rng(seed, "synthetic/constants")
    w_star = _unit(rng, params.p_dim)
    z = _unit(rng, params.q_dim)
    zeta = rng.standard_normal(params.q_dim)
    zeta -= zeta.dot(z) * z
    zeta /= np.linalg.norm(zeta)
    return {"w_star": w_star, "z": z, "zeta": zeta}


def sample(
    params: SyntheticParams, constants: dict[str, np.ndarray], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw ``n`` examples.

    Returns:
        ``x``: float32 ``(n, p_dim + q_dim)``; ``y``: int8 ``(n,)`` in
        ``{-1, +1}``; ``pattern``: uint8 ``(n,)`` with :data:`PATTERN_CODES`.
    """
    w_star, z, zeta = constants["w_star"], constants["z"], constants["zeta"]
    y = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
    # Clamp: e.g. 1.0 - 0.8 - 0.2 is -5.6e-17 in floating point, which numpy rejects.
    both = max(0.0, 1.0 - params.p_only - params.q_only)
    pattern = rng.choice(
        np.array([PATTERN_CODES["both"], PATTERN_CODES["p_only"], PATTERN_CODES["q_only"]], dtype=np.uint8),
        size=n,
        p=[both, params.p_only, params.q_only],
    )

    # P: half-Gaussian noise on the correct side of w*, plus the margin.
    xi = rng.standard_normal((n, params.p_dim)) * (params.p_noise / np.sqrt(params.p_dim))
    proj = xi @ w_star
    flip = y * proj < 0
    xi[flip] -= 2.0 * proj[flip, None] * w_star
    x1 = xi + params.p_margin * y[:, None] * w_star

    # Q: class +1 on the ray of z, class -1 on z + s * zeta (random sign s).
    alpha = rng.uniform(params.q_alpha_min, 1.0, size=n) if params.q_alpha_min < 1.0 else np.ones(n)
    sign = rng.choice(np.array([-1.0, 1.0]), size=n)
    offset = np.where(y == -1, sign * params.q_offset, 0.0)
    x2 = alpha[:, None] * (params.q_norm * z + offset[:, None] * zeta)

    x1[pattern == PATTERN_CODES["q_only"]] = 0.0
    x2[pattern == PATTERN_CODES["p_only"]] = 0.0
    x = np.concatenate([x1, x2], axis=1).astype(np.float32)
    return {"x": x, "y": y, "pattern": pattern}


def generate(params: SyntheticParams, seed: int) -> dict[str, np.ndarray]:
    """Generate the train and test splits for ``seed``.

    Returns arrays ``train_x, train_y, train_pattern, test_x, test_y,
    test_pattern`` (see :func:`sample`) and the constants ``w_star, z, zeta``
    (float64), so a reader can check the geometry.
    """
    constants = draw_constants(params, seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", params.n_train), ("test", params.n_test)):
        rng = seeding.numpy_rng(seed, f"synthetic/{split}")
        for name, array in sample(params, constants, n, rng).items():
            arrays[f"{split}_{name}"] = array
    arrays.update(constants)
    return arrays


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.ArgumentParser(prog="python -m lrorder.data.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="JSON object of SyntheticParams fields")
    parser.add_argument("--seed", type=int, required=True, help="data seed (the run seed)")
    parser.add_argument("--out", required=True, help="output folder (arrays + manifest.json)")
    args = parser.parse_args(argv)
    if args.seed < 0:
        raise ConfigError(f"--seed: expected a non-negative integer, got {args.seed}")
    params = param_checks.from_mapping(SyntheticParams, cli.parse_json_arg(args.params, "--params"), "data")
    manifest.save_dataset(
        args.out,
        generate(params, args.seed),
        generator=GENERATOR,
        generator_version=GENERATOR_VERSION,
        params={**asdict(params), "pattern_codes": PATTERN_CODES},
        seed=args.seed,
    )


if __name__ == "__main__":
    cli.run(main)
