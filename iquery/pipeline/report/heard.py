"""What ``separate`` heard, for ``separation.json``: each track's loudness and share of the
mixture's energy, and the stretches of the video where its instrument was detected."""

from __future__ import annotations

import wave
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import atomic_path


class LoudnessMeter:
    """Integrated loudness (ITU-R BS.1770-4, LUFS) of a sound fed in pieces, so that a long
    one is never held whole: pyloudnorm's K-weighting filters (their state carried from piece
    to piece) and its gating over 400 ms blocks, 100 ms apart; equal to
    ``pyloudnorm.Meter(rate).integrated_loudness`` on the whole sound (tested)."""

    GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # per channel: L, R, C, Ls, Rs
    # BS.1770-4's K-weighting, as pyloudnorm's Meter builds it: a high shelf (+4 dB above
    # 1.5 kHz), then a high pass at 38 Hz; (gain dB, Q, corner Hz, kind).
    K_WEIGHTING = ((4.0, 1 / np.sqrt(2), 1500.0, "high_shelf"), (0.0, 0.5, 38.0, "high_pass"))

    def __init__(self, rate: int, channels: int) -> None:
        from pyloudnorm import IIRfilter

        self.rate, self.channels = rate, channels
        self.filters = [IIRfilter(g, q, fc, rate, kind) for g, q, fc, kind in self.K_WEIGHTING]
        # each filter's state per channel, carried from piece to piece; at rest at first
        size = [max(len(f.a), len(f.b)) - 1 for f in self.filters]
        self.state = [[np.zeros(n) for _ in range(channels)] for n in size]
        self.step = round(0.1 * rate)  # samples between gating blocks
        self.carry = np.zeros((0, channels))
        self.parts: list[np.ndarray] = []  # per piece, per 100 ms: the channels' sums of squares
        self.samples = 0

    def add(self, piece: np.ndarray) -> None:
        """``piece``: (n,) or (n, channels) samples, float."""
        from scipy.signal import lfilter

        data = np.asarray(piece, dtype=np.float64).reshape(len(piece), -1)
        for k, f in enumerate(self.filters):
            for c in range(self.channels):
                data[:, c], self.state[k][c] = lfilter(f.b, f.a, data[:, c], zi=self.state[k][c])
                data[:, c] *= f.passband_gain
        self.samples += len(data)
        data = np.concatenate([self.carry, data])
        whole = len(data) // self.step * self.step
        squares = (data[:whole] ** 2).reshape(-1, self.step, self.channels).sum(axis=1)
        self.parts.append(squares)
        self.carry = data[whole:]

    def loudness(self) -> float | None:
        """The integrated loudness; None where no 400 ms block passes the gates (silence, or
        under 0.4 s)."""
        seconds = self.samples / self.rate
        if seconds < 0.4 or not self.parts:
            return None
        blocks = int(np.round((seconds - 0.4) / 0.1)) + 1
        parts = np.concatenate(self.parts)
        blocks = min(blocks, len(parts) - 3)
        if blocks < 1:
            return None
        z = np.stack([parts[j : j + 4].sum(axis=0) for j in range(blocks)]) / (0.4 * self.rate)
        gains = np.array(self.GAINS[: self.channels])
        with np.errstate(divide="ignore"):
            level = -0.691 + 10 * np.log10((z * gains).sum(axis=1))
        gated = level >= -70.0
        if not gated.any():
            return None
        relative = -0.691 + 10 * np.log10((z[gated].mean(axis=0) * gains).sum()) - 10.0
        gated = (level > relative) & (level > -70.0)
        if not gated.any():
            return None
        value = -0.691 + 10 * np.log10((z[gated].mean(axis=0) * gains).sum())
        return round(float(value), 2)


class TrackFiles:
    """The mixture, each track and the residual (``names``, in that order) written as 16-bit
    WAVs block by block (each
    to a temporary file, renamed when closed), with what was heard of each: its loudness and
    its share of the mixture's energy. Nothing is held but the block in hand."""

    def __init__(self, out: Path, names: list[str], rate: int, channels: int) -> None:
        self.rate, self.names, self.stack = rate, names, ExitStack()
        self.writers, self.meters, self.energy = {}, {}, {}
        for name in names:
            tmp = self.stack.enter_context(atomic_path(out / f"{name}.wav"))
            writer = wave.open(str(tmp), "wb")
            writer.setnchannels(channels)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            self.writers[name] = writer
            self.meters[name] = LoudnessMeter(rate, channels)
            self.energy[name] = 0.0

    def write(self, name: str, block: np.ndarray) -> None:
        """``block``: (C, n) float samples of output ``name``."""
        block = np.atleast_2d(block)
        samples = np.round(np.clip(block, -1, 1) * 32767).astype("<i2").T
        self.writers[name].writeframes(np.ascontiguousarray(samples).tobytes())
        self.meters[name].add(block.T)
        self.energy[name] += float((block.astype(np.float64) ** 2).sum())

    def write_all(self, mixture: np.ndarray, tracks: np.ndarray, residual: np.ndarray) -> None:
        """The next block of every output: the mixture (C, n), the tracks (K, C, n) in the
        order of ``names``, and the residual (C, n)."""
        self.write("mixture", mixture)
        for name, track in zip(self.names[1:-1], tracks, strict=True):
            self.write(name, track)
        self.write("residual", residual)

    def __enter__(self) -> TrackFiles:
        return self

    def __exit__(self, *failure) -> None:
        """Every file into place, or (after a failure) none."""
        for writer in self.writers.values():
            writer.close()
        self.stack.__exit__(*failure)

    def seconds(self) -> float:
        """How long the outputs are."""
        return self.meters["mixture"].samples / self.rate

    def heard(self) -> dict[str, dict]:
        """Per output: its loudness (LUFS) and share of the mixture's energy."""
        total = self.energy["mixture"]
        return {
            name: {
                "loudness_lufs": self.meters[name].loudness(),
                "energy_share": round(self.energy[name] / total, 4) if total > 0 else None,
            }
            for name in self.names
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
