# Detection: instrument boxes per frame. The used videos are dealt to `detect.chunks` jobs, each
# loading its detector once; every video's (K, 7) rows are then cut out of its chunk into
# detection_results/{cls}/{vid}.mp4.npy, which the shards read.


rule detect:
    input:
        frames=frame_folders(detect_members),
        precomputed=precomputed_files,
    output:
        L.detection_chunk("{dataset}", "{chunk}"),
    log:
        L.log("{dataset}", "detect-{chunk}"),
    benchmark:
        L.benchmark("{dataset}", "detect-{chunk}")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=lambda wildcards: 1 if ds_config(wildcards)["detector"] == "owl" else 0,
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        backend=lambda wildcards: ds_config(wildcards)["detector"],
        classes=class_list,
        videos=lambda wildcards: video_keys(detect_members(wildcards)),
        precomputed=lambda wildcards, input: (
            ["--precomputed", *input.precomputed] if input.precomputed else []
        ),
        options=detect_options,
    shell:
        "OMP_NUM_THREADS={threads} python -m workflow_scripts.detect"
        " --backend {params.backend} --classes {params.classes:q}"
        " --videos {params.videos:q} --frames {input.frames:q} {params.precomputed:q}"
        " --out {output:q} {params.options:q} 2> {log:q}"


rule detections:
    input:
        chunk=chunk_of_video("detect", L.detection_chunk),
    output:
        L.detections("{dataset}", "{cls}", "{vid}"),
    log:
        L.video_log("{dataset}", "detections", "{cls}", "{vid}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m workflow_scripts.cut_chunk --chunk {input.chunk:q}"
        " --video={wildcards.cls}/{wildcards.vid} --array rows --out {output:q} 2> {log:q}"


rule detection_summary:
    input:
        detections=per_video(
            L.detections, lambda wildcards: used_videos(wildcards.dataset)
        ),
        frames=frame_folders(lambda wildcards: used_videos(wildcards.dataset)),
        truth=true_boxes,
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
        truth=lambda wildcards, input: (
            ["--truth", *input.truth, f"--video-fps={config['demo']['fps']}"]
            + [f"--frame-rate={ds_config(wildcards)['frame_rate']}"]
            if input.truth
            else []
        ),
    shell:
        "python -m workflow_scripts.summarise_detections --classes {params.classes:q}"
        " --detections {input.detections:q} --frames {input.frames:q} {params.truth:q}"
        " --out {output:q} 2> {log:q}"
