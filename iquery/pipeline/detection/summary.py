"""How a dataset's detections look: videos with boxes and, where the true boxes are known (the
demo), how well the box chosen for each frame matches the true one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from iquery.pipeline.detection.rows import iou, load_rows, select_boxes


def truth_iou(
    rows: np.ndarray,
    truth_path: str | Path,
    frames_count: int,
    size: tuple[int, int],
    frame_rate: float,
    video_fps: float,
) -> np.ndarray:
    """IoU per extracted frame between the selected box and the generator's true box.

    Frame k (1-based) of the extracted frames shows the video frame just before (k - 0.5) / fps
    seconds (see ``iquery.pipeline.media.ffmpeg.extract_frames``), i.e. video frame
    ceil((k - 0.5) / fps * video_fps) - 1.
    """
    truth = np.load(truth_path)
    k = np.arange(1, frames_count + 1)
    index = np.clip(
        np.ceil((k - 0.5) / frame_rate * video_fps - 1e-6).astype(int) - 1, 0, len(truth) - 1
    )
    chosen = select_boxes(rows, frames_count, width=size[0], height=size[1])
    return iou(chosen, truth[index])


def summarise(
    detections: list[str],
    frames: list[str],
    *,
    n_classes: int,
    truth: list[str] | None = None,
    frame_rate: float | None = None,
    video_fps: float | None = None,
) -> dict:
    """Check every video's rows against its frames; with ``truth``, the IoU of the chosen boxes.

    The lists are parallel: one detection file, frame folder (and true-box file) per video.
    """
    found, ious = 0, []
    for k, (det_path, folder) in enumerate(zip(detections, frames, strict=True)):
        jpgs = sorted(Path(folder).glob("*.jpg"))
        if not jpgs:
            raise FileNotFoundError(f"{folder}: no frames; rerun the frames stage")
        size = Image.open(jpgs[0]).size
        rows = load_rows(
            det_path, n_frames=len(jpgs), width=size[0], height=size[1], n_classes=n_classes
        )
        found += int(len(rows) > 0)
        if truth is not None:
            ious.append(truth_iou(rows, truth[k], len(jpgs), size, frame_rate, video_fps))
    summary = {"videos": len(detections), "with_detections": found}
    if ious:
        every = np.concatenate(ious)
        summary |= {
            "truth_frames": int(every.size),
            "mean_iou": float(every.mean()),
            "share_iou_at_least_0.5": float((every >= 0.5).mean()),
        }
    return summary
