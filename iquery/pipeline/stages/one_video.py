"""One video through the per-video stages, as a dataset's videos go through them: the same work
functions (``iquery.pipeline.stages.registry``) with the settings of a recipe
(``iquery.pipeline.stages.recipe``), in a scratch data folder. ``separate`` prepares the video
it separates this way, so it sees what the model saw in training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.ids import file_url_path
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import link
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.detection.rows import empty
from iquery.pipeline.media.ffmpeg import read_wav
from iquery.pipeline.motion.tokens import load_tokens
from iquery.pipeline.stages.batches import run_batch
from iquery.pipeline.stages.download import DownloadSettings
from iquery.pipeline.stages.framework import StageJob
from iquery.pipeline.stages.recipe import stage_settings
from iquery.pipeline.stages.registry import STAGES

# The scratch dataset's name and class folder: nothing else lives in the scratch data folder.
DATASET, FOLDER = "video", "video"


def download_settings(config: dict, dataset: str) -> DownloadSettings:
    """How a video to separate is fetched: config block download (dataset ``dataset``'s, with
    its overrides: attempts, back-off, cookies), at the format of block separate."""
    settings = DownloadSettings.from_config(config, dataset, "download")
    return dataclasses.replace(settings, chunks=1, format=config["separate"]["format"])


@dataclass
class PreparedVideo:
    """What the stages made of the video: its file, sound, frames, detections and motion."""

    video: Path
    audio: Path
    frames: Path
    detections: Path | None
    motion: Path | None
    records: dict

    def sound(self) -> np.ndarray:
        """The sound as float32 in [-1, 1), at the recipe's rate."""
        samples, _ = read_wav(self.audio)
        return samples.astype(np.float32) / 32768.0

    def count(self) -> int:
        """How many frames the frames stage made."""
        return int(self.records["frames"]["info"]["count"])

    def frame_files(self) -> list[Path]:
        return sorted(self.frames.glob("*.jpg"))

    def rows(self) -> np.ndarray:
        """The (K, 7) detection rows; none where detection was left out."""
        if self.detections is None:
            return empty()
        return np.load(self.detections).astype(np.float32).reshape(-1, 7)

    def tokens(self) -> np.ndarray | None:
        """The motion tokens (T', C) as float32; None where motion was left out."""
        if self.motion is None:
            return None
        return np.asarray(load_tokens(self.motion).tokens, dtype=np.float32)

    def token_spans(self) -> np.ndarray | None:
        """Each motion token's span (T', 2) in seconds; None where motion was left out."""
        if self.motion is None:
            return None
        return np.asarray(load_tokens(self.motion).spans, dtype=np.float64)


def prepare(
    url: str,
    vid: str,
    work: Path,
    recipe: dict,
    *,
    download: DownloadSettings,
    detector: str | None = None,
    detect: bool = True,
    motion: bool = True,
    offline: bool = False,
    device: str | None = None,
    threads: int = 1,
) -> PreparedVideo:
    """Run download (with ``download``), audio, frames, (where ``detect``) detect and (where
    ``motion``) motion on one video, with the recipe's settings; ``detector`` replaces the
    recipe's (a new video has no precomputed detections). A stage refusing the video raises
    MediaError with its reason.

    What a stage accepts is loosened for a video to separate, not what it makes: any length of
    at least one frame, and no annotated segment to trim to.
    """
    layout = Layout(data=str(work))
    video = Video(FOLDER, vid, url)
    if url.startswith("file:"):  # a local file: the download stage finds it on disk
        link(file_url_path(url), layout.video(DATASET, FOLDER, vid))
    settings = {
        "download": download,
        "audio": stage_settings(recipe, "audio", min_seconds=0.1, trim_to_segment=False),
        "frames": stage_settings(recipe, "frames", min_frames=1, trim_to_segment=False),
    }
    if detect:
        changes = {"detector": detector} if detector else {}
        settings["detect"] = stage_settings(recipe, "detect", **changes)
    if motion and "motion" in recipe["stages"]:
        settings["motion"] = stage_settings(recipe, "motion")
    records: dict[str, dict] = {}
    for name, chosen in settings.items():
        stage = STAGES[name]
        job = StageJob(layout, DATASET, chosen, offline=offline, device=device, threads=threads)
        upstream = {(FOLDER, vid): records[stage.reads]} if stage.reads else None
        table = layout.chunk_table(DATASET, name, 0)
        (record,) = run_batch(name, stage.steps(job, [video], upstream), table)
        if record["status"] != "ok":
            raise MediaError(f"{name}: {record['reason']}")
        records[name] = record
    return PreparedVideo(
        video=Path(layout.video(DATASET, FOLDER, vid)),
        audio=Path(layout.audio(DATASET, FOLDER, vid)),
        frames=Path(layout.frames(DATASET, FOLDER, vid)),
        detections=Path(layout.detections(DATASET, FOLDER, vid)) if detect else None,
        motion=Path(layout.motion(DATASET, FOLDER, vid)) if "motion" in records else None,
        records=records,
    )
