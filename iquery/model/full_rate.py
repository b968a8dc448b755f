"""Tracks at the video's own rate and channels, from masks the model estimates at its own rate.

The model hears mono sound at its rate (11025 Hz for MUSIC) and gives, per window and class, a
mask over its linear STFT bins. Joined over the windows (each frame weighted by its window's
Hann weight), the masks become a ``MaskTimeline``: one mask per class over the whole sound, on
the model's STFT grid, joined as the windows come and kept in memory or, for a long video, in
a scratch file read back a stretch at a time (``MaskStore``). ``apply_masks`` then separates
each channel of the video's own sound at its own rate: an STFT whose frames last as long and
hop as far in seconds as the model's, so that both grids have the same frequency spacing; the
timeline's masks are interpolated onto its frames and, below the model's Nyquist frequency, onto
its bins. Above it the model heard nothing, and ``HIGH_BAND_RULES`` say what each track gets
there:

- ``share`` (default): each track's share of the mixture's energy in the top octave the model
  did hear (a quarter to half its rate), frame by frame, carried upward: cymbals go with the
  instrument that is loud just below them;
- ``edge``: the mask of the model's highest bin, carried upward;
- ``none``: nothing; the whole high band stays in the residual.

The residual is the sound minus every track, at full rate and on every channel, so the tracks
and the residual add up to the sound exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iquery.model.running_sum import RunningSum

# Imported by the separate command for its --help: torch is imported where it is used.
HIGH_BAND_RULES = ("share", "edge", "none")


@dataclass(frozen=True)
class MaskGrid:
    """The model's linear STFT grid: ``n_fft`` and ``hop`` at ``rate``; mask frame i is centred
    at model sample ``i * hop - offset`` of the sound."""

    rate: int
    n_fft: int
    hop: int
    offset: int


class MaskTimeline:
    """Each class's mask over the whole sound, (K, F, T) in [0, 1] on a ``MaskGrid``, read a
    stretch of frames at a time (``frames``): held in memory, or in a file a long video's masks
    are written to as they are made (``MaskStore``)."""

    def __init__(self, grid: MaskGrid, shape: tuple[int, int, int], read) -> None:
        self.grid, self.shape, self._read = grid, shape, read
        self.rate, self.n_fft, self.hop, self.offset = grid.rate, grid.n_fft, grid.hop, grid.offset

    @classmethod
    def of_array(cls, masks: np.ndarray, grid: MaskGrid) -> MaskTimeline:
        return cls(grid, masks.shape, lambda lo, hi: masks[:, :, lo:hi])

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo`` to ``hi`` (exclusive): (K, F, hi - lo) float32."""
        return self._read(lo, hi)


class MaskStore:
    """Where joined mask frames go, in order: kept in memory, or (given ``path``) appended to
    that file frame by frame, (T, K, F) float32, and read back a stretch at a time."""

    def __init__(self, path: Path | None = None) -> None:
        self.path, self.pieces, self.grid, self.count, self.size = path, [], None, 0, None
        if path is not None:
            path.write_bytes(b"")

    def begin(self, grid: MaskGrid) -> None:
        self.grid = grid

    def add(self, frames: np.ndarray) -> None:
        """Frames (K, F, n) following the ones added before."""
        self.size = frames.shape[:2]
        self.count += frames.shape[2]
        if self.path is None:
            self.pieces.append(frames)
        else:
            with self.path.open("ab") as file:
                file.write(np.ascontiguousarray(frames.transpose(2, 0, 1), "<f4").tobytes())

    def timeline(self) -> MaskTimeline:
        if self.grid is None or not self.count:
            raise ValueError("no window was separated")
        if self.path is None:
            return MaskTimeline.of_array(np.concatenate(self.pieces, axis=2), self.grid)
        k, f = self.size
        path = self.path

        def read(lo: int, hi: int) -> np.ndarray:
            with path.open("rb") as file:
                file.seek(lo * k * f * 4)
                flat = np.fromfile(file, "<f4", count=(hi - lo) * k * f)
            return flat.reshape(hi - lo, k, f).transpose(1, 2, 0)

        return MaskTimeline(self.grid, (k, f, self.count), read)


