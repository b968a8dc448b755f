# Motion: I3D tokens of each used video's frames (datasets whose `motion` is on), in
# `motion.chunks` jobs that build the network once; each video's tokens are then cut out of its
# chunk into motion_features/{cls}/{vid}.mp4.npz, which the shards read.


rule motion:
    input:
        frames=frame_folders(motion_members),
    output:
        L.motion_chunk("{dataset}", "{chunk}"),
    log:
        L.log("{dataset}", "motion-{chunk}"),
    benchmark:
        L.benchmark("{dataset}", "motion-{chunk}")
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        videos=lambda wildcards: video_keys(motion_members(wildcards)),
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        settings=config["motion"],
        options=motion_options,
        seed=config["seed"],
    shell:
        "python -m workflow_scripts.extract_motion --videos {params.videos:q}"
        " --frames {input.frames:q} --out {output:q} --backbone {params.settings[backbone]}"
        " --fps {params.fps} --max-frames {params.settings[max_frames]}"
        " --seed {params.seed} --threads {threads} {params.options:q} 2> {log:q}"


rule motion_tokens:
    input:
        chunk=chunk_of_video("motion", L.motion_chunk),
    output:
        L.motion("{dataset}", "{cls}", "{vid}"),
    log:
        L.video_log("{dataset}", "motion_tokens", "{cls}", "{vid}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m workflow_scripts.cut_chunk --chunk {input.chunk:q}"
        " --video={wildcards.cls}/{wildcards.vid} --out {output:q} 2> {log:q}"
