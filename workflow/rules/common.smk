# Config validation, wildcard constraints and the functions that build paths
# and target lists. All logic lives in the lrorder package (lrorder.plan).
import json
import os
import sys

from jsonschema.exceptions import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lrorder import plan
from lrorder.errors import ConfigError

# Jobs call `python -m lrorder.<step>`: put this interpreter's folder first on
# PATH so that they find the environment Snakemake runs in (a conda env
# activated with --sdm conda still comes first).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

try:
    validate(config, "../schemas/config.schema.yaml")
    plan.check_config(config)
except WorkflowError as exc:
    cause = next((arg for arg in exc.args if isinstance(arg, ValidationError)), None)
    sys.exit(f"config error: {plan.validation_message(cause) if cause else exc}")
except ConfigError as exc:
    sys.exit(f"config error: {exc}")

TAG = config["tag"]
RESULTS = f"results/{TAG}"
LOGS = f"logs/{TAG}"


wildcard_constraints:
    study="|".join(plan.STUDY_KINDS),
    schedule="[A-Za-z][A-Za-z0-9_]*",
    seed="[0-9]+",


def studies():
    return list(config["studies"])


def study_runs(study):
    """(schedule, seed) of every run of a study."""
    cfg = config["studies"][study]
    return [(schedule, seed) for schedule in cfg["schedules"] for seed in cfg["seeds"]]


def json_param(obj):
    """Canonical JSON of a params value (a change in it reruns the job)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def final_targets():
    targets = [f"{RESULTS}/claims.csv"]
    for study in studies():
        targets += [
            f"{RESULTS}/aggregate/{study}/summary.csv",
            f"{RESULTS}/figures/{study}/accuracy.png",
        ]
    return targets


def anneal_flag(wildcards):
    """``--anneal-epoch E`` for the study's first anneal, or nothing if it never anneals."""
    epoch = plan.anneal_epoch(config, wildcards.study)
    return f"--anneal-epoch {epoch}" if epoch else ""
