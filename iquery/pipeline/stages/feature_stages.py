"""The stages after the splits, for every video a split lists: detection and motion features.

As in ``iquery.pipeline.stages.video_stages``, each function turns a chunk of videos into ``Step``s
for ``iquery.pipeline.stages.batches.run_batch``. A video whose detections (or motion features) are
in the dataset's copy takes them from there (they were checked against its frames before the
splits); the others run the detector (or the I3D network), which is built once per job, and only if
some video of the chunk needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import Copy, read_motion
from iquery.pipeline.detection.backends import Detector, load_frame_folder
from iquery.pipeline.detection.precomputed import import_rows
from iquery.pipeline.detection.rows import save_rows
from iquery.pipeline.media.motion_tokens import MotionTokens, save_tokens
from iquery.pipeline.stages.batches import Step, file_identity, product


def once(make: Callable[[], object]) -> Callable[[], object]:
    """``make()`` called on first use only (a network is loaded once, and not at all if every
    video of the chunk is kept or copied)."""
    made = []

    def get():
        if not made:
            made.append(make())
        return made[0]

    return get


def detect_steps(
    layout: Layout,
    name: str,
    videos: list[tuple[str, str]],
    frames: dict[tuple[str, str], dict],
    *,
    detector: Callable[[], Detector],
    settings: dict,
    classes: list[str],
    class_offset: int | None,
    copy: Copy | None,
) -> list[Step]:
    """Each video's (K, 7) boxes: from the copy, or from ``detector()`` run on its frames.
    ``settings``: what the detector's boxes depend on (backend, model, threshold)."""
    steps = []
    for cls, vid in videos:
        upstream = frames[(cls, vid)]
        out = Path(layout.detections(name, cls, vid))
        copied = copy.detections(cls, vid) if copy else None
        made_from = {
            "frames": product(upstream),
            "detector": None if copied else settings,
            "copy": file_identity(copied) if copied else None,
            "class_offset": class_offset if copied else None,
            "classes": classes,
        }

        def work(copied=copied, out=out, facts=upstream["info"]) -> dict:
            folder = facts["frames"]
            if copied:
                width, height = facts["size"]
                rows = import_rows(
                    copied,
                    class_offset=class_offset,
                    n_classes=len(classes),
                    n_frames=facts["count"],
                    width=width,
                    height=height,
                )
            else:
                rows = detector()(load_frame_folder(folder), None)
            save_rows(out, rows)
            return {
                "detections": str(out),
                "frames": folder,
                "boxes": len(rows),
                "source": "copied" if copied else "detected",
            }

        steps.append(
            Step(
                cls,
                vid,
                Path(layout.record(name, "detect", cls, vid)),
                made_from,
                work,
                outputs=(out,),
                upstream=upstream,
            )
        )
    return steps


def motion_steps(
    layout: Layout,
    name: str,
    videos: list[tuple[str, str]],
    frames: dict[tuple[str, str], dict],
    *,
    extract: Callable[[str], MotionTokens],
    settings: dict,
    channels: int,
    max_frames: int,
    copy: Copy | None,
) -> list[Step]:
    """Each video's I3D tokens: from the copy, or ``extract(frame_folder)``. ``settings``:
    what the extracted tokens depend on (backbone, weights, seed, frames used)."""
    steps = []
    for cls, vid in videos:
        upstream = frames[(cls, vid)]
        out = Path(layout.motion(name, cls, vid))
        copied = copy.motion(cls, vid) if copy else None
        made_from = {
            "frames": product(upstream),
            "extractor": None if copied else settings,
            "copy": file_identity(copied) if copied else None,
        }

        def work(copied=copied, out=out, facts=upstream["info"]) -> dict:
            if copied:
                tokens = read_motion(
                    copied,
                    n_frames=facts["count"],
                    fps=facts["fps"],
                    max_frames=max_frames,
                    channels=channels,
                )
            else:
                tokens = extract(facts["frames"])
            save_tokens(out, tokens)
            return {
                "motion": str(out),
                "tokens": int(np.asarray(tokens.tokens).shape[0]),
                "extractor": tokens.extractor,
                "weights_sha256": tokens.weights_sha256,
                "source": "copied" if copied else "extracted",
            }

        steps.append(
            Step(
                cls,
                vid,
                Path(layout.record(name, "motion", cls, vid)),
                made_from,
                work,
                outputs=(out,),
                upstream=upstream,
            )
        )
    return steps
