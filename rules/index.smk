# The dataset's index, normalised: index.json (MUSIC style) and videos.tsv (one row a video).


def index_sources(wildcards):
    """The local files the index is read from (URLs are fetched into data/{dataset}/index/)."""
    sources = dataset(wildcards.dataset).sources
    return {key.replace(".", "_"): str(path) for key, path in sources.items()}


rule index:
    input:
        unpack(index_sources),
    output:
        json=f"{DATA}/{{dataset}}/index.json",
        tsv=f"{DATA}/{{dataset}}/videos.tsv",
    params:
        config_json=lambda wildcards: json.dumps(config),
    log:
        f"{DATA}/{{dataset}}/logs/index.log",
    shell:
        "{PYTHON} -m workflow_scripts.write_index --name {wildcards.dataset}"
        " --config-json {params.config_json:q} --json {output.json:q} --tsv {output.tsv:q}"
        " 2> {log:q}"
