# Figures: test accuracy vs epoch per evaluation set, one line per schedule,
# mean and 95% CI over seeds, first anneal marked.


rule figure_accuracy:
    localrule: True
    input:
        metrics=rules.aggregate.output.metrics,
        code=code("figures"),
    output:
        png=report(
            f"{RESULTS}/figures/{{study}}/accuracy.png",
            caption="../report/accuracy.rst",
            category="Figures",
            subcategory="{study}",
        ),
        pdf=f"{RESULTS}/figures/{{study}}/accuracy.pdf",
    params:
        code_sha256=code_sha256("figures"),
        eval_sets=lambda w: " ".join(plan.figure_sets(config, w.study)),
        anneal=anneal_flag,
        title=lambda w: f"{w.study} study: accuracy vs epoch (mean, 95% CI over seeds)",
        # a study with sweeps: its declared schedules (the cells are drawn as maps)
        schedules=lambda w: ("--schedules " + " ".join(config["studies"][w.study]["schedules"])
                             if w.study in plan.map_studies(config) else ""),
    conda:
        ENV
    log:
        f"{LOGS}/figures/{{study}}.log",
    shell:
        "python -m lrorder.figures curves --metrics {input.metrics:q} --eval-sets {params.eval_sets}"
        " {params.anneal} --title {params.title:q} {params.schedules} --out-png {output.png:q} --out-pdf {output.pdf:q}"
        " > {log:q} 2>&1"


# Pattern reliance: accuracy and mean margin of each schedule on examples with one pattern taken away
# (lrorder.study_data: both-pattern examples with x1 or x2 zeroed; patched training images with the
# patch removed or another class's patch), mean and 95% CI over seeds.


rule figure_reliance:
    localrule: True
    input:
        metrics=rules.aggregate.output.metrics,
        code=code("figures"),
    output:
        png=report(
            f"{RESULTS}/figures/{{study}}/reliance.png",
            caption="../report/reliance.rst",
            category="Figures",
            subcategory="{study}",
        ),
        pdf=f"{RESULTS}/figures/{{study}}/reliance.pdf",
    params:
        code_sha256=code_sha256("figures"),
        eval_sets=lambda w: " ".join(plan.reliance_sets(config, w.study)),
        anneal=anneal_flag,
        title=lambda w: f"{w.study} study: what each pattern alone gives (mean, 95% CI over seeds)",
        schedules=lambda w: ("--schedules " + " ".join(config["studies"][w.study]["schedules"])
                             if w.study in plan.map_studies(config) else ""),
    wildcard_constraints:
        study=study_constraint(reliance_studies()),
    conda:
        ENV
    log:
        f"{LOGS}/figures/{{study}}.reliance.log",
    shell:
        "python -m lrorder.figures curves --metrics {input.metrics:q} --eval-sets {params.eval_sets}"
        " --values accuracy margin {params.anneal} --title {params.title:q} {params.schedules}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


# Patch examples: training images of epoch 1 of run seed k (its patch draw).


rule patch_examples:
    localrule: True
    input:
        dataset=lambda w: rules.image_data.output.manifest.format(dataset=w.dataset),
        patch=rules.patch_data.output.manifest,
        dataset_arrays=rules.image_data.output.arrays,
        patch_arrays=rules.patch_data.output.arrays,
        code=code("patch_examples"),
    output:
        png=report(
            f"{RESULTS}/figures/{{study}}/examples_{{dataset}}_seed{{seed}}.png",
            caption="../report/patch_examples.rst",
            category="Figures",
            subcategory="{study}",
        ),
        pdf=f"{RESULTS}/figures/{{study}}/examples_{{dataset}}_seed{{seed}}.pdf",
    params:
        code_sha256=code_sha256("patch_examples"),
        dataset=lambda w, input: os.path.dirname(input.dataset),
        patch=lambda w, input: os.path.dirname(input.patch),
    log:
        f"{LOGS}/figures/{{study}}_examples_{{dataset}}_seed{{seed}}.log",
    wildcard_constraints:
        study=study_constraint(plan.patch_studies(config)),
    conda:
        ENV
    shell:
        "python -m lrorder.figures patch-examples --dataset-dir {params.dataset:q} --patch-dir {params.patch:q}"
        " --out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"
