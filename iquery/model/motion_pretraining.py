"""Learning the motion encoder on a dataset's own training videos, for where no FAME or Kinetics
weights can be had (the demo, offline): the picture learns what its own sound does.

The network (``iquery/pipeline/motion/i3d.py``: the small I3D, or Inception in the piergiaj layout;
either way its state dict is a file the motion stage reads as it reads any public one) sees a
window of a video's frames, as the motion stage will run it (``motion.window_frames`` frames at
``motion.frame_rate``). From each of its tokens alone, a linear head predicts how loud the video's
sound is over the token's span and how much it rises there (the onsets of notes:
``iquery/pipeline/motion/probe.py``'s targets, standardised on the training videos). The sound is
the teacher, free with every video: no labels, and no validation or test video, are used; a
fixed number of steps (not a time budget) keeps it reproducible.

Why this, and not FAME's contrast (a clip against its foreground pasted on other backgrounds) or
contrastive synchrony (a window's picture must pick out its own sound among a batch's): what the
separator needs of a motion token is when, and how hard, the instrument plays, and the sound's
loudness curve says exactly that; the demo's backgrounds are static, so FAME's lesson (ignore the
background) would teach little there; and contrastive synchrony, tried first, did not leave
chance within the demo's budget (docs/motion.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from iquery.pipeline.motion.i3d import build_backbone
from iquery.pipeline.motion.probe import TARGETS, span_targets
from iquery.pipeline.motion.tokens import token_spans


@dataclass
class TrainingVideo:
    """One training video as the encoder learns from it: frames (T, H, W, 3) uint8 at
    ``frame_rate`` (frame k covers [k, k + 1) / frame_rate seconds) and its sound (L,) float32."""

    frames: np.ndarray
    sound: np.ndarray
    frame_rate: float
    audio_rate: int

    def window(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames [start, start + length) and the sound of the same seconds."""
        samples = round(length / self.frame_rate * self.audio_rate)
        first = round(start / self.frame_rate * self.audio_rate)
        sound = np.zeros(samples, dtype=np.float32)
        heard = self.sound[first : first + samples]
        sound[: len(heard)] = heard
        return self.frames[start : start + length], sound


