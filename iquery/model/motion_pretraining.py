"""Learning the motion encoder on a dataset's own training videos, for where no FAME or Kinetics
weights can be had (the demo, offline): audio-visual synchrony.

The I3D (``iquery/pipeline/motion/i3d.py``: Inception, in the piergiaj layout, so that its state
dict is a file the motion stage reads as it reads any public one) sees a window of a video's
frames, as the motion stage will run it (``motion.window_frames`` frames at
``motion.frame_rate``); a small audio network hears the same seconds of the video's sound. Each
window's picture must pick out its own sound among the batch's, by InfoNCE both ways. Every batch
holds two windows of each video it draws, so the same instrument heard at another moment is
always among the choices: the look of an instrument cannot tell those apart, only what moves with
its notes can. No labels, and no validation or test video, are used; a fixed number of steps (not
a time budget) keeps it reproducible.

Why synchrony rather than FAME's contrast (a clip against its foreground pasted on other
backgrounds): what the separator needs of a motion token is when, and how hard, the instrument
plays, and that is exactly what the sound rewards; the demo's backgrounds are static, so FAME's
lesson (ignore the background) would teach the network little there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iquery.model.audio import apply_freq_matrix, log_freq_matrix, stft
from iquery.pipeline.motion.i3d import InceptionI3d

EMBEDDING = 128  # width of the space where pictures and sounds are matched
TEMPERATURE = 0.1
# The audio network's spectrogram: STFT size and hop (at the dataset's rate), log-frequency rows.
AUDIO_FFT, AUDIO_HOP, AUDIO_ROWS = 512, 128, 64


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


class SoundEncoder(nn.Module):
    """Log-magnitude spectrogram on a log-frequency grid, four strided convolutions, pooled: the
    embedding of a window's sound."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers, cin = [], 1
        for cout in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout)]
            layers.append(nn.ReLU(inplace=True))
            cin = cout
        self.convs = nn.Sequential(*layers)
        self.project = nn.Linear(cin, EMBEDDING)
        self.register_buffer("warp", log_freq_matrix(AUDIO_ROWS, AUDIO_FFT // 2 + 1), False)

    def forward(self, sound: Tensor) -> Tensor:
        """(B, L) float sound -> (B, EMBEDDING)."""
        magnitude = stft(sound, AUDIO_FFT, AUDIO_HOP).abs()  # (B, F, T)
        rows = apply_freq_matrix(magnitude[:, None], self.warp)
        features = self.convs(torch.log1p(rows))
        return self.project(features.mean(dim=(2, 3)))


class PictureHead(nn.Module):
    """What the motion stage keeps of the I3D (its map max-pooled over space: the tokens),
    averaged over the window's tokens and projected: the embedding of a window's picture."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Linear(channels, EMBEDDING)

    def forward(self, feature_map: Tensor) -> Tensor:
        tokens = feature_map.amax(dim=(3, 4))  # (B, C, T'), as the extractor's tokens
        return self.project(tokens.mean(dim=2))


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


def synchrony_loss(picture: Tensor, sound: Tensor) -> tuple[Tensor, float]:
    """InfoNCE both ways over the batch, and the share of windows whose picture ranks its own
    sound first."""
    picture, sound = F.normalize(picture, dim=1), F.normalize(sound, dim=1)
    logits = picture @ sound.T / TEMPERATURE
    truth = torch.arange(len(logits))
    loss = (F.cross_entropy(logits, truth) + F.cross_entropy(logits.T, truth)) / 2
    return loss, float((logits.argmax(1) == truth).float().mean())


def pretrain_motion_encoder(
    videos: list[TrainingVideo],
    *,
    window_frames: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    log: Callable[[str], None] | None = print,
) -> tuple[dict, dict]:
    """The trained I3D's state dict (the piergiaj layout ``build_backbone`` reads), and what the
    training did: steps, seconds, the loss and the share of windows matched to their own sound
    among the batch's, at the start and at the end (on fixed batches of the training videos)."""
    if batch_size < 4 or batch_size % 2:
        raise ValueError(f"batch_size {batch_size}: give an even number, 4 or more")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = InceptionI3d("piergiaj", norm_stats="running")
    head, hearing = PictureHead(network.channels), SoundEncoder()
    parts = nn.ModuleList([network, head, hearing])
    optimizer = torch.optim.Adam(parts.parameters(), lr=lr)
    fixed = [
        pick_windows(videos, batch_size, window_frames, np.random.default_rng(k)) for k in (0, 1)
    ]

    def matched() -> tuple[float, float]:
        parts.eval()
        with torch.no_grad():
            scores = []
            for picks in fixed:
                frames, sound = batch(videos, picks, window_frames)
                scores.append(synchrony_loss(head(network(frames)), hearing(sound)))
        parts.train()
        return float(np.mean([float(s[0]) for s in scores])), float(np.mean([s[1] for s in scores]))

    before = matched()
    started = time.time()
    for step in range(steps):
        frames, sound = batch(
            videos, pick_windows(videos, batch_size, window_frames, rng), window_frames
        )
        loss, share = synchrony_loss(head(network(frames)), hearing(sound))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log and (step + 1) % 25 == 0:
            said = f"loss {float(loss):.3f}, matched {share:.2f}"
            log(f"motion encoder: step {step + 1}/{steps}, {said}")
    after = matched()
    facts = {
        "steps": steps,
        "seconds": round(time.time() - started, 1),
        "videos": len(videos),
        "batch_size": batch_size,
        "chance": 1 / batch_size,
        "loss": {"before": round(before[0], 4), "after": round(after[0], 4)},
        "matched": {"before": round(before[1], 4), "after": round(after[1], 4)},
    }
    return network.state_dict(), facts
