"""The masks picture of a separated video: the mixture's spectrogram and each track's share,
drawn from the model-rate WAVs read a piece at a time, a long video's spectrogram pooled to a
few thousand columns and never held whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iquery.pipeline.media.ffmpeg import WavReader
from iquery.pipeline.report.separation_page import masks_figure

# The masks picture's columns at most: a long video's spectrogram is pooled to this many.
PICTURE_COLUMNS = 2000


def write_masks_figure(out: Path, model_rate: Path, wanted: list[str]) -> tuple[float, float]:
    """The masks picture, from the mixture and the tracks at the model's rate (the WAVs in
    ``model_rate``): what the model decided."""
    with WavReader(model_rate / "mixture.wav") as mixture:
        rate, length = mixture.rate, mixture.length
        sound = overview(mixture.mono, length)
    masks = {}
    for name in wanted:
        with WavReader(model_rate / f"{name}.wav") as track:
            masks[name] = overview(track.mono, length)
    return masks_figure(sound, masks, length / rate, rate, out / "masks.png")


def overview(read, length: int, n_fft: int = 1022, hop: int = 256) -> np.ndarray:
    """The magnitude spectrogram (n_fft // 2 + 1, at most PICTURE_COLUMNS) of a sound of
    ``length`` samples, read a piece at a time (``read(start, end)``, silence beyond its ends):
    its frames averaged in groups, a long video's whole spectrogram never held."""
    import torch

    frames = 1 + length // hop
    group = -(-frames // PICTURE_COLUMNS)
    per_piece = group * max(1, 4096 // group)  # whole groups, about 4096 frames, however long
    window = torch.hann_window(n_fft, periodic=True)
    columns = []
    for first in range(0, frames, per_piece):
        count = min(per_piece, frames - first)
        start = first * hop - n_fft // 2  # frames centred on their sample
        piece = reflected(read, length, start, start + (count - 1) * hop + n_fft)
        spec = torch.stft(
            torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32)),
            n_fft,
            hop,
            window=window,
            center=False,
            return_complex=True,
        )
        spec = spec.abs().numpy()
        usable = count // group * group
        pooled = spec[:, :usable].reshape(spec.shape[0], -1, group).mean(axis=2)
        if usable < count:
            pooled = np.concatenate([pooled, spec[:, usable:].mean(axis=1, keepdims=True)], axis=1)
        columns.append(pooled)
    return np.concatenate(columns, axis=1)


def reflected(read, length: int, start: int, end: int) -> np.ndarray:
    """Samples ``start`` to ``end`` of a sound, mirrored at its ends (as a centred STFT pads)."""
    at = np.arange(start, end)
    at = np.where(at < 0, -at, at)
    at = np.where(at >= length, 2 * (length - 1) - at, at)
    lo = int(at.min())
    return read(lo, int(at.max()) + 1)[at - lo]
