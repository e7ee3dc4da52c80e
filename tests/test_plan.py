"""Tests of lrorder.plan: config checks, resolved run configs, anneal epoch and claim specs.

The config is built as Snakemake builds it: ``config.yaml``, then each
``--configfile`` deep-merged over it (``snakemake.utils.update_config``),
then validated against ``workflow/schemas/config.schema.yaml`` with defaults
filled (``snakemake.utils.validate``, absolute schema path).
"""

from __future__ import annotations


import pytest
from jsonschema.exceptions import ValidationError
from snakemake.exceptions import WorkflowError

from lrorder import plan, train
from lrorder.errors import ConfigError

from configs import load_config

def schedules_override(**schedules) -> dict:
    return {"studies": {"synthetic": {"schedules": schedules}}}


@pytest.fixture(scope="module")
def smoke() -> dict:
    return load_config()


@pytest.fixture(scope="module")
def default() -> dict:
    return load_config(preset=None)


# --------------------------------------------------------------------------- shipped configs


def test_shipped_configs_pass_check_config(smoke: dict, default: dict) -> None:
    plan.check_config(smoke)
    plan.check_config(default)
    assert smoke["tag"] == "smoke"
    assert default["tag"] == "default"


def test_smoke_preset_merged_over_config(smoke: dict) -> None:
    s = smoke["studies"]["synthetic"]
    assert s["data"] == {"n_train": 200, "n_test": 400, "p_only": 0.2, "q_only": 0.2, "p_dim": 40, "p_margin": 0.03,
                         "p_noise": 2.0, "q_dim": 4, "q_norm": 20.0, "q_offset": 6.0, "q_alpha_min": 1.0}
    assert s["training"]["epochs"] == 6
    assert s["training"]["weight_decay"] == 1e-4  # from config.yaml, not overridden
    assert s["seeds"] == [0, 1]
    assert sorted(s["schedules"]) == ["large_lr", "small_lr", "small_lr_noise"]


def test_data_params(smoke: dict) -> None:
    params = plan.data_params(smoke, "synthetic")
    assert params == smoke["studies"]["synthetic"]["data"]
    params["n_train"] = -1  # a copy
    assert smoke["studies"]["synthetic"]["data"]["n_train"] == 200
    from lrorder.data.synthetic import SyntheticParams

    assert SyntheticParams(**plan.data_params(smoke, "synthetic")).p_dim == 40


# --------------------------------------------------------------------------- run_config


def test_run_config_contents(smoke: dict) -> None:
    rc = plan.run_config(smoke, "synthetic", "large_lr", 1)
    assert rc == {
        "study": "synthetic",
        "kind": "synthetic",
        "schedule": "large_lr",
        "seed": 1,
        "model": {"name": "two_layer", "width": 16, "activation": "leaky_relu", "negative_slope": 0.1,
                  "split_at": None, "noise_shared_over_batch": False},
        "training": {"epochs": 6, "batch_size": 50, "eval_batch_size": 1024, "momentum": 0.0, "nesterov": False,
                     "weight_decay": 1e-4, "device": "cpu"},
        "lr": {"initial": 1.0, "milestones": [4], "factors": [0.05]},
        "preact_noise": {"initial": 0.0, "milestones": [], "factors": []},
        "grad_noise": {"initial": 0.0, "milestones": [], "factors": []},
    }


def test_run_config_noise_schedule(smoke: dict) -> None:
    rc = plan.run_config(smoke, "synthetic", "small_lr_noise", "3")
    assert rc["seed"] == 3 and isinstance(rc["seed"], int)
    assert rc["lr"] == {"initial": 0.05, "milestones": [], "factors": []}
    assert rc["preact_noise"] == {"initial": 1.0, "milestones": [4], "factors": [0.0]}


def test_run_config_has_every_key_train_needs(smoke: dict) -> None:
    rc = plan.run_config(smoke, "synthetic", "small_lr", 0)
    for key in ("study", "kind", "schedule", "seed", "model", "training", "lr", "preact_noise", "grad_noise"):
        assert key in rc
    assert rc["kind"] in train.KINDS
    assert set(plan.STUDY_KINDS.values()) == set(train.KINDS)
    assert rc["model"].keys() == {"name", "width", "activation", "negative_slope", "split_at",
                                  "noise_shared_over_batch"}


