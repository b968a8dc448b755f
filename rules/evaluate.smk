# Evaluation on the fixed test pairs (each run and seed), the comparison of a dataset's runs with
# intervals and paired differences, and the report that shows it.


include: "inputs/evaluate.smk"


rule evaluate:
    input:
        summary=L.run("{dataset}", "{run}", "{seed}").summary,
        shards=L.shard_index("{dataset}", "test"),
        pairs=L.test_pairs("{dataset}"),
    output:
        metrics=L.run("{dataset}", "{run}", "{seed}").metrics,
        per_pair=L.run("{dataset}", "{run}", "{seed}").per_pair,
        examples=L.run("{dataset}", "{run}", "{seed}").examples,
    log:
        L.results_log("{dataset}", "evaluate-{run}-seed-{seed}"),
    benchmark:
        L.results_benchmark("{dataset}", "evaluate-{run}-seed-{seed}")
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
        "OPENBLAS_NUM_THREADS=1 python -m iquery.cli.evaluate --summary {input.summary:q}"
        " --shards {input.shards:q} --pairs {input.pairs:q} --metrics {output.metrics:q}"
        " --per-pair {output.per_pair:q} --examples {output.examples:q}"
        " --examples-count {params.examples} --jobs {threads} --threads 1"
        " --gpus={resources.gpu} 2> {log:q}"


rule compare:
    input:
        comparison_inputs("main"),
    output:
        L.comparison("{dataset}", "main"),
    log:
        L.results_log("{dataset}", "compare"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        runs=comparison_runs("main"),
    shell:
        "python -m iquery.cli.compare {params.runs:q} --dataset {wildcards.dataset}"
        " --out {output:q} 2> {log:q}"


# The same runs over the seeds of config key train.seed_study (targets evaluate_<dataset>_seeds).
use rule compare as compare_seeds with:
    input:
        comparison_inputs("seeds"),
    output:
        L.comparison("{dataset}", "seeds"),
    log:
        L.results_log("{dataset}", "compare-seeds"),
    params:
        runs=comparison_runs("seeds"),


rule report:
    input:
        unpack(report_inputs("main")),
    output:
        page=report(
            L.report("{dataset}", "main"),
            caption="../report/page.rst",
            category="{dataset}",
            subcategory="the report",
        ),
        per_class=report_item("main", "per_class.png"),
        curves=report_item("main", "curves.png"),
        results=report_item("main", "results.tsv"),
        differences=report_item("main", "differences.tsv"),
        per_class_table=report_item("main", "per_class.tsv"),
    log:
        L.results_log("{dataset}", "report"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        folder=lambda wildcards: L.report_figure(wildcards.dataset, "main", ""),
    shell:
        "python -m iquery.cli.make_report --comparison {input.comparison:q}"
        " --out {output.page:q} --files {params.folder:q} 2> {log:q}"


use rule report as report_seeds with:
    input:
        unpack(report_inputs("seeds")),
    output:
        page=report(
            L.report("{dataset}", "seeds"),
            caption="../report/page.rst",
            category="{dataset}",
            subcategory="over the seed study's seeds",
        ),
        per_class=report_item("seeds", "per_class.png"),
        curves=report_item("seeds", "curves.png"),
        results=report_item("seeds", "results.tsv"),
        differences=report_item("seeds", "differences.tsv"),
        per_class_table=report_item("seeds", "per_class.tsv"),
    log:
        L.results_log("{dataset}", "report-seeds"),
    params:
        folder=lambda wildcards: L.report_figure(wildcards.dataset, "seeds", ""),
