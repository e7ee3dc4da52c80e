# Training: one job per study x schedule x seed.
from lrorder import cpu_kernels


rule train:
    input:
        unpack(train_inputs),
        arrays=train_arrays,
        code=train_code,
    output:
        metrics=f"{RESULTS}/runs/{{study}}/{{schedule}}/seed{{seed}}/metrics.csv",
        model=f"{RESULTS}/runs/{{study}}/{{schedule}}/seed{{seed}}/model.pt",
        run=f"{RESULTS}/runs/{{study}}/{{schedule}}/seed{{seed}}/run.json",
    params:
        code_sha256=train_code_sha256,
        run_config=lambda w: json_param(plan.run_config(config, w.study, w.schedule, int(w.seed))),
        # training.cpu_kernels: the variables that pin torch's CPU kernels, set before Python starts.
        cpu_kernels=lambda w: cpu_kernels.shell_prefix(
            cpu_kernels.setting(plan.run_config(config, w.study, w.schedule, int(w.seed))["training"])
        ),
        data=lambda w, input: os.path.dirname(input.manifest),
        patch=patch_flag,
        checkpoint=lambda w, output: os.path.join(os.path.dirname(output.metrics), "checkpoint.pt"),
        # Every attempt's output, appended: Snakemake empties the log: file before each attempt.
        attempts_log=lambda w: f"{LOGS}/train/{w.study}/{w.schedule}/seed{w.seed}.attempts.log",
    # Under --sdm conda, studies with training.device cuda get the conda-forge CUDA build of torch
    # (envs/lrorder-cuda.yaml), the others envs/lrorder.yaml. conda picks a CUDA build only where it
    # sees a driver: on a login node without a GPU, tell it the compute nodes' CUDA version, e.g.
    # CONDA_OVERRIDE_CUDA=12.6 snakemake --sdm conda ...
    conda:
        train_env
    log:
        f"{LOGS}/train/{{study}}/{{schedule}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{study}}/{{schedule}}/seed{{seed}}.tsv"
    threads: 1
    # Job resources, not params: a change reruns nothing (lrorder.plan.train_resources). gpu: 1 for a
    # study with training.device cuda; counted against `snakemake --resources gpu=N` locally, sbatch
    # --gpus under the SLURM profile; `--set-resources train:gpu=1` also moves `auto` studies onto GPUs.
    resources:
        gpu=lambda w: plan.train_resources(config, w.study)["gpu"],
        checkpoint_every=lambda w: plan.train_resources(config, w.study)["checkpoint_every"],
        checkpoint_minutes=lambda w: plan.train_resources(config, w.study)["checkpoint_minutes"],
    priority: lambda w: plan.train_priority(config, w.study)
    wildcard_constraints:
        schedule=study_constraint(plan.declared_schedule_names(config)),
    shell:
        "{params.cpu_kernels}python -m lrorder.train"
        " --data {params.data:q} {params.patch} --run-config {params.run_config:q}"
        " --out-metrics {output.metrics:q} --out-model {output.model:q} --out-run {output.run:q}"
        " --checkpoint {params.checkpoint:q} --threads {threads} --attempt-log {params.attempts_log:q}"
        " --gpus {resources.gpu} --checkpoint-every {resources.checkpoint_every}"
        " --checkpoint-minutes {resources.checkpoint_minutes}"
        " 2>&1 | tee -a {params.attempts_log:q} > {log:q}"


# The runs of sweep cells: the same job, in the job group `sweep_runs`, which a cluster profile
# packs N to an allocation (profiles/slurm: group-components: sweep_runs=N), run side by side
# there; locally, groups are ignored. A map holds thousands of short runs: one sbatch job each
# would spend more time queued than training.
ruleorder: train > train_cell  # a declared schedule of one study named like a cell of another's sweep


use rule train as train_cell with:
    group:
        "sweep_runs"
    wildcard_constraints:
        schedule=plan.cell_name_pattern(config),
