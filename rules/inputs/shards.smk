# Input functions of rules/shards.smk: which videos each shard packs, the per-video files they
# come from (checked to be there), and the recipe the shards record.
import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

from iquery.pipeline.core.layout import deal_to_shards
from iquery.pipeline.core.records import missing_file_message
from iquery.pipeline.stages.batches import read_tables
from iquery.pipeline.stages.recipe import recipe


def shard_groups(name, split):
    return deal_to_shards(
        split_videos(name, split), stage_config(name, "shards")["videos_per_shard"]
    )


def shard_members(wildcards):
    groups = shard_groups(wildcards.dataset, wildcards.split)
    if int(wildcards.shard) >= len(groups):
        raise WorkflowError(
            f"{wildcards.dataset} {wildcards.split} has {len(groups)} shards, "
            f"not {int(wildcards.shard) + 1}"
        )
    return groups[int(wildcards.shard)]


def shard_files(path):
    """A function: ``path`` (a Layout method) of each of the shard's videos."""

    def files(wildcards):
        return [path(wildcards.dataset, c, v) for c, v in shard_members(wildcards)]

    return files


_table_cache = {}


def recorded(name, stage):
    """(class, vid) -> record, from the stage's chunk tables of dataset ``name``; empty while
    any of them is still to be made (cached until a table changes)."""
    paths = chunk_tables(name, stage)
    if not all(Path(t).exists() for t in paths):
        return {}
    key = (name, stage, tuple(Path(t).stat().st_mtime_ns for t in paths))
    if key not in _table_cache:
        _table_cache[key] = read_tables(paths)
    return _table_cache[key]


def feature_tables(wildcards):
    """The detection (and motion) tables of the dataset: a shard is packed from their files,
    each of which must still be there (Snakemake does not see them: a job per chunk of videos
    made them). Only a file its table says was made is checked: a video the tables do not list
    yet is new, and the chunk jobs whose inputs it changed make it."""
    stages = {"audio": L.audio, "frames": L.frames, "detect": L.detections}
    if ds_config(wildcards)["motion"]:
        stages["motion"] = L.motion
    # A stage forced to run (--forcerun, --forceall) is about to remake what is missing.
    forced = workflow.dag_settings.forcerun
    members = shard_members(wildcards)
    for stage, path in stages.items():
        if stage in forced or workflow.dag_settings.forceall:
            continue
        records = recorded(wildcards.dataset, stage)
        for cls, vid in members if records else []:
            record = records.get((cls, vid))
            file = path(wildcards.dataset, cls, vid)
            if record and record["status"] == "ok" and not Path(file).exists():
                raise WorkflowError(missing_file_message(file, stage))
    features = [stage for stage in ("detect", "motion") if stage in stages]
    return [t for stage in features for t in chunk_tables(wildcards.dataset, stage)]


def shard_recipe(wildcards):
    """What the shards' contents were made with, recorded in them with its hash, and from them
    in every checkpoint trained on them: the dataset's preprocessing recipe."""
    name = wildcards.dataset
    return json.dumps(recipe(config, name, dataset(name).classes), sort_keys=True)
