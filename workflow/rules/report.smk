# Provenance of every run in one table, the result tables rendered as HTML
# pages for `snakemake --report`, and the checksums of every result file.


rule provenance:
    localrule: True
    input:
        runs=all_run_files,
        code=code("provenance"),
    output:
        tsv=f"{RESULTS}/provenance.tsv",
    params:
        code_sha256=code_sha256("provenance"),
    conda:
        ENV
    log:
        f"{LOGS}/provenance.log",
    shell:
        "python -m lrorder.provenance --runs {input.runs:q} --out {output.tsv:q} > {log:q} 2>&1"


rule report_table:
    localrule: True
    input:
        table=report_table_source,
        code=code("report_tables"),
    output:
        html=report(
            f"{RESULTS}/report/{{table}}.html",
            caption="../report/table.rst",
            category="Tables",
            labels=lambda w: {"table": w.table},
        ),
    params:
        code_sha256=code_sha256("report_tables"),
        title=lambda w: report_tables()[w.table][1],
    conda:
        ENV
    log:
        f"{LOGS}/report/{{table}}.log",
    shell:
        "python -m lrorder.report_tables --table {input.table:q} --title {params.title:q}"
        " --out {output.html:q} > {log:q} 2>&1"


# Checksums of every result file, written last (`python -m lrorder.verify`
# checks them). Every file listed here, and every dataset array, is also a
# target of `rule all`: Snakemake makes a removed file again only if a target
# needs it, and would otherwise skip it while the files made from it are up to
# date (common.smk: result_files, dataset_files).


rule results_manifest:
    localrule: True
    input:
        files=result_files(),
        code=code("results_manifest"),
    output:
        manifest=f"{RESULTS}/manifest.json",
    params:
        code_sha256=code_sha256("results_manifest"),
    conda:
        ENV
    log:
        f"{LOGS}/results_manifest.log",
    shell:
        "python -m lrorder.manifest --out {output.manifest:q} {input.files:q} > {log:q} 2>&1"
