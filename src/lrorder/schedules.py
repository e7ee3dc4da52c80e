"""Declarative piecewise-constant schedules for the learning rate and the noise.

A schedule is ``initial * prod(factor_i for milestone_i <= epoch)`` with a
1-indexed epoch, exactly the form of the official code's schedules
(``cwein3/large-lr-code``, ``train_util.py``): e.g. ``default`` is
``lr * 0.2^[e>=60] * 0.2^[e>=120] * 0.2^[e>=150]``. The named forms of the
official code resolve to milestones and factors here; ``piecewise`` takes
them from the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lrorder.errors import ConfigError

#: Named forms of the official code (``docs/paper-notes.md``, "Schedules of the official code"): milestones and factors.
NAMED_FORMS: dict[str, tuple[tuple[int, ...], tuple[float, ...] | None]] = {
    "fixed": ((), ()),
    "default": ((60, 120, 150), (0.2, 0.2, 0.2)),
    "decay_early": ((30,), (0.04,)),
    "step_early": ((30,), None),  # factor = the config's ``rate``
}
FORMS = ("piecewise", *NAMED_FORMS)


@dataclass(frozen=True)
class PiecewiseConstant:
    """``initial * prod(factors[i] for i where milestones[i] <= epoch)``.

    Attributes:
        initial: value in the first epoch (LR: > 0; noise std: >= 0).
        milestones: strictly increasing 1-indexed epochs at which a factor starts to apply.
        factors: multiplier applied from each milestone on (cumulative), >= 0.
    """

    initial: float
    milestones: tuple[int, ...] = ()
    factors: tuple[float, ...] = ()

    def value(self, epoch: int) -> float:
        """The value in 1-indexed ``epoch``."""
        out = float(self.initial)
        for milestone, factor in zip(self.milestones, self.factors):
            if epoch >= milestone:
                out *= factor
        return out

    @property
    def first_milestone(self) -> int | None:
        """The epoch of the first anneal, or ``None`` for a constant schedule."""
        return self.milestones[0] if self.milestones else None

    def as_dict(self) -> dict[str, Any]:
        return {"initial": self.initial, "milestones": list(self.milestones), "factors": list(self.factors)}


def from_config(cfg: Mapping[str, Any], key: str) -> PiecewiseConstant:
    """Resolve a schedule entry of the config (``form`` plus its values).

    ``key`` is the dotted config path, used in error messages.

    Raises:
        ConfigError: unknown form; milestones and factors of unequal length
            or not strictly increasing; milestones given with a named form;
            ``rate`` missing for ``step_early``.
    """
    form = cfg.get("form", "piecewise")
    initial = float(cfg["initial"])
    if form == "piecewise":
        milestones = tuple(int(m) for m in cfg.get("milestones", ()))
        factors = tuple(float(f) for f in cfg.get("factors", ()))
        if len(milestones) != len(factors):
            raise ConfigError(
                f"{key}.factors: expected one factor per milestone ({len(milestones)} milestones, {len(factors)} factors)"
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ConfigError(f"{key}.milestones: expected strictly increasing epochs, got {list(milestones)}")
        return PiecewiseConstant(initial, milestones, factors)
    if form not in NAMED_FORMS:
        raise ConfigError(f"{key}.form: unknown schedule form {form!r} (expected one of {', '.join(FORMS)})")
    if cfg.get("milestones") or cfg.get("factors"):
        raise ConfigError(f"{key}: form {form!r} fixes its milestones and factors; use form 'piecewise' to set them")
    milestones, factors = NAMED_FORMS[form]
    if factors is None:
        if "rate" not in cfg:
            raise ConfigError(f"{key}.rate: required by form {form!r}")
        factors = (float(cfg["rate"]),) * len(milestones)
    return PiecewiseConstant(initial, milestones, factors)
