"""iQuery and the Sound-of-Pixels baseline assembled from the U-Net, visual net and predictor.

IQuery (docs/method.md §3): the U-Net turns the log-frequency mixture spectrogram into a 32-channel
full-resolution audio embedding E_A and a 256-channel latent F_A; the predictor reads F_A with the
source's visually named class query (and motion tokens) and returns a 32-d mask embedding m; the
mask logits are Σ_c m_c · E_A[c] at every time-frequency bin. Sigmoid and loss are left to the
caller.

Each source of a mixture is a separate query pass over the same audio features, so
``forward_sources`` runs the U-Net and the audio encoder once and the decoder once per source. The
published code ran the U-Net once and the whole predictor, encoder included, per source; with
dropout 0 and the encoder depending on the audio alone, the two are the same.

SoundOfPixels (Zhao et al. 2018, the ancestor): its U-Net (the same, with a bias on the last
conv), and the visual vector weights the 32 embedding channels (learnable per-channel scale,
summed, plus a bias: SoP's "linear" synthesizer) to give the mask logits. Each network names the
spectrogram it reads (``input_kind``): iQuery log1p of the magnitude, Sound of Pixels its log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from iquery.model.transformer import MaskPredictor
from iquery.model.unet import AudioUNet
from iquery.model.visual import VisualNet


@dataclass(frozen=True)
class ModelConfig:
    """Model sizes; the defaults are the paper's MUSIC configuration."""

    num_queries: int = 12  # MUSIC 12, MUSIC-21 22, AVE 30
    unet_depth: int = 7
    ngf: int = 64
    latent_level: int = 3  # U-Net map read by the transformer: 1/8 resolution
    channels: int = 32  # audio embedding channels = mask embedding size
    visual_dim: int = 32
    visual_weights: str | None = None  # local torchvision resnet18 state dict, None = random init
    visual_backbone: str = "resnet18"  # or "small" (iquery/model/visual.py), trained on crops
    freeze_visual: bool | None = None  # None: frozen iff weights are given
    hidden: int = 256
    heads: int = 8
    ffn: int = 1024
    enc_layers: int = 1
    dec_layers: int = 4
    motion_dim: int | None = 1024  # None = the no-motion variant (AVE, ablation)
    dropout: float = 0.0

    @classmethod
    def tiny(cls, **overrides: object) -> ModelConfig:
        """A CPU-sized configuration for demos and tests: same structure, narrow layers, and the
        (random) ResNet-18 frozen as a pretrained one would be, to keep backward passes cheap."""
        base = cls(
            ngf=16,
            channels=16,
            visual_dim=16,
            freeze_visual=True,
            hidden=64,
            heads=4,
            ffn=128,
            motion_dim=64,
        )
        return replace(base, **overrides)


def mask_logits(embedding: Tensor, mask_embedding: Tensor) -> Tensor:
    """Dot product of mask embeddings (B, C) or (B, K, C) with the audio embedding (B, C, F, T).

    Returns (B, 1, F, T) or (B, K, F, T).
    """
    if mask_embedding.dim() == 2:
        mask_embedding = mask_embedding[:, None]
    return torch.einsum("bkc,bcft->bkft", mask_embedding, embedding)


def _per_source(value: Sequence[Tensor | None] | None, n: int, name: str) -> list:
    if value is None:
        return [None] * n
    if len(value) != n:
        raise ValueError(f"{name}: expected {n} entries (one per source), got {len(value)}")
    return list(value)


class IQuery(nn.Module):
    """Mixture spectrogram + one source's frames, class and motion → that source's mask logits."""

    input_kind = "net_input"  # MixtureBatch.net_input: log1p of the warped mixture

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ModelConfig()
        self.unet = AudioUNet(cfg.unet_depth, cfg.ngf, cfg.channels, cfg.latent_level)
        weights = Path(cfg.visual_weights) if cfg.visual_weights else None
        self.visual = VisualNet(cfg.visual_dim, weights, cfg.freeze_visual, cfg.visual_backbone)
        self.predictor = MaskPredictor(
            num_queries=cfg.num_queries,
            in_channels=self.unet.latent_channels,
            hidden=cfg.hidden,
            heads=cfg.heads,
            ffn=cfg.ffn,
            enc_layers=cfg.enc_layers,
            dec_layers=cfg.dec_layers,
            visual_dim=cfg.visual_dim,
            motion_dim=cfg.motion_dim,
            mask_dim=cfg.channels,
            dropout=cfg.dropout,
        )

    def forward(
        self,
        mix_input: Tensor,
        frames: Tensor,
        class_idx: Tensor,
        motion: Tensor | None = None,
        motion_padding: Tensor | None = None,
    ) -> Tensor:
        """mix_input (B, 1, F, T), frames (B, 3, Tf, H, W), class_idx (B,), motion (B, C, Tm),
        motion_padding (B, Tm) bool → mask logits (B, 1, F, T)."""
        return self.forward_sources(mix_input, [frames], [class_idx], [motion], [motion_padding])

    def forward_sources(
        self,
        mix_input: Tensor,
        frames: Sequence[Tensor],
        class_idx: Sequence[Tensor],
        motion: Sequence[Tensor | None] | None = None,
        motion_padding: Sequence[Tensor | None] | None = None,
    ) -> Tensor:
        """All N sources of a mixture: per-source lists of the inputs of :meth:`forward`.

        Returns mask logits (B, N, F, T). Motion lists may hold tensors of different lengths.
        """
        n = len(frames)
        class_idx = _per_source(class_idx, n, "class_idx")
        motion = _per_source(motion, n, "motion")
        motion_padding = _per_source(motion_padding, n, "motion_padding")
        embedding, latent = self.unet(mix_input)
        memory = self.predictor.encode(latent)
        logits = []
        for i in range(n):
            out = self.predictor.decode(
                memory, self.visual(frames[i]), class_idx[i], motion[i], motion_padding[i]
            )
            logits.append(mask_logits(embedding, out.selected))
        return torch.cat(logits, dim=1)


class SoundOfPixels(nn.Module):
    """Sound-of-Pixels baseline: visual vector · audio embedding channels → mask logits."""

    input_kind = "log_input"  # MixtureBatch.log_input: log of the warped mixture

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ModelConfig()
        if cfg.visual_dim != cfg.channels:
            raise ValueError("SoundOfPixels needs visual_dim == channels")
        self.unet = AudioUNet(
            cfg.unet_depth, cfg.ngf, cfg.channels, cfg.latent_level, output_bias=True
        )
        weights = Path(cfg.visual_weights) if cfg.visual_weights else None
        self.visual = VisualNet(cfg.visual_dim, weights, cfg.freeze_visual, cfg.visual_backbone)
        self.scale = nn.Parameter(torch.ones(cfg.channels))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, mix_input: Tensor, frames: Tensor, *_: object, **__: object) -> Tensor:
        """mix_input (B, 1, F, T), frames (B, 3, Tf, H, W) → (B, 1, F, T); extra inputs ignored."""
        return self.forward_sources(mix_input, [frames])

    def forward_sources(
        self, mix_input: Tensor, frames: Sequence[Tensor], *_: object, **__: object
    ) -> Tensor:
        """Per-source frames list → (B, N, F, T); class and motion inputs are accepted and ignored
        so that training code can call both models the same way."""
        embedding, _ = self.unet(mix_input)
        weights = torch.stack([self.visual(f) for f in frames], dim=1) * self.scale
        return mask_logits(embedding, weights) + self.bias
