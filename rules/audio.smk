# Audio: each chunk of videos' sound as mono 16-bit WAV at the dataset's rate, exact length;
# decoded with ffmpeg, or taken from the dataset's copy after its rate and length are checked.


rule audio:
    input:
        download=download_tables("audio"),
        videos=L.videos_table("{dataset}"),
    output:
        L.chunk_table("{dataset}", "audio", "{chunk}"),
    log:
        L.log("{dataset}", "audio-{chunk}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        chunk=chunk_settings("audio"),
        rate=lambda wildcards: ds_config(wildcards)["audio_rate"],
        min_seconds=min_audio_seconds,
        trim=trim_option,
        copied=copy_option,
    shell:
        "python -m iquery.cli.extract_audio {params.chunk:q} --videos {input.videos:q}"
        " --download-tables {input.download:q} --table {output:q} --rate {params.rate}"
        " --min-seconds {params.min_seconds} {params.trim} {params.copied:q} 2> {log:q}"
