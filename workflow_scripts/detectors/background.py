"""A detector without weights, for static-camera footage: what differs from the background.

The background of a fixed shot is the per-pixel median of its frames (the player moves, the
room does not). In each frame, pixels far from it form the foreground; the largest connected
region, after closing small gaps, is the player with the instrument. Works on the demo and on
real static-camera recordings; a moving camera needs a learned detector (OWLv2).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def background_boxes(
    frames: np.ndarray,
    *,
    threshold: float = 30.0,
    min_area: float = 0.002,
    work_side: int = 160,
) -> np.ndarray:
    """(K, 7) class-agnostic rows for frames (T, H, W, 3) uint8; frames are numbered from 1.

    ``threshold`` is the colour distance (sum of absolute channel differences, 0..765) from the
    background above which a pixel is foreground; ``min_area`` the smallest region kept, as a
    share of the frame. Frames are analysed at ``work_side`` pixels on the longer side.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    t, h, w, _ = frames.shape
    step = max(1, int(np.ceil(max(h, w) / work_side)))
    small = frames[:, ::step, ::step].astype(np.int16)
    background = np.median(small, axis=0)
    rows = []
    structure = np.ones((3, 3), dtype=bool)
    for k in range(t):
        distance = np.abs(small[k] - background).sum(axis=-1)
        mask = ndimage.binary_closing(distance > threshold, structure, iterations=2)
        mask = ndimage.binary_opening(mask, structure)
        labels, count = ndimage.label(mask)
        if count == 0:
            continue
        sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
        best = int(np.argmax(sizes))
        if sizes[best] < min_area * mask.size:
            continue
        ys, xs = np.nonzero(labels == best + 1)
        score = float(min(1.0, distance[labels == best + 1].mean() / (4 * threshold)))
        box = [
            xs.min() * step,
            ys.min() * step,
            min(w, (xs.max() + 1) * step),
            min(h, (ys.max() + 1) * step),
        ]
        rows.append([k + 1, -1, score, *box])
    return np.array(rows, dtype=np.float32).reshape(-1, 7)
