# Download: the dataset's videos dealt to `download.chunks` jobs, each fetching its videos with
# yt-dlp in turn (the demo's are file:// URLs), or taking them from the dataset's copy. A video
# that cannot be had is recorded with the reason, and the run goes on.


rule download:
    input:
        download_inputs,
        videos=L.videos_table("{dataset}"),
    output:
        L.chunk_table("{dataset}", "download", "{chunk}"),
    log:
        L.log("{dataset}", "download-{chunk}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        downloads=1,
        mem_mb=1000,
        runtime=lambda wildcards, attempt: 24 * 60 * attempt,
    params:
        chunk=chunk_settings("download"),
        format=stage_setting("download", "format"),
        attempts=stage_setting("download", "attempts"),
        backoff=stage_setting("download", "backoff_s"),
        timeout=stage_setting("download", "socket_timeout_s"),
        options=download_options,
        copied=copy_option,
    shell:
        "python -m iquery.cli.download {params.chunk:q} --videos {input.videos:q}"
        " --table {output:q} --format={params.format:q} --attempts {params.attempts}"
        " --backoff {params.backoff} --socket-timeout {params.timeout} {params.options:q}"
        " {params.copied:q} ${{IQUERY_OFFLINE:+--offline}} 2> {log:q}"


# Downloads that failed are not tried again by later runs (a video gone from YouTube stays
# gone); `snakemake retry_downloads` (for config key `dataset`) forgets them, and the next run
# tries them again.
rule retry_downloads:
    log:
        L.log(config["dataset"], "retry-downloads"),
    localrule: True
    params:
        # The tables on disk (the index, a checkpoint, need not be read for this).
        tables=lambda wildcards: sorted(
            glob.glob(L.chunk_table(config["dataset"], "download", "[0-9][0-9][0-9]"))
        ),
    run:
        from iquery.pipeline.stages.batches import forget_failed

        forgotten = forget_failed(
            params.tables,
            lambda cls, vid: L.record(config["dataset"], "download", cls, vid),
            lambda table: L.retry_marker(config["dataset"], chunk_of_table(table)),
            log[0],
        )
        print(
            f"{len(forgotten)} failed downloads forgotten: the next run tries them again"
        )
