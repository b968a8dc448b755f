# The dataset's index, normalised: index.json (MUSIC style) and videos.tsv (one row a video).


rule index:
    input:
        unpack(index_sources),
    output:
        json=f"{DATA}/{{dataset}}/index.json",
        tsv=f"{DATA}/{{dataset}}/videos.tsv",
    log:
        f"{DATA}/{{dataset}}/logs/index.log",
    conda:
        "../envs/preprocess.yaml"
    params:
        config_json=index_config,
    shell:
        "python -m workflow_scripts.write_index --name {wildcards.dataset}"
        " --config-json {params.config_json:q} --json {output.json:q} --tsv {output.tsv:q}"
        " 2> {log:q}"
