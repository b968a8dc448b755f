"""Frames: each listed video's frames as JPEGs at the dataset's frame rate, in the published
frames/{cls}/{vid}.mp4/ layout. Frame k (1-based) shows the video at about (k - 0.5) / fps
seconds. Extracted with ffmpeg, or taken from the dataset's copy after their numbering and
count are checked; the copy's detections and motion features of a video are checked against
its frames here too, before the splits are drawn, so that a video whose files do not fit is
left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.datasets.copies import (
    check_detections,
    expected_tokens,
    read_motion,
    use_frames,
)
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.media.ffmpeg import make_frames
from iquery.pipeline.stages.batches import file_identity, product
from iquery.pipeline.stages.framework import (
    LISTED,
    Stage,
    StageJob,
    StageSettings,
    dataset_key,
    index_key,
    stage_key,
)
from iquery.pipeline.stages.motion import MotionSettings


@dataclass(frozen=True, kw_only=True)
class FramesSettings(StageSettings):
    """Config block frames, the dataset's frame keys, and what a copy's detections and motion
    features are checked with: the detector, the class order and, where the dataset's
    ``motion`` is on, the motion block."""

    min_frames: int
    max_side: int | None
    frame_rate: float = dataset_key()
    trim_to_segment: bool = dataset_key(default=False)
    detector: str = dataset_key()
    detections_class_offset: int | None = dataset_key(default=None)
    classes: list[str] = index_key()
    motion: MotionSettings | None = stage_key(when="motion")

    def copy_checks(self) -> dict:
        """What a copy's features are checked with (a part of what the frames' record is made
        from: a copy that passed under other settings is checked again)."""
        checks = {
            "classes": self.classes,
            "detections_class_offset": self.detections_class_offset,
            "detector": self.detector,
        }
        if self.motion is not None:
            checks |= {
                "motion_channels": self.motion.channels,
                "max_frames": self.motion.max_frames,
            }
        return checks


def _segment(job: StageJob, v: Video):
    return v.segment if job.settings.trim_to_segment else None


def made_from(job: StageJob, v: Video, upstream: dict) -> dict:
    s: FramesSettings = job.settings
    copy = job.copy
    copied = copy.frames(v.cls, v.vid) if copy else None
    detections = copy.detections(v.cls, v.vid) if copy else None
    motion = copy.motion(v.cls, v.vid) if copy else None
    return {
        "download": product(upstream),
        "frame_rate": s.frame_rate,
        "min_frames": s.min_frames,
        "max_side": s.max_side,
        "segment": _segment(job, v),
        "copy": {
            "frames": file_identity(copied) if copied else None,
            "detections": file_identity(detections) if detections else None,
            "motion": file_identity(motion) if motion else None,
            "checked_with": s.copy_checks(),
        },
    }


def work(job: StageJob, v: Video, upstream: dict) -> dict:
    s: FramesSettings = job.settings
    folder = Path(job.layout.frames(job.dataset, v.cls, v.vid))
    copied = job.copy.frames(v.cls, v.vid) if job.copy else None
    if copied:
        info = use_frames(copied, folder, fps=s.frame_rate, min_frames=s.min_frames)
    else:
        info = make_frames(
            job.layout.video(job.dataset, v.cls, v.vid),
            folder,
            fps=s.frame_rate,
            min_frames=s.min_frames,
            segment=_segment(job, v),
            max_side=s.max_side,
        )
        info |= {"source": "extracted", "size": _frame_size(folder)}
    info |= _check_copied_features(job, v, info)
    return info | {"files": file_identity(folder)}


def _frame_size(folder: Path) -> list[int]:
    from PIL import Image

    first = next(iter(sorted(folder.glob("*.jpg"))))
    with Image.open(first) as image:
        return list(image.size)


def _check_copied_features(job: StageJob, v: Video, frames: dict) -> dict:
    """Facts about the copy's detections and motion features of ``v``, checked against its
    frames; MediaError for files that do not fit (or are missing where they must be given)."""
    s: FramesSettings = job.settings
    facts = {}
    detections = job.copy.detections(v.cls, v.vid) if job.copy else None
    if detections:
        width, height = frames["size"]
        facts["copied_detections"] = check_detections(
            detections,
            class_offset=s.detections_class_offset,
            n_classes=len(s.classes),
            n_frames=frames["count"],
            width=width,
            height=height,
        )
    elif s.detector == "precomputed":
        raise MediaError(
            "no detection_results file in the dataset's copy, and its detector is 'precomputed'"
        )
    motion = job.copy.motion(v.cls, v.vid) if job.copy else None
    if motion and s.motion is not None:
        tokens = read_motion(
            motion,
            n_frames=frames["count"],
            fps=frames["frame_rate"],
            max_frames=s.motion.max_frames,
            channels=s.motion.channels,
        )
        facts["copied_motion"] = int(tokens.tokens.shape[0])
        facts["expected_tokens"] = expected_tokens(frames["count"], s.motion.max_frames)
    return facts


STAGE = Stage("frames", FramesSettings, LISTED, made_from, work, output="frames", reads="download")
