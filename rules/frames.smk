# Frames: ffmpeg to JPEG at the dataset's frame rate, in the original frames/{cls}/{vid}.mp4/ layout.


rule frames:
    input:
        L.record("{dataset}", "download", "{cls}", "{vid}"),
    output:
        L.record("{dataset}", "frames", "{cls}", "{vid}"),
    log:
        L.video_log("{dataset}", "frames", "{cls}", "{vid}"),
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        video=L.video("{dataset}", "{cls}", "{vid}"),
        frames=L.frames("{dataset}", "{cls}", "{vid}"),
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
