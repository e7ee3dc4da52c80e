# Learning-order maps: for a study with sweeps, each map statistic per cell and
# seed, aggregated over seeds into map.csv, and one heatmap per sweep and
# statistic (lrorder.maps).
from lrorder import sweeps


# The cells as a file: a grid of thousands of cells is too long for one
# command-line argument. Its content is the rule's params, so a changed grid
# rewrites it (and only then).
rule map_cells:
    localrule: True
    output:
        cells=f"{RESULTS}/maps/{{study}}/cells.json",
    params:
        cells=lambda w: plan.map_cells(config, w.study),
    wildcard_constraints:
        study=study_constraint(plan.map_studies(config)),
    log:
        f"{LOGS}/maps/{{study}}.cells.log",
    run:
        sweeps.write_cells(params.cells, output.cells, log[0])


rule map_table:
    localrule: True
    input:
        metrics=rules.aggregate.output.metrics,
        cells=rules.map_cells.output.cells,
        code=code("maps"),
    output:
        table=f"{RESULTS}/maps/{{study}}/map.csv",
        seeds=f"{RESULTS}/maps/{{study}}/map.seeds.csv",
    params:
        code_sha256=code_sha256("maps"),
        statistics=lambda w: json_param(plan.map_statistics(config, w.study)),
        epochs=lambda w: config["studies"][w.study]["training"]["epochs"],
    wildcard_constraints:
        study=study_constraint(plan.map_studies(config)),
    conda:
        ENV
    log:
        f"{LOGS}/maps/{{study}}.log",
    shell:
        "python -m lrorder.maps table --metrics {input.metrics:q} --cells {input.cells:q}"
        " --statistics {params.statistics:q} --epochs {params.epochs}"
        " --out {output.table:q} --out-seeds {output.seeds:q} > {log:q} 2>&1"


rule map_figure:
    localrule: True
    input:
        table=rules.map_table.output.table,
        code=code("maps"),
    output:
        png=report(
            f"{RESULTS}/maps/{{study}}/{{sweep}}/{{statistic}}.png",
            caption="../report/map.rst",
            category="Maps",
            subcategory="{study}",
            labels=lambda w: {"sweep": w.sweep, "statistic": w.statistic},
        ),
        pdf=f"{RESULTS}/maps/{{study}}/{{sweep}}/{{statistic}}.pdf",
    params:
        code_sha256=code_sha256("maps"),
    wildcard_constraints:
        study=study_constraint(plan.map_studies(config)),
        sweep="[A-Za-z][A-Za-z0-9_]*",
        statistic="[A-Za-z][A-Za-z0-9_]*",
    conda:
        ENV
    log:
        f"{LOGS}/maps/{{study}}.{{sweep}}.{{statistic}}.log",
    shell:
        "python -m lrorder.maps plot --map {input.table:q} --sweep {wildcards.sweep} --statistic {wildcards.statistic}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


# The curvature along the P and Q directions (lrorder.curvature): each run of a study's `curvature`
# schedules retrained, reading it after every epoch (same training, step for step), then one table and
# one figure per study.
rule curvature:
    input:
        unpack(train_inputs),
        arrays=train_arrays,
        code=lambda w: [os.path.join(CODE_DIR, m) for m in plan.curvature_modules(config, w.study)],
    output:
        curve=f"{RESULTS}/curvature/{{study}}/{{schedule}}/seed{{seed}}.csv",
    params:
        code_sha256=lambda w: _code_sha256(tuple(plan.curvature_modules(config, w.study))),
        run_config=lambda w: json_param(plan.run_config(config, w.study, w.schedule, int(w.seed))),
        data=lambda w, input: os.path.dirname(input.manifest),
    wildcard_constraints:
        study=study_constraint(plan.curvature_studies(config)),
    threads: 1
    conda:
        ENV
    log:
        f"{LOGS}/curvature/{{study}}/{{schedule}}/seed{{seed}}.log",
    shell:
        "python -m lrorder.curvature curve --data {params.data:q} --run-config {params.run_config:q}"
        " --out {output.curve:q} > {log:q} 2>&1"


rule curvature_table:
    localrule: True
    input:
        curves=lambda w: [rules.curvature.output.curve.format(study=w.study, schedule=schedule, seed=seed)
                          for schedule in plan.curvature_schedules(config, w.study)
                          for seed in config["studies"][w.study]["seeds"]],
        code=code("curvature_table"),
    output:
        table=f"{RESULTS}/maps/{{study}}/curvature.csv",
        png=report(f"{RESULTS}/maps/{{study}}/curvature.png", caption="../report/curvature.rst", category="Maps",
                   subcategory="{study}", labels=lambda w: {"sweep": "curvature", "statistic": "LR x curvature"}),
        pdf=f"{RESULTS}/maps/{{study}}/curvature.pdf",
    params:
        code_sha256=code_sha256("curvature_table"),
    wildcard_constraints:
        study=study_constraint(plan.curvature_studies(config)),
    conda:
        ENV
    log:
        f"{LOGS}/maps/{{study}}.curvature.log",
    shell:
        "python -m lrorder.curvature table --curves {input.curves:q} --out-table {output.table:q}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"
