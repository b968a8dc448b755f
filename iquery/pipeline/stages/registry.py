"""Every per-video stage, in the order a video goes through them. Adding one: a module here
with its settings, ``made_from`` and ``work`` and a ``STAGE``, listed below; a block in
config.yaml and its schema; and a ``use rule chunk_stage as NAME`` in ``rules/per_video.smk``."""

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
