"""Tests of lrorder.schedules: piecewise-constant and cosine LR and noise schedules.

Source: ``docs/paper-notes.md``, "Schedules of the official code"; the
cosine form against PyTorch's ``CosineAnnealingLR``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from lrorder.errors import ConfigError
from lrorder.schedules import FORMS, NAMED_FORMS, Cosine, PiecewiseConstant, check_values, from_config

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def test_piecewise_value_before_at_after_milestones() -> None:
    s = PiecewiseConstant(1.0, (3, 5), (0.5, 0.1))
    assert [s.value(e) for e in range(1, 8)] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.05, 0.05, 0.05])
    assert s.value(2) == 1.0  # before: exactly the initial value
    assert s.value(3) == 0.5  # a milestone applies from its own (1-indexed) epoch on


def test_no_milestones_is_constant() -> None:
    s = PiecewiseConstant(0.3)
    assert [s.value(e) for e in (1, 10, 1000)] == [0.3, 0.3, 0.3]
    assert s.first_milestone is None


def test_factor_zero_turns_off() -> None:
    s = PiecewiseConstant(1.0, (100,), (0.0,))
    assert s.value(99) == 1.0
    assert s.value(100) == 0.0
    assert s.value(200) == 0.0


def test_official_default_form() -> None:
    # lr * 0.2^[e>=60] * 0.2^[e>=120] * 0.2^[e>=150], train_util.py
    s = from_config({"form": "default", "initial": 0.1}, "x.lr")
    assert s.milestones == (60, 120, 150)
    assert s.factors == (0.2, 0.2, 0.2)
    assert s.value(1) == 0.1
    assert s.value(59) == 0.1
    assert s.value(60) == pytest.approx(0.1 * 0.2)
    assert s.value(119) == pytest.approx(0.02)
    assert s.value(120) == pytest.approx(0.1 * 0.04)
    assert s.value(149) == pytest.approx(0.004)
    assert s.value(150) == pytest.approx(0.1 * 0.2**3)
    assert s.value(200) == pytest.approx(0.0008)
    assert s.first_milestone == 60


def test_decay_early_form() -> None:
    s = from_config({"form": "decay_early", "initial": 0.1}, "x.lr")
    assert (s.milestones, s.factors) == ((30,), (0.04,))
    assert s.value(29) == 0.1
    assert s.value(30) == pytest.approx(0.004)
    assert s.value(60) == pytest.approx(0.004)
    assert s.first_milestone == 30


def test_step_early_uses_rate() -> None:
    s = from_config({"form": "step_early", "initial": 0.4, "rate": 1e-5}, "x.preact_noise")
    assert (s.milestones, s.factors) == ((30,), (1e-5,))
    assert s.value(29) == 0.4
    assert s.value(30) == pytest.approx(4e-6)
    other = from_config({"form": "step_early", "initial": 0.4, "rate": 0.5}, "k")
    assert other.value(30) == pytest.approx(0.2)


def test_fixed_form() -> None:
    s = from_config({"form": "fixed", "initial": 0.004}, "x.lr")
    assert (s.milestones, s.factors) == ((), ())
    assert s.value(1) == s.value(60) == 0.004
    assert s.first_milestone is None


def test_piecewise_from_config_default_form() -> None:
    s = from_config({"initial": 1, "milestones": [100], "factors": [0.05]}, "x.lr")  # form defaults to piecewise
    assert s == PiecewiseConstant(1.0, (100,), (0.05,))
    assert isinstance(s.initial, float)
    assert s.value(99) == 1.0
    assert s.value(100) == pytest.approx(0.05)
    assert s.first_milestone == 100


def test_piecewise_empty_lists_and_explicit_form() -> None:
    s = from_config({"form": "piecewise", "initial": 0.05, "milestones": [], "factors": []}, "x")
    assert s == PiecewiseConstant(0.05)


def test_named_form_with_empty_lists_is_accepted() -> None:
    # the schema fills milestones: [] and factors: [] as defaults
    s = from_config({"form": "decay_early", "initial": 0.1, "milestones": [], "factors": []}, "x")
    assert s.milestones == (30,)


def test_as_dict() -> None:
    s = PiecewiseConstant(1.0, (4, 8), (0.5, 0.1))
    assert s.as_dict() == {"initial": 1.0, "milestones": [4, 8], "factors": [0.5, 0.1]}
    assert PiecewiseConstant(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.as_dict().items()}) == s


def test_named_forms_table() -> None:
    assert FORMS == ("piecewise", "fixed", "default", "decay_early", "step_early", "cosine")
    assert NAMED_FORMS["step_early"] == ((30,), None)


def test_schema_lists_the_forms_of_the_module_once() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    assert tuple(schema["$defs"]["schedule_form"]["enum"]) == FORMS
    for name in ("lr_schedule", "noise_schedule"):
        assert schema["$defs"][name]["properties"]["form"]["$ref"] == "#/$defs/schedule_form"


# --------------------------------------------------------------------------- cosine


def torch_cosine_lrs(initial: float, final: float, period: int, epochs: int) -> list[float]:
    """The LR of each epoch under ``CosineAnnealingLR(T_max=period, eta_min=final)`` stepped once per epoch."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=initial)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=period, eta_min=final)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(("initial", "final", "epochs"), [(0.1, 0.0, 10), (1.6, 0.016, 30), (0.05, 0.05, 4)])
