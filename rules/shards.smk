# Shards: HDF5 files holding everything training reads. A split's videos are dealt to shards of
# `shards.videos_per_shard`, one job and one file each; the split's index lists them. A shard is
# packed from its videos' files, which the per-video stages' chunk jobs made.


include: "inputs/shards.smk"


rule shard:
    input:
        splits=[L.split("{dataset}", split) for split in SPLITS],
        features=feature_tables,
        index=L.index_json("{dataset}"),
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
        videos=lambda wildcards: [f"{c}/{v}" for c, v in shard_members(wildcards)],
        audio=shard_files(L.audio),
        frames=shard_files(L.frames),
        detections=shard_files(L.detections),
        motion=lambda wildcards: (
            ["--motion", *shard_files(L.motion)(wildcards)]
            if ds_config(wildcards)["motion"]
            else []
        ),
        recipe=shard_recipe,
    shell:
        "python -m iquery.cli.make_shard --dataset {wildcards.dataset}"
        " --split {wildcards.split} --shard {wildcards.shard} --classes {params.classes:q}"
        " --recipe {params.recipe:q} --videos {params.videos:q} --audio {params.audio:q}"
        " --frames {params.frames:q} --detections {params.detections:q} {params.motion:q}"
        " --out {output:q} 2> {log:q}"


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
        "python -m iquery.cli.index_shards --split {wildcards.split}"
        " --shards {input:q} --out {output:q} 2> {log:q}"
