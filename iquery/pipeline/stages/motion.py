"""Motion: I3D tokens of each used video's frames (datasets whose ``motion`` is on), from the
dataset's copy where it has them, otherwise extracted by a network built once per job, and only if
some video of the chunk needs it. The paper's setting: the first 160 frames at 1 fps, whole-video
tokens (``iquery.pipeline.motion.extractor``); without weights the backbone keeps a random
initialisation drawn from ``init_seed`` (the workflow's ``seed`` when null), and every video's
tokens record the weights' sha256 or "random"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iquery.pipeline.datasets.copies import read_motion
from iquery.pipeline.motion.tokens import BACKBONE_CHANNELS, save_tokens
from iquery.pipeline.stages.batches import file_identity, product
from iquery.pipeline.stages.framework import (
    USED,
    Stage,
    StageJob,
    StageSettings,
    dataset_key,
    top_key,
)


@dataclass(frozen=True, kw_only=True)
class MotionSettings(StageSettings):
    """Config block motion, the dataset's frame rate and the workflow's seed."""

    backbone: str
    weights: str | None
    init_seed: int | None = None
    max_frames: int
    resize_short: int | None
    frame_rate: float = dataset_key()
    seed: int = top_key()

    @property
    def channels(self) -> int:
        return BACKBONE_CHANNELS[self.backbone]

    @property
    def random_seed(self) -> int:
        """The random initialisation's seed: ``init_seed``, else the workflow's (so that another
        draw of the data can be scored with the network of the first)."""
        return self.seed if self.init_seed is None else self.init_seed


def extractor(job: StageJob):
    """The motion network, on the job's device, in float16, seeded where it has no weights."""
    import torch

    from iquery.pipeline.motion.extractor import MotionExtractor

    s: MotionSettings = job.settings
    torch.set_num_threads(job.threads)
    torch.manual_seed(s.random_seed)  # the random initialisation, when no weights are given
    return MotionExtractor(
        s.backbone, s.weights, device=job.device, resize_short=s.resize_short, dtype="float16"
    )


def made_from(job: StageJob, v, upstream: dict) -> dict:
    s: MotionSettings = job.settings
    copied = job.copy.motion(v.cls, v.vid) if job.copy else None
    extractor_settings = {
        "backbone": s.backbone,
        "weights": file_identity(s.weights) if s.weights else None,
        "seed": s.random_seed,
        "fps": s.frame_rate,
        "max_frames": s.max_frames,
        "resize_short": s.resize_short,
    }
    return {
        "frames": product(upstream),
        "extractor": None if copied else extractor_settings,
        "copy": file_identity(copied) if copied else None,
    }


def work(job: StageJob, v, upstream: dict) -> dict:
    s: MotionSettings = job.settings
    facts = upstream["info"]
    copied = job.copy.motion(v.cls, v.vid) if job.copy else None
    if copied:
        tokens = read_motion(
            copied,
            n_frames=facts["count"],
            fps=facts["fps"],
            max_frames=s.max_frames,
            channels=s.channels,
        )
    else:
        tokens = job.tool(extractor).extract(facts["frames"], s.frame_rate, s.max_frames)
    out = job.layout.motion(job.dataset, v.cls, v.vid)
    save_tokens(out, tokens)
    return {
        "motion": str(out),
        "tokens": int(np.asarray(tokens.tokens).shape[0]),
        "extractor": tokens.extractor,
        "weights_sha256": tokens.weights_sha256,
        "source": "copied" if copied else "extracted",
    }


STAGE = Stage(
    "motion",
    MotionSettings,
    USED,
    made_from,
    work,
    output="motion",
    reads="frames",
    env="train",
    threads=2,
    mem_mb=6000,
    uses_gpu=lambda settings: bool(settings.weights),
)
