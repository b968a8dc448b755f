# Input functions of rules/per_video.smk: a chunk job's inputs, its stage's typed settings,
# conda environment and GPU, and the demo's true boxes for the detection summary.
import glob
from pathlib import Path

from snakemake.exceptions import WorkflowError

from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.layout import SPLITS
from iquery.pipeline.stages.batches import chunk_holding, deal
from iquery.pipeline.stages.framework import USED
from iquery.pipeline.stages.motion import with_weights_file
from iquery.pipeline.stages.registry import STAGES


def stage_inputs(wildcards):
    """A chunk job's inputs: the videos it may handle (videos.tsv, or the split lists), the
    tables of the stage it reads holding its videos, and the index where it reads the class
    order."""
    name, stage = wildcards.dataset, STAGES[wildcards.stage]
    if stage.videos == USED:
        videos = [L.split(name, split) for split in SPLITS]
    else:
        videos = [L.videos_table(name)]
    inputs = {"videos": videos, "upstream": []}
    if stage.reads:
        inputs["upstream"] = upstream_tables(wildcards, stage)
    if stage.reads_index:
        inputs["index"] = L.index_json(name)
    if getattr(stage_settings(name, stage.name), "weights", None) == L.motion_encoder(
        name
    ):
        inputs["weights"] = L.motion_encoder(name)
    return inputs


def upstream_tables(wildcards, stage):
    """The tables of the stage ``stage`` reads that hold chunk wildcards.chunk's videos: after
    the splits, all of them; before, the ones holding its videos (one, when both stages have
    the same number of chunks)."""
    name, chunk = wildcards.dataset, int(wildcards.chunk)
    if stage.videos == USED:
        return chunk_tables(name, stage.reads)
    n = len(dataset(name).videos)
    positions = deal(range(n), stage_config(name, stage.name)["chunks"])
    if chunk >= len(positions):
        raise WorkflowError(f"{name} has no {stage.name} chunk {chunk}")
    chunks = stage_config(name, stage.reads)["chunks"]
    holding = {chunk_holding(p, n, chunks) for p in positions[chunk]}
    return [L.chunk_table(name, stage.reads, k) for k in sorted(holding)]


def stage_settings(name, stage):
    """The typed settings of per-video stage ``stage`` for dataset ``name``; weights `learned`
    are the file rule motion_encoder makes."""
    classes = dataset(name).classes if STAGES[stage].reads_index else None
    try:
        settings = STAGES[stage].settings.from_config(config, name, stage, classes)
    except ConfigError as err:
        raise WorkflowError(str(err)) from err
    return with_weights_file(settings, L, name)


def stage_settings_json(wildcards):
    return stage_settings(wildcards.dataset, wildcards.stage).to_json()


def stage_env(wildcards):
    return f"../envs/{STAGES[wildcards.stage].env}.yaml"


def stage_gpu_claim(wildcards):
    """A chunk job's GPU: where config key gpus is on and the stage's settings use one (OWLv2
    detection, motion with real weights)."""
    stage = STAGES[wildcards.stage]
    settings = stage_settings(wildcards.dataset, wildcards.stage)
    return int(bool(config["gpus"]) and stage.uses_gpu(settings))


def retry_marker(wildcards):
    """A chunk whose failed downloads were forgotten (rule retry_downloads) has a marker that
    makes it run again."""
    marker = L.retry_marker(wildcards.dataset, wildcards.chunk)
    return [marker] if Path(marker).exists() else []


def chunk_of_table(table):
    """The chunk number a chunk table's name ends with (records/download-007.json: 7)."""
    return int(Path(table).stem.rsplit("-", 1)[-1])


def truth_options(wildcards):
    """The demo generator's true boxes, to score the detections with (other datasets: none)."""
    if ds_config(wildcards)["source"] != "demo":
        return []
    return [
        f"--truth-folder={L.demo_boxes_folder(wildcards.dataset)}",
        f"--video-fps={config['demo']['fps']}",
        f"--frame-rate={ds_config(wildcards)['frame_rate']}",
    ]
