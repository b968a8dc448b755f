# Motion: I3D tokens of the frames of the videos the splits use (datasets whose `motion` is on),
# dealt to `motion.chunks` jobs that build the network once (and only if some video needs it:
# copied features are used as they are). Each video's tokens go to
# motion_features/{cls}/{vid}.mp4.npz.


rule motion:
    input:
        splits=[L.split("{dataset}", split) for split in SPLITS],
        frames=tables("frames"),
    output:
        L.chunk_table("{dataset}", "motion", "{chunk}"),
    log:
        L.log("{dataset}", "motion-{chunk}"),
    benchmark:
        L.benchmark("{dataset}", "motion-{chunk}")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=gpu_claim("motion"),
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        chunk=chunk_settings("motion"),
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        settings=lambda wildcards: stage_config(wildcards.dataset, "motion"),
        options=motion_options,
        seed=config["seed"],
        copied=copy_option,
    shell:
        "python -m iquery.cli.extract_motion {params.chunk:q} --splits {input.splits:q}"
        " --frames-tables {input.frames:q} --table {output:q}"
        " --backbone {params.settings[backbone]} --fps {params.fps}"
        " --max-frames {params.settings[max_frames]} --seed {params.seed}"
        " --threads {threads} {params.options:q} {params.copied:q} --gpus={resources.gpu}"
        " 2> {log:q}"
