"""Every per-video stage, in the order a video goes through them: the one list the workflow's
chunk jobs, the stage CLI and ``separate`` read. Adding a stage touches these places, and
``tests/test_stage_registry.py`` checks that each agrees with this list:

1. a module here with its settings, ``made_from``, ``work`` and a ``STAGE``, listed below;
2. a block in config.yaml and its schema (``schemas/config.schema.yaml``);
3. ``use rule chunk_stage as NAME`` in ``rules/per_video.smk``;
4. where its files live: ``VIDEO_FILES`` and ``VIDEO_STAGES`` (a stage every video must pass,
   whose records the manifest reads: ``rules/manifest.smk``) or ``FEATURE_STAGES`` (its files
   go into the shards) in ``iquery/pipeline/core/layout.py``;
5. where it shapes what a model sees: ``RECIPE_STAGES`` (``stages/recipe.py``), which
   ``separate`` runs (``stages/one_video.py``), and the shards' inputs
   (``rules/inputs/shards.smk``, ``stages/shards.py``).
"""

from __future__ import annotations

from iquery.pipeline.stages import audio, detect, download, frames, motion
from iquery.pipeline.stages.framework import Stage

STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (download.STAGE, audio.STAGE, frames.STAGE, detect.STAGE, motion.STAGE)
}


def stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"no per-video stage {name!r}; the stages: {', '.join(STAGES)}")
    return STAGES[name]
