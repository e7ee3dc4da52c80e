"""Tests of lrorder.plan: config checks, resolved run configs, anneal epoch, roles and claim specs.

The config is built as Snakemake builds it: ``config.yaml``, then each
``--configfile`` deep-merged over it (``snakemake.utils.update_config``),
then validated against ``workflow/schemas/config.schema.yaml`` with defaults
filled (``snakemake.utils.validate``, absolute schema path).
"""

from __future__ import annotations

import ast
import copy
import re

import pytest
from jsonschema.exceptions import ValidationError

from lrorder import claims, plan, study_kinds
from lrorder.errors import ConfigError

#: The synthetic study's pattern-reliance sets, scored like every set (lrorder.study_data).
RELIANCE = ("train_both_p_alone", "train_both_q_alone", "test_both_p_alone", "test_both_q_alone")

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
        "training": {"epochs": 6, "batch_size": 50, "eval_batch_size": 1024, "eval_every": 4, "momentum": 0.0,
                     "nesterov": False, "weight_decay": 1e-4, "device": "cpu", "cpu_kernels": "native",
                     "two_step_eval": ["test_q_only"]},
        # every set before the anneal (3), every 4th epoch and the last; 5a's [1, 1] on the two-step Q-only set,
        # 5b's and 4's [5, 6] on P-only
        "evaluation": {"sets": {"test": [3, 4, 6], "test_p_only": [3, 4, 5, 6], "test_q_only": [3, 4, 6],
                                "test_both": [3, 4, 6], **{name: [3, 4, 6] for name in RELIANCE},
                                "test_q_only_two_step": [1, 3, 4, 6]}},
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
    for key in ("study", "kind", "schedule", "seed", "model", "training", "evaluation", "lr", "preact_noise",
                "grad_noise"):
        assert key in rc
    assert rc["kind"] == "synthetic" and plan.run_config(smoke, "patch", "large_lr", 0)["kind"] == "patch"
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


@pytest.mark.parametrize("study", ["synthetic", "clean", "patch"])
def test_checkpoint_cadence_is_not_part_of_the_run_config(smoke: dict, study: str) -> None:
    # The run config is the train rule's params: a change in it reruns the run.
    cadence = load_config({"studies": {study: {"training": {"checkpoint_every": 7, "checkpoint_minutes": 45}}}})
    assert cadence["studies"][study]["training"]["checkpoint_every"] == 7
    for schedule, seed in plan.study_runs(smoke, study) + plan.pre_anneal_runs(smoke, study):
        rc = plan.run_config(smoke, study, schedule, seed)
        assert plan.run_config(cadence, study, schedule, seed) == rc
        assert not set(plan.TRAIN_RESOURCE_KEYS) & set(rc["training"])


def test_a_run_config_holds_exactly_the_training_keys_training_requires(smoke: dict) -> None:
    """What the planner writes (``run_config``) and what ``lrorder.train`` requires (``schema.run_config_defaults``)
    are one list: every training key with a schema default but the job resources."""
    from lrorder import schema

    for study in smoke["studies"]:
        pointer = plan.study_kind(smoke, study).training_schema
        schedule, seed = plan.study_runs(smoke, study)[0]
        keys = set(plan.run_config(smoke, study, schedule, seed)["training"])
        assert keys == set(schema.run_config_defaults(pointer)), study
        assert "checkpoint_every" not in keys and "epochs" in keys


def test_checkpoint_cadence_keys_are_in_both_training_schemas() -> None:
    schema = plan.load_schema()
    synthetic = schema["$defs"]["synthetic_study"]["properties"]["training"]["properties"]
    image = schema["$defs"]["image_training"]["properties"]
    for props in (synthetic, image):
        assert (props["checkpoint_every"]["default"], props["checkpoint_every"]["minimum"]) == (1, 1)
        assert (props["checkpoint_minutes"]["default"], props["checkpoint_minutes"]["minimum"]) == (0, 0)
        assert set(plan.TRAIN_RESOURCE_KEYS) <= set(props)


