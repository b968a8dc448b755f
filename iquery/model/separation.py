"""Separating a whole video of any length with a trained model.

The model sees one training clip at a time (``clip_samples``, 6 s for MUSIC): the sound is cut
into windows of that length, half a window apart, each window is separated for every wanted
class, and the windows' waveforms are joined by overlap-add with a Hann window, normalised by
the windows' summed weight at every sample, so that the joins have no clicks. The sound is
padded by half a window at both ends, so every sample lies in two windows.

Each window's visual input is the class's object crops at the window's centre (the frames and
crops as training cut them, ``iquery/model/shard_dataset.py``), and the video's motion tokens, as
training gives them. The residual is the mixture minus every track, so tracks plus residual
give back the mixture.

Nothing spans the whole sound: ``separate_stream`` reads the sound a window at a time, and hands
out each stretch of the tracks, and of the masks joined over the windows, as soon as no later
window reaches it, so a video of any length is separated in the memory of a few windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from iquery.model.full_rate import MaskJoiner, MaskStore
from iquery.model.running_sum import RunningSum
from iquery.model.shard_dataset import ClipSpec, _frames_tensor, clip_frames, tokens_for_window

# The crops of one class at some frames (0-based indices): JPEG bytes per frame.
CropSource = Callable[[int, list[int]], list[bytes]]
# Samples start to end (exclusive) of a mono sound, zero beyond its ends: float32 (end - start,).
SoundReader = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class Windows:
    """Where the windows of a signal of ``length`` samples lie, on the signal padded by
    ``pad`` samples at the start."""

    length: int
    clip: int
    hop: int
    pad: int
    starts: tuple[int, ...]

    @classmethod
    def cover(cls, length: int, clip: int) -> Windows:
        hop = max(clip // 2, 1)
        pad = hop
        padded = length + 2 * pad
        count = max(1, -(-(padded - clip) // hop) + 1)
        return cls(length, clip, hop, pad, tuple(i * hop for i in range(count)))

    @property
    def padded_length(self) -> int:
        return self.starts[-1] + self.clip

    def centre_seconds(self, index: int, rate: int) -> float:
        """The time of window ``index``'s centre in the original signal."""
        return (self.starts[index] + self.clip / 2 - self.pad) / rate

    def join(self, pieces: np.ndarray) -> np.ndarray:
        """Overlap-add ``pieces`` (W, ..., clip) into (..., length)."""
        joined = OverlapAdd(self, pieces.shape[1:-1])
        for start, piece in zip(self.starts, pieces, strict=True):
            joined.add(start, piece)
        return joined.release()


class OverlapAdd:
    """Joins windows' pieces (..., clip), added in window order, by overlap-add with a Hann
    window normalised by the summed weight at every sample; ``release`` hands out the samples
    no later window reaches, so only a few windows' samples are held."""

    def __init__(self, windows: Windows, shape: tuple[int, ...] = ()) -> None:
        self.windows = windows
        self.weight = np.hanning(windows.clip + 2)[1:-1]  # never zero: every sample counts
        self.sum = RunningSum(shape, np.float64, floor=1e-300)  # on the padded signal

    def add(self, start: int, piece: np.ndarray) -> None:
        """The piece of the window starting at padded sample ``start``."""
        self.sum.add(start, piece, self.weight)

    def release(self, next_start: int | None = None) -> np.ndarray:
        """The joined signal's samples (..., n) up to the window starting at padded sample
        ``next_start`` (all that remain with None), in the signal's own samples."""
        w = self.windows
        origin = self.sum.origin
        upto = w.padded_length if next_start is None else next_start
        done = self.sum.release(upto)
        lo, hi = max(origin, w.pad), min(upto, w.pad + w.length)
        return done[..., max(0, lo - origin) : max(0, hi - origin)]


def window_audio(audio: np.ndarray, windows: Windows) -> np.ndarray:
    """(W, clip) windows of ``audio``, zero beyond its ends."""
    read = array_reader(audio)
    return np.stack([window_samples(read, windows, w) for w in range(len(windows.starts))])


def array_reader(audio: np.ndarray) -> SoundReader:
    """A ``SoundReader`` over a mono sound held in memory."""
    audio = np.asarray(audio, dtype=np.float32)

    def read(start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float32)
        lo, hi = max(start, 0), min(end, len(audio))
        if hi > lo:
            out[lo - start : hi - start] = audio[lo:hi]
        return out

    return read


def window_samples(read: SoundReader, windows: Windows, index: int) -> np.ndarray:
    """Window ``index``'s samples (clip,), zero beyond the sound's ends."""
    start = windows.starts[index] - windows.pad
    return read(start, start + windows.clip)


def frame_indices(centre_seconds: float, fps: float, n_frames: int, spec: ClipSpec) -> list[int]:
    """0-based frames around a time, as training picks them around a clip's centre."""
    centre = min(max(int(centre_seconds * fps) + 1, 1), n_frames)
    return clip_frames(centre, n_frames, spec)


def separate_audio(system, audio: np.ndarray, **options) -> dict:
    """Tracks (K, L) for ``class_indices``, the residual (L,), the windows and each class's
    masks over the whole sound (a ``MaskTimeline``, to separate the video's own sound at its
    own rate: ``iquery.model.full_rate``), from a mono ``audio`` (float in [-1, 1]) held in
    memory: ``separate_stream`` with everything kept. ``options``: as ``separate_stream``'s."""
    pieces, masks = [], MaskStore()
    windows = separate_stream(
        system, array_reader(audio), len(audio), tracks_to=pieces.append, masks_to=masks, **options
    )
    tracks = np.concatenate(pieces, axis=-1).astype(np.float32)
    return {
        "tracks": tracks,
        "residual": (audio - tracks.sum(axis=0)).astype(np.float32),
        "windows": windows,
        "masks": masks.timeline(),
    }


