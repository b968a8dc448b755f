"""Audio: each listed video's sound as mono 16-bit WAV at the dataset's rate, exact length;
decoded with ffmpeg, or taken from the dataset's copy after its rate and length are checked. A
video without audio, too short for one training clip, silent or truncated is recorded as
failed with the reason."""

from __future__ import annotations

from dataclasses import dataclass

from iquery.pipeline.datasets.copies import use_audio
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.media.ffmpeg import make_wav
from iquery.pipeline.stages.batches import file_identity, product
from iquery.pipeline.stages.framework import (
    LISTED,
    Stage,
    StageJob,
    StageSettings,
    dataset_key,
)


@dataclass(frozen=True, kw_only=True)
class AudioSettings(StageSettings):
    """Config block audio and the dataset's audio keys."""

    min_seconds: float | None
    audio_rate: int = dataset_key()
    clip_samples: int = dataset_key()
    trim_to_segment: bool = dataset_key(default=False)

    @property
    def shortest(self) -> float:
        """Seconds a video needs: ``min_seconds``, or one training clip when it is null."""
        if self.min_seconds is not None:
            return self.min_seconds
        return self.clip_samples / self.audio_rate


def _segment(job: StageJob, v: Video):
    return v.segment if job.settings.trim_to_segment else None


def made_from(job: StageJob, v: Video, upstream: dict) -> dict:
    copied = job.copy.audio(v.cls, v.vid) if job.copy else None
    return {
        "download": product(upstream),
        "audio_rate": job.settings.audio_rate,
        "min_seconds": job.settings.shortest,
        "segment": _segment(job, v),
        "copy": file_identity(copied) if copied else None,
    }


def work(job: StageJob, v: Video, upstream: dict) -> dict:
    s: AudioSettings = job.settings
    wav = job.layout.audio(job.dataset, v.cls, v.vid)
    copied = job.copy.audio(v.cls, v.vid) if job.copy else None
    if copied:
        return use_audio(copied, wav, rate=s.audio_rate, min_seconds=s.shortest)
    video = job.layout.video(job.dataset, v.cls, v.vid)
    made = make_wav(video, wav, rate=s.audio_rate, min_seconds=s.shortest, segment=_segment(job, v))
    return made | {"source": "extracted"}


STAGE = Stage("audio", AudioSettings, LISTED, made_from, work, output="audio", reads="download")
