"""A weighted sum along a growing time axis, handed out from the front as it becomes final.

Separating a long sound window by window joins two things the same way: the windows' waveforms
(overlap-add, ``iquery.model.separation``) and their masks (``iquery.model.full_rate``). Each
window adds its values times a weight to a stretch of the axis; a stretch no later window
reaches is divided by the weights summed there and handed out, so only a few windows are held.
"""

from __future__ import annotations

import numpy as np


class RunningSum:
    """Values (..., n) summed with weights (n,) along the last axis from index 0; ``floor``
    bounds the divisor where nothing was added."""

    def __init__(self, shape: tuple[int, ...], dtype, floor: float) -> None:
        self.origin = 0  # the axis index of the buffers' first column
        self.total = np.zeros(shape + (0,), dtype=dtype)
        self.weight = np.zeros(0, dtype=np.float64)
        self.floor = floor

    def reach(self, end: int) -> None:
        """Grow the buffers to hold the axis up to ``end`` (exclusive)."""
        more = end - self.origin - len(self.weight)
        if more > 0:
            grown = np.zeros(self.total.shape[:-1] + (more,), dtype=self.total.dtype)
            self.total = np.concatenate([self.total, grown], axis=-1)
            self.weight = np.concatenate([self.weight, np.zeros(more)])

    def add(self, index: int, values: np.ndarray, weight: np.ndarray) -> None:
        """``values`` (..., n) times ``weight`` (n,) added from axis index ``index`` on."""
        end = index + values.shape[-1]
        self.reach(end)
        at = slice(index - self.origin, end - self.origin)
        self.total[..., at] += values * weight
        self.weight[at] += weight

    def release(self, upto: int) -> np.ndarray:
        """The weighted means (..., n) of the axis before ``upto``, not handed out before."""
        self.reach(upto)
        n = max(0, upto - self.origin)
        done = self.total[..., :n] / np.maximum(self.weight[:n], self.floor)
        self.total, self.weight = self.total[..., n:], self.weight[n:]
        self.origin += n
        return done
