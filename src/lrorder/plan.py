"""Plain-Python helpers of the Snakemake workflow: config checks, run configs, claim specs.

``workflow/rules/common.smk`` imports these; the tests import them without
running Snakemake. Nothing here reads Snakemake globals: every function takes
the (schema-validated, defaults-filled) config as an argument.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, Mapping

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from lrorder import schedules
from lrorder.data.patch import PatchParams
from lrorder.data.synthetic import SyntheticParams
from lrorder.errors import ConfigError

#: Study name -> kind of study (the kind selects data generator and loader).
STUDY_KINDS = {"synthetic": "synthetic", "clean": "image", "patch": "patch"}

#: Model config keys that belong to each model name (the others are dropped
#: from a run's config, so that they cannot trigger a rerun).
MODEL_KEYS = {
    "two_layer": ("name", "width", "activation", "negative_slope", "noise_shared_over_batch"),
    "small_cnn": ("name", "widths"),
    "wide_resnet": ("name", "depth", "widen_factor"),
}

#: Package modules whose code decides each step's outputs, relative to the
#: package folder. They are inputs of the step's rule, so editing one reruns
#: exactly the jobs whose results it can change (plumbing such as the CLI and
#: file helpers is left out on purpose).
STEP_MODULES = {
    "synthetic_data": ["data/synthetic.py", "seeding.py"],
    "fetch_cifar10": ["data/images.py"],
    "image_data": ["data/images.py", "seeding.py"],
    "patch_data": ["data/patch.py", "seeding.py"],
    "train": ["train.py", "study_data.py", "models/__init__.py", "models/noise.py", "schedules.py", "seeding.py"],
    "aggregate": ["aggregate.py", "stats.py"],
    "claims": ["claims.py", "stats.py"],
    "figures": ["figures.py", "stats.py"],
    "patch_examples": ["figures.py", "data/patch.py"],
    "provenance": ["provenance.py"],
    "report_tables": ["report_tables.py"],
}

#: Further modules a training run depends on, by kind of study and by model.
TRAIN_MODULES_BY_KIND = {
    "synthetic": ["data/synthetic.py"],
    "image": ["data/pipeline.py"],
    "patch": ["data/pipeline.py", "data/patch.py"],
}
TRAIN_MODULES_BY_MODEL = {
    "two_layer": ["models/two_layer.py"],
    "small_cnn": ["models/small_cnn.py", "models/wideresnet.py"],  # shares the official init
    "wide_resnet": ["models/wideresnet.py"],
}

#: Evaluation sets each kind of study reports (metrics.csv ``eval_set``).
EVAL_SETS = {
    "synthetic": ["test", "test_p_only", "test_q_only", "test_both"],
    "image": ["test"],
    "patch": ["test_clean", "test_patched", "patch_only"],
}

#: Scheduling priority of a training run by kind of study: longest runs first
#: (longest-processing-time order), so that short runs fill the cores at the
#: end instead of one long run finishing alone. Measured per run of the
#: default study on 2 cores: patch about 60 s, clean about 36 s, synthetic
#: about 12 s. Snakemake's ``priority`` only orders ready jobs; results do not
#: depend on it.
TRAIN_PRIORITY = {"patch": 2, "image": 1, "synthetic": 0}


def train_priority(study: str) -> int:
    """The ``train`` rule's priority for a run of ``study`` (:data:`TRAIN_PRIORITY`)."""
    return TRAIN_PRIORITY[STUDY_KINDS[study]]


#: Evaluation sets drawn in each kind's accuracy figure (Figure 1: train and test).
FIGURE_SETS = {
    "synthetic": EVAL_SETS["synthetic"],
    "image": ["train", "test"],
    "patch": EVAL_SETS["patch"],
}


def train_modules(config: Mapping[str, Any], study: str) -> list[str]:
    """Package modules whose code decides the runs of ``study`` (inputs of its training jobs)."""
    model = config["studies"][study]["model"]["name"]
    extra = TRAIN_MODULES_BY_KIND[STUDY_KINDS[study]] + TRAIN_MODULES_BY_MODEL[model]
    return STEP_MODULES["train"] + [m for m in dict.fromkeys(extra) if m not in STEP_MODULES["train"]]


def validation_message(error: ValidationError) -> str:
    """One line naming the dotted config key and what is expected."""
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    return f"{key}: {error.message}"


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


