"""Detection rows, their checks, and the paper's rule for choosing one box per frame.

Every detector backend writes the same float32 array of shape (K, 7) per video, one row a box:
``frame, class, score, x1, y1, x2, y2`` with ``frame`` the 1-based JPEG number, ``class`` the
index of the class in the dataset's class list (-1 for a class-agnostic box), ``score`` in
[0, 1] and pixel corners in the extracted frame. An empty (0, 7) array, or the all-zero array of
the circulating files, means "nothing found": the whole frame is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iquery.pipeline.core.errors import DetectionError
from iquery.pipeline.core.files import atomic_path

COLUMNS = ("frame", "class", "score", "x1", "y1", "x2", "y2")
AGNOSTIC = -1
# How far a corner may lie outside the frame before the file is taken as wrong (pixels);
# detectors round and pad a little, so a few pixels are clipped silently.
OUTSIDE_TOLERANCE = 8.0


def empty() -> np.ndarray:
    return np.zeros((0, 7), dtype=np.float32)


def check_rows(
    rows: np.ndarray,
    source: str | Path,
    *,
    n_frames: int,
    width: int,
    height: int,
    n_classes: int | None = None,
) -> np.ndarray:
    """Validate detection rows against the video they describe; return them clipped to the frame.

    Raises DetectionError naming ``source`` for a wrong shape, a frame number outside the video,
    a score outside [0, 1], an unknown class, an empty box or a box outside the frame.
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != 7:
        raise DetectionError(f"{source}: expected an array of shape (K, 7), got {rows.shape}")
    if not np.isfinite(rows).all():
        raise DetectionError(f"{source}: holds NaN or infinite values")
    rows = rows.astype(np.float32)
    if rows.size == 0 or not rows.any():
        return empty()  # the original files' way of saying "no detections"
    frames = rows[:, 0]
    if (frames != np.round(frames)).any() or frames.min() < 1 or frames.max() > n_frames:
        raise DetectionError(
            f"{source}: frame numbers must be whole numbers in 1..{n_frames} "
            f"(the video's frames), got {frames.min():g}..{frames.max():g}"
        )
    if rows[:, 2].min() < 0 or rows[:, 2].max() > 1:
        raise DetectionError(f"{source}: scores must lie in [0, 1]")
    classes = rows[:, 1]
    if (classes != np.round(classes)).any() or classes.min() < AGNOSTIC:
        raise DetectionError(f"{source}: class ids must be whole numbers >= {AGNOSTIC}")
    if n_classes is not None and classes.max() >= n_classes:
        raise DetectionError(
            f"{source}: class id {classes.max():g} but the dataset has {n_classes} classes"
        )
    x1, y1, x2, y2 = rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6]
    if ((x2 <= x1) | (y2 <= y1)).any():
        bad = int(np.argmax((x2 <= x1) | (y2 <= y1)))
        raise DetectionError(f"{source}: row {bad} is an empty box {rows[bad, 3:].tolist()}")
    t = OUTSIDE_TOLERANCE
    outside = (x1 < -t) | (y1 < -t) | (x2 > width + t) | (y2 > height + t)
    if outside.any():
        bad = int(np.argmax(outside))
        raise DetectionError(
            f"{source}: row {bad} box {rows[bad, 3:].tolist()} lies outside the "
            f"{width}x{height} frame"
        )
    rows[:, [3, 5]] = np.clip(rows[:, [3, 5]], 0, width)
    rows[:, [4, 6]] = np.clip(rows[:, [4, 6]], 0, height)
    return rows


def select_boxes(
    rows: np.ndarray,
    n_frames: int,
    *,
    width: int,
    height: int,
    own_class: int | None = None,
) -> np.ndarray:
    """One box per frame, (n_frames, 4) as x1, y1, x2, y2, by the paper's rule.

    ``own_class=None`` (MUSIC): the top-scoring box of the frame, whatever its class. Otherwise
    (MUSIC-21, AVE): the best box of the source's own class if the frame has one (the published
    loader took the first such row in file order: docs/method.md §7 r), else the top-scoring
    box. A frame without boxes gets the whole frame.
    """
    boxes = np.tile(np.array([0, 0, width, height], dtype=np.float32), (n_frames, 1))
    if rows.size == 0:
        return boxes
    order = np.argsort(-rows[:, 2], kind="stable")  # best first, ties in file order
    chosen: dict[int, np.ndarray] = {}
    own: dict[int, np.ndarray] = {}
    for row in rows[order]:
        frame = int(row[0])
        chosen.setdefault(frame, row)
        if own_class is not None and int(row[1]) == own_class:
            own.setdefault(frame, row)
    for frame, row in (chosen | own).items():
        boxes[frame - 1] = row[3:]
    return boxes


def save_rows(path: str | Path, rows: np.ndarray) -> None:
    """Write detection rows as .npy, atomically."""
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 7)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, rows)


def load_rows(path: str | Path, **check) -> np.ndarray:
    """Read and check a detection file (see ``check_rows`` for the keyword arguments)."""
    try:
        rows = np.load(path, allow_pickle=False)
    except FileNotFoundError as err:
        raise DetectionError(f"{path}: detection file not found") from err
    except (ValueError, OSError, EOFError) as err:
        raise DetectionError(f"{path}: not a readable .npy file ({err})") from err
    return check_rows(rows, path, **check)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of matching rows of two (N, 4) box arrays."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)
