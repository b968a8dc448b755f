"""Download: each listed video fetched with yt-dlp, taken from the dataset's copy, or found not
needed (the copy holds its audio and frames). A video that cannot be had is recorded with the
reason; the network's faults fail the job (``iquery.pipeline.stages.batches``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.datasets.copies import link
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.media.download import obtain_video
from iquery.pipeline.media.ffmpeg import probe
from iquery.pipeline.stages.batches import file_identity
from iquery.pipeline.stages.framework import LISTED, Stage, StageJob, StageSettings


@dataclass(frozen=True, kw_only=True)
class DownloadSettings(StageSettings):
    """Config block download (but ``concurrent``, which bounds the workflow, not a job)."""

    format: str
    attempts: int
    backoff_s: float
    socket_timeout_s: float
    cookies: str | None = None


def _media_copied(job: StageJob, v: Video) -> bool:
    return bool(job.copy and job.copy.audio(v.cls, v.vid) and job.copy.frames(v.cls, v.vid))


def made_from(job: StageJob, v: Video, upstream: None) -> dict:
    clip = job.copy.clip(v.cls, v.vid) if job.copy else None
    if _media_copied(job, v):
        copied: object = "audio and frames"
    else:
        copied = file_identity(clip) if clip else None
    return {"url": v.url, "problem": v.problem, "copy": copied}


def outputs(job: StageJob, v: Video) -> tuple[Path, ...]:
    return () if _media_copied(job, v) else (Path(job.layout.video(job.dataset, v.cls, v.vid)),)


def work(job: StageJob, v: Video, upstream: None) -> dict:
    if v.problem:
        raise MediaError(f"unusable index entry: {v.problem}")
    if _media_copied(job, v):
        return {"source": "copied", "note": "not needed: the copy holds audio and frames"}
    video = Path(job.layout.video(job.dataset, v.cls, v.vid))
    clip = job.copy.clip(v.cls, v.vid) if job.copy else None
    if clip:
        link(clip, video)
        meta = probe(video)
        info = {"duration": meta.duration, "has_audio": meta.has_audio}
        info |= {"has_video": meta.has_video, "source": "copied", "copied_from": str(clip)}
    else:
        s: DownloadSettings = job.settings
        info = obtain_video(
            v.url,
            video,
            offline=job.offline,
            format=s.format,
            attempts=s.attempts,
            backoff_s=s.backoff_s,
            socket_timeout_s=s.socket_timeout_s,
            cookies=s.cookies,
        )
    return info | {"files": file_identity(video)}


STAGE = Stage(
    "download",
    DownloadSettings,
    LISTED,
    made_from,
    work,
    outputs=outputs,
    mem_mb=1000,
    runtime_min=24 * 60,
    network=True,
)