def test_run_config_split_sets_split_at_to_p_dim() -> None:
    config = load_config({"studies": {"synthetic": {"model": {"split": True, "activation": "leaky_relu"}}}})
    rc = plan.run_config(config, "synthetic", "large_lr", 0)
    assert rc["model"]["split_at"] == 40
    assert "split" not in rc["model"]
    assert rc["model"]["activation"] == "leaky_relu"


def test_run_config_resolves_named_forms() -> None:
    config = load_config(
        {"studies": {"synthetic": {"training": {"epochs": 40}}}},
        schedules_override(
            large_lr={"lr": {"form": "decay_early", "initial": 0.1, "milestones": [], "factors": []}},
            small_lr={"lr": {"form": "fixed", "initial": 0.004}},
            small_lr_noise={"lr": {"form": "fixed", "initial": 0.004, "milestones": [], "factors": []},
                            "preact_noise": {"form": "step_early", "initial": 0.4, "rate": 1e-5, "milestones": [],
                                             "factors": []}},
        ),
    )
    plan.check_config(config)
    assert plan.run_config(config, "synthetic", "large_lr", 0)["lr"] == {
        "initial": 0.1, "milestones": [30], "factors": [0.04]}
    assert plan.run_config(config, "synthetic", "small_lr", 0)["lr"] == {
        "initial": 0.004, "milestones": [], "factors": []}
    assert plan.run_config(config, "synthetic", "small_lr_noise", 0)["preact_noise"] == {
        "initial": 0.4, "milestones": [30], "factors": [1e-5]}
    assert plan.anneal_epoch(config, "synthetic") == 30


def test_run_config_is_a_copy(smoke: dict) -> None:
    rc = plan.run_config(smoke, "synthetic", "large_lr", 0)
    rc["training"]["epochs"] = 999
    rc["model"]["width"] = 2
    assert smoke["studies"]["synthetic"]["training"]["epochs"] == 6
    assert smoke["studies"]["synthetic"]["model"]["width"] == 16
    assert "split" in smoke["studies"]["synthetic"]["model"]


def test_run_config_unknown_schedule(smoke: dict) -> None:
    with pytest.raises(ConfigError) as exc:
        plan.run_config(smoke, "synthetic", "huge_lr", 0)
    assert str(exc.value) == "studies.synthetic.schedules: no schedule named 'huge_lr'"


def test_run_config_differs_by_seed_and_schedule(smoke: dict) -> None:
    from lrorder import fileio

    hashes = {fileio.json_hash(plan.run_config(smoke, "synthetic", s, seed))
              for s in ("large_lr", "small_lr") for seed in (0, 1)}
    assert len(hashes) == 4
    assert fileio.json_hash(plan.run_config(smoke, "synthetic", "large_lr", 0)) == fileio.json_hash(
        plan.run_config(load_config(), "synthetic", "large_lr", 0))


# --------------------------------------------------------------------------- anneal_epoch, claim_specs


def test_anneal_epoch(smoke: dict, default: dict) -> None:
    assert plan.anneal_epoch(smoke, "synthetic") == 4
    assert plan.anneal_epoch(default, "synthetic") == 100
    never = load_config({"studies": {"synthetic": {"claims": {"large": "small_lr"}}}})
    assert plan.anneal_epoch(never, "synthetic") is None


