# Detection: instrument boxes per frame, for the videos the splits use, dealt to `detect.chunks`
# jobs that load their detector once (and only if some video needs it: copied detections are
# used as they are). Each video's (K, 7) rows go to detection_results/{cls}/{vid}.mp4.npy.


rule detect:
    input:
        splits=[L.split("{dataset}", split) for split in SPLITS],
        frames=tables("frames"),
        index=L.index_json("{dataset}"),
    output:
        L.chunk_table("{dataset}", "detect", "{chunk}"),
    log:
        L.log("{dataset}", "detect-{chunk}"),
    benchmark:
        L.benchmark("{dataset}", "detect-{chunk}")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=gpu_claim("detect"),
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        chunk=chunk_settings("detect"),
        backend=lambda wildcards: ds_config(wildcards)["detector"],
        classes=class_list,
        options=detect_options,
        copied=copy_option,
    shell:
        "OMP_NUM_THREADS={threads} python -m iquery.cli.detect {params.chunk:q}"
        " --splits {input.splits:q} --frames-tables {input.frames:q} --table {output:q}"
        " --backend {params.backend} --classes {params.classes:q} {params.options:q}"
        " {params.copied:q} --gpus={resources.gpu} 2> {log:q}"


rule detection_summary:
    input:
        tables("detect"),
        demo=demo_videos,
        index=L.index_json("{dataset}"),
        splits=L.split("{dataset}", "train"),
    output:
        L.detection_summary("{dataset}"),
    log:
        L.log("{dataset}", "detection-summary"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        classes=class_list,
        truth=truth_options,
        tables=lambda wildcards: chunk_tables(wildcards.dataset, "detect"),
    shell:
        "python -m iquery.cli.summarise_detections --classes {params.classes:q}"
        " --tables {params.tables:q} {params.truth:q} --out {output:q} 2> {log:q}"
