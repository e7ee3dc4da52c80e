# Datasets: one synthetic two-pattern dataset per seed (each seed draws its
# own constants and data; paper.md section 5).


rule synthetic_data:
    input:
        code=code("synthetic_data"),
    output:
        manifest=f"{RESULTS}/data/{{study}}/seed{{seed}}/manifest.json",
    params:
        data=lambda w: json_param(plan.data_params(config, w.study)),
        outdir=lambda w, output: os.path.dirname(output.manifest),
    conda:
        ENV
    log:
        f"{LOGS}/data/{{study}}/seed{{seed}}.log",
    wildcard_constraints:
        study="synthetic",
    shell:
        "python -m lrorder.data.synthetic --params {params.data:q} --seed {wildcards.seed}"
        " --out {params.outdir:q} > {log:q} 2>&1"
