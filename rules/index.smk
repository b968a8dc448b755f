# The dataset's index, normalised: index.json (MUSIC style) and videos.tsv (one row a video).


def index_sources(wildcards):
    """The local files the index is read from (URLs are fetched into the index cache)."""
    sources = dataset(wildcards.dataset).sources
    return {key.replace(".", "_"): str(path) for key, path in sources.items()}


def index_config(wildcards):
    """The part of config the index depends on, as JSON: with the whole config here, any change
    (a training key, say) would rebuild the index and so everything after it."""
    ds = ds_config(wildcards)
    keys = ("source", "index", "splits", "classes")
    view = {
        "paths": config["paths"],
        "datasets": {wildcards.dataset: {k: ds[k] for k in keys if k in ds}},
    }
    if ds["source"] == "demo":
        view["demo"] = config["demo"]
    return json.dumps(view, sort_keys=True)


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
