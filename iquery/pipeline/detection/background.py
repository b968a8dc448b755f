"""A detector without weights, for static-camera footage: what differs from the background.

The background of a fixed shot is the per-pixel median of its frames (the player moves, the
room does not); of a long video's, the median of ``MEDIAN_FRAMES`` frames spread evenly over it,
so that memory does not grow with its length (a video of that many frames or fewer uses them
all). In each frame, pixels far from it form the foreground; the largest connected
region, after closing small gaps, is the player with the instrument. Works on the demo and on
real static-camera recordings; a moving camera needs a learned detector (OWLv2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# Frames the background is the median of, at most (spread evenly over a longer video).
MEDIAN_FRAMES = 300


def background_boxes(
    frames: Sequence[np.ndarray],
    *,
    threshold: float = 30.0,
    min_area: float = 0.002,
    join: float = 0.05,
    work_side: int = 160,
) -> np.ndarray:
    """(K, 7) class-agnostic rows for frames, each (H, W, 3) uint8 (an array (T, H, W, 3), or a
    sequence that reads each when asked for); frames are numbered from 1.

    ``threshold`` is the colour distance (sum of absolute channel differences, 0..765) from the
    background above which a pixel is foreground; ``min_area`` the smallest region kept, as a
    share of the frame; ``join`` how close (share of the frame's longer side) another region must
    lie to be counted as part of the same player. Frames are analysed at ``work_side`` pixels on
    the longer side.
    """
    t = len(frames)
    first = np.asarray(frames[0]) if t else np.zeros(0)
    if first.ndim != 3 or first.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (H, W, 3), got {first.shape}")
    h, w, _ = first.shape
    step = max(1, int(np.ceil(max(h, w) / work_side)))

    def small(k: int) -> np.ndarray:
        return np.asarray(frames[k])[::step, ::step].astype(np.int16)

    sampled = np.unique(np.linspace(0, t - 1, min(t, MEDIAN_FRAMES)).round().astype(int))
    background = np.median(np.stack([small(k) for k in sampled]), axis=0)
    rows = []
    structure = np.ones((3, 3), dtype=bool)
    for k in range(t):
        distance = np.abs(small(k) - background).sum(axis=-1)
        # Closing joins the parts of the player (a bow, a thin tube) into one region; no
        # opening, which would erase thin parts along with the noise.
        mask = ndimage.binary_closing(distance > threshold, structure, iterations=2)
        labels, count = ndimage.label(mask)
        if count == 0:
            continue
        sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
        best = int(np.argmax(sizes))
        if sizes[best] < min_area * mask.size:
            continue
        # The player's parts can come apart (a bow, mallets above the bars): join the regions
        # lying within ``join`` of the largest one.
        slices = ndimage.find_objects(labels)
        y1, x1 = slices[best][0].start, slices[best][1].start
        y2, x2 = slices[best][0].stop, slices[best][1].stop
        reach = join * max(mask.shape)
        keep = [best]
        for i, sl in enumerate(slices):
            if i == best or sizes[i] < 0.1 * min_area * mask.size:
                continue
            gap_x = max(sl[1].start - x2, x1 - sl[1].stop, 0)
            gap_y = max(sl[0].start - y2, y1 - sl[0].stop, 0)
            if max(gap_x, gap_y) <= reach:
                keep.append(i)
                y1, x1 = min(y1, sl[0].start), min(x1, sl[1].start)
                y2, x2 = max(y2, sl[0].stop), max(x2, sl[1].stop)
        region = np.isin(labels, [i + 1 for i in keep])
        score = float(min(1.0, distance[region].mean() / (4 * threshold)))
        box = [x1 * step, y1 * step, min(w, x2 * step), min(h, y2 * step)]
        rows.append([k + 1, -1, score, *box])
    return np.array(rows, dtype=np.float32).reshape(-1, 7)
