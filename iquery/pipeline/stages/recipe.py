"""The preprocessing recipe: every setting a video's audio, frames, detections, motion tokens
and crops were made with, for one dataset. The shards record it (``recipe``), training copies
it into the checkpoint (``data_spec["recipe"]``), and ``separate`` prepares a new video with
it, through the same stage functions (``iquery.pipeline.stages.one_video``)."""

from __future__ import annotations

import dataclasses

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.stages.framework import StageSettings, block_config
from iquery.pipeline.stages.motion import with_weights_file
from iquery.pipeline.stages.registry import STAGES

# The stages whose settings shape what a model sees, in order (download only fetches).
RECIPE_STAGES = ("audio", "frames", "detect", "motion")


def recipe(config: dict, name: str, classes: list[str]) -> dict:
    """Dataset ``name``'s recipe from a validated config (the class order from its index):
    each stage's settings but the chunks they run in, the shards block, the box rule."""
    dataset = config["datasets"][name]
    stages = {}
    for stage in RECIPE_STAGES:
        if stage == "motion" and not dataset["motion"]:
            continue
        settings = STAGES[stage].settings.from_config(config, name, stage, classes)
        settings = with_weights_file(settings, Layout(**config["paths"]), name)
        stages[stage] = _without_chunks(settings)
    return {
        "stages": stages,
        "shards": block_config(config, name, "shards"),
        "box_rule": dataset["box_rule"],
        "motion": bool(dataset["motion"]),
    }


def _without_chunks(settings: StageSettings) -> dict:
    values = dataclasses.asdict(settings)
    values.pop("chunks")
    return values


def stage_settings(recipe: dict, stage: str, **changes) -> StageSettings:
    """The typed settings of ``stage`` a recipe holds (one chunk), with ``changes``."""
    values = recipe["stages"][stage] | {"chunks": 1}
    return dataclasses.replace(STAGES[stage].settings.from_json(values), **changes)
