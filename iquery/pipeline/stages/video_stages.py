"""The stages every listed video goes through before the splits: download, audio, frames.

Each function here turns a chunk of a dataset's videos into the ``Step``s that
``iquery.pipeline.stages.batches.run_batch`` runs: what each video's result is made from, the files
it is, and the work that makes it. Where the dataset has a copy
(``iquery.pipeline.datasets.copies``), a stage takes the copy's file, checked, instead of making it;
the download is not needed at all for a video whose audio and frames are both in the copy.
"""

from __future__ import annotations

from pathlib import Path

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import (
    Copy,
    check_detections,
    expected_tokens,
    link,
    read_motion,
    use_audio,
    use_frames,
)
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.media.download import obtain_video
from iquery.pipeline.media.ffmpeg import make_frames, make_wav, probe
from iquery.pipeline.stages.batches import Step, file_identity, product


def download_steps(
    layout: Layout,
    name: str,
    videos: list[Video],
    *,
    copy: Copy | None,
    offline: bool,
    fetch_options: dict,
) -> list[Step]:
    """Each video fetched with yt-dlp, taken from the copy, or found not needed."""
    steps = []
    for v in videos:
        video = Path(layout.video(name, v.cls, v.vid))
        clip = copy.clip(v.cls, v.vid) if copy else None
        media_copied = bool(copy and copy.audio(v.cls, v.vid) and copy.frames(v.cls, v.vid))
        if media_copied:
            made_from_copy: object = "audio and frames"
        else:
            made_from_copy = file_identity(clip) if clip else None
        steps.append(
            Step(
                v.cls,
                v.vid,
                Path(layout.record(name, "download", v.cls, v.vid)),
                made_from={"url": v.url, "problem": v.problem, "copy": made_from_copy},
                work=_download_work(v, video, clip, media_copied, offline, fetch_options),
                outputs=() if media_copied else (video,),
            )
        )
    return steps


def _download_work(
    v: Video, video: Path, clip: Path | None, media_copied: bool, offline: bool, options: dict
):
    def work() -> dict:
        if v.problem:
            raise MediaError(f"unusable index entry: {v.problem}")
        if media_copied:
            return {"source": "copied", "note": "not needed: the copy holds audio and frames"}
        if clip:
            link(clip, video)
            meta = probe(video)
            info = {"duration": meta.duration, "has_audio": meta.has_audio}
            info |= {"has_video": meta.has_video, "source": "copied", "copied_from": str(clip)}
        else:
            info = obtain_video(v.url, video, offline=offline, **options)
        return info | {"files": file_identity(video)}

    return work


def audio_steps(
    layout: Layout,
    name: str,
    videos: list[Video],
    downloads: dict[tuple[str, str], dict],
    *,
    rate: int,
    min_seconds: float,
    trim_to_segment: bool,
    copy: Copy | None,
) -> list[Step]:
    """Each video's sound as mono 16-bit WAV at ``rate``: decoded from the video, or copied."""
    steps = []
    for v in videos:
        upstream = downloads[(v.cls, v.vid)]
        wav = Path(layout.audio(name, v.cls, v.vid))
        copied = copy.audio(v.cls, v.vid) if copy else None
        segment = v.segment if trim_to_segment else None
        made_from = {
            "download": product(upstream),
            "rate": rate,
            "min_seconds": min_seconds,
            "segment": segment,
            "copy": file_identity(copied) if copied else None,
        }
        video = layout.video(name, v.cls, v.vid)

        def work(copied=copied, wav=wav, video=video, segment=segment) -> dict:
            if copied:
                return use_audio(copied, wav, rate=rate, min_seconds=min_seconds)
            made = make_wav(video, wav, rate=rate, min_seconds=min_seconds, segment=segment)
            return made | {"source": "extracted"}

        steps.append(
            Step(
                v.cls,
                v.vid,
                Path(layout.record(name, "audio", v.cls, v.vid)),
                made_from,
                work,
                outputs=(wav,),
                upstream=upstream,
            )
        )
    return steps