@pytest.mark.parametrize("override, message", [
    ({"checkpoint_every": 0}, "checkpoint_every: 0 is less than the minimum of 1"),
    ({"checkpoint_minutes": -1}, "checkpoint_minutes: -1 is less than the minimum of 0"),
    ({"checkpoint_minutes": 0.5}, "checkpoint_minutes: 0.5 is not of type 'integer'"),
])
def test_checkpoint_cadence_errors_name_the_key(override: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^studies.clean.training.{re.escape(message)}"):
        load_config({"studies": {"clean": {"training": override}}})


def test_train_resources_follow_the_device_and_the_checkpoint_cadence(smoke: dict) -> None:
    # smoke: synthetic trains on the CPU (schema default cpu), clean and patch on auto.
    assert smoke["studies"]["clean"]["training"]["device"] == "auto"
    for study in ("synthetic", "clean", "patch"):
        assert plan.train_resources(smoke, study) == {"gpu": 0, "checkpoint_every": 1, "checkpoint_minutes": 0}
    cuda = load_config({"studies": {
        "clean": {"training": {"device": "cuda", "checkpoint_every": 10, "checkpoint_minutes": 30}},
        "synthetic": {"training": {"device": "cuda"}},
        "patch": {"training": {"device": "cpu", "checkpoint_every": 3}},
    }})
    assert plan.train_resources(cuda, "clean") == {"gpu": 1, "checkpoint_every": 10, "checkpoint_minutes": 30}
    assert plan.train_resources(cuda, "synthetic") == {"gpu": 1, "checkpoint_every": 1, "checkpoint_minutes": 0}
    assert plan.train_resources(cuda, "patch") == {"gpu": 0, "checkpoint_every": 3, "checkpoint_minutes": 0}


# --------------------------------------------------------------------------- anneal_epoch, claim_specs


def test_anneal_epoch(smoke: dict, default: dict) -> None:
    assert plan.anneal_epoch(smoke, "synthetic") == 4
    assert plan.anneal_epoch(default, "synthetic") == 100
    never = load_config({"studies": {"synthetic": {"roles": {"large": "small_lr", "small": "large_lr"}}}})
    assert plan.anneal_epoch(never, "synthetic") is None


def test_claim_specs(smoke: dict) -> None:
    specs = plan.claim_specs(smoke, "synthetic")
    assert [s["id"] for s in specs] == ["5a", "5b", "4"]
    a, b, c = specs
    assert a == {"id": "5a", "description": a["description"], "eval_set": "test_q_only_two_step", "summary": "auc",
                 "window": [1, 1], "contrast": "difference", "a": "small_lr", "b": "large_lr",
                 "direction": "greater", "min_effect": 0.05, "scale": "absolute", "test": "t",
                 "alpha": 0.05, "min_seeds": 3, "seeds": [0, 1]}
    assert (b["summary"], b["a"], b["b"], b["eval_set"], b["window"]) == (
        "mean", "large_lr", "small_lr", "test_p_only", [5, 6])  # smoke: [end-1, end] of 6 epochs
    assert (c["contrast"], c["a"], c["b"], c["reference"], c["fraction"], c["window"]) == (
        "ratio", "small_lr_noise", "small_lr", "large_lr", 0.5, [5, 6])
    assert all(s["description"] for s in specs)
    assert {s["eval_set"] for s in specs} <= {*study_kinds.KINDS["synthetic"].eval_sets, "test_q_only_two_step"}


def test_default_claims_resolve_on_the_default_study(default: dict) -> None:
    got = {study: {s["id"]: s["window"] for s in plan.claim_specs(default, study)} for study in default["studies"]}
    assert got == {
        "synthetic": {"5a": [1, 10], "5b": [191, 200], "4": [191, 200]},
        "clean": {"1": [10, 14], "2": [16, 20]},  # anneal at 15 of 20 epochs
        "patch": {"2": [16, 20], "3a": [1, 20], "3b": [10, 14], "3c": [10, 14], "3d": [10, 14], "4": [16, 20]},
    }
    patch = {s["id"]: s for s in plan.claim_specs(default, "patch")}
    assert (patch["2"]["scale"], patch["2"]["min_effect"]) == ("relative_error", 0.1)
    assert (patch["3a"]["summary"], patch["3a"]["threshold"], patch["3a"]["a"], patch["3a"]["b"]) == (
        "first_passage", 0.7, "large_lr", "small_lr")
    assert (patch["3c"]["contrast"], patch["3c"]["a"], patch["3c"]["level"], patch["3c"]["direction"]) == (
        "level", "small_lr", 0.8, "greater")
    assert (patch["3b"]["summary"], patch["3b"]["a"], patch["3b"]["b"]) == ("mean", "small_lr", "large_lr")
    assert (patch["3d"]["a"], patch["3d"]["level"], patch["3d"]["direction"]) == ("large_lr", 0.2, "less")
    # the claims read before the anneal (window ending at 14) also read the pre-anneal seeds
    seeds, extra = default["studies"]["patch"]["seeds"], default["studies"]["patch"]["pre_anneal_seeds"]
    assert extra and not set(seeds) & set(extra)
    assert {cid: spec["seeds"] for cid, spec in patch.items()} == {
        "2": seeds, "3a": seeds, "3b": seeds + extra, "3c": seeds + extra, "3d": seeds + extra, "4": seeds}
    assert (patch["4"]["a"], patch["4"]["reference"]) == ("act_noise", "large_lr")


@pytest.mark.parametrize("preset", ["smoke", None, "long", "paper"])
def test_shipped_specs_pass_the_claims_schema(preset: str | None) -> None:
    config = load_config(preset=preset)
    for study in config["studies"]:
        for spec in plan.claim_specs(config, study):
            claims.validate_spec(spec)


def test_claim_spec_schema_is_the_config_schemas_claim_record_resolved() -> None:
    schema = plan.load_schema()
    record = schema["$defs"]["claim"]
    assert claims.SPEC_SCHEMA["allOf"] == record["allOf"] and len(record["allOf"]) == 5
    assert set(schema["$defs"]["claim_entry"]["properties"]) == set(record["properties"])
    assert set(claims.SPEC_SCHEMA["properties"]) == set(record["properties"]) | {"id", "alpha", "min_seeds", "seeds"}
    assert record["properties"]["summary"]["enum"] == list(claims.SUMMARIES)
    assert record["properties"]["contrast"]["enum"] == list(claims.CONTRASTS)
    assert set(schema["$defs"]["default_claims"]) - {"description"} == set(study_kinds.KINDS)


# --------------------------------------------------------------------------- pre-anneal seeds


def pre_anneal(seeds=(0, 1), extra=(2, 3), **study) -> dict:
    """The smoke config with the patch study's seeds and pre-anneal seeds set (anneal at epoch 3 of 4)."""
    return load_config({"studies": {"patch": {"seeds": list(seeds), "pre_anneal_seeds": list(extra), **study}}})


def test_pre_anneal_runs_train_the_schedules_their_claims_read_up_to_the_anneal() -> None:
    config = pre_anneal()
    assert plan.study_runs(config, "patch") == [(s, seed) for s in ("large_lr", "small_lr", "act_noise")
                                                for seed in (0, 1)]
    # claims 3b-3d (window [1, 2], before the anneal at 3) read large_lr and small_lr; act_noise only
    # appears in claim 4, after the anneal
    assert plan.pre_anneal_schedules(config, "patch") == ["large_lr", "small_lr"]
    assert plan.pre_anneal_runs(config, "patch") == [("large_lr", 2), ("large_lr", 3), ("small_lr", 2),
                                                     ("small_lr", 3)]
    assert plan.run_config(config, "patch", "small_lr", 2)["training"]["epochs"] == 2
    assert plan.run_config(config, "patch", "small_lr", 1)["training"]["epochs"] == 4
    specs = {s["id"]: s["seeds"] for s in plan.claim_specs(config, "patch")}
    assert specs == {"2": [0, 1], "3a": [0, 1], "3b": [0, 1, 2, 3], "3c": [0, 1, 2, 3], "3d": [0, 1, 2, 3],
                     "4": [0, 1]}
    smoke = load_config()
    assert plan.pre_anneal_runs(smoke, "clean") == [] and plan.pre_anneal_schedules(smoke, "clean") == []



def test_evaluation_scores_every_set_every_kth_epoch_and_each_claims_set_over_its_window():
    config = load_config({"studies": {"synthetic": {"training": {"epochs": 12, "eval_every": 5},
                                                    "claims": {"5a": {"window": [2, 3]}, "5b": {"window": ["end-1", "end"]},
                                                               "4": {"window": [7, 7]}}}}})
    plan_ = plan.evaluation(config, "synthetic", 0)
    # every set: epochs 5 and 10 (eval_every), 3 (before the anneal at 4) and 12 (the last); besides, 5a's
    # window [2, 3] on test_q_only_two_step, 4's [7, 7] and 5b's [11, 12] on test_p_only
    base = [3, 5, 10, 12]
    assert plan_ == {"sets": {"test": base, "test_p_only": [3, 5, 7, 10, 11, 12], "test_q_only": base,
                              "test_both": base, **{name: base for name in RELIANCE},
                              "test_q_only_two_step": [2, 3, 5, 10, 12]}}
    assert plan.run_config(config, "synthetic", "large_lr", 0)["evaluation"] == plan_
    every = load_config()  # eval_every 1 (the default): every epoch
    assert plan.evaluation(every, "clean", 1) == {"sets": {"test": [1, 2, 3, 4]}}



def test_pre_anneal_run_scores_only_its_claims_sets_and_windows():
    config = pre_anneal(claims={"3b": {"window": [2, 2]}, "3c": {"window": [2, 2]}, "3d": {"window": [1, 1]}})
    assert plan.evaluation(config, "patch", 2) == {"sets": {"patch_only": [1, 2]}}
    # a full run (eval_every 2, from config.yaml): every set at 2 (also the epoch before the anneal at 3) and 4
    # (the last); test_clean over claims 2's and 4's window [3, 4], patch_only over 3a's [1, 4]
    assert plan.evaluation(config, "patch", 0) == {"sets": {"test_clean": [2, 3, 4], "test_patched": [2, 4],
                                                            "patch_only": [1, 2, 3, 4], "train_patch_removed": [2, 4],
                                                            "train_other_patch": [2, 4]}}
    reads_clean = pre_anneal(claims={"3b": {"window": [1, 1], "eval_set": "test_clean"}, "3c": {"window": [1, 1]},
                                     "3d": {"window": [1, 1]}})
    assert plan.evaluation(reads_clean, "patch", 3) == {"sets": {"test_clean": [1, 2], "patch_only": [1, 2]}}

@pytest.mark.parametrize("override, message", [
    ({"extra": (1, 2)}, "studies.patch.pre_anneal_seeds: seed 1 is also in studies.patch.seeds; expected disjoint"),
    ({"roles": {"large": "small_lr", "small": "large_lr", "noise": None},
      "claims": {cid: {"window": [1, 2]} for cid in ("3b", "3c", "3d")}},
     "studies.patch.pre_anneal_seeds: schedule 'small_lr' (roles.large) never anneals"),
    ({"claims": {"3b": None, "3c": None, "3d": None}},
     "studies.patch.pre_anneal_seeds: no claim of the study has a window ending before the first anneal (epoch 3)"),
])
def test_pre_anneal_seeds_errors_name_the_key(override: dict, message: str) -> None:
    config = pre_anneal(**override)
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan.check_config(config)


def test_claim_override_merges_field_by_field() -> None:
    config = load_config({"studies": {"patch": {"claims": {"2": {"min_effect": 0.2}, "3d": None}}}})
    specs = {s["id"]: s for s in plan.claim_specs(config, "patch")}
    assert list(specs) == ["2", "3a", "3b", "3c", "4"]
    assert specs["2"]["min_effect"] == 0.2
    assert (specs["2"]["scale"], specs["2"]["window"], specs["2"]["eval_set"]) == ("relative_error", [3, 4], "test_clean")


def test_new_claim_and_integer_id() -> None:
    new = {"description": "small LR has higher train accuracy early", "eval_set": "train", "summary": "median",
           "window": [1, "anneal-1"], "contrast": "difference", "a": "small", "b": "large", "direction": "greater",
           "test": "wilcoxon"}
    config = load_config({"studies": {"clean": {"claims": {"early": new, 2: {"min_effect": 0.3}},
                                                "verdict": {"alpha": 0.01, "min_seeds": 5}}}}, preset=None)
    plan.check_config(config)
    specs = {s["id"]: s for s in plan.claim_specs(config, "clean")}
    assert list(specs) == ["1", "2", "early"]
    assert specs["2"]["min_effect"] == 0.3  # the YAML integer 2 is claim "2"
    assert specs["early"]["window"] == [1, 14] and specs["early"]["min_effect"] == 0  # schema default
    # the smoke preset already sets claim "2" (as text): the integer 2 would give it twice
    with pytest.raises(ConfigError, match=r"^studies\.clean\.claims\.2: claim id given twice"):
        plan.check_config(load_config({"studies": {"clean": {"claims": {2: {"min_effect": 0.3}}}}}))
    assert (specs["early"]["test"], specs["early"]["a"]) == ("wilcoxon", "small_lr")
    assert {(s["alpha"], s["min_seeds"]) for s in specs.values()} == {(0.01, 5)}


def test_noise_claims_dropped_without_noise_role(default: dict) -> None:
    config = load_config({"studies": {"synthetic": {"roles": {"noise": None}},
                                      "patch": {"roles": {"noise": None}}}})
    plan.check_config(config)
    assert [s["id"] for s in plan.claim_specs(config, "synthetic")] == ["5a", "5b"]
    assert [s["id"] for s in plan.claim_specs(config, "patch")] == ["2", "3a", "3b", "3c", "3d"]


def test_added_claim_on_a_null_role_is_an_error() -> None:
    """Regression: a claim the study adds on the noise role was silently dropped when roles.noise is null."""
    added = {"description": "noise beats small", "eval_set": "test_clean", "summary": "mean", "window": [1, "end"],
             "contrast": "difference", "a": "noise", "b": "small", "direction": "greater"}
    config = load_config({"studies": {"patch": {"roles": {"noise": None}, "claims": {"extra": added}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.patch.claims.extra: uses role 'noise', but studies.patch.roles.noise is null "
                              "(set it to a schedule of the study, or use another role)")


def test_claim_on_a_two_step_set(smoke: dict) -> None:
    config = copy.deepcopy(smoke)
    config["studies"]["synthetic"]["training"]["two_step_eval"] = ["test_q_only"]
    config["studies"]["synthetic"]["claims"]["5a"] = {"window": [1, "end"], "eval_set": "test_q_only_two_step"}
    assert plan.claim_specs(config, "synthetic")[0]["eval_set"] == "test_q_only_two_step"
    config["studies"]["synthetic"]["claims"]["5a"]["eval_set"] = "test_p_only_two_step"
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.claims\.5a\.eval_set: 'test_p_only_two_step' is not"):
        plan.claim_specs(config, "synthetic")


def test_claim_roles_swapped() -> None:
    config = load_config({"studies": {"clean": {"roles": {"large": "small_lr", "small": "large_lr"}}}})
    spec = plan.claim_specs(config, "clean")[1]
    assert (spec["a"], spec["b"]) == ("small_lr", "large_lr")


CLAIM_ERRORS = {
    "wrong type": ({"2": {"min_effect": "big"}}, "studies.patch.claims.2.min_effect: 'big' is not of type 'number'"),
    "negative min_effect": ({"2": {"min_effect": -0.1}},
                            "studies.patch.claims.2.min_effect: -0.1 is less than the minimum of 0"),
    "unused key": ({"2": {"threshold": 0.5}},
                   "studies.patch.claims.2.threshold: not allowed (threshold: required by summary first_passage, "
                   "used by no other summary)"),
    "relative error on epochs": (
        {"3a": {"scale": "relative_error"}},
        "studies.patch.claims.3a.summary: 'first_passage' is not one of ['mean', 'median', 'max', 'auc'] "
        "(scale relative_error: only with contrast difference and an accuracy summary (mean, median, max, auc))"),
    "level with b": ({"3c": {"b": "large"}}, "studies.patch.claims.3c.b: not allowed (contrast level compares a "
                                             "with a fixed level (no b, reference or fraction))"),
    "unknown role": ({"2": {"a": "huge"}}, "studies.patch.claims.2.a: 'huge' is not one of ['large', 'small', 'noise']"),
    "same role twice": ({"2": {"b": "large"}},
                        "studies.patch.claims.2: a, b and reference must name different roles, got large, large"),
    "new id, partial record": ({"9": {"min_effect": 0.2}},
                               "studies.patch.claims.9: the patch kind has no claim '9' (its claims: 2, 3a, 3b, 3c, "
                               "3d, 4), so this is a new claim and needs a full record: 'description' is a required "
                               "property"),
    "claim of another kind": ({"5a": {"window": [1, 2]}},
                              "studies.patch.claims.5a: the patch kind has no claim '5a' (its claims: 2, 3a, 3b, 3c, "
                              "3d, 4), so this is a new claim and needs a full record"),
    "float epoch": ({"2": {"window": [25.0, "end"]}}, "studies.patch.claims.2.window.0: 25.0 is not valid under any"),
    "bad anchor": ({"2": {"window": ["start", "end"]}},
                   "studies.patch.claims.2.window.0: 'start' does not match '^(anneal|end)([+-][0-9]+)?$'"),
    "window past the end": ({"2": {"window": ["end-1", "end+1"]}},
                            "studies.patch.claims.2.window: ['end-1', 'end+1'] resolves to [3, 5]; "
                            "expected 1 <= lo <= hi <= training.epochs = 4"),
    "window before epoch 1": ({"3b": {"window": ["anneal-5", "anneal-1"]}},
                              "studies.patch.claims.3b.window: ['anneal-5', 'anneal-1'] resolves to [-2, 2]"),
    "window reversed": ({"2": {"window": [4, 3]}}, "studies.patch.claims.2.window: [4, 3] resolves to [4, 3]"),
    "null for no default claim": ({"5a": None}, "studies.patch.claims.5a: null drops a default claim, but the patch "
                                                "kind has none with this id (its claims: 2, 3a, 3b, 3c, 3d, 4)"),
    "eval_set of another kind": ({"2": {"eval_set": "test"}},
                                 "studies.patch.claims.2.eval_set: 'test' is not an evaluation set of the patch study "
                                 "(have: train, test_clean, test_patched, patch_only, train_patch_removed, "
                                 "train_other_patch)"),
}


@pytest.mark.parametrize("name", list(CLAIM_ERRORS))
def test_claim_errors_name_the_key(name: str) -> None:
    entries, message = CLAIM_ERRORS[name]
    config = load_config({"studies": {"patch": {"claims": entries}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_anneal_window_without_anneal_says_set_null() -> None:
    never = {"large_lr": {"lr": {"milestones": [], "factors": []}}}
    config = load_config({"studies": {"patch": {"schedules": never}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.patch.claims.3b.window: uses anneal, but schedule 'large_lr' (roles.large) "
                              "never anneals; set studies.patch.claims.3b to null")
    config = load_config({"studies": {"patch": {"schedules": never, "pre_anneal_seeds": [],
                                                "claims": {"3b": None, "3c": None, "3d": None}}}})
    plan.check_config(config)
    assert [s["id"] for s in plan.claim_specs(config, "patch")] == ["2", "3a", "4"]


# --------------------------------------------------------------------------- check_config errors


@pytest.mark.parametrize("role", ["large", "small", "noise"])
def test_role_unknown_schedule(role: str) -> None:
    config = load_config({"studies": {"synthetic": {"roles": {role: "missing_lr"}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == (f"studies.synthetic.roles.{role}: unknown schedule 'missing_lr' "
                              "(defined: large_lr, small_lr, small_lr_noise)")


def test_roles_must_differ() -> None:
    config = load_config({"studies": {"synthetic": {"roles": {"noise": "small_lr"}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == "studies.synthetic.roles.noise: must differ from roles.small ('small_lr')"


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


@pytest.mark.parametrize("lr, key_epoch", [({"initial": 1.0e+39}, 1),
                                            ({"initial": 1.0, "milestones": [4], "factors": [1.0e+39]}, 4)])
def test_lr_beyond_float32_is_a_config_error(lr, key_epoch) -> None:
    # regression: 1.0e+39 passed the plan and crashed inside the optimizer step with a traceback
    config = load_config(schedules_override(large_lr={"lr": lr}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == (f"studies.synthetic.schedules.large_lr.lr: the value from epoch {key_epoch} is 1e+39, "
                              "beyond the float32 maximum 3.403e+38 (training is in float32)")


def test_lr_at_the_float32_maximum_is_allowed() -> None:
    plan.check_config(load_config(schedules_override(large_lr={"lr": {"initial": 3.0e+38}})))


def test_grad_noise_milestone_beyond_epochs() -> None:
    config = load_config(schedules_override(small_lr={"grad_noise": {"initial": 0.1, "milestones": [50],
                                                                     "factors": [0.0]}}))
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.schedules\.small_lr\.grad_noise\.milestones"):
        plan.check_config(config)


def test_milestone_at_last_epoch_is_allowed() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"milestones": [6], "factors": [0.05]}}))
    plan.check_config(config)
    assert plan.anneal_epoch(config, "synthetic") == 6


COSINE_LR = {"form": "cosine", "initial": 0.5, "final": 0.0, "start": 1, "end": 6, "milestones": [], "factors": []}


def test_cosine_lr_reaches_the_run_config_as_declared_and_anneals_from_epoch_two() -> None:
    config = load_config(schedules_override(large_lr={"lr": COSINE_LR}))
    plan.check_config(config)
    rc = plan.run_config(config, "synthetic", "large_lr", 0)
    assert rc["lr"] == {"form": "cosine", "initial": 0.5, "final": 0.0, "start": 1, "end": 6}
    assert plan.anneal_epoch(config, "synthetic") == 2
    assert plan.run_config(config, "synthetic", "small_lr", 0)["lr"] == {"initial": 0.05, "milestones": [],
                                                                           "factors": []}


def test_cosine_lr_ending_before_the_run_at_zero_is_a_config_error() -> None:
    config = load_config(schedules_override(large_lr={"lr": {**COSINE_LR, "end": 4}}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.synthetic.schedules.large_lr.lr: the learning rate in epoch 5 is 0, 0 in float32; "
                              "expected > 0 in every epoch (an LR of 0 stops training)")
    noise = load_config(schedules_override(small_lr_noise={"preact_noise": {**COSINE_LR, "end": 4}}))
    plan.check_config(noise)  # a noise std of 0 turns the noise off: allowed


def test_cosine_end_beyond_epochs_names_the_key() -> None:
    config = load_config(schedules_override(large_lr={"lr": {**COSINE_LR, "end": 7}}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == "studies.synthetic.schedules.large_lr.lr.end: 7 beyond studies.synthetic.training.epochs = 6"


def test_factors_milestones_length_mismatch() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"milestones": [2, 4], "factors": [0.05]}}))
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.synthetic.schedules.large_lr.lr.factors: expected one factor per milestone "
                              "(2 milestones, 1 factors)")


def test_named_form_with_milestones_names_key() -> None:
    config = load_config(schedules_override(large_lr={"lr": {"form": "default", "milestones": [4],
                                                             "factors": [0.05]}}))
    with pytest.raises(ConfigError, match=r"^studies\.synthetic\.schedules\.large_lr\.lr\.milestones: form 'default'"):
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
    with pytest.raises(ConfigError) as exc:
        load_config(*overrides)
    # the ValidationError behind Snakemake's WorkflowError (what workflow/rules/common.smk reads)
    cause = exc.value.__cause__
    assert isinstance(cause, ValidationError)
    assert str(exc.value) == plan.validation_message(cause)
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
    # the patch is drawn per run seed (data/<study>/<dataset>/seed<k>/): a patch seed would mean nothing
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
    assert s["roles"] == {"large": "large_lr", "small": "small_lr", "noise": "small_lr_noise"}
    assert s["verdict"] == {"alpha": 0.05, "min_seeds": 3}
    assert smoke["studies"]["clean"]["roles"]["noise"] is None
    assert s["schedules"]["small_lr"]["grad_noise"]["initial"] == 0
    assert s["schedules"]["large_lr"]["lr"]["form"] == "piecewise"


def test_each_study_has_the_kind_its_config_names(default: dict) -> None:
    assert {study: plan.study_kind(default, study).name for study in default["studies"]} == {
        "synthetic": "synthetic", "clean": "image", "patch": "patch"}
    assert plan.patch_studies(default) == ["patch"]
    assert plan.studies_reading(default, "image_data") == ["clean", "patch"]
    assert plan.studies_reading(default, "synthetic_data") == ["synthetic"]


def test_study_and_schedule_names_differing_only_in_case_are_refused(smoke: dict) -> None:
    config = copy.deepcopy(smoke)
    config["studies"]["Synthetic"] = copy.deepcopy(config["studies"]["synthetic"])
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.Synthetic: differs from studies.synthetic only in case; the two would share "
                              "files on a case-insensitive file system; pick another name")
    config = copy.deepcopy(smoke)
    schedules = config["studies"]["clean"]["schedules"]
    schedules["Small_LR"] = copy.deepcopy(schedules["small_lr"])
    with pytest.raises(ConfigError, match=r"^studies\.clean\.schedules\.Small_LR: differs from "
                                          r"studies\.clean\.schedules\.small_lr only in case"):
        plan.check_config(config)


def test_the_reserved_study_name_is_refused_in_any_case(smoke: dict) -> None:
    """Regression: ``Images`` was accepted, and is the image datasets' folder on a case-insensitive file system."""
    config = copy.deepcopy(smoke)
    config["studies"]["Images"] = copy.deepcopy(config["studies"]["clean"])
    with pytest.raises(ConfigError, match=r"^studies\.Images: this study name is taken by the image datasets' folder"):
        plan.check_config(config)


def test_an_image_study_without_model_training_or_dataset_takes_the_schemas_defaults() -> None:
    """Regression: the README's example of a CIFAR-10 study (no model, no training) ended in KeyError 'training':
    the image kinds' sub-objects had no default of their own, so Snakemake never created them."""
    config = load_config({"studies": {"cifar": {
        "kind": "image", "schedules": {"large": {"lr": {"initial": 0.1, "milestones": [150], "factors": [0.1]}},
                                       "small": {"lr": {"initial": 0.01}}},
        "seeds": [0], "roles": {"large": "large", "small": "small"}}}})
    study = config["studies"]["cifar"]
    assert study["dataset"]["name"] == "mnist5k" and study["model"]["widths"] == [32, 64, 128]
    assert study["training"]["epochs"] == 200 and study["training"]["bn_eval"] == "recalibrated"
    plan.check_config(config)


def test_split_settings_on_an_official_split_are_refused() -> None:
    config = load_config({"studies": {"clean": {"dataset": {"name": "cifar10", "test_fraction": 0.3}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == ("studies.clean.dataset.test_fraction: cifar10 has an official train/test split and "
                              "takes no test_fraction (it applies to mnist5k); remove the key")
    config = load_config({"studies": {"clean": {"dataset": {"name": "fashion_mnist", "split_seed": 4}}}})
    with pytest.raises(ConfigError, match=r"^studies\.clean\.dataset\.split_seed: fashion_mnist has an official"):
        plan.check_config(config)


def test_studies_sharing_a_dataset_compare_only_the_split_settings_it_takes(smoke: dict) -> None:
    # the schema's defaults fill test_fraction / split_seed on every dataset entry; cifar10 takes neither,
    # so two cifar10 studies agree whatever else differs
    config = load_config({"studies": {"clean": {"dataset": {"name": "cifar10"}},
                                      "patch": {"dataset": {"name": "cifar10", "split_seed": 0}}}})
    plan._check_shared_datasets(config)
    config = load_config({"studies": {"patch": {"dataset": {"split_seed": 3}}}})
    with pytest.raises(ConfigError) as exc:
        plan.check_config(config)
    assert str(exc.value) == (
        "studies.patch.dataset: split settings {'test_fraction': 0.2, 'split_seed': 3} differ from "
        "studies.clean.dataset's {'test_fraction': 0.2, 'split_seed': 0} for the same dataset 'mnist5k'; use the "
        "same split settings")


def test_the_schemas_kinds_are_the_records() -> None:
    schema = plan.load_schema()["$defs"]
    assert schema["study"]["properties"]["kind"]["enum"] == list(study_kinds.KINDS)
    assert schema["run_config"]["properties"]["kind"]["enum"] == list(study_kinds.KINDS)
    branches = {rule["if"]["properties"]["kind"]["const"]: rule["then"]["$ref"] for rule in schema["study"]["allOf"]}
    assert set(branches) == set(study_kinds.KINDS)
    for kind, ref in branches.items():
        assert schema[ref.rsplit("/", 1)[1]]["properties"]["kind"] == {"const": kind}
    for kind in study_kinds.KINDS.values():
        assert "properties" in plan.load_schema()["$defs"][kind.training_schema.split("/")[2]]


def test_train_modules_follow_kind_and_model(smoke: dict) -> None:
    synthetic = plan.train_modules(smoke, "synthetic")
    patch = plan.train_modules(smoke, "patch")
    assert "models/two_layer.py" in synthetic and "data/patch.py" not in synthetic
    assert {"data/patch.py", "data/patch_params.py", "data/patch_batches.py", "data/pipeline.py",
            "models/small_cnn.py"} <= set(patch)
    assert "models/two_layer.py" not in patch
    assert len(patch) == len(set(patch))


#: Package modules that never decide a step's outputs (messages, files, config checks, provenance): never hashed.
PLUMBING = {"cli", "devices", "errors", "fileio", "manifest", "params", "plan", "provenance", "schema", "study_kinds",
            "yaml_files"}


def test_listed_modules_list_the_package_modules_they_import(smoke: dict) -> None:
    """A module a step hashes brings every package module it imports but plumbing (data/patch.py: patch_params;
    train.py: sgd.py).

    Regression: train.py's optimizer module (sgd.py) was not hashed, so editing it reran no training job.
    Not a full import closure on purpose: ``study_data.py`` imports every
    kind's data module, and a run hashes only its own kind's
    (:func:`lrorder.plan.train_modules`); ``models/__init__.py`` imports every model, and a run hashes its own.
    """

    def path(name: str) -> str:
        return f"{name.replace('.', '/')}.py" if "." in name else (
            f"{name}/__init__.py" if (plan.PACKAGE_DIR / name).is_dir() else f"{name}.py")

    def imports(module: str) -> set[str]:
        tree = ast.parse((plan.PACKAGE_DIR / module).read_text())
        found = set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lrorder"):
                continue
            package = node.module.removeprefix("lrorder").removeprefix(".")
            for alias in node.names:  # a name that is a module of the package is that module, else the package
                sub = f"{package}.{alias.name}" if package else alias.name
                is_module = (plan.PACKAGE_DIR / f"{sub.replace('.', '/')}.py").exists() or \
                    (plan.PACKAGE_DIR / sub.replace(".", "/")).is_dir()
                found.add(sub if is_module else package)
        return {path(name) for name in found if name not in PLUMBING}

    lists = {**plan.STEP_MODULES, **{f"train/{study}": plan.train_modules(smoke, study) for study in smoke["studies"]}}
    for step, modules in lists.items():
        for module in (m for m in modules if m not in ("study_data.py", "models/__init__.py")):
            if step in ("figures", "maps", "curvature_table") and module == "figures.py":
                continue  # its patch imports are lazy, for the patch_examples step (checked there)
            if step == "fetch_dataset" and module == "data/mnist5k.py":
                continue  # its seeded split is built by image_data, which hashes seeding.py
            assert imports(module) <= set(modules), (step, module)
    assert "sgd.py" in plan.STEP_MODULES["train"]
    assert "data/patch_params.py" in plan.STEP_MODULES["patch_data"]
    assert {"data/patch_params.py", "data/patch_batches.py", "data/pipeline.py"} <= set(plan.STEP_MODULES["patch_examples"])
    assert all("columns.py" in plan.STEP_MODULES[step] for step in ("train", "aggregate", "claims", "figures"))


def test_check_finite_names_nested_key() -> None:
    plan.check_finite({"a": {"b": [1.0, 2, "x"]}, "c": True})
    with pytest.raises(ConfigError, match=r"^a\.b\.1: expected a finite number, got -inf$"):
        plan.check_finite({"a": {"b": [1.0, float("-inf")]}})
    with pytest.raises(ConfigError, match=r"^<top level>: expected a finite number, got nan$"):
        plan.check_finite(float("nan"))


def test_train_priority_longest_runs_first(default: dict) -> None:
    priorities = [plan.train_priority(default, study) for study in ("patch", "clean", "synthetic")]
    assert priorities == [2, 1, 0]


def test_figure_sets_add_the_two_step_panels(default: dict) -> None:
    """Regression: the synthetic figure lacked the two-step curve that claim 5a reads."""
    assert plan.figure_sets(default, "synthetic") == ["test", "test_p_only", "test_q_only", "test_both",
                                                      "test_q_only_two_step"]
    assert plan.figure_sets(default, "clean") == ["train", "test"]


# --------------------------------------------------------------------------- values that depend on the data


@pytest.mark.parametrize("override, message", [
    ({"studies": {"patch": {"patch": {"size": 40}}}},
     "studies.patch.patch.size: 40 does not fit the 28x28 images of mnist5k (expected <= 28)"),
    ({"studies": {"synthetic": {"training": {"batch_size": 500}}}},
     "studies.synthetic.training.batch_size: 500 exceeds the 200 training examples of "
     "studies.synthetic.data.n_train (expected <= 200)"),
    ({"studies": {"clean": {"training": {"batch_size": 4001}}}},
     "studies.clean.training.batch_size: 4001 exceeds the 4000 training images of mnist5k (expected <= 4000)"),
    ({"studies": {"patch": {"training": {"bn_recalibration_examples": 5000}}}},
     "studies.patch.training.bn_recalibration_examples: 5000 exceeds the 4000 training images of mnist5k "
     "(expected <= 4000)"),
    ({"studies": {"clean": {"dataset": {"test_fraction": 0.9}}, "patch": {"dataset": {"test_fraction": 0.9}}}},
     "studies.clean.training.bn_recalibration_examples: 1024 exceeds the 500 training images of mnist5k "
     "(expected <= 500)"),
    ({"studies": {"clean": {"model": {"widths": [8, 8, 8, 8, 8, 8]}}}},
     "studies.clean.model.widths: 6 stages (a 2x2 max-pool between two) do not fit the 28x28 images of mnist5k "
     "(expected <= 5)"),
    ({"studies": {"clean": {"dataset": {"test_fraction": 0.0005}}, "patch": {"dataset": {"test_fraction": 0.0005}}}},
     "studies.clean.dataset.test_fraction: 0.0005 leaves a class of 500 images of mnist5k with an empty train "
     "or test part (expected 0.001 < test_fraction < 0.999)"),
])
def test_check_config_values_that_depend_on_the_data(override: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        plan.check_config(load_config(override))
    assert str(exc.value) == message


def test_check_config_data_limits_accept_the_edges() -> None:
    plan.check_config(load_config({"studies": {
        "synthetic": {"training": {"batch_size": 200}},
        "clean": {"training": {"batch_size": 4000, "bn_recalibration_examples": 4000},
                  "model": {"widths": [8, 8, 8, 8, 8]}},
        "patch": {"patch": {"size": 28}, "training": {"bn_eval": "running", "bn_recalibration_examples": 9999}},
    }}))
    assert plan.image_split_sizes(load_config(), "clean") == (4000, 1000)


def test_image_dataset_registry_matches_the_data() -> None:
    import numpy as np
    import torch

    from lrorder.data import images, mnist5k
    from lrorder.models.small_cnn import SmallCNN

    x, y = mnist5k.read()
    assert x.shape[1:] == images.DATASETS["mnist5k"].image_shape == (28, 28, 1)
    assert tuple(np.bincount(y)) == images.DATASETS["mnist5k"].class_sizes == (500,) * 10
    for fraction in (0.2, 0.37):
        train_index, test_index = mnist5k.stratified_split(y, fraction, 0)
        config = load_config({"studies": {"clean": {"dataset": {"test_fraction": fraction}}}})
        assert plan.image_split_sizes(config, "clean") == (len(train_index), len(test_index))
    for width, stages in ((28, 5), (32, 6)):  # plan.check_dataset_limits: a small_cnn's stages per image side
        for n, fits in ((stages, True), (stages + 1, False)):
            model = SmallCNN(widths=[2] * n, in_channels=1, num_classes=10).eval()
            if fits:
                model(torch.zeros(2, 1, width, width))
            else:
                with pytest.raises(RuntimeError):
                    model(torch.zeros(2, 1, width, width))


# --------------------------------------------------------------------------- messages that say what to type


def test_number_given_for_text_names_what_was_typed() -> None:
    error = schema_error({"tag": 20240601})  # what Snakemake makes of --config tag=2024_06_01
    argv = ["snakemake", "--cores", "1", "--config", "tag=2024_06_01", "--configfile", "presets/smoke.yaml"]
    assert plan.validation_message(error, argv) == (
        "tag: 20240601 is not of type 'string' (--config tag=2024_06_01 was read as 20240601: Snakemake's --config "
        "turns a value that reads as a number or True/False into one, quoted or not; a --configfile layer with "
        "tag: \"2024_06_01\" works)")
    assert plan.validation_message(error, ["snakemake", "--config=tag=2024_06_01"]).startswith(
        "tag: 20240601 is not of type 'string' (--config tag=2024_06_01 was read as 20240601")
    assert plan.validation_message(error) == (
        "tag: 20240601 is not of type 'string' (read as 20240601, not text: YAML reads e.g. 2024_06_01 as the "
        "number 20240601 and --config turns such values into numbers; quote it in a --configfile layer: "
        "tag: \"...\")")


@pytest.mark.parametrize("text, hint", [
    ("1e-1", "write 1.0e-1"),
    ("5E3", "write 5.0e+3"),
    ("1.0e5", "write 1.0e+5"),
])
def test_float_without_point_gets_the_yaml_spelling(text: str, hint: str) -> None:
    error = schema_error({"studies": {"synthetic": {"training": {"weight_decay": text}}}})
    assert plan.validation_message(error) == (
        f"studies.synthetic.training.weight_decay: {text!r} is not of type 'number' (YAML read {text!r} as text: "
        f"a float in exponent notation needs a point and a signed exponent; {hint})")


def test_number_hints_for_integers_nested_config_values_and_claims() -> None:
    error = schema_error({"studies": {"synthetic": {"training": {"epochs": "1e2"}}}})
    assert plan.validation_message(error) == (
        "studies.synthetic.training.epochs: '1e2' is not of type 'integer' (YAML read '1e2' as text; write 100)")
    error = schema_error({"studies": {"synthetic": {"training": {"momentum": "0.5"}}}})  # --config 'studies={...}'
    assert plan.validation_message(error) == (
        "studies.synthetic.training.momentum: '0.5' is not of type 'number' (a number given as text: quoted, or "
        "nested in --config, whose nested values arrive as text; write it unquoted in a --configfile layer)")
    with pytest.raises(ConfigError) as exc:
        plan.check_config(load_config({"studies": {"synthetic": {"claims": {"5b": {"min_effect": "1e-2"}}}}}))
    assert str(exc.value) == (
        "studies.synthetic.claims.5b.min_effect: '1e-2' is not of type 'number' (YAML read '1e-2' as text: a float "
        "in exponent notation needs a point and a signed exponent; write 1.0e-2)")


# --------------------------------------------------------------------------- one spelling per number


def test_integer_and_float_spellings_give_the_same_params() -> None:
    import json

    def param(obj) -> str:  # json_param of workflow/rules/common.smk
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))

    ints = load_config({"studies": {
        "synthetic": {"training": {"momentum": 0}, "data": {"p_noise": 2}, "claims": {"5b": {"min_effect": 0}}},
        "patch": {"patch": {"z_scale": 2, "patched_fraction": 1}, "training": {"weight_decay": 0}},
        "clean": {"dataset": {"test_fraction": 0.2}, "verdict": {"alpha": 0.05}},
    }})
    floats = load_config({"studies": {
        "synthetic": {"training": {"momentum": 0.0}, "data": {"p_noise": 2.0}, "claims": {"5b": {"min_effect": 0.0}}},
        "patch": {"patch": {"z_scale": 2.0, "patched_fraction": 1.0}, "training": {"weight_decay": 0.0}},
    }})
    assert ints["studies"]["synthetic"]["training"]["momentum"] == 0  # as YAML read it
    rc = plan.run_config(ints, "synthetic", "small_lr", 0)
    assert param(rc["training"]) == ('{"batch_size":50,"cpu_kernels":"native","device":"cpu","epochs":6,'
                                     '"eval_batch_size":1024,"eval_every":4,'
                                     '"momentum":0.0,"nesterov":false,"two_step_eval":["test_q_only"],'
                                     '"weight_decay":0.0001}')
    for study, study_cfg in ints["studies"].items():
        for schedule in study_cfg["schedules"]:
            assert param(plan.run_config(ints, study, schedule, 1)) == param(plan.run_config(floats, study, schedule, 1))
        assert param(plan.claim_specs(ints, study)) == param(plan.claim_specs(floats, study))
    assert param(plan.data_params(ints, "synthetic")) == param(plan.data_params(floats, "synthetic"))
    assert plan.data_params(ints, "synthetic")["p_noise"] == 2.0
    assert param(plan.patch_params(ints, "patch")) == param(plan.patch_params(floats, "patch"))
    assert param(plan.image_split_params(ints, "clean")) == param(plan.image_split_params(floats, "clean"))
    assert ints["studies"]["synthetic"]["data"]["p_noise"] == 2  # the config itself is not changed


def test_canonical_numbers_follows_the_schema_types() -> None:
    schema = {"type": "object", "properties": {
        "n": {"type": "integer"}, "x": {"type": "number"}, "xs": {"type": "array", "items": {"$ref": "#/$defs/num"}},
        "either": {"type": ["integer", "number"]}, "flag": {"type": "boolean"}},
        "additionalProperties": {"type": "number"}, "$defs": {"num": {"type": "number"}}}
    value = {"n": 3, "x": 1, "xs": [1, 2.5], "either": 4, "flag": True, "extra": 7}
    assert plan.canonical_numbers(value, schema) == {"n": 3, "x": 1.0, "xs": [1.0, 2.5], "either": 4, "flag": True,
                                                    "extra": 7.0}
    out = plan.canonical_numbers(value, schema)
    assert isinstance(out["x"], float) and isinstance(out["n"], int) and out["flag"] is True
    assert value["x"] == 1 and isinstance(value["x"], int)  # a copy
