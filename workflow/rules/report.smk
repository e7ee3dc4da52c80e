# Provenance of every run in one table, and the result tables rendered as
# HTML pages for `snakemake --report`.


rule provenance:
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
        title=lambda w: REPORT_TABLES[w.table][1],
    conda:
        ENV
    log:
        f"{LOGS}/report/{{table}}.log",
    shell:
        "python -m lrorder.report_tables --table {input.table:q} --title {params.title:q}"
        " --out {output.html:q} > {log:q} 2>&1"
