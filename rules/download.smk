# Download: yt-dlp for every index entry (YouTube id or URL; the demo's are file:// URLs).


def download_inputs(wildcards):
    """The demo's videos must be made before they are 'downloaded'."""
    if ds_config(wildcards)["source"] == "demo":
        return [f"{DATA}/{wildcards.dataset}/source/index.json"]
    return []


rule download:
    input:
        download_inputs,
    output:
        record("download"),
    params:
        url=lambda wildcards: video_of(wildcards).url,
        video=f"{DATA}/{{dataset}}/videos/{{cls}}/{{vid}}.mp4",
        settings=config["download"],
        cookies=lambda wildcards: (
            f"--cookies {shlex.quote(config['download']['cookies'])}" if config["download"]["cookies"] else ""
        ),
        invalid=lambda wildcards: (
            f"--invalid {shlex.quote(video_of(wildcards).problem)}" if video_of(wildcards).problem else ""
        ),
    resources:
        downloads=1,
    log:
        stage_log("download"),
    group:
        "preprocess"
    shell:
        "{PYTHON} -m workflow_scripts.download --url {params.url:q} --video {params.video:q}"
        " --record {output:q} --cls {wildcards.cls} --vid {wildcards.vid}"
        " --format {params.settings[format]:q} --attempts {params.settings[attempts]}"
        " --backoff {params.settings[backoff_s]}"
        " --socket-timeout {params.settings[socket_timeout_s]} {params.cookies}"
        " {params.invalid} 2> {log:q}"