def frames_steps(
    layout: Layout,
    name: str,
    videos: list[Video],
    downloads: dict[tuple[str, str], dict],
    *,
    fps: float,
    min_frames: int,
    max_side: int | None,
    trim_to_segment: bool,
    copy: Copy | None,
    copied_features: dict,
) -> list[Step]:
    """Each video's frames as JPEGs at ``fps``: extracted from the video, or copied. The copy's
    detections and motion features of the video, if any, are checked against the frames here,
    before the splits are drawn, so that a video whose files do not fit is left out.

    ``copied_features``: ``classes`` and ``class_offset`` (to read detection files),
    ``detector`` (``precomputed`` needs every video's detections in the copy), and, for datasets
    with motion, ``motion_channels`` and ``max_frames``.
    """
    steps = []
    for v in videos:
        upstream = downloads[(v.cls, v.vid)]
        folder = Path(layout.frames(name, v.cls, v.vid))
        copied = copy.frames(v.cls, v.vid) if copy else None
        detections = copy.detections(v.cls, v.vid) if copy else None
        motion = copy.motion(v.cls, v.vid) if copy else None
        segment = v.segment if trim_to_segment else None
        made_from = {
            "download": product(upstream),
            "fps": fps,
            "min_frames": min_frames,
            "max_side": max_side,
            "segment": segment,
            "copy": {
                "frames": file_identity(copied) if copied else None,
                "detections": file_identity(detections) if detections else None,
                "motion": file_identity(motion) if motion else None,
                "checked_with": copied_features,
            },
        }
        video = layout.video(name, v.cls, v.vid)

        def work(copied=copied, folder=folder, video=video, segment=segment, v=v) -> dict:
            if copied:
                info = use_frames(copied, folder, fps=fps, min_frames=min_frames)
            else:
                info = make_frames(
                    video,
                    folder,
                    fps=fps,
                    min_frames=min_frames,
                    segment=segment,
                    max_side=max_side,
                )
                info |= {"source": "extracted", "size": _frame_size(folder)}
            info |= _check_copied_features(copy, v, info, copied_features)
            return info | {"files": file_identity(folder)}

        steps.append(
            Step(
                v.cls,
                v.vid,
                Path(layout.record(name, "frames", v.cls, v.vid)),
                made_from,
                work,
                outputs=(folder,),
                upstream=upstream,
            )
        )
    return steps


def _frame_size(folder: Path) -> list[int]:
    from PIL import Image

    first = next(iter(sorted(folder.glob("*.jpg"))))
    with Image.open(first) as image:
        return list(image.size)


def _check_copied_features(copy: Copy | None, v: Video, frames: dict, settings: dict) -> dict:
    """Facts about the copy's detections and motion features of ``v``, checked against its
    frames; MediaError for files that do not fit (or are missing where they must be given)."""
    facts = {}
    detections = copy.detections(v.cls, v.vid) if copy else None
    if detections:
        width, height = frames["size"]
        facts["copied_detections"] = check_detections(
            detections,
            class_offset=settings["class_offset"],
            n_classes=len(settings["classes"]),
            n_frames=frames["count"],
            width=width,
            height=height,
        )
    elif settings["detector"] == "precomputed":
        raise MediaError(
            "no detection_results file in the dataset's copy, and its detector is 'precomputed'"
        )
    motion = copy.motion(v.cls, v.vid) if copy else None
    if motion and settings.get("motion_channels"):
        tokens = read_motion(
            motion,
            n_frames=frames["count"],
            fps=frames["fps"],
            max_frames=settings["max_frames"],
            channels=settings["motion_channels"],
        )
        facts["copied_motion"] = int(tokens.tokens.shape[0])
        facts["expected_tokens"] = expected_tokens(frames["count"], settings["max_frames"])
    return facts