class MaskJoiner:
    """Joins each window's masks (K, F, T_w), framed from the window's first sample and added
    in order, with Hann weights over each window's frames (as the waveforms are joined), so that
    a frame near a window's edge counts little. Frames no later window reaches are handed to a
    ``MaskStore`` as soon as they are final (``release``): only a few windows' frames are held."""

    def __init__(
        self, padded_length: int, pad: int, rate: int, n_fft: int, hop: int, store: MaskStore
    ) -> None:
        self.hop, self.store = hop, store
        store.begin(MaskGrid(rate, n_fft, hop, pad))
        self.frames = padded_length // hop + 2
        self.sum: RunningSum | None = None  # made when the first masks show their shape

    def add(self, start: int, masks: np.ndarray) -> None:
        """Window masks (K, F, T_w) of the window starting at padded sample ``start``."""
        k, f, t = masks.shape
        if self.sum is None:
            self.sum = RunningSum((k, f), np.float32, floor=1e-12)
        weight = np.hanning(t + 2)[1:-1]
        position = start / self.hop  # the window's first frame on the timeline, fractional
        first = int(np.floor(position))
        part = position - first
        for index, share in ((first, 1.0 - part), (first + 1, part)):
            if share <= 0:
                continue
            used = min(index + t, self.frames) - index
            self.sum.add(index, masks[:, :, :used], weight[:used] * share)

    def release(self, next_start: int | None = None) -> None:
        """Hand the store the frames before the window starting at padded sample
        ``next_start`` (no later window reaches them); all of them with None."""
        upto = self.frames if next_start is None else min(next_start // self.hop, self.frames)
        if self.sum is None or upto <= self.sum.origin:
            return
        self.store.add(self.sum.release(upto).astype(np.float32))


def full_rate_grid(timeline: MaskTimeline, rate: int) -> tuple[int, int]:
    """(n_fft, hop) at ``rate`` spanning the same seconds as the model's frames."""
    scale = rate / timeline.rate
    return 2 * max(1, round(timeline.n_fft * scale / 2)), max(1, round(timeline.hop * scale))


def masks_at(
    timeline: MaskTimeline, rate: int, n_fft: int, hop: int, frames: int, first_frame: int = 0
) -> np.ndarray:
    """The timeline's masks on the grid of an STFT at ``rate`` (``n_fft``, ``hop``; ``frames``
    centred frames from frame ``first_frame``): (K, n_fft // 2 + 1, frames); bins above the
    model's Nyquist frequency are NaN (a high-band rule fills them)."""
    k, model_bins, model_frames = timeline.shape
    # Time: frame j is centred at j * hop / rate seconds.
    at = np.arange(first_frame, first_frame + frames) * hop / rate
    position = (at * timeline.rate + timeline.offset) / timeline.hop
    position = np.clip(position, 0, model_frames - 1)
    first = np.minimum(np.floor(position).astype(int), model_frames - 2)
    part = (position - first).astype(np.float32)
    lo = int(first.min())
    masks = timeline.frames(lo, int(first.max()) + 2)  # only the frames this stretch needs
    in_time = masks[:, :, first - lo] * (1 - part) + masks[:, :, first + 1 - lo] * part
    # Frequency: bin b is at b * rate / n_fft Hz, the model's bin m at m * model rate / n_fft.
    position = np.arange(n_fft // 2 + 1) * rate / n_fft * timeline.n_fft / timeline.rate
    heard = position <= model_bins - 1
    first = np.minimum(np.floor(position[heard]).astype(int), model_bins - 2)
    part = (position[heard] - first).astype(np.float32)[:, None]
    out = np.full((k, n_fft // 2 + 1, frames), np.nan, dtype=np.float32)
    out[:, heard] = in_time[:, first] * (1 - part) + in_time[:, first + 1] * part
    return out


def fill_high_band(masks: np.ndarray, power: np.ndarray, rule: str, top_octave: np.ndarray):
    """Fill the NaN bins of ``masks`` (K, F, T) by ``rule``; ``power``: the mixture's energy
    (F, T) summed over channels; ``top_octave``: the bins of the model's top octave."""
    if rule not in HIGH_BAND_RULES:
        raise ValueError(f"high-band rule {rule!r}: use one of {', '.join(HIGH_BAND_RULES)}")
    high = np.isnan(masks[0, :, 0])
    if not high.any():
        return masks
    if rule == "none":
        fill = np.zeros((masks.shape[0], masks.shape[2]), dtype=np.float32)
    elif rule == "edge":
        fill = masks[:, ~high][:, -1]
    else:
        band = power[top_octave]
        taken = (masks[:, top_octave] * band).sum(axis=1)
        fill = (taken / np.maximum(band.sum(axis=0), 1e-12)).astype(np.float32)
    masks[:, high] = fill[:, None, :]
    return masks


def apply_masks(
    timeline: MaskTimeline,
    sound: np.ndarray,
    rate: int,
    *,
    high_band: str = "share",
    threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tracks (K, C, L) and the residual (C, L) of ``sound`` (C, L), float, at ``rate``, by the
    timeline's masks (cut at ``threshold`` for a binary-mask model, as training's
    reconstruction does): ``apply_masks_in_blocks`` over one block."""
    sound = np.atleast_2d(np.asarray(sound, dtype=np.float32))
    made: list = []
    apply_masks_in_blocks(
        timeline,
        lambda start, end: sound[:, start:end],
        sound.shape[1],
        rate,
        lambda start, block, tracks, residual: made.append((tracks, residual)),
        block_seconds=sound.shape[1] / rate + 1,
        high_band=high_band,
        threshold=threshold,
    )
    ((tracks, residual),) = made
    return tracks, residual


def apply_masks_in_blocks(
    timeline: MaskTimeline,
    read: Callable[[int, int], np.ndarray],
    length: int,
    rate: int,
    write: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None],
    *,
    block_seconds: float = 30.0,
    high_band: str = "share",
    threshold: float | None = None,
) -> None:
    """Separate a sound of ``length`` samples at ``rate`` block by block, so that no array
    spans the whole of it: ``read(start, end)`` gives its samples (C, end - start), float;
    ``write(start, sound (C, n), tracks (K, C, n), residual (C, n))`` takes each block's sound
    and results in order.

    Each block is cut with a margin of one FFT on both sides, from a sample on the frame grid,
    so that every frame that reaches the block's samples is the whole sound's own frame: the
    result equals one pass over the whole sound, block seams and all (tested).
    """
    import torch

    from iquery.model.audio import istft, stft

    n_fft, hop = full_rate_grid(timeline, rate)
    margin = -(-n_fft // hop) * hop
    block = max(hop, round(block_seconds * rate) // hop * hop)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    top_octave = (freqs >= timeline.rate / 4) & (freqs <= timeline.rate / 2)
    for start in range(0, length, block):
        end = min(start + block, length)
        first, last = max(0, start - margin), min(length, end + margin)
        segment = np.atleast_2d(np.asarray(read(first, last), dtype=np.float32))
        spectrum = stft(torch.from_numpy(segment), n_fft, hop)  # (C, F, T)
        masks = masks_at(timeline, rate, n_fft, hop, spectrum.shape[-1], first // hop)
        if threshold is not None:
            heard = ~np.isnan(masks)
            masks[heard] = (masks[heard] > threshold).astype(np.float32)
        power = (spectrum.abs() ** 2).sum(dim=0).numpy()
        masks = fill_high_band(masks, power, high_band, top_octave)
        inner = slice(start - first, end - first)
        tracks = np.stack(
            [
                istft(
                    spectrum * torch.from_numpy(m)[None], n_fft, hop, length=last - first
                ).numpy()[:, inner]
                for m in masks
            ]
        ).astype(np.float32)
        sound = segment[:, inner]
        write(start, sound, tracks, (sound - tracks.sum(axis=0)).astype(np.float32))
