# What the rules share: the layout of every artifact (iquery/pipeline/core/layout.py), the
# datasets and the videos each job handles, the per-video stages' chunks, the training runs and
# seeds, resources. Each rule file's own input functions are in rules/inputs/.
import functools
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

from iquery.model.settings import TRAINED_ON_CROPS
from iquery.model.settings import run_settings as config_run_settings
from iquery.model.settings import train_runs as config_train_runs
from iquery.model.settings import train_seeds as config_train_seeds
from iquery.pipeline.cluster.gpu_slots import visible_gpus
from iquery.pipeline.core.errors import ConfigError, IndexFormatError
from iquery.pipeline.core.ids import SAFE_CLASS_DIR, SAFE_VID
from iquery.pipeline.core.layout import SPLITS, Layout
from iquery.pipeline.datasets.sources import cache_name, is_url, read_index
from iquery.pipeline.datasets.splits import read_split
from iquery.pipeline.datasets.splits import used_videos as read_used_videos
from iquery.pipeline.stages.batches import chunk_count
from iquery.pipeline.stages.framework import USED, block_config
from iquery.pipeline.stages.registry import STAGES

L = Layout(**config["paths"])
# Rules call `python -m iquery.cli....`: put the interpreter running Snakemake (which has
# the project installed) first on PATH, so `.venv/bin/snakemake` works without activating the
# venv. Under --sdm conda each rule's env supplies its own python instead.
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), os.getenv("PATH", "")]
    )
# Downloads at once: config key download.concurrent, unless --resources downloads=N is given.
workflow.global_resources.setdefault("downloads", config["download"]["concurrent"])
# Config key offline reaches the download command through the environment, not through its
# params, so that going off- or online does not redo what was already made.
os.environ.update(IQUERY_OFFLINE="1" if config["offline"] else "")
# Jobs sharing this machine's GPUs each lock the ones they take (iquery/pipeline/cluster/gpu_slots.py); on one
# machine, the GPUs they claim at once are at most the GPUs it has, unless --resources gpu=N.
# Not with --jobs (a cluster: its scheduler places GPUs; the executor is not known yet while
# the Snakefile is read, and a bound from the submitting host would cap every job's request).
os.environ.setdefault("IQUERY_GPU_LOCKS", str(Path(".snakemake/gpu-locks").resolve()))
if (
    workflow.global_resources["_nodes"].value is None
    and "gpu" not in workflow.global_resources
):
    if gpu_count := visible_gpus():
        workflow.global_resources["gpu"] = gpu_count


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    split="|".join(SPLITS),
    cls=SAFE_CLASS_DIR,
    vid=SAFE_VID,
    run=r"[a-z][a-z0-9_]*",
    seed=r"\d+",
    chunk=r"\d{3}",
    shard=r"\d{3}",
    name=r"[0-9a-f]{8}-[^/]+",
    title=SAFE_VID,


_loaded = {}


def dataset(name):
    """The dataset's videos and class order, as the index checkpoint wrote them (read once per
    version of its videos.tsv)."""
    checkpoints.index.get(dataset=name)
    table = Path(L.videos_table(name))
    key = (name, table.stat().st_mtime_ns)
    if key not in _loaded:
        try:
            _loaded[key] = read_index(L.index_json(name), table, name)
        except (IndexFormatError, ValueError) as err:
            raise WorkflowError(str(err)) from err
    return _loaded[key]


def ds_config(wildcards):
    return config["datasets"][wildcards.dataset]


def stage_config(name, stage):
    """Config block ``stage`` as dataset ``name`` uses it (with the dataset's overrides)."""
    return block_config(config, name, stage)


def class_list(wildcards):
    """The dataset's class order (the query index); passed to scripts as quoted words."""
    return dataset(wildcards.dataset).classes


def split_videos(name, split):
    """The (class, vid) of a split, known once the splits checkpoint has run."""
    checkpoints.splits.get(dataset=name)
    return read_split(L.split(name, split))


