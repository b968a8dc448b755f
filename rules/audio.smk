# Audio: ffmpeg to mono 16-bit WAV at the dataset's rate, exact length.


rule audio:
    input:
        L.record("{dataset}", "download", "{cls}", "{vid}"),
    output:
        L.record("{dataset}", "audio", "{cls}", "{vid}"),
    log:
        L.video_log("{dataset}", "audio", "{cls}", "{vid}"),
    group:
        "preprocess"
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        video=L.video("{dataset}", "{cls}", "{vid}"),
        wav=L.audio("{dataset}", "{cls}", "{vid}"),
        rate=lambda wildcards: ds_config(wildcards)["audio_rate"],
        min_seconds=min_audio_seconds,
        segment=segment_arg,
    shell:
        "python -m workflow_scripts.extract_audio --upstream {input:q} --video {params.video:q}"
        " --wav {params.wav:q} --record {output:q} --rate {params.rate}"
        " --min-seconds {params.min_seconds} {params.segment} 2> {log:q}"
