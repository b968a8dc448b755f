# Detection: instrument boxes per frame. The used videos are dealt to `detect.chunks` jobs, each
# loading its detector once; every video's (K, 7) rows are then cut out of its chunk into
# detection_results/{cls}/{vid}.mp4.npy, which the shards read.

detect_members = chunk_members("detect")


def detect_inputs(wildcards):
    videos = detect_members(wildcards)
    name = wildcards.dataset
    inputs = {"frames": [made_media(name, cls, vid)["frames"] for cls, vid in videos]}
    folder = ds_config(wildcards).get("detections_dir")
    if ds_config(wildcards)["detector"] == "precomputed":
        # The circulating files, in the original layout under the folder config names.
        inputs["precomputed"] = [L.circulating_detections(folder, c, v) for c, v in videos]
    return inputs


def detect_options(wildcards):
    ds, settings = ds_config(wildcards), config["detect"]
    if ds["detector"] == "owl":
        return [
            f"--model={settings['owl_model']}",
            f"--threshold={settings['threshold']}",
            f"--batch-size={settings['batch_size']}",
        ]
    if ds["detector"] == "precomputed" and ds["detections_class_offset"] is not None:
        return [f"--class-offset={ds['detections_class_offset']}"]
    return []


rule detect:
    input:
        unpack(detect_inputs),
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
            ["--precomputed", *input.precomputed] if "precomputed" in input.keys() else []
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
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m workflow_scripts.cut_chunk --chunk {input.chunk:q}"
        " --video={wildcards.cls}/{wildcards.vid} --array rows --out {output:q}"


def summary_inputs(wildcards):
    name, videos = wildcards.dataset, used_videos(wildcards.dataset)
    inputs = {
        "detections": [L.detections(name, cls, vid) for cls, vid in videos],
        "frames": [made_media(name, cls, vid)["frames"] for cls, vid in videos],
    }
    if ds_config(wildcards)["source"] == "demo":  # the generator's true boxes
        inputs["truth"] = [L.demo_boxes(name, cls, vid) for cls, vid in videos]
    return inputs


rule detection_summary:
    input:
        unpack(summary_inputs),
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
            if "truth" in input.keys()
            else []
        ),
    shell:
        "python -m workflow_scripts.summarise_detections --classes {params.classes:q}"
        " --detections {input.detections:q} --frames {input.frames:q} {params.truth:q}"
        " --out {output:q} 2> {log:q}"
