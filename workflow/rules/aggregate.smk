# Aggregation: all runs of a study into one tidy table and a summary over
# seeds (diverged runs, read from run.json, marked and left out of the means);
# claim checks per study, then one claims table for the campaign.


rule aggregate:
    localrule: True
    input:
        metrics=run_metrics,
        runs=run_files,
        code=code("aggregate"),
    output:
        metrics=f"{RESULTS}/aggregate/{{study}}/metrics.csv",
        summary=f"{RESULTS}/aggregate/{{study}}/summary.csv",
    params:
        code_sha256=code_sha256("aggregate"),
        anneal=anneal_flag,
        epochs=lambda w: config["studies"][w.study]["training"]["epochs"],
    conda:
        ENV
    log:
        f"{LOGS}/aggregate/{{study}}.log",
    shell:
        "python -m lrorder.aggregate --metrics {input.metrics:q} --runs {input.runs:q}"
        " --epochs {params.epochs} {params.anneal}"
        " --out-metrics {output.metrics:q} --out-summary {output.summary:q} > {log:q} 2>&1"


# The runs of pre_anneal_seeds (which stop at the epoch before the first
# anneal) in their own table, read by the claims only: the summaries and
# figures stay on the study's full-length runs.
use rule aggregate as aggregate_pre_anneal with:
    localrule: True
    input:
        metrics=pre_anneal_run_metrics,
        runs=pre_anneal_run_files,
        code=code("aggregate"),
    output:
        metrics=f"{RESULTS}/aggregate/{{study}}/pre_anneal/metrics.csv",
        summary=f"{RESULTS}/aggregate/{{study}}/pre_anneal/summary.csv",
    params:
        code_sha256=code_sha256("aggregate"),
        anneal="",
        epochs=lambda w: plan.anneal_epoch(config, w.study) - 1,
    log:
        f"{LOGS}/aggregate/{{study}}.pre_anneal.log",


rule claims_study:
    localrule: True
    input:
        metrics=claims_metrics,
        code=code("claims"),
    output:
        claims=f"{RESULTS}/claims/{{study}}.csv",
        seeds=f"{RESULTS}/claims/{{study}}.seeds.csv",
    params:
        code_sha256=code_sha256("claims"),
        spec=lambda w: json_param(plan.claim_specs(config, w.study)),
    conda:
        ENV
    log:
        f"{LOGS}/claims/{{study}}.log",
    shell:
        "python -m lrorder.claims check --metrics {input.metrics:q} --study {wildcards.study}"
        " --spec {params.spec:q} --out {output.claims:q} --out-seeds {output.seeds:q} > {log:q} 2>&1"


rule claims:
    localrule: True
    input:
        claims=expand(rules.claims_study.output.claims, study=studies()),
        code=code("claims"),
    output:
        claims=f"{RESULTS}/claims.csv",
    params:
        code_sha256=code_sha256("claims"),
    conda:
        ENV
    log:
        f"{LOGS}/claims.log",  # not under claims/: a study may be named "all"
    shell:
        "python -m lrorder.claims collect {input.claims:q} --out {output.claims:q} > {log:q} 2>&1"