#: JSON Schema validator for which 16.0 is not an integer (JSON Schema's own
#: rule accepts it, and torch does not).
_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def check_integer_types(config: Mapping[str, Any], schema_path: str | os.PathLike) -> None:
    """Reject integral floats (``width: 16.0``, ``seeds: [0.0]``) where the schema asks for integers.

    Raises:
        ConfigError: naming the dotted key.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = next(iter(_StrictValidator(schema).iter_errors(config)), None)
    if error is not None:
        raise ConfigError(validation_message(error))


def _schedule(config: Mapping[str, Any], study: str, name: str, part: str) -> schedules.PiecewiseConstant:
    cfg = config["studies"][study]["schedules"][name][part]
    return schedules.from_config(cfg, f"studies.{study}.schedules.{name}.{part}")


def check_finite(value: Any, key: str = "") -> None:
    """Every number in ``value`` (nested mappings and lists) is finite.

    JSON Schema's ``number`` admits YAML's ``.nan`` and ``.inf``, which would
    pass every ``minimum`` check and train on NaN.

    Raises:
        ConfigError: naming the dotted key of the first NaN or infinity.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key or '<top level>'}: expected a finite number, got {value!r}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            check_finite(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, f"{key}.{i}")


def check_config(config: Mapping[str, Any]) -> None:
    """Checks beyond the JSON Schema: finite numbers, schedule forms and lengths,
    milestones within the training epochs, claim roles naming defined schedules.

    Raises:
        ConfigError: naming the dotted key and what is expected.
    """
    check_finite(config)
    for study, study_cfg in config["studies"].items():
        names = list(study_cfg["schedules"])
        epochs = study_cfg["training"]["epochs"]
        for name in names:
            for part in ("lr", "preact_noise", "grad_noise"):
                sched = _schedule(config, study, name, part)
                late = [m for m in sched.milestones if m > epochs]
                if late:
                    raise ConfigError(
                        f"studies.{study}.schedules.{name}.{part}.milestones: {late} beyond "
                        f"studies.{study}.training.epochs = {epochs}"
                    )
        claims = study_cfg["claims"]
        if claims["large"] == claims["small"]:
            raise ConfigError(f"studies.{study}.claims.small: must differ from claims.large ({claims['large']!r})")
        for role in ("large", "small", "noise"):
            name = claims.get(role)
            if name is not None and name not in names:
                raise ConfigError(
                    f"studies.{study}.claims.{role}: unknown schedule {name!r} (defined: {', '.join(names)})"
                )
        model = study_cfg["model"]
        if model.get("split") and model["width"] % 2:
            raise ConfigError(f"studies.{study}.model.width: must be even when model.split is true")
        if model["name"] == "wide_resnet" and (model["depth"] - 4) % 6:
            raise ConfigError(f"studies.{study}.model.depth: expected 6n + 4 (e.g. 16, 22, 28), got {model['depth']}")
        if "data" in study_cfg:
            _construct(SyntheticParams, study_cfg["data"], f"studies.{study}.data")
        if "patch" in study_cfg:
            _construct(PatchParams, study_cfg["patch"], f"studies.{study}.patch")
    _check_shared_datasets(config)


def _construct(cls: type, values: Mapping[str, Any], key: str) -> None:
    """Run the parameter class's own checks; their messages name the field, prefixed with ``key``'s study."""
    try:
        cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"studies.{key.split('.')[1]}.{exc}") from None


def _check_shared_datasets(config: Mapping[str, Any]) -> None:
    """Image studies naming the same dataset share its artifact, so their settings must agree."""
    seen: dict[str, tuple[str, Any]] = {}
    for study, study_cfg in config["studies"].items():
        if "dataset" not in study_cfg:
            continue
        dataset = study_cfg["dataset"]
        first = seen.setdefault(dataset["name"], (study, dataset))
        if first[1] != dataset:
            raise ConfigError(
                f"studies.{study}.dataset: differs from studies.{first[0]}.dataset for the same "
                f"dataset {dataset['name']!r}; use the same split settings"
            )


def data_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Parameters of the synthetic study's generator (``SyntheticParams`` fields)."""
    return copy.deepcopy(dict(config["studies"][study]["data"]))