def test_claim_specs(smoke: dict) -> None:
    specs = plan.claim_specs(smoke, "synthetic")
    assert [s["id"] for s in specs] == ["5a", "5b", "4"]
    a, b, c = specs
    assert (a["test"], a["a"], a["b"], a["eval_set"]) == ("epochs_to_threshold", "small_lr", "large_lr", "test_q_only")
    assert a["threshold"] == 0.95 and a["min_effect"] == 1
    assert (b["test"], b["a"], b["b"], b["eval_set"], b["epoch"]) == ("gap", "large_lr", "small_lr", "test_p_only",
                                                                      "final")
    assert b["min_effect"] == 0.01
    assert (c["test"], c["a"], c["b"], c["reference"], c["eval_set"], c["epoch"]) == (
        "gap", "small_lr_noise", "small_lr", "large_lr", "test_p_only", "final")
    assert c["min_effect"] == 0.01
    assert all(s["description"] for s in specs)
    assert {s["eval_set"] for s in specs} <= set(plan.EVAL_SETS["synthetic"])


def test_claim_specs_noise_optional_and_thresholds() -> None:
    config = load_config({"studies": {"synthetic": {"claims": {"noise": None, "q_threshold": 0.9, "min_effect": 0.02,
                                                               "min_effect_epochs": 3}}}})
    plan.check_config(config)
    specs = plan.claim_specs(config, "synthetic")
    assert [s["id"] for s in specs] == ["5a", "5b"]
    assert specs[0]["threshold"] == 0.9 and specs[0]["min_effect"] == 3
    assert specs[1]["min_effect"] == 0.02


def test_claim_roles_swapped() -> None:
    config = load_config({"studies": {"synthetic": {"claims": {"large": "small_lr", "small": "large_lr"}}}})
    spec = plan.claim_specs(config, "synthetic")[1]
    assert (spec["a"], spec["b"]) == ("small_lr", "large_lr")


# --------------------------------------------------------------------------- check_config errors


@pytest.mark.parametrize("role", ["large", "small", "noise"])
def test_claim_role_unknown_schedule(role: str) -> None:
    config = load_config({"studies": {"synthetic": {"claims": {role: "missing_lr"}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == (f"studies.synthetic.claims.{role}: unknown schedule 'missing_lr' "
                              "(defined: large_lr, small_lr, small_lr_noise)")


def test_lr_milestone_beyond_epochs() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"milestones": [7], "factors": [0.05]}}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.synthetic.schedules.large_lr.lr.milestones: [7] beyond "
                              "studies.synthetic.training.epochs = 6")


def test_noise_milestone_beyond_epochs() -> None:
    config = load_config(schedules_override(small_lr_noise={"preact_noise": {"milestones": [2, 10],
                                                                             "factors": [0.5, 0.0]}}))
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.schedules\.small_lr_noise\.preact_noise\.milestones: "
                                          r"\[10\] beyond"):
        plan.check_config(config)


def test_grad_noise_milestone_beyond_epochs() -> None:
    config = load_config(schedules_override(small_lr={"grad_noise": {"initial": 0.1, "milestones": [50],
                                                                     "factors": [0.0]}}))
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.schedules\.small_lr\.grad_noise\.milestones"):
        plan.check_config(config)


def test_milestone_at_last_epoch_is_allowed() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"milestones": [6], "factors": [0.05]}}))
    plan.check_config(config)
    assert plan.anneal_epoch(config, "synthetic") == 6


def test_factors_milestones_length_mismatch() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"milestones": [2, 4], "factors": [0.05]}}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.synthetic.schedules.large_lr.lr.factors: expected one factor per milestone "
                              "(2 milestones, 1 factors)")


def test_named_form_with_milestones_names_key() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"form": "default", "milestones": [4],
                                                             "factors": [0.05]}}))
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.schedules\.large_lr\.lr: form 'default'"):
        plan.check_config(config)


def test_step_early_without_rate_names_key() -> None:
    config = load_config(
        {"studies": {"synthetic": {"training": {"epochs": 40}}}},
        schedules_override(large_lr={"lr": {"milestones": [30]}},
                           small_lr_noise={"preact_noise": {"form": "step_early", "milestones": [], "factors": []}}),
    )
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == "studies.synthetic.schedules.small_lr_noise.preact_noise.rate: required by form 'step_early'"


