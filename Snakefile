# lr-order: regenerate Li, Wei & Ma (NeurIPS 2019) and check its claims.
# Stages: data -> train (study x schedule x seed) -> aggregate -> claims -> figures -> report tables.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/report.smk"


# Under a cluster executor (profiles/slurm) only training jobs are submitted;
# every other rule is marked `localrule: True`: they take seconds, and the
# CIFAR-10 download needs the network.


rule all:
    localrule: True
    input:
        final_targets(),
        # the checksums of every result file, and every file they list and every dataset array
        # as targets: a removed one is made again (workflow/rules/report.smk)
        rules.results_manifest.output.manifest,
        result_files(),
        dataset_files(),
    default_target: True


# The learning-order maps of the studies with sweeps, and what they read
# (`snakemake --cores 2 maps --configfile presets/maps.yaml`): no claims table.


rule maps:
    localrule: True
    input:
        [rules.map_table.output.table.format(study=study) for study in plan.map_studies(config)],
        [path for study in plan.map_studies(config) for path in map_figures(study, "png")],
        [rules.curvature_table.output.table.format(study=study) for study in plan.curvature_studies(config)],


# Before the first submission: a SLURM campaign whose job states could never be
# read (sacct without accounting storage) stops here with one line.
onstart:
    from lrorder.slurm_status import status_command_problem

    _problem = status_command_problem(workflow.executor_settings)
    if _problem is not None:
        sys.exit(f"error: {_problem}")
