"""Plain-Python helpers of the Snakemake workflow: config checks, run configs, claim specs.

``workflow/rules/common.smk`` imports these; the tests import them without
running Snakemake. Nothing here reads Snakemake globals: every function takes
the (schema-validated, defaults-filled) config as an argument.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from jsonschema.exceptions import ValidationError

from lrorder import schedules
from lrorder.errors import ConfigError

#: Study name -> kind of study (the kind selects data generator and loader).
STUDY_KINDS = {"synthetic": "synthetic"}

#: Package modules whose code decides each step's outputs, relative to the
#: package folder. They are inputs of the step's rule, so editing one reruns
#: exactly the jobs whose results it can change (plumbing such as the CLI and
#: file helpers is left out on purpose).
STEP_MODULES = {
    "synthetic_data": ["data/synthetic.py", "seeding.py"],
    "train": ["train.py", "models/__init__.py", "models/noise.py", "models/two_layer.py", "schedules.py", "seeding.py"],
    "aggregate": ["aggregate.py", "stats.py"],
    "claims": ["claims.py", "stats.py"],
    "figures": ["figures.py", "stats.py"],
}

#: Evaluation sets each kind of study reports (metrics.csv ``eval_set``).
EVAL_SETS = {"synthetic": ["test", "test_p_only", "test_q_only", "test_both"]}


def validation_message(error: ValidationError) -> str:
    """One line naming the dotted config key and what is expected."""
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    return f"{key}: {error.message}"


def _schedule(config: Mapping[str, Any], study: str, name: str, part: str) -> schedules.PiecewiseConstant:
    cfg = config["studies"][study]["schedules"][name][part]
    return schedules.from_config(cfg, f"studies.{study}.schedules.{name}.{part}")


def check_config(config: Mapping[str, Any]) -> None:
    """Checks beyond the JSON Schema: schedule forms and lengths, milestones within
    the training epochs, claim roles naming defined schedules.

    Raises:
        ConfigError: naming the dotted key and what is expected.
    """
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
        for role in ("large", "small", "noise"):
            name = claims.get(role)
            if name is not None and name not in names:
                raise ConfigError(
                    f"studies.{study}.claims.{role}: unknown schedule {name!r} (defined: {', '.join(names)})"
                )
        if study_cfg["model"]["split"] and study_cfg["model"]["width"] % 2:
            raise ConfigError(f"studies.{study}.model.width: must be even when model.split is true")


def data_params(config: Mapping[str, Any], study: str) -> dict[str, Any]:
    """Parameters of the study's dataset generator (``SyntheticParams`` fields)."""
    return copy.deepcopy(dict(config["studies"][study]["data"]))


def run_config(config: Mapping[str, Any], study: str, schedule: str, seed: int) -> dict[str, Any]:
    """The resolved config of one run: everything the training step depends on.

    A run is rerun exactly when this changes (it is the training rule's
    ``params``), so it holds only what affects the run.
    """
    study_cfg = config["studies"][study]
    if schedule not in study_cfg["schedules"]:
        raise ConfigError(f"studies.{study}.schedules: no schedule named {schedule!r}")
    model = copy.deepcopy(dict(study_cfg["model"]))
    split = model.pop("split")
    model["split_at"] = study_cfg["data"]["p_dim"] if split else None
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


def claim_specs(config: Mapping[str, Any], study: str) -> list[dict[str, Any]]:
    """Claim specs of a study for :func:`lrorder.claims.check_claims` (paper.md section 4)."""
    claims = config["studies"][study]["claims"]
    large, small, noise = claims["large"], claims["small"], claims.get("noise")
    specs: list[dict[str, Any]] = [
        {
            "id": "5a",
            "description": "the small LR fits Q first: it reaches the Q-only test accuracy threshold in fewer epochs",
            "test": "epochs_to_threshold",
            "a": small,
            "b": large,
            "eval_set": "test_q_only",
            "threshold": claims["q_threshold"],
            "min_effect": claims["min_effect_epochs"],
        },
        {
            "id": "5b",
            "description": "the large LR (annealed) ends with higher P-only test accuracy than the small LR",
            "test": "gap",
            "a": large,
            "b": small,
            "eval_set": "test_p_only",
            "epoch": "final",
            "min_effect": claims["min_effect"],
        },
    ]
    if noise is not None:
        specs.append(
            {
                "id": "4",
                "description": "annealed pre-activation noise on the small LR recovers part of the P-only gap",
                "test": "gap",
                "a": noise,
                "b": small,
                "reference": large,
                "eval_set": "test_p_only",
                "epoch": "final",
                "min_effect": claims["min_effect"],
            }
        )
    return specs
