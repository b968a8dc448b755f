# Audio: ffmpeg to mono 16-bit WAV at the dataset's rate, exact length.


rule audio:
    input:
        record("download"),
    output:
        record("audio"),
    log:
        stage_log("audio"),
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    params:
        video=f"{DATA}/{{dataset}}/videos/{{cls}}/{{vid}}.mp4",
        wav=f"{DATA}/{{dataset}}/audio/{{cls}}/{{vid}}.wav",
        rate=lambda wildcards: ds_config(wildcards)["audio_rate"],
        min_seconds=min_audio_seconds,
        segment=segment_arg,
    shell:
        "python -m workflow_scripts.extract_audio --upstream {input:q} --video {params.video:q}"
        " --wav {params.wav:q} --record {output:q} --rate {params.rate}"
        " --min-seconds {params.min_seconds} {params.segment} 2> {log:q}"
