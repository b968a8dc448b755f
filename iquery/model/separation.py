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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from iquery.model.full_rate import MaskJoiner
from iquery.model.shard_dataset import ClipSpec, _frames_tensor, clip_frames

# The crops of one class at some frames (0-based indices): JPEG bytes per frame.
CropSource = Callable[[int, list[int]], list[bytes]]


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
        weight = np.hanning(self.clip + 2)[1:-1]  # never zero: every sample counts
        total = np.zeros(pieces.shape[1:-1] + (self.padded_length,), dtype=np.float64)
        norm = np.zeros(self.padded_length, dtype=np.float64)
        for start, piece in zip(self.starts, pieces, strict=True):
            total[..., start : start + self.clip] += piece * weight
            norm[start : start + self.clip] += weight
        return (total / norm)[..., self.pad : self.pad + self.length]


def window_audio(audio: np.ndarray, windows: Windows) -> np.ndarray:
    """(W, clip) windows of ``audio``, zero beyond its ends."""
    padded = np.zeros(windows.padded_length, dtype=np.float32)
    padded[windows.pad : windows.pad + windows.length] = audio
    return np.stack([padded[s : s + windows.clip] for s in windows.starts])


def frame_indices(centre_seconds: float, fps: float, n_frames: int, spec: ClipSpec) -> list[int]:
    """0-based frames around a time, as training picks them around a clip's centre."""
    centre = min(max(int(centre_seconds * fps) + 1, 1), n_frames)
    return clip_frames(centre, n_frames, spec)


@torch.no_grad()
def separate_audio(
    system,
    audio: np.ndarray,
    *,
    rate: int,
    fps: float,
    n_frames: int,
    class_indices: list[int],
    crops: CropSource,
    motion: np.ndarray | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Tracks (K, L) for ``class_indices``, the residual (L,), the windows and each class's
    masks over the whole sound (a ``MaskTimeline``, to separate the video's own sound at its
    own rate: ``iquery.model.full_rate``), from a mono ``audio`` (float in [-1, 1]) at the
    model's rate and the video's crops and motion tokens (T', C)."""
    spec = ClipSpec.from_settings(system.hparams.data_spec)
    windows = Windows.cover(len(audio), spec.clip_samples)
    pieces = window_audio(audio.astype(np.float32), windows)
    system = system.to(device).eval()
    count = len(class_indices)
    out = np.zeros((len(windows.starts), count, spec.clip_samples), dtype=np.float32)
    front_end = system.front_end
    joiner = MaskJoiner(windows.padded_length, windows.pad, rate, front_end.n_fft, front_end.hop)
    for first in range(0, len(windows.starts), batch_size):
        chosen = range(first, min(first + batch_size, len(windows.starts)))
        frames = []
        for w in chosen:
            at = frame_indices(windows.centre_seconds(w, rate), fps, n_frames, spec)
            per_class = [
                _frames_tensor([np.frombuffer(j, np.uint8) for j in crops(k, at)], spec, None)
                for k in class_indices
            ]
            frames.append(torch.stack(per_class))
        batch = {
            "frames": torch.stack(frames).to(device),
            "class_index": torch.tensor([class_indices] * len(chosen), device=device),
        }
        if system.uses_motion:
            if motion is None:
                raise ValueError("this model uses motion: give the video's motion tokens")
            tokens = torch.as_tensor(motion, dtype=torch.float32, device=device)
            batch["motion"] = tokens.expand(len(chosen), count, *tokens.shape)
            batch["motion_padding"] = torch.zeros(
                len(chosen), count, tokens.shape[0], dtype=torch.bool, device=device
            )
        wave = torch.from_numpy(pieces[list(chosen)]).to(device)
        # The window is the mixture: one "source", not divided (it is already what was heard).
        mixture = system.front_end(wave[:, None, :], divide=False)
        masks = torch.sigmoid(system.mask_logits(batch, mixture).float())
        tracks = system.front_end.reconstruct(
            masks,
            mixture.mix_mag,
            mixture.mix_phase,
            length=spec.clip_samples,
            threshold=system.threshold,
        )
        out[list(chosen)] = tracks.cpu().numpy()
        for w, linear in zip(chosen, front_end.unwarp(masks).cpu().numpy(), strict=True):
            joiner.add(windows.starts[w], linear)
        if progress is not None:
            progress(len(chosen), len(windows.starts))
    tracks = windows.join(out).astype(np.float32)
    return {
        "tracks": tracks,
        "residual": (audio - tracks.sum(axis=0)).astype(np.float32),
        "windows": windows,
        "masks": joiner.timeline(),
    }