def test_cosine_from_epoch_one_is_torchs_cosine_annealing(initial: float, final: float, epochs: int) -> None:
    s = from_config({"form": "cosine", "initial": initial, "final": final, "end": epochs}, "x.lr")
    assert s == Cosine(initial, final, 1, epochs)
    assert [s.value(e) for e in range(1, epochs + 1)] == pytest.approx(torch_cosine_lrs(initial, final, epochs, epochs),
                                                                       rel=1e-12, abs=1e-15)


def test_cosine_holds_before_start_and_after_end() -> None:
    s = from_config({"form": "cosine", "initial": 1.0, "final": 0.2, "start": 5, "end": 8, "milestones": [],
                     "factors": []}, "x.lr")
    assert [s.value(e) for e in (1, 4, 5)] == [1.0, 1.0, 1.0]
    # t = epoch - 5, T = 4: 0.2 + 0.8 * (1 + cos(pi t / 4)) / 2
    assert s.value(7) == pytest.approx(0.2 + 0.8 * (1 + math.cos(math.pi / 2)) / 2) == pytest.approx(0.6)
    assert s.value(8) == pytest.approx(0.2 + 0.4 * (1 + math.cos(3 * math.pi / 4)))
    assert [s.value(e) for e in (9, 50)] == [0.2, 0.2]
    assert s.first_milestone == 6
    assert Cosine(1.0, 1.0, 1, 5).first_milestone is None


def test_cosine_as_dict_round_trips() -> None:
    s = Cosine(0.4, 0.004, 3, 20)
    assert s.as_dict() == {"form": "cosine", "initial": 0.4, "final": 0.004, "start": 3, "end": 20}
    assert from_config(s.as_dict(), "x") == s


def test_check_epochs_names_the_key_of_each_form() -> None:
    with pytest.raises(ConfigError) as exc:
        Cosine(1.0, 0.0, 1, 31).check_epochs(30, "s.lr", "s.epochs")
    assert str(exc.value) == "s.lr.end: 31 beyond s.epochs = 30"
    with pytest.raises(ConfigError) as exc:
        PiecewiseConstant(1.0, (10, 40), (0.1, 0.1)).check_epochs(30, "s.lr", "s.epochs")
    assert str(exc.value) == "s.lr.milestones: [40] beyond s.epochs = 30"
    Cosine(1.0, 0.0, 1, 30).check_epochs(30, "s.lr", "s.epochs")


@pytest.mark.parametrize(("cfg", "message"), [
    ({"initial": 1.0}, "s.lr.end: required by form 'cosine' (the last epoch of the decay)"),
    ({"initial": 1.0, "start": 5, "end": 4}, "s.lr.end: expected an epoch >= start (5), got 4"),
    ({"initial": 1.0, "final": 2.0, "end": 4}, "s.lr.final: expected a value in [0, initial = 1], got 2"),
    # regression: a cosine layered over a piecewise schedule keeps its milestones; the message said cosine "fixes" them
    ({"initial": 1.0, "end": 4, "milestones": [2]},
     "s.lr.milestones: form 'cosine' has no milestones (its decay is set by start and end); set milestones: [] and "
     "factors: [] (a --configfile layer over a piecewise schedule keeps its milestones), or use form 'piecewise' to "
     "set them"),
])
def test_cosine_errors_name_the_key(cfg: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "cosine", **cfg}, "s.lr")
    assert str(exc.value) == message


