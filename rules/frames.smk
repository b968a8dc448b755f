# Frames: each chunk of videos' frames as JPEGs at the dataset's frame rate, in the original
# frames/{cls}/{vid}.mp4/ layout; extracted with ffmpeg, or taken from the dataset's copy after
# their numbering and count are checked (with the copy's detections and motion features).


rule frames:
    input:
        download=download_tables("frames"),
        videos=L.videos_table("{dataset}"),
        index=L.index_json("{dataset}"),
    output:
        L.chunk_table("{dataset}", "frames", "{chunk}"),
    log:
        L.log("{dataset}", "frames-{chunk}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 120 * attempt,
    params:
        chunk=chunk_settings("frames"),
        fps=lambda wildcards: ds_config(wildcards)["frame_rate"],
        min_frames=stage_setting("frames", "min_frames"),
        max_side=max_side_option,
        trim=trim_option,
        copied=copy_option,
        classes=class_list,
        features=copied_feature_options,
    shell:
        "python -m iquery.cli.extract_frames {params.chunk:q} --videos {input.videos:q}"
        " --download-tables {input.download:q} --table {output:q} --fps {params.fps}"
        " --min-frames {params.min_frames} {params.max_side:q} {params.trim}"
        " --classes {params.classes:q} {params.features:q} {params.copied:q} 2> {log:q}"