@torch.no_grad()
def separate_stream(
    system,
    read: SoundReader,
    length: int,
    *,
    rate: int,
    fps: float,
    n_frames: int,
    class_indices: list[int],
    crops: CropSource,
    tracks_to: Callable[[np.ndarray], None],
    masks_to: MaskStore | None = None,
    motion: np.ndarray | None = None,
    motion_spans: np.ndarray | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Windows:
    """Separate a mono sound of ``length`` samples at the model's rate, read a window at a
    time (``read``), for ``class_indices``, with the video's crops and motion tokens (T', C)
    and their spans in seconds (T', 2; needed where the model reads a clip's own tokens).

    ``tracks_to`` gets the tracks (K, n) in order, a stretch at a time, as soon as no later
    window reaches them (``length`` samples in all); ``masks_to``, where given, likewise gets
    the masks joined over the windows on the model's linear STFT grid. Returns the windows.
    """
    spec = ClipSpec.from_settings(system.hparams.data_spec)
    windows = Windows.cover(length, spec.clip_samples)
    system = system.to(device).eval()
    front_end = system.front_end
    joined = OverlapAdd(windows, (len(class_indices),))
    joiner = None
    if masks_to is not None:
        joiner = MaskJoiner(
            windows.padded_length, windows.pad, rate, front_end.n_fft, front_end.hop, masks_to
        )
    seen = VisualInputs(
        windows, spec, rate, fps, n_frames, class_indices, crops, motion, motion_spans, device
    )
    starts = windows.starts
    for first in range(0, len(starts), batch_size):
        chosen = range(first, min(first + batch_size, len(starts)))
        batch = seen.batch(chosen, system.uses_motion)
        wave = torch.from_numpy(np.stack([window_samples(read, windows, w) for w in chosen]))
        # The window is the mixture: one "source", not divided (it is already what was heard).
        mixture = front_end(wave.to(device)[:, None, :], divide=False)
        masks = torch.sigmoid(system.mask_logits(batch, mixture).float())
        linear = front_end.unwarp(masks)
        tracks = front_end.reconstruct_linear(
            linear,
            mixture.mix_mag,
            mixture.mix_phase,
            length=spec.clip_samples,
            threshold=system.threshold,
        )
        following = starts[chosen[-1] + 1] if chosen[-1] + 1 < len(starts) else None
        for w, piece in zip(chosen, tracks.cpu().numpy(), strict=True):
            joined.add(starts[w], piece)
        released = joined.release(following)
        if released.shape[-1]:
            tracks_to(released.astype(np.float32))
        if joiner is not None:
            for w, mask in zip(chosen, linear.cpu().numpy(), strict=True):
                joiner.add(starts[w], mask)
            joiner.release(following)
        if progress is not None:
            progress(len(chosen), len(starts))
    return windows


@dataclass(frozen=True)
class VisualInputs:
    """What the model sees of the video for each window: each class's crops at the window's
    centre (the frames training would pick), and the video's motion tokens (all of them, or
    the window's own, as the model was trained)."""

    windows: Windows
    spec: ClipSpec
    rate: int
    fps: float
    n_frames: int
    class_indices: list[int]
    crops: CropSource
    motion: np.ndarray | None
    motion_spans: np.ndarray | None
    device: str | torch.device

    def batch(self, chosen: range, uses_motion: bool) -> dict:
        frames = []
        for w in chosen:
            centre = self.windows.centre_seconds(w, self.rate)
            at = frame_indices(centre, self.fps, self.n_frames, self.spec)
            per_class = [
                _frames_tensor(
                    [np.frombuffer(j, np.uint8) for j in self.crops(k, at)], self.spec, None
                )
                for k in self.class_indices
            ]
            frames.append(torch.stack(per_class))
        batch = {
            "frames": torch.stack(frames).to(self.device),
            "class_index": torch.tensor([self.class_indices] * len(chosen), device=self.device),
        }
        if uses_motion:
            if self.motion is None:
                raise ValueError("this model uses motion: give the video's motion tokens")
            batch |= self.motion_batch(chosen)
        return batch

    def motion_batch(self, chosen: range) -> dict:
        """The tokens of each chosen window (T', C each), padded to the longest, for every
        class: the model's ``motion`` and ``motion_padding``."""
        every = np.arange(len(self.motion))
        if self.spec.motion_tokens == "clip":
            if self.motion_spans is None:
                raise ValueError("this model reads each clip's own motion tokens: give their spans")
            starts = [(self.windows.starts[w] - self.windows.pad) / self.rate for w in chosen]
            clip = self.windows.clip / self.rate
            picks = [tokens_for_window(self.motion_spans, s, s + clip) for s in starts]
        else:
            picks = [every] * len(chosen)
        longest = max(len(p) for p in picks)
        tokens = torch.zeros(len(chosen), longest, self.motion.shape[1])
        padding = torch.ones(len(chosen), longest, dtype=torch.bool)
        for i, pick in enumerate(picks):
            tokens[i, : len(pick)] = torch.from_numpy(np.asarray(self.motion[pick], np.float32))
            padding[i, : len(pick)] = False
        count = len(self.class_indices)
        return {
            "motion": tokens[:, None].expand(-1, count, -1, -1).to(self.device),
            "motion_padding": padding[:, None].expand(-1, count, -1).to(self.device),
        }
