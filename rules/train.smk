# Training, evaluation and the report: results/{dataset}/{run}/ per run of config key train.runs.


rule visual_weights:
    output:
        f"{DATA}/weights/{{name}}",
    log:
        f"{DATA}/logs/weights-{{name}}.log",
    params:
        url=weights_url,
    run:
        try:
            fetch_url(params.url, Path(output[0]))
        except ConfigError as err:
            raise WorkflowError(
                f"config key train.visual_weights (or a dataset's): {err}"
            )


rule train:
    input:
        unpack(train_inputs),
    output:
        summary=f"{RESULTS}/{{dataset}}/{{run}}/train_summary.json",
    log:
        f"{RESULTS}/{{dataset}}/logs/train-{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: run_threads
    resources:
        gpu=1,
    params:
        shards_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}/shards",
        out=lambda wildcards: run_dir(wildcards.dataset, wildcards.run),
        settings=lambda wildcards: json.dumps(run_settings(wildcards), sort_keys=True),
        select_on=config["train"]["select_on"],
    shell:
        # --on-change restart: new settings or data start the run afresh; otherwise an
        # interrupted run resumes from its last checkpoint. Lightning's progress bar writes to
        # stdout: both streams go to the log (follow it with `tail -f`).
        "python -m workflow_scripts.train --shards-dir {params.shards_dir:q}"
        " --out {params.out:q} --config-json {params.settings:q}"
        " --select-on {params.select_on} --on-change restart > {log:q} 2>&1"


rule evaluate:
    input:
        summary=f"{RESULTS}/{{dataset}}/{{run}}/train_summary.json",
        test=f"{DATA}/{{dataset}}/shards/test.json",
        pairs=f"{DATA}/{{dataset}}/splits/test_pairs.tsv",
    output:
        metrics=f"{RESULTS}/{{dataset}}/{{run}}/metrics.json",
        per_pair=f"{RESULTS}/{{dataset}}/{{run}}/per_pair.tsv",
        examples=f"{RESULTS}/{{dataset}}/{{run}}/examples.npz",
    log:
        f"{RESULTS}/{{dataset}}/logs/evaluate-{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: config["train"]["eval_jobs"]
    resources:
        gpu=1,
    params:
        shards_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}/shards",
        out=lambda wildcards: run_dir(wildcards.dataset, wildcards.run),
        examples=config["train"]["report_examples"],
    shell:
        "python -m workflow_scripts.evaluate --run {params.out:q}"
        " --shards-dir {params.shards_dir:q} --pairs {input.pairs:q} --jobs {threads}"
        " --threads 1 --examples {params.examples} 2> {log:q}"


rule report:
    input:
        unpack(report_inputs),
    output:
        f"{RESULTS}/{{dataset}}/{{run}}/report.html",
    log:
        f"{RESULTS}/{{dataset}}/logs/report-{{run}}.log",
    conda:
        "../envs/train.yaml"
    params:
        out=lambda wildcards: run_dir(wildcards.dataset, wildcards.run),
        compare=compared_runs,
    shell:
        "python -m workflow_scripts.report --run {params.out:q} --compare {params.compare}"
        " --out {output:q} 2> {log:q}"
