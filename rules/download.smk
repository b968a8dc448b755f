# Download: yt-dlp for every index entry (YouTube id or URL; the demo's are file:// URLs).


rule download:
    input:
        download_inputs,
    output:
        record("download"),
    log:
        stage_log("download"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        downloads=1,
    params:
        url=lambda wildcards: video_of(wildcards).url,
        video=f"{DATA}/{{dataset}}/videos/{{cls}}/{{vid}}.mp4",
        settings=config["download"],
        cookies=lambda wildcards: (
            f"--cookies {shlex.quote(config['download']['cookies'])}"
            if config["download"]["cookies"]
            else ""
        ),
        invalid=lambda wildcards: (
            f"--invalid {shlex.quote(video_of(wildcards).problem)}"
            if video_of(wildcards).problem
            else ""
        ),
    shell:
        "python -m workflow_scripts.download --url {params.url:q} --video {params.video:q}"
        " --record {output:q} --cls {wildcards.cls} --vid {wildcards.vid}"
        " --format {params.settings[format]:q} --attempts {params.settings[attempts]}"
        " --backoff {params.settings[backoff_s]}"
        " --socket-timeout {params.settings[socket_timeout_s]} {params.cookies}"
        " {params.invalid} 2> {log:q}"
