# Input functions of rules/index.smk: the index files (paths, or where URLs are fetched to)
# and the part of config the index depends on.
import json

from snakemake.exceptions import WorkflowError

from iquery.pipeline.datasets.sources import index_sources, is_url


def index_inputs(wildcards):
    """The local files the index is read from: paths given, or where URLs are fetched to."""
    sources = index_sources(wildcards.dataset, config)
    return {
        key.split(".", 2)[2].replace(".", "_"): str(p)
        for key, (_, p) in sources.items()
    }


def index_source(wildcards):
    """(config key, URL) of the index file the fetch_index job fetches."""
    for key, (value, local) in index_sources(wildcards.dataset, config).items():
        if is_url(value) and local.name == wildcards.name:
            return key, value
    raise WorkflowError(
        f"no index URL of config key datasets.{wildcards.dataset} is fetched to "
        f"{L.index_file(wildcards.dataset, wildcards.name)}"
    )


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