def used_videos(name):
    """Every video a split lists: the ones detection, motion and shards handle."""
    checkpoints.splits.get(dataset=name)
    return read_used_videos([L.split(name, split) for split in SPLITS])


def copy_option(wildcards):
    """'--copy=FOLDER' where the dataset has a copy (config key datasets.<name>.copy)."""
    copy = ds_config(wildcards).get("copy")
    if not copy:
        return []
    key = f"datasets.{wildcards.dataset}.copy"
    return [f"--copy={Path(copy).expanduser()}", f"--copy-key={key}"]


def stage_videos(name, stage):
    """The videos a per-video stage handles: every listed one before the splits, the used
    ones after."""
    if STAGES[stage].videos == USED:
        return used_videos(name)
    return dataset(name).videos


def chunk_tables(name, stage):
    """The chunk tables of a per-video stage: its jobs' outputs (config key <stage>.chunks)."""
    count = chunk_count(
        len(stage_videos(name, stage)), stage_config(name, stage)["chunks"]
    )
    return [L.chunk_table(name, stage, k) for k in range(count)]


def tables(stage):
    """An input function: ``chunk_tables`` of the wildcards' dataset."""

    def inputs(wildcards):
        return chunk_tables(wildcards.dataset, stage)

    return inputs


def demo_videos(wildcards):
    """The demo's videos must be made before they are 'downloaded'."""
    if ds_config(wildcards)["source"] == "demo":
        return [L.demo_index(wildcards.dataset)]
    return []


def train_runs(name):
    """Run name -> its own settings, for dataset ``name`` (iquery/model/settings.py: train_runs)."""
    return config_train_runs(config, name)


def train_seeds(study="main"):
    """The training seeds: config key train.seeds, or train.seed_study for study 'seeds'."""
    return config_train_seeds(config, study)


def per_attempt(amount):
    """A resource that grows with each retry: ``amount`` on the first attempt, twice on the
    second, ..."""
    return lambda wildcards, attempt: round(amount * attempt)


def gpu_claim(stage):
    """A function: the GPUs a job of ``stage`` claims (resource ``gpu``): none where config key
    ``gpus`` is false. A training run claims one per rank (``devices`` on each of its
    ``nodes``); per-video stages: ``stage_gpu_claim``."""

    def claim(wildcards):
        if not config["gpus"]:
            return 0
        if stage == "train":
            return run_ranks(wildcards)
        return 1

    return claim


def run_ranks(wildcards):
    """The processes (ranks) a training run starts: its devices on each of its nodes."""
    settings = run_settings(wildcards.dataset, wildcards.run, wildcards.seed)
    return settings.devices * settings.nodes


@functools.cache
def run_settings(name, run, seed=None):
    """A run's complete settings for a training ``seed`` (default: config key seed;
    iquery/model/settings.py: run_settings), its visual weights as a local path; made and
    checked once per run and seed."""
    try:
        settings = config_run_settings(config, name, run, seed)
    except ConfigError as err:
        raise WorkflowError(str(err)) from err
    if settings.visual_weights == TRAINED_ON_CROPS:
        if settings.model_overrides.get("visual_backbone") != "small":
            raise WorkflowError(
                f"config key train.runs.{name}.{run}: visual_weights {TRAINED_ON_CROPS!r} "
                "trains the small encoder: set model_overrides.visual_backbone: small"
            )
        return settings.replace(visual_weights=L.visual_encoder(name))
    if settings.visual_weights:
        return settings.replace(visual_weights=weights_file(settings.visual_weights))
    return settings


def weights_file(source):
    """A weights file as a local path; URLs are fetched into the weights folder by a rule."""
    if not is_url(source):
        if not Path(source).expanduser().is_file():
            raise WorkflowError(f"visual_weights: file {source!r} not found")
        return str(Path(source).expanduser())
    return L.weights(cache_name(source, "weights"))