# --------------------------------------------------------------------------- errors


def test_length_mismatch_names_key() -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"initial": 1.0, "milestones": [10, 20], "factors": [0.1]}, "studies.s.schedules.a.lr")
    assert str(exc.value).startswith("studies.s.schedules.a.lr.factors: expected one factor per milestone")
    assert "2 milestones, 1 factors" in str(exc.value)


@pytest.mark.parametrize("milestones", [[20, 10], [10, 10]])
def test_not_increasing_names_key(milestones: list[int]) -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"initial": 1.0, "milestones": milestones, "factors": [0.1, 0.1]}, "s.lr")
    assert str(exc.value) == f"s.lr.milestones: expected strictly increasing epochs, got {milestones}"


def test_unknown_form_names_key() -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "linear", "initial": 1.0}, "s.lr")
    assert str(exc.value).startswith("s.lr.form: unknown schedule form 'linear'")
    assert "piecewise, fixed, default, decay_early, step_early, cosine" in str(exc.value)


@pytest.mark.parametrize("extra", [{"milestones": [5]}, {"factors": [0.5]}])
def test_named_form_with_milestones_names_key(extra: dict) -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "default", "initial": 1.0, **extra}, "s.lr")
    assert str(exc.value).startswith(f"s.lr.{next(iter(extra))}: form 'default' fixes its milestones and factors")


def test_step_early_without_rate_names_key() -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "step_early", "initial": 0.4}, "s.preact_noise")
    assert str(exc.value) == "s.preact_noise.rate: required by form 'step_early'"



@pytest.mark.parametrize(("cfg", "message"), [
    ({"initial": 0.1, "end": 4}, "lr.end: used only by form cosine, and this schedule's form is 'piecewise' "
                                 "(set form: cosine, or remove end)"),
    ({"form": "decay_early", "initial": 0.1, "rate": 0.5}, "lr.rate: used only by form step_early, and this "
                                                           "schedule's form is 'decay_early' (set form: step_early, "
                                                           "or remove rate)"),
    ({"form": "cosine", "initial": 0.1, "end": 4, "rate": 0.5}, "lr.rate: used only by form step_early"),
    ({"initial": 0.1, "milestones": [2], "factors": [0.1], "final": 0.0}, "lr.final: used only by form cosine"),
])
def test_a_key_of_another_form_is_refused(cfg: dict, message: str) -> None:
    """Regression: lr: {initial: 0.1, end: 4} without form: cosine planned as a constant LR, end ignored."""
    with pytest.raises(ConfigError) as err:
        from_config(cfg, "lr")
    assert str(err.value).startswith(message)


def test_an_lr_that_is_zero_in_float32_is_refused() -> None:
    """Regression: an LR of 1e-50 (or factors whose product underflows float32) passed as > 0 in float64, and the run
    trained nothing: SGD left the float32 weights unchanged."""
    with pytest.raises(ConfigError) as exc:
        check_values(from_config({"initial": 1.0e-50}, "s.lr"), 3, "s.lr", positive=True)
    assert str(exc.value) == ("s.lr: the learning rate in epoch 1 is 1e-50, 0 in float32; expected > 0 in every epoch "
                              "(an LR of 0 stops training)")
    underflow = from_config({"initial": 1.0, "milestones": [2, 3], "factors": [1.0e-30, 1.0e-30]}, "s.lr")
    with pytest.raises(ConfigError, match=r"^s\.lr: the learning rate in epoch 3 is 1e-60, 0 in float32"):
        check_values(underflow, 3, "s.lr", positive=True)
    check_values(from_config({"initial": 1.0e-40}, "s.lr"), 3, "s.lr", positive=True)  # a float32 subnormal: > 0
    check_values(from_config({"initial": 1.0e-50}, "s.noise"), 3, "s.noise", positive=False)  # noise 0: allowed
