# Evaluation on the fixed test pairs, and the report comparing a dataset's runs.


rule evaluate:
    input:
        summary=L.run("{dataset}", "{run}").summary,
        shards=L.shard_index("{dataset}", "test"),
        pairs=L.test_pairs("{dataset}"),
    output:
        metrics=L.run("{dataset}", "{run}").metrics,
        per_pair=L.run("{dataset}", "{run}").per_pair,
        examples=L.run("{dataset}", "{run}").examples,
    log:
        L.results_log("{dataset}", "evaluate-{run}"),
    benchmark:
        L.results_benchmark("{dataset}", "evaluate-{run}")
    conda:
        "../envs/train.yaml"
    threads: config["train"]["eval_jobs"]
    resources:
        gpu=gpu_claim("evaluate"),
        mem_mb=per_attempt(config["train"]["eval_mem_mb"]),
        runtime=per_attempt(60 * config["train"]["eval_hours"]),
    params:
        examples=config["train"]["report_examples"],
    shell:
        # One BLAS thread per scoring process: --jobs of them share the job's cores.
        "OPENBLAS_NUM_THREADS=1 python -m workflow_scripts.evaluate --summary {input.summary:q}"
        " --shards {input.shards:q} --pairs {input.pairs:q} --metrics {output.metrics:q}"
        " --per-pair {output.per_pair:q} --examples {output.examples:q}"
        " --examples-count {params.examples} --jobs {threads} --threads 1"
        " --gpus={resources.gpu} 2> {log:q}"


rule report:
    input:
        unpack(report_inputs),
    output:
        L.run("{dataset}", "{run}").report,
    log:
        L.results_log("{dataset}", "report-{run}"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        run_dir=lambda wildcards: L.run(wildcards.dataset, wildcards.run).path,
        compare=lambda wildcards: [
            L.run(wildcards.dataset, r).path
            for r in train_runs(wildcards.dataset)
            if r != wildcards.run
        ],
    shell:
        "python -m workflow_scripts.make_report --run {params.run_dir:q}"
        " --compare {params.compare:q} --out {output:q} 2> {log:q}"
