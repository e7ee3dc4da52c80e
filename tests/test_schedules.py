"""Tests of lrorder.schedules: piecewise-constant LR and noise schedules.

Source: ``docs/paper-notes.md``, "Schedules of the official code".
"""

from __future__ import annotations

import pytest

from lrorder.errors import ConfigError
from lrorder.schedules import FORMS, NAMED_FORMS, PiecewiseConstant, from_config


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
    assert FORMS == ("piecewise", "fixed", "default", "decay_early", "step_early")
    assert NAMED_FORMS["step_early"] == ((30,), None)


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
        from_config({"form": "cosine", "initial": 1.0}, "s.lr")
    assert str(exc.value).startswith("s.lr.form: unknown schedule form 'cosine'")
    assert "piecewise, fixed, default, decay_early, step_early" in str(exc.value)


@pytest.mark.parametrize("extra", [{"milestones": [5]}, {"factors": [0.5]}])
def test_named_form_with_milestones_names_key(extra: dict) -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "default", "initial": 1.0, **extra}, "s.lr")
    assert str(exc.value).startswith("s.lr: form 'default' fixes its milestones and factors")


def test_step_early_without_rate_names_key() -> None:
    with pytest.raises(ConfigError) as exc:
        from_config({"form": "step_early", "initial": 0.4}, "s.preact_noise")
    assert str(exc.value) == "s.preact_noise.rate: required by form 'step_early'"