def image_dataset(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """The image dataset entry of an image study (``name`` plus its split settings)."""
    return copy.deepcopy(dict(config["studies"][study]["dataset"]))


def image_split_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Split settings passed to ``lrorder.data.images build --params`` (none for cifar10)."""
    dataset = image_dataset(config, study)
    if dataset["name"] == "mnist5k":
        return {"test_fraction": dataset["test_fraction"], "split_seed": dataset["split_seed"]}
    return {}


def patch_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """``PatchParams`` fields of the patch study (the patch draw itself follows each run's seed)."""
    return copy.deepcopy(dict(config["studies"][study]["patch"]))


def run_config(config: Mapping[str, Any], study: str, schedule: str, seed: int) -> dict[str, Any]:
    """The resolved config of one run: everything the training step depends on.

    A run is rerun exactly when this changes (it is the training rule's
    ``params``), so it holds only what affects the run.
    """
    study_cfg = config["studies"][study]
    if schedule not in study_cfg["schedules"]:
        raise ConfigError(f"studies.{study}.schedules: no schedule named {schedule!r}")
    model = {key: copy.deepcopy(value) for key, value in study_cfg["model"].items()
             if key in MODEL_KEYS[study_cfg["model"]["name"]]}
    if STUDY_KINDS[study] == "synthetic":
        model["split_at"] = study_cfg["data"]["p_dim"] if study_cfg["model"]["split"] else None
    return {
        "study": study,
        "kind": STUDY_KINDS[study],
        "schedule": schedule,
        "seed": int(seed),
        "model": model,
        "training": copy.deepcopy(dict(study_cfg["training"])),
        **{part: _schedule(config, study, schedule, part).as_dict() for part in ("lr", "preact_noise", "grad_noise")},
    }


def anneal_epoch(config: Mapping[str, Any], study: str) -> int | None:
    """First milestone of the large-LR schedule's LR (``None`` if it never anneals)."""
    large = config["studies"][study]["claims"]["large"]
    return _schedule(config, study, large, "lr").first_milestone


def _gap(claim_id: str, description: str, a: str, b: str, eval_set: str, epoch: int | str,
         min_effect: float, reference: str | None = None) -> dict[str, Any]:
    spec = {"id": claim_id, "description": description, "test": "gap", "a": a, "b": b,
            "eval_set": eval_set, "epoch": epoch, "min_effect": min_effect}
    if reference is not None:
        spec["reference"] = reference
    return spec


def claim_specs(config: Mapping[str, Any], study: str) -> list[dict[str, Any]]:
    """Claim specs of a study for :func:`lrorder.claims.check_claims` (paper.md section 4).

    synthetic: claims 5a, 5b and 4; clean (Figure 1): claims 1 and 2; patch:
    claims 2, 3a, 3b and 4. Claim 4 only when the ``noise`` role is set; claims
    at "the last epoch before the first anneal" only when the large LR anneals.
    """
    claims = config["studies"][study]["claims"]
    large, small, noise = claims["large"], claims["small"], claims.get("noise")
    effect = claims["min_effect"]
    anneal = anneal_epoch(config, study)
    kind = STUDY_KINDS[study]
    specs: list[dict[str, Any]] = []
    if kind == "synthetic":
        specs.append({
            "id": "5a",
            "description": "the small LR fits Q first: its Q-only test accuracy settles above the threshold in fewer epochs",
            "test": "epochs_to_threshold", "a": small, "b": large, "eval_set": "test_q_only",
            "threshold": claims["q_threshold"], "min_effect": claims["min_effect_epochs"],
        })
        specs.append(_gap("5b", "the large LR (annealed) ends with higher P-only test accuracy than the small LR",
                          large, small, "test_p_only", "final", effect))
        test_set = "test_p_only"
    elif kind == "image":
        if anneal is not None and anneal > 1:
            specs.append(_gap("1", "before the first anneal, the small LR has higher test accuracy than the large LR",
                              small, large, "test", anneal - 1, effect))
        specs.append(_gap("2", "after training, the large LR (annealed) has higher test accuracy than the small LR",
                          large, small, "test", "final", effect))
        test_set = "test"
    else:
        specs.append(_gap("2", "after training, the large LR (annealed) has higher clean test accuracy than the small LR",
                          large, small, "test_clean", "final", effect))
        specs.append({
            "id": "3a",
            "description": "the small LR learns the patch first: its patch-only accuracy settles above the threshold in fewer epochs",
            "test": "epochs_to_threshold", "a": small, "b": large, "eval_set": "patch_only",
            "threshold": claims["patch_only_threshold"], "min_effect": 1,
        })
        if anneal is not None and anneal > 1:
            specs.append(_gap("3b", "before the first anneal, the small LR has higher patch-only accuracy than the large LR",
                              small, large, "patch_only", anneal - 1, effect))
        test_set = "test_clean"
    if noise is not None:
        specs.append(_gap("4", "pre-activation noise on the small LR recovers part of the gap to the large LR",
                          noise, small, test_set, "final", effect, reference=large))
    return specs