def test_split_with_odd_width() -> None:
    config = load_config({"studies": {"synthetic": {"model": {"split": True, "width": 15}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == "studies.synthetic.model.width: must be even when model.split is true"


# --------------------------------------------------------------------------- schema + validation_message


def schema_error(*overrides: dict) -> ValidationError:
    with pytest.raises(WorkflowError) as exc:
        load_config(*overrides)
    # WorkflowError flattens its args to text; the ValidationError is the context
    # (what workflow/rules/common.smk reads)
    cause = exc.value.__context__
    assert isinstance(cause, ValidationError)
    return cause


def test_validation_message_names_dotted_key() -> None:
    err = schema_error({"studies": {"synthetic": {"training": {"epochs": 0}}}})
    assert plan.validation_message(err) == "studies.synthetic.training.epochs: 0 is less than the minimum of 1"


def test_validation_message_unknown_key() -> None:
    err = schema_error({"studies": {"synthetic": {"model": {"widht": 8}}}})
    msg = plan.validation_message(err)
    assert msg.startswith("studies.synthetic.model: ")
    assert "widht" in msg


def test_patch_seed_is_rejected() -> None:
    # the patch is drawn per run seed (data/patch/<dataset>/seed<k>/): a patch seed would mean nothing
    err = schema_error({"studies": {"patch": {"patch": {"seed": 0}}}})
    assert plan.validation_message(err) == (
        "studies.patch.patch: Additional properties are not allowed ('seed' was unexpected)")


def test_patch_params_are_the_patch_fields(smoke: dict) -> None:
    params = plan.patch_params(smoke, "patch")
    assert params == {"size": 7, "z_scale": 1.25, "zeta_range": 0.5, "patched_fraction": 0.8,
                      "patch_only_prob": 0.2, "patch_only_scale": 1.75, "n_patch_only": 100}
    params["size"] = 3  # a copy
    assert smoke["studies"]["patch"]["patch"]["size"] == 7


def test_validation_message_top_level() -> None:
    err = schema_error({"colour": "red"})
    assert plan.validation_message(err).startswith("<top level>: ")


def test_schema_defaults_filled(smoke: dict) -> None:
    s = smoke["studies"]["synthetic"]
    assert s["model"]["name"] == "two_layer" and s["model"]["split"] is False
    assert s["training"]["device"] == "cpu" and s["training"]["nesterov"] is False
    assert s["claims"]["q_threshold"] == 0.95
    assert s["claims"]["min_effect_epochs"] == 1
    assert s["schedules"]["small_lr"]["grad_noise"]["initial"] == 0
    assert s["schedules"]["large_lr"]["lr"]["form"] == "piecewise"


def test_study_kinds_and_eval_sets() -> None:
    assert plan.STUDY_KINDS == {"synthetic": "synthetic", "clean": "image", "patch": "patch"}
    assert plan.EVAL_SETS["patch"] == ["test_clean", "test_patched", "patch_only"]
    assert plan.EVAL_SETS["synthetic"] == ["test", "test_p_only", "test_q_only", "test_both"]


def test_train_modules_follow_kind_and_model(smoke: dict) -> None:
    synthetic = plan.train_modules(smoke, "synthetic")
    patch = plan.train_modules(smoke, "patch")
    assert "models/two_layer.py" in synthetic and "data/patch.py" not in synthetic
    assert {"data/patch.py", "data/pipeline.py", "models/small_cnn.py"} <= set(patch)
    assert "models/two_layer.py" not in patch
    assert len(patch) == len(set(patch))


def test_check_finite_names_nested_key() -> None:
    plan.check_finite({"a": {"b": [1.0, 2, "x"]}, "c": True})
    with pytest.raises(ConfigError, match=r"^a\.b\.1: expected a finite number, got -inf$"):
        plan.check_finite({"a": {"b": [1.0, float("-inf")]}})
    with pytest.raises(ConfigError, match=r"^<top level>: expected a finite number, got nan$"):
        plan.check_finite(float("nan"))


def test_train_priority_longest_runs_first() -> None:
    assert plan.train_priority("patch") > plan.train_priority("clean") > plan.train_priority("synthetic")
    assert set(plan.TRAIN_PRIORITY) == set(plan.STUDY_KINDS.values())
