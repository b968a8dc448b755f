# Separating any video (config key `video`) with a model trained here, or with a checkpoint
# file: results/{dataset}/separated/{name}/. The video is prepared with the dataset's settings.


include: "inputs/separate.smk"


rule separate:
    input:
        lambda wildcards: separated_folder(),


rule separate_video:
    input:
        unpack(separate_inputs),
    output:
        directory(L.separated("{dataset}", "{title}")),
    log:
        L.results_log("{dataset}", "separate-{title}"),
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=gpu_claim("separate"),
        mem_mb=per_attempt(8000),
        runtime=per_attempt(120),
    params:
        video=lambda wildcards: config["video"],
        model=separate_model_option,
        classes=lambda wildcards: (
            ["--classes", *config["separate"]["classes"]]
            if config["separate"]["classes"]
            else []
        ),
        expect=class_list,
        options=separate_options,
    shell:
        "python -m iquery.cli.separate {params.model:q} --video={params.video:q}"
        " --out {output:q} {params.classes:q} --expect-classes {params.expect:q}"
        " {params.options:q} --threads {threads} --gpus={resources.gpu}"
        " ${{IQUERY_OFFLINE:+--offline}} 2> {log:q}"
