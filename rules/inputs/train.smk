# Input functions of rules/train.smk: a run's inputs, cores and weights.
import json

from snakemake.exceptions import WorkflowError

from iquery.pipeline.datasets.sources import is_url


def run_threads(wildcards):
    """A training job's cores: its run's threads setting (null: one)."""
    return run_settings(wildcards.dataset, wildcards.run, wildcards.seed).threads or 1


def weights_url(wildcards):
    """The URL a file in the weights folder is fetched from (a visual_weights value)."""
    train = config["train"]
    blocks = [train, *train["settings"].values()]
    blocks += [own for runs in train["runs"].values() for own in runs.values()]
    for block in blocks:
        source = block.get("visual_weights")
        if (
            source
            and is_url(source)
            and weights_file(source) == L.weights(wildcards.name)
        ):
            return source
    raise WorkflowError(
        f"no visual_weights URL in config gives {L.weights(wildcards.name)}"
    )


def crop_frame_size(name):
    """The crop side the dataset's runs train with: what its own encoder learns on."""
    first = next(iter(train_runs(name)))
    return run_settings(name, first).frame_size


def train_inputs(wildcards):
    name = wildcards.dataset
    settings = run_settings(name, wildcards.run, wildcards.seed)
    select_on = config["train"]["select_on"]
    inputs = {
        "train": L.shard_index(name, "train"),
        "select": L.shard_index(name, select_on),
    }
    if select_on == "test":
        inputs["pairs"] = L.test_pairs(name)
    if settings.visual_weights:
        inputs["weights"] = settings.visual_weights
    return inputs
