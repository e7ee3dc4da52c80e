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
