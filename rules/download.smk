# Download: yt-dlp for every index entry (YouTube id or URL; the demo's are file:// URLs).
# Like audio and frames, its declared output is the video's record: a video that cannot be had
# is recorded with the reason, and the run goes on.


rule download:
    input:
        download_inputs,
    output:
        L.record("{dataset}", "download", "{cls}", "{vid}"),
    log:
        L.video_log("{dataset}", "download", "{cls}", "{vid}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        downloads=1,
        mem_mb=1000,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        url=lambda wildcards: video_of(wildcards).url,
        video=L.video("{dataset}", "{cls}", "{vid}"),
        settings=config["download"],
        options=download_options,
    shell:
        "python -m workflow_scripts.download --url={params.url:q} --video {params.video:q}"
        " --record {output:q} --cls={wildcards.cls:q} --vid={wildcards.vid:q}"
        " --format={params.settings[format]:q} --attempts {params.settings[attempts]}"
        " --backoff {params.settings[backoff_s]}"
        " --socket-timeout {params.settings[socket_timeout_s]} {params.options:q}"
        " ${{IQUERY_OFFLINE:+--offline}} 2> {log:q}"


# Downloads that failed are not tried again by later runs (a video gone from YouTube stays
# gone); `snakemake retry_downloads` (for config key `dataset`) forgets them, and the next run
# tries them again.
rule retry_downloads:
    log:
        L.log(config["dataset"], "retry-downloads"),
    localrule: True
    params:
        records=lambda wildcards: stage_records(config["dataset"], "download"),
    run:
        from pipeline.records import forget_failed

        forget_failed(params.records, log[0])
