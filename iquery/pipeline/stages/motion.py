"""Motion: I3D tokens of each used video's frames (datasets whose ``motion`` is on), from the
dataset's copy where it has them, otherwise extracted by a network built once per job, and only if
some video of the chunk needs it. The paper's setting: the first 160 frames of the frames folder
at 1 fps, whole-video tokens (``iquery.pipeline.motion.extractor``). A block ``frame_rate`` other
than the dataset's decodes the video itself at that rate (a note lasts a fraction of a second:
1 fps cannot see it), and ``window_frames`` runs the network on windows of that many frames, each
on its own, so that a token sees only its own stretch of the video. Without weights the backbone
keeps a random initialisation drawn from ``init_seed`` (the workflow's ``seed`` when null);
``weights: learned`` is the encoder the workflow trains on the dataset's own training videos
(rule motion_encoder, ``iquery.model.motion_pretraining``). Every video's tokens record the
weights' sha256 or "random"."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.pipeline.datasets.copies import read_motion
from iquery.pipeline.media.ffmpeg import extract_frames
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

# Config value of motion.weights for the encoder learned on the dataset's own training videos.
LEARNED = "learned"


@dataclass(frozen=True, kw_only=True)
class MotionSettings(StageSettings):
    """Config block motion, its frame rate (the block's, else the dataset's) and the workflow's
    seed."""

    backbone: str
    weights: str | None
    init_seed: int | None = None
    max_frames: int
    resize_short: int | None
    window_frames: int | None = None
    frame_rate: float = dataset_key(block_first=True)
    seed: int = top_key()

    @property
    def channels(self) -> int:
        return BACKBONE_CHANNELS[self.backbone]

    @property
    def random_seed(self) -> int:
        """The random initialisation's seed: ``init_seed``, else the workflow's (so that another
        draw of the data can be scored with the network of the first)."""
        return self.seed if self.init_seed is None else self.init_seed


def with_weights_file(settings: StageSettings, layout, dataset: str) -> StageSettings:
    """``settings`` with ``weights: learned`` as the file rule motion_encoder makes for
    ``dataset`` (where the workflow runs the stage, and in the recipe that ``separate`` reads)."""
    if isinstance(settings, MotionSettings) and settings.weights == LEARNED:
        return dataclasses.replace(settings, weights=layout.motion_encoder(dataset))
    return settings


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


def frames_at_rate(job: StageJob, v, frames: dict, scratch: Path) -> Path:
    """The frames folder the motion network reads: the frame stage's (``frames``: its record's
    facts) where the rates agree, else the same stretch of the video (the frame stage's
    segment) decoded at the block's rate into ``scratch``."""
    s: MotionSettings = job.settings
    if s.frame_rate == frames["frame_rate"]:
        return Path(frames["frames"])
    folder = scratch / "frames"
    segment = frames.get("segment")
    extract_frames(
        job.layout.video(job.dataset, v.cls, v.vid),
        folder,
        s.frame_rate,
        segment=tuple(segment) if segment else None,
        max_frames=s.max_frames,
    )
    return folder


def extract(job: StageJob, frames: Path):
    """The tokens of a frames folder at the block's rate: of the whole video, or of windows."""
    s: MotionSettings = job.settings
    network = job.tool(extractor)
    if s.window_frames is None:
        return network.extract(frames, s.frame_rate, s.max_frames)
    return network.extract_clips(frames, s.frame_rate, s.window_frames, max_frames=s.max_frames)


def made_from(job: StageJob, v, upstream: dict) -> dict:
    s: MotionSettings = job.settings
    copied = job.copy.motion(v.cls, v.vid) if job.copy else None
    extractor_settings = {
        "backbone": s.backbone,
        "weights": file_identity(s.weights) if s.weights else None,
        "seed": s.random_seed,
        "frame_rate": s.frame_rate,
        "max_frames": s.max_frames,
        "resize_short": s.resize_short,
        "window_frames": s.window_frames,
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
            fps=facts["frame_rate"],
            max_frames=s.max_frames,
            channels=s.channels,
        )
    else:
        with tempfile.TemporaryDirectory(prefix="motion-frames-") as scratch:
            tokens = extract(job, frames_at_rate(job, v, facts, Path(scratch)))
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
    # A published I3D with its weights wants a GPU; the small one, learned or random, does not.
    uses_gpu=lambda settings: bool(settings.weights) and settings.backbone != "small",
)
