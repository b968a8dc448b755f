# Motion: I3D tokens of each video's frames (datasets whose `motion` is on).


rule motion:
    input:
        manifest=f"{DATA}/{{dataset}}/manifest.tsv",
    output:
        summary=f"{DATA}/{{dataset}}/motion_features/summary.json",
    log:
        f"{DATA}/{{dataset}}/logs/motion.log",
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        data_dir=lambda wildcards: f"{DATA}/{wildcards.dataset}",
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        settings=config["motion"],
        options=motion_options,
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.extract_motion --data-dir {params.data_dir:q}"
        " --summary {output.summary:q} --backbone {params.settings[backbone]}"
        " --fps {params.fps} --max-frames {params.settings[max_frames]}"
        " --seed {params.seed} --threads {threads} {params.options} 2> {log:q}"
