# The dataset's index, normalised: index.json (MUSIC style) and videos.tsv (one row a video).


rule index:
    input:
        unpack(index_sources),
    output:
        json=L.index_json("{dataset}"),
        tsv=L.videos_table("{dataset}"),
    log:
        L.log("{dataset}", "index"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config_json=index_config,
    shell:
        "python -m workflow_scripts.write_index --name {wildcards.dataset}"
        " --config-json {params.config_json:q} --json {output.json:q} --tsv {output.tsv:q}"
        " 2> {log:q}"
