# The dataset's index: its lists fetched (URLs in config), then normalised into index.json (MUSIC
# style) and videos.tsv (one row a video). The index is a checkpoint: the videos it lists are
# the ones every later stage handles, so their jobs are known once it is written.


include: "inputs/index.smk"


rule fetch_index:
    output:
        L.index_file("{dataset}", "{name}"),
    log:
        L.log("{dataset}", "fetch-{name}"),
    conda:
        "../envs/preprocess.yaml"
    resources:
        mem_mb=500,
        runtime=10,
    params:
        source=index_source,
    shell:
        "python -m iquery.cli.fetch --url={params.source[1]:q}"
        " --key={params.source[0]:q} --out {output:q} ${{IQUERY_OFFLINE:+--offline}}"
        " 2> {log:q}"


checkpoint index:
    input:
        unpack(index_inputs),
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
        "python -m iquery.cli.write_index --name {wildcards.dataset}"
        " --config-json {params.config_json:q} --json {output.json:q} --tsv {output.tsv:q}"
        " 2> {log:q}"
