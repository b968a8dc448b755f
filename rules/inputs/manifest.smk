# Input functions of rules/manifest.smk.
import json

from iquery.pipeline.datasets.sources import index_sources


def paper_lists(wildcards):
    """The paper's split lists of this dataset, as local files (none for generated splits)."""
    sources = index_sources(wildcards.dataset, config)
    prefix = f"datasets.{wildcards.dataset}.splits."
    return {
        f"paper_{key.removeprefix(prefix)}": str(local)
        for key, (_, local) in sources.items()
        if key.startswith(prefix)
    }
