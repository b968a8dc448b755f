# Frames: ffmpeg to JPEG at the dataset's frame rate, in the original frames/{cls}/{vid}.mp4/ layout.


rule frames:
    input:
        record("download"),
    output:
        record("frames"),
    log:
        stage_log("frames"),
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    params:
        video=f"{DATA}/{{dataset}}/videos/{{cls}}/{{vid}}.mp4",
        frames=f"{DATA}/{{dataset}}/frames/{{cls}}/{{vid}}.mp4",
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        min_frames=config["frames"]["min_frames"],
        max_side=(
            f"--max-side {config['frames']['max_side']}"
            if config["frames"]["max_side"]
            else ""
        ),
        segment=segment_arg,
    shell:
        "python -m workflow_scripts.extract_frames --upstream {input:q}"
        " --video {params.video:q} --frames {params.frames:q} --record {output:q}"
        " --fps {params.fps} --min-frames {params.min_frames} {params.max_side}"
        " {params.segment} 2> {log:q}"
