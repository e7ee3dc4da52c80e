"""Declarative schedules of the learning rate and the noise, per 1-indexed epoch.

One module defines every schedule form: the config's declaration (``form``
plus its values) is read by :func:`from_config` at planning time and again
by training, from the run config's :meth:`Schedule.as_dict`, so both build
the same schedule with the same function.

* Piecewise constant (:class:`PiecewiseConstant`): ``initial *
  prod(factor_i for milestone_i <= epoch)``, exactly the form of the
  official code's schedules (``cwein3/large-lr-code``, ``train_util.py``):
  e.g. ``default`` is ``lr * 0.2^[e>=60] * 0.2^[e>=120] * 0.2^[e>=150]``.
  The named forms of the official code (:data:`NAMED_FORMS`) resolve to
  milestones and factors; ``piecewise`` takes them from the config.
* Cosine (:class:`Cosine`, ``form: cosine``): constant until ``start``, then
  a half cosine from ``initial`` to ``final`` over epochs ``start`` to
  ``end``, then ``final``; with ``start: 1`` and ``end`` the last epoch this
  is PyTorch's ``CosineAnnealingLR(T_max=epochs, eta_min=final)`` stepped
  once per epoch (SGDR, Loshchilov & Hutter 2017, without restarts). Not
  used by the paper; offered for schedule studies.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from lrorder.errors import ConfigError

#: The schedules of a run, by their key in the config (``schedules.<name>.<part>``) and in the run config:
#: the learning rate, the pre-activation noise std and the gradient noise std.
PARTS = ("lr", "preact_noise", "grad_noise")

#: Named forms of the official code (``docs/paper-notes.md``, "Schedules of the official code"): milestones and factors.
NAMED_FORMS: dict[str, tuple[tuple[int, ...], tuple[float, ...] | None]] = {
    "fixed": ((), ()),
    "default": ((60, 120, 150), (0.2, 0.2, 0.2)),
    "decay_early": ((30,), (0.04,)),
    "step_early": ((30,), None),  # factor = the config's ``rate``
}
#: Every form :func:`from_config` accepts (the schema's ``$defs/schedule_form`` lists the same; a test checks it).
FORMS = ("piecewise", *NAMED_FORMS, "cosine")
#: Keys that only some forms read: any other form refuses them (they would be silently ignored).
FORM_ONLY_KEYS = {"rate": ("step_early",), "start": ("cosine",), "end": ("cosine",), "final": ("cosine",)}


class Schedule(Protocol):
    """What planning and training need of a schedule, whatever its form."""

    initial: float

    def value(self, epoch: int) -> float:
        """The value in 1-indexed ``epoch``."""

    @property
    def first_milestone(self) -> int | None:
        """The first epoch whose value differs from ``initial`` (the first anneal), or ``None``."""

    def check_epochs(self, epochs: int, key: str, epochs_key: str) -> None:
        """Raise :class:`ConfigError` if the declaration names epochs beyond a run of ``epochs`` epochs."""

    def as_dict(self) -> dict[str, Any]:
        """The canonical declaration: :func:`from_config` of it rebuilds this schedule."""


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

    def check_epochs(self, epochs: int, key: str, epochs_key: str) -> None:
        """Every milestone lies within the run's ``epochs``.

        Raises:
            ConfigError: ``<key>.milestones: [...] beyond <epochs_key> = <epochs>``.
        """
        late = [m for m in self.milestones if m > epochs]
        if late:
            raise ConfigError(f"{key}.milestones: {late} beyond {epochs_key} = {epochs}")

    def as_dict(self) -> dict[str, Any]:
        """``{"initial", "milestones", "factors"}`` (the default form ``piecewise``; named forms resolved)."""
        return {"initial": self.initial, "milestones": list(self.milestones), "factors": list(self.factors)}


@dataclass(frozen=True)
class Cosine:
    """Cosine anneal: ``initial`` before ``start``, then ``final + (initial - final) * (1 + cos(pi * t / T)) / 2``.

    With ``t = epoch - start`` and ``T = end - start + 1`` for ``start <= epoch
    <= end``, and ``final`` after ``end``: the value is ``initial`` at
    ``start`` and falls to just above ``final`` at ``end``, as PyTorch's
    ``CosineAnnealingLR(T_max=T, eta_min=final)`` stepped once per epoch.

    Attributes:
        initial: value before and at ``start`` (LR: > 0; noise std: >= 0).
        final: value after ``end`` (``eta_min``), ``0 <= final <= initial``.
        start: 1-indexed epoch at which the decay starts (1: from the first epoch).
        end: last 1-indexed epoch of the decay, ``end >= start``.
    """

    initial: float
    final: float
    start: int
    end: int

    def value(self, epoch: int) -> float:
        """The value in 1-indexed ``epoch``."""
        if epoch <= self.start:
            return float(self.initial)
        if epoch > self.end:
            return float(self.final)
        t, period = epoch - self.start, self.end - self.start + 1
        return self.final + (self.initial - self.final) * (1 + math.cos(math.pi * t / period)) / 2

    @property
    def first_milestone(self) -> int | None:
        """``start + 1``, the first epoch below ``initial`` (``None`` if ``final == initial``)."""
        return self.start + 1 if self.final != self.initial else None

    def check_epochs(self, epochs: int, key: str, epochs_key: str) -> None:
        """The decay ends within the run (``end <= epochs``).

        Raises:
            ConfigError: ``<key>.end: <end> beyond <epochs_key> = <epochs>``.
        """
        if self.end > epochs:
            raise ConfigError(f"{key}.end: {self.end} beyond {epochs_key} = {epochs}")

    def as_dict(self) -> dict[str, Any]:
        """``{"form": "cosine", "initial", "final", "start", "end"}``."""
        return {"form": "cosine", "initial": self.initial, "final": self.final, "start": self.start, "end": self.end}


def from_config(cfg: Mapping[str, Any], key: str) -> Schedule:
    """Resolve a schedule entry of the config (``form`` plus its values), or a run config's :meth:`Schedule.as_dict`.

    ``key`` is the dotted config path, used in error messages.

    Raises:
        ConfigError: unknown form; milestones and factors of unequal length
            or not strictly increasing; milestones given with a named form
            or with ``cosine``; ``rate`` missing for ``step_early``;
            ``end`` missing, ``end < start`` or ``final > initial`` for
            ``cosine``; a key of another form (``rate``, ``start``, ``end``,
            ``final``: :data:`FORM_ONLY_KEYS`), which would be ignored.
    """
    form = cfg.get("form", "piecewise")
    initial = float(cfg["initial"])
    for name, forms in FORM_ONLY_KEYS.items():
        if name in cfg and form not in forms:
            raise ConfigError(f"{key}.{name}: used only by form {' or '.join(forms)}, and this schedule's form is "
                              f"{form!r} (set form: {forms[0]}, or remove {name})")
    if form == "cosine":
        return _cosine(cfg, key, initial)
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
    _no_milestones(cfg, key, form)
    milestones, factors = NAMED_FORMS[form]
    if factors is None:
        if "rate" not in cfg:
            raise ConfigError(f"{key}.rate: required by form {form!r}")
        factors = (float(cfg["rate"]),) * len(milestones)
    return PiecewiseConstant(initial, milestones, factors)


def _no_milestones(cfg: Mapping[str, Any], key: str, form: str) -> None:
    given = [name for name in ("milestones", "factors") if cfg.get(name)]
    if not given:
        return
    what = (f"form {form!r} has no milestones (its decay is set by start and end)" if form == "cosine"
            else f"form {form!r} fixes its milestones and factors")
    raise ConfigError(f"{key}.{given[0]}: {what}; set milestones: [] and factors: [] (a --configfile layer over a "
                      f"piecewise schedule keeps its milestones), or use form 'piecewise' to set them")


def _cosine(cfg: Mapping[str, Any], key: str, initial: float) -> Cosine:
    _no_milestones(cfg, key, "cosine")
    if "end" not in cfg:
        raise ConfigError(f"{key}.end: required by form 'cosine' (the last epoch of the decay)")
    start, end, final = int(cfg.get("start", 1)), int(cfg["end"]), float(cfg.get("final", 0.0))
    if end < start:
        raise ConfigError(f"{key}.end: expected an epoch >= start ({start}), got {end}")
    if not 0 <= final <= initial:
        raise ConfigError(f"{key}.final: expected a value in [0, initial = {initial:g}], got {final:g}")
    return Cosine(initial, final, start, end)


#: The largest finite float32: parameters, gradients and the optimizer's step are float32.
FLOAT32_MAX = 3.4028234663852886e38


def _float32(value: float) -> float:
    """``value`` rounded to float32 (what the optimizer applies), with Python's float only."""
    return struct.unpack("f", struct.pack("f", value))[0]


def check_values(sched: Schedule, epochs: int, key: str, *, positive: bool) -> None:
    """Every value the schedule takes in epochs 1..``epochs`` is a finite float32 (and > 0 if ``positive``).

    A larger LR or noise std cannot be applied to float32 parameters: torch
    raises ``value cannot be converted to type float without overflow``
    inside the optimizer step, mid-run. An LR of 0 in float32 (a cosine
    decayed to ``final: 0`` before the last epoch, an LR below about 1e-45,
    or factors whose product underflows) would stop training without a
    word: the weights would never change.

    Raises:
        ConfigError: naming the key, the epoch and the value.
    """
    for epoch in range(1, epochs + 1):
        value = sched.value(epoch)
        if not value <= FLOAT32_MAX:
            raise ConfigError(f"{key}: the value from epoch {epoch} is {value:g}, beyond the float32 maximum "
                              f"{FLOAT32_MAX:.4g} (training is in float32)")
        if positive and not _float32(value) > 0:
            raise ConfigError(f"{key}: the learning rate in epoch {epoch} is {value:g}, 0 in float32; expected > 0 "
                              f"in every epoch (an LR of 0 stops training)")
