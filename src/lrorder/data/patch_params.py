"""Parameters of the patch experiment: :class:`PatchParams` and where the patch goes.

Its one job is the numbers that define the patch (defaults from the official
``train_patches.py``; ``docs/paper-notes.md``, "Patch experiment") and the
pure helpers derived from them: :func:`n_patched`, the number of patched
images of a split, and :func:`patch_location`, the centre of the image, start
row ``int(H/2 - s/2)`` and column ``int(W/2 - s/2)`` (12 for 32x32, so rows
and columns 12..18; 10 for 28x28). It imports neither numpy nor torch, so the
workflow's config checks (:mod:`lrorder.plan`) can use it; the arrays are
drawn by :mod:`lrorder.data.patch` and applied to batches by
:mod:`lrorder.data.patch_batches`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrorder import params as param_checks
from lrorder import schema
from lrorder.errors import ConfigError


#: Where the config schema defines these parameters; the field defaults are the schema's (``studies.<name>.patch`` of a patch study).
SCHEMA_POINTER = "#/$defs/patch_study/properties/patch"
_DEFAULTS = schema.defaults_at(SCHEMA_POINTER)


@dataclass(frozen=True)
class PatchParams:
    """Parameters of the patch experiment (defaults: ``train_patches.py``; ``docs/paper-notes.md``, "Patch experiment").

    Attributes:
        size: side ``s`` of the square patch in pixels (7).
        z_scale: scale of the shared pattern ``z = z_scale * N(0, 1)``, in
            normalised pixel units (1.25).
        zeta_range: half-width ``r`` of the per-class offsets
            ``zeta_c ~ U[-r, r]`` (0.1; official ``patch_sep``).
        patched_fraction: fraction of training images that carry a patch,
            fixed once (0.8; official ``prop_augment``).
        patch_only_prob: probability that a patched image is shown as patch
            only (image zeroed) in a given epoch (0.2).
        patch_only_scale: factor on ``u * zeta_y`` in a patch-only example
            (1.75).
        n_patch_only: size of the patch-only evaluation set (1000).

    Raises:
        ConfigError: a field has the wrong type or is out of range; the
            message names ``patch.<field>``.
    """

    size: int = _DEFAULTS["size"]
    z_scale: float = _DEFAULTS["z_scale"]
    zeta_range: float = _DEFAULTS["zeta_range"]
    patched_fraction: float = _DEFAULTS["patched_fraction"]
    patch_only_prob: float = _DEFAULTS["patch_only_prob"]
    patch_only_scale: float = _DEFAULTS["patch_only_scale"]
    n_patch_only: int = _DEFAULTS["n_patch_only"]

    def __post_init__(self) -> None:
        param_checks.check_integers(self, ("size", "n_patch_only"), "patch", minimum=1)
        param_checks.check_numbers(self, ("z_scale", "zeta_range", "patched_fraction", "patch_only_prob",
                                    "patch_only_scale"), "patch", minimum=0)
        for name in ("patched_fraction", "patch_only_prob"):
            if getattr(self, name) > 1:
                raise ConfigError(f"patch.{name}: expected a probability in [0, 1], got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, raw: Any) -> PatchParams:
        """Build from a JSON-like mapping (missing fields take the defaults).

        Raises:
            ConfigError: ``raw`` is not a mapping, names an unknown field
                (``patch.<key>``), or a value is invalid.
        """
        return param_checks.from_mapping(cls, raw, "patch")


def n_patched(params: PatchParams, n: int) -> int:
    """Number of patched images of a split of ``n``: ``round(patched_fraction * n)``, halves rounded up."""
    return int(math.floor(params.patched_fraction * n + 0.5))


def patch_location(h: int, w: int, size: int) -> tuple[int, int]:
    """Top-left ``(row, col)`` of the centred patch: ``(int(h/2 - size/2), int(w/2 - size/2))``.

    Official ``get_start_for_patch_loc(..., "center")`` = ``int(16 - size/2)``
    for 32x32 images: 12 for ``size = 7`` (rows and columns 12..18).

    Raises:
        ConfigError: the patch does not fit in an ``h x w`` image.
    """
    if size < 1 or size > h or size > w:
        raise ConfigError(f"patch.size: a {size}x{size} patch does not fit in a {h}x{w} image")
    return int(h / 2 - size / 2), int(w / 2 - size / 2)