def pick_windows(
    videos: list[TrainingVideo], count: int, length: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``count`` (video, first frame) pairs: ``count // 2`` videos, two windows of each that
    overlap by at most half a window (a video too short for that gives two at its ends)."""
    chosen = rng.choice(len(videos), size=count // 2, replace=len(videos) < count // 2)
    picks = []
    for v in chosen:
        last = max(len(videos[v].frames) - length, 0)
        first = int(rng.integers(0, last + 1))
        far = [s for s in range(last + 1) if abs(s - first) >= length // 2]
        second = int(rng.choice(far)) if far else last - first
        picks += [(int(v), first), (int(v), second)]
    return picks


def batch(videos: list[TrainingVideo], picks, length: int) -> tuple[Tensor, Tensor]:
    """(B, 3, length, H, W) float frames in [0, 1] and (B, L) sound of the picked windows."""
    frames, sounds = [], []
    for v, start in picks:
        picture, sound = videos[v].window(start, length)
        if len(picture) < length:  # a video shorter than a window: its last frame held
            picture = np.concatenate([picture, picture[-1:].repeat(length - len(picture), 0)])
        frames.append(picture)
        sounds.append(sound)
    x = torch.from_numpy(np.stack(frames)).permute(0, 4, 1, 2, 3).float().div_(255.0)
    return x.contiguous(), torch.from_numpy(np.stack(sounds))


def window_targets(videos: list[TrainingVideo], picks, length: int, stride: int) -> np.ndarray:
    """(B, T', 2): each token's targets (loudness, rises) over its span of its window's sound,
    the span the extractor gives it (``token_spans``)."""
    out = []
    for v, start in picks:
        video = videos[v]
        tokens = -(-length // stride)
        spans = token_spans(tokens, length, stride, video.frame_rate, start_frame=start)
        out.append(span_targets(video.sound, video.audio_rate, spans))
    return np.stack(out)


def token_features(network: nn.Module, frames: Tensor) -> Tensor:
    """(B, T', C): the network's map max-pooled over space, as the motion stage's tokens."""
    return network(frames).amax(dim=(3, 4)).transpose(1, 2)


def r_squared(predicted: Tensor, truth: Tensor) -> list[float]:
    """R² of each target over all tokens given."""
    error = ((predicted - truth) ** 2).sum(dim=(0, 1))
    spread = ((truth - truth.mean(dim=(0, 1))) ** 2).sum(dim=(0, 1))
    return [round(float(v), 4) for v in 1 - error / spread]


def pretrain_motion_encoder(
    videos: list[TrainingVideo],
    *,
    backbone: str,
    window_frames: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    log: Callable[[str], None] | None = print,
) -> tuple[dict, dict]:
    """The trained network's state dict (a layout ``build_backbone`` reads: for ``inception``,
    piergiaj's), and what the training did: steps, seconds, and the head's R² of each target
    at the start and at the end (on fixed windows of the training videos)."""
    if batch_size < 4 or batch_size % 2:
        raise ValueError(f"batch_size {batch_size}: give an even number, 4 or more")
    with deterministic():
        return _learn(videos, backbone, window_frames, steps, batch_size, lr, seed, log)


@contextmanager
def deterministic():
    """The same weights, bit for bit, on every run of the same inputs (the motion tokens and
    the shards record the weights' sha256): torch's and oneDNN's deterministic algorithms, on
    one thread, for the block only. Two threads were not enough: on a loaded machine their
    sums came out in another order now and then, and Adam's first steps turn a sign flip of a
    near-zero gradient into a whole step (two fresh runs of the tests' demo differed by 5e-4)."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.mkldnn.deterministic,
        torch.get_num_threads(),
    )
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.deterministic = True
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.mkldnn.deterministic = before[1]
        torch.set_num_threads(before[2])


def _learn(videos, backbone, window_frames, steps, batch_size, lr, seed, log):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    variant = "piergiaj" if backbone == "inception" else None
    network = build_backbone(backbone, variant=variant, norm_stats="running").train()
    stride = network.temporal_stride
    head = nn.Linear(network.channels, len(TARGETS))
    parts = nn.ModuleList([network, head])
    optimizer = torch.optim.Adam(parts.parameters(), lr=lr)

    def windows(count: int, pick: np.random.Generator) -> tuple[Tensor, Tensor]:
        picks = pick_windows(videos, count, window_frames, pick)
        frames, _ = batch(videos, picks, window_frames)
        truth = torch.from_numpy(window_targets(videos, picks, window_frames, stride))
        return frames, truth.float()

    fixed = windows(4 * batch_size, np.random.default_rng(seed + 1))
    centre, scale = fixed[1].mean(dim=(0, 1)), fixed[1].std(dim=(0, 1)) + 1e-6

    def explained() -> list[float]:
        parts.eval()
        with torch.no_grad():
            score = r_squared(head(token_features(network, fixed[0])), (fixed[1] - centre) / scale)
        parts.train()
        return score

    before = explained()
    started = time.time()
    for step in range(steps):
        frames, truth = windows(batch_size, rng)
        predicted = head(token_features(network, frames))
        loss = ((predicted - (truth - centre) / scale) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log and (step + 1) % 25 == 0:
            log(f"motion encoder: step {step + 1}/{steps}, loss {float(loss.detach()):.3f}")
    after = explained()
    facts = {
        "steps": steps,
        "seconds": round(time.time() - started, 1),
        "videos": len(videos),
        "batch_size": batch_size,
        "targets": list(TARGETS),
        "r2_on_training_windows": {"before": before, "after": after},
    }
    return network.state_dict(), facts
