# Shards: per split, HDF5 files holding everything training reads.


rule shards:
    input:
        unpack(shard_inputs),
    output:
        index=f"{DATA}/{{dataset}}/shards/{{split}}.json",
    log:
        f"{DATA}/{{dataset}}/logs/shards-{{split}}.log",
    conda:
        "../envs/train.yaml"
    params:
        data_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}",
        classes=lambda wildcards: " ".join(dataset(wildcards.dataset).classes),
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        settings=config["shards"],
        options=shard_options,
        settings_json=lambda wildcards: json.dumps(
            {
                "dataset": ds_config(wildcards),
                "detect": config["detect"],
                "motion": config["motion"],
                "shards": config["shards"],
                "seed": config["seed"],
            },
            sort_keys=True,
        ),
    shell:
        "python -m workflow_scripts.make_shards --data-dir {params.data_dir:q}"
        " --split {wildcards.split} --classes {params.classes} --frame-rate {params.fps}"
        " --crop-side {params.settings[crop_side]} --max-mb {params.settings[max_mb]}"
        " --out-index {output.index:q} --settings-json {params.settings_json:q}"
        " {params.options} 2> {log:q}"
