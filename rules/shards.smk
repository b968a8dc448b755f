# Shards: HDF5 files holding everything training reads. A split's videos are dealt to shards of
# `shards.videos_per_shard`, one job and one file each; the split's index lists them.


def shard_groups(name, split):
    return deal_to_shards(split_videos(name, split), config["shards"]["videos_per_shard"])


def shard_members(wildcards):
    groups = shard_groups(wildcards.dataset, wildcards.split)
    if int(wildcards.shard) >= len(groups):
        raise WorkflowError(
            f"{wildcards.dataset} {wildcards.split} has {len(groups)} shards, "
            f"not {int(wildcards.shard) + 1}"
        )
    return groups[int(wildcards.shard)]


def shard_inputs(wildcards):
    name, videos = wildcards.dataset, shard_members(wildcards)
    media = [made_media(name, cls, vid) for cls, vid in videos]
    inputs = {
        "audio": [m["audio"] for m in media],
        "frames": [m["frames"] for m in media],
        "detections": [L.detections(name, cls, vid) for cls, vid in videos],
    }
    if ds_config(wildcards)["motion"]:
        inputs["motion"] = [L.motion(name, cls, vid) for cls, vid in videos]
    return inputs


def shard_settings(wildcards):
    """What the shards' contents depend on, recorded in them with its hash."""
    keys = ("detect", "motion", "shards", "seed")
    view = {"dataset": ds_config(wildcards)} | {k: config[k] for k in keys}
    return json.dumps(view, sort_keys=True)


rule shard:
    input:
        unpack(shard_inputs),
    output:
        L.shard("{dataset}", "{split}", "{shard}"),
    log:
        L.log("{dataset}", "shard-{split}-{shard}"),
    benchmark:
        L.benchmark("{dataset}", "shard-{split}-{shard}")
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        classes=class_list,
        videos=lambda wildcards: video_keys(shard_members(wildcards)),
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        crop_side=config["shards"]["crop_side"],
        motion=lambda wildcards, input: (
            ["--motion", *input.motion] if "motion" in input.keys() else []
        ),
        own_class=lambda wildcards: (
            "--own-class-boxes" if ds_config(wildcards)["box_rule"] == "own_class" else ""
        ),
        settings=shard_settings,
    shell:
        "python -m workflow_scripts.make_shard --dataset {wildcards.dataset}"
        " --split {wildcards.split} --shard {wildcards.shard} --classes {params.classes:q}"
        " --frame-rate {params.fps} --crop-side {params.crop_side} {params.own_class}"
        " --videos {params.videos:q} --audio {input.audio:q} --frames {input.frames:q}"
        " --detections {input.detections:q} {params.motion:q}"
        " --settings-json {params.settings:q} --out {output:q} 2> {log:q}"


rule shard_index:
    input:
        lambda wildcards: [
            L.shard(wildcards.dataset, wildcards.split, k)
            for k in range(len(shard_groups(wildcards.dataset, wildcards.split)))
        ],
    output:
        L.shard_index("{dataset}", "{split}"),
    log:
        L.log("{dataset}", "shards-{split}"),
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m workflow_scripts.index_shards --split {wildcards.split}"
        " --shards {input:q} --out {output:q} 2> {log:q}"
