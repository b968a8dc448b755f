"""Spectrogram U-Net of iQuery (``unet7`` of the published code, docs/method.md §3.2).

Encoder: ``depth`` 4×4 stride-2 convolutions (no bias) with channels ngf·min(2^(i-1), 8) at level i
(64, 128, 256, 512, 512, 512, 512 for ngf 64, depth 7); LeakyReLU(0.2) before every conv except the
first, BatchNorm after every conv except the first and the last. The input passes a BatchNorm2d(1).

Decoder, from the innermost level outwards: concatenate the encoder map of the same level (except at
the innermost level) → ReLU → bilinear ×2 upsampling (align_corners=True) → 3×3 conv → BatchNorm.
No conv has a bias, the last one included, which has no BatchNorm and no activation either:
that is the published iQuery U-Net. Sound of Pixels' own U-Net, which iQuery's descends from,
keeps a bias on that last conv; its baseline asks for it with ``output_bias=True``.

Outputs for a given depth D (input size divisible by 2^D):

* ``embedding``: the last decoder map, ``out_channels`` at full input resolution (32 × 256 × 256).
* ``latent``: the decoder map at level ``latent_level`` = k, 1 ≤ k ≤ D-1, i.e. after the
  conv+BN that brings the decoder to 1/2^k resolution and before its skip concatenation; it has
  ngf·min(2^(k-1), 8) channels (k = 3: 256 × 32 × 32 for the paper); see ``latent_channels``.

Weights use PyTorch's default initialisation, as the published code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def level_channels(ngf: int, level: int) -> int:
    """Channels of the encoder (and decoder) map at ``level`` ≥ 1."""
    return ngf * min(2 ** (level - 1), 8)


class AudioUNet(nn.Module):
    """U-Net over the (B, 1, F, T) log-magnitude spectrogram; returns (embedding, latent)."""

    def __init__(
        self,
        depth: int = 7,
        ngf: int = 64,
        out_channels: int = 32,
        latent_level: int = 3,
        in_channels: int = 1,
        output_bias: bool = False,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be ≥ 2, got {depth}")
        if not 1 <= latent_level <= depth - 1:
            raise ValueError(f"latent_level must be in [1, {depth - 1}], got {latent_level}")
        self.depth = depth
        self.latent_level = latent_level
        self.out_channels = out_channels
        self.latent_channels = level_channels(ngf, latent_level)

        ch = [in_channels] + [level_channels(ngf, i) for i in range(1, depth + 1)]
        self.input_norm = nn.BatchNorm2d(in_channels)
        # down[i - 1] takes level i-1 to level i.
        self.down = nn.ModuleList(
            nn.Conv2d(ch[i - 1], ch[i], 4, stride=2, padding=1, bias=False)
            for i in range(1, depth + 1)
        )
        self.down_norm = nn.ModuleList(
            nn.BatchNorm2d(ch[i]) if 1 < i < depth else nn.Identity() for i in range(1, depth + 1)
        )
        # up[i - 1] takes level i to level i-1; the map it reads is the skip concat except at the
        # innermost level, and level 0 gets the embedding channels.
        ch_out = [out_channels] + ch[1:depth]
        self.up = nn.ModuleList(
            nn.Conv2d(
                ch[i] if i == depth else 2 * ch[i],
                ch_out[i - 1],
                3,
                padding=1,
                bias=output_bias and i == 1,
            )
            for i in range(1, depth + 1)
        )
        self.up_norm = nn.ModuleList(
            nn.BatchNorm2d(ch_out[i - 1]) if i > 1 else nn.Identity() for i in range(1, depth + 1)
        )
        # Channels-last maps: oneDNN's convolutions and the bilinear upsampling's backward run
        # about 1.4x faster on the CPU in this layout (bench/bench_train.py), and so do GPUs'.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"input size {tuple(x.shape[-2:])} not divisible by 2^{self.depth}")
        skips = []
        h = self.input_norm(x.contiguous(memory_format=torch.channels_last))
        for i in range(1, self.depth + 1):
            if i > 1:
                h = F.leaky_relu(h, 0.2)
            h = self.down_norm[i - 1](self.down[i - 1](h))
            skips.append(h)

        latent = None
        for i in range(self.depth, 0, -1):
            if i < self.depth:
                h = torch.cat([skips[i - 1], h], dim=1)
            h = F.interpolate(F.relu(h), scale_factor=2, mode="bilinear", align_corners=True)
            h = self.up_norm[i - 1](self.up[i - 1](h))
            if i - 1 == self.latent_level:
                latent = h
        return h, latent
