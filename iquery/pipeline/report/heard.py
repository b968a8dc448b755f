"""What ``separate`` heard, for ``separation.json``: each track's loudness and share of the
mixture's energy, and the stretches of the video where its instrument was detected."""

from __future__ import annotations

import numpy as np


def loudness_lufs(signal: np.ndarray, rate: int) -> float | None:
    """Integrated loudness (ITU-R BS.1770, LUFS) of (L,) or (C, L) sound; None for a sound too
    short (under 0.4 s) or silent to have one."""
    import pyloudnorm

    data = signal.T if signal.ndim == 2 else signal
    if len(data) < 0.4 * rate:
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(np.asarray(data, dtype=np.float64))
    return round(float(value), 2) if np.isfinite(value) else None


def track_facts(outputs: dict[str, np.ndarray], rate: int) -> dict[str, dict]:
    """Per output (the mixture, each track, the residual): its loudness and its share of the
    mixture's energy."""
    total = float((np.asarray(outputs["mixture"], dtype=np.float64) ** 2).sum())
    return {
        name: {
            "loudness_lufs": loudness_lufs(signal, rate),
            "energy_share": round(float((np.asarray(signal, np.float64) ** 2).sum()) / total, 4)
            if total > 0
            else None,
        }
        for name, signal in outputs.items()
    }


def detected_spans(
    rows: np.ndarray, class_index: int, fps: float, windows: list[tuple[float, float]]
) -> list[list[float]]:
    """The windows (start, end seconds) in which a frame shows a box of ``class_index``, with
    overlapping ones merged: where the instrument was seen."""
    if not rows.size:
        return []
    frames = np.unique(rows[rows[:, 1] == class_index, 0])
    times = (frames - 0.5) / fps  # frame k shows the video at (k - 0.5) / fps
    spans: list[list[float]] = []
    for start, end in windows:
        if ((times >= start) & (times < end)).any():
            if spans and start < spans[-1][1]:
                spans[-1][1] = round(end, 3)
            else:
                spans.append([round(start, 3), round(end, 3)])
    return spans
