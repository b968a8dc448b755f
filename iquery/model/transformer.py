"""The query-based mask predictor of iQuery (docs/method.md §3.3), DETR/MaskFormer style, post-norm.

* Audio tokens: the U-Net latent (B, C, h, w) → (B, h·w, d) (1×1 conv first when C ≠ d), with a
  DETR 2-D sine positional encoding (normalised positions, d/2 features per axis, scale 2π,
  temperature 1e4) added to queries and keys of every attention over them.
* Encoder: ``enc_layers`` self-attention + FFN layers over the audio tokens → memory.
* Queries: one learnable embedding per query slot used as the *positional* query (added to
  queries and keys of every decoder attention). The content starts at zero except in the slot of
  the source's class, which receives a linear projection of the source's visual vector.
* Decoder (motion variant): layer 1 only cross-attends the queries to the projected motion tokens
  (plus a 1-D sine encoding on their keys), then FFN; later layers do query self-attention, audio
  cross-attention and FFN. The no-motion variant uses the latter form in every layer.
* A final LayerNorm, then a 3-layer MLP maps the last layer's query outputs to mask embeddings.

Only the last decoder layer is used, and the mask MLP runs on the selected class's query only unless
all queries are asked for; the caller forms mask logits against the audio embedding, so the
(B, Q, F, T) all-query mask tensor is never needed.

Differences from the published code:

* The motion padding mask is boolean (True = padded key ignored). The published code passed a float
  0/1 tensor, which nn.MultiheadAttention adds to the logits, so padded motion tokens were attended
  to with a small bonus instead of being masked.
* The 1×1 Conv1d projections (visual 32→d, motion C→d) are written as nn.Linear on the channel
  axis: the same function (docs/method.md §7 q); like the rest outside the encoder and decoder
  layers they keep PyTorch's default initialisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sine_position_2d(
    h: int,
    w: int,
    dim: int,
    temperature: float = 10000.0,
    scale: float = 2 * math.pi,
    device: torch.device | str | None = None,
) -> Tensor:
    """DETR sine encoding of an (h, w) grid → (h·w, dim): first dim/2 features for y, then x."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    half = dim // 2
    # Positions 1..n normalised so the last one is at `scale` (DETR with normalize=True).
    ys = torch.arange(1, h + 1, dtype=torch.float32, device=device) / (h + 1e-6) * scale
    xs = torch.arange(1, w + 1, dtype=torch.float32, device=device) / (w + 1e-6) * scale
    idx = torch.arange(half, dtype=torch.float32, device=device)
    freq = temperature ** (2 * torch.div(idx, 2, rounding_mode="floor") / half)

    def encode(pos: Tensor) -> Tensor:
        arg = pos[:, None] / freq
        # Even features take the sine and odd ones the cosine of the same frequency.
        return torch.where(idx.long() % 2 == 0, arg.sin(), arg.cos())

    ey = encode(ys)[:, None, :].expand(h, w, half)
    ex = encode(xs)[None, :, :].expand(h, w, half)
    return torch.cat([ey, ex], dim=-1).reshape(h * w, dim)


def sine_position_1d(length: int, dim: int, device: torch.device | str | None = None) -> Tensor:
    """Transformer sinusoid table (length, dim): sin on even, cos on odd features, positions 0.."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    idx = torch.arange(dim, device=device)
    arg = pos / 10000.0 ** (2 * torch.div(idx, 2, rounding_mode="floor") / dim)
    return torch.where(idx % 2 == 0, arg.sin(), arg.cos())


class FeedForward(nn.Module):
    def __init__(self, d: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.lin1 = nn.Linear(d, ffn)
        self.lin2 = nn.Linear(ffn, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin2(self.drop(F.relu(self.lin1(x))))


class EncoderLayer(nn.Module):
    """Self-attention over audio tokens (pos added to q, k) + FFN, post-norm."""

    def __init__(self, d: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ffn = FeedForward(d, ffn, dropout)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        qk = x + pos
        x = self.norm1(x + self.drop1(self.attn(qk, qk, x, need_weights=False)[0]))
        return self.norm2(x + self.drop2(self.ffn(x)))


class DecoderLayer(nn.Module):
    """Query self-attention, cross-attention to memory, FFN; post-norm.

    ``self_attention=False`` gives the motion layer: cross-attention + FFN only.
    """

    def __init__(self, d: int, heads: int, ffn: int, dropout: float, self_attention: bool) -> None:
        super().__init__()
        self.self_attn = (
            nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
            if self_attention
            else None
        )
        self.norm_self = nn.LayerNorm(d) if self_attention else None
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm_cross = nn.LayerNorm(d)
        self.ffn = FeedForward(d, ffn, dropout)
        self.norm_ffn = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        tgt: Tensor,
        query_pos: Tensor,
        memory: Tensor,
        memory_pos: Tensor,
        memory_padding: Tensor | None = None,
    ) -> Tensor:
        if self.self_attn is not None:
            qk = tgt + query_pos
            out = self.self_attn(qk, qk, tgt, need_weights=False)[0]
            tgt = self.norm_self(tgt + self.drop(out))
        out = self.cross_attn(
            tgt + query_pos,
            memory + memory_pos,
            memory,
            key_padding_mask=memory_padding,
            need_weights=False,
        )[0]
        tgt = self.norm_cross(tgt + self.drop(out))
        return self.norm_ffn(tgt + self.drop(self.ffn(tgt)))


class MaskMLP(nn.Module):
    """d → d → d → mask_dim with ReLU in between."""

    def __init__(self, d: int, mask_dim: int, layers: int = 3) -> None:
        super().__init__()
        dims = [d] * layers + [mask_dim]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


@dataclass
class AudioMemory:
    """Encoded audio tokens shared by every source of a mixture."""

    tokens: Tensor  # (B, h·w, d)
    pos: Tensor  # (1, h·w, d)


@dataclass
class QueryOutput:
    selected: Tensor  # (B, mask_dim): mask embedding of the selected class query, last layer
    all_queries: Tensor | None  # (B, Q, mask_dim) when asked for


class MaskPredictor(nn.Module):
    """Visually named audio queries → mask embedding of the source's class."""

    def __init__(
        self,
        num_queries: int,
        in_channels: int = 256,
        hidden: int = 256,
        heads: int = 8,
        ffn: int = 1024,
        enc_layers: int = 1,
        dec_layers: int = 4,
        visual_dim: int = 32,
        motion_dim: int | None = 1024,
        mask_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if motion_dim is not None and dec_layers < 1:
            raise ValueError("the motion variant needs at least one decoder layer")
        self.num_queries = num_queries
        self.hidden = hidden
        self.use_motion = motion_dim is not None
        self.input_proj = (
            nn.Conv2d(in_channels, hidden, 1) if in_channels != hidden else nn.Identity()
        )
        self.encoder = nn.ModuleList(
            EncoderLayer(hidden, heads, ffn, dropout) for _ in range(enc_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderLayer(
                hidden, heads, ffn, dropout, self_attention=not (self.use_motion and i == 0)
            )
            for i in range(dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(hidden)
        self.query_embed = nn.Embedding(num_queries, hidden)
        self.visual_proj = nn.Linear(visual_dim, hidden)
        self.motion_proj = nn.Linear(motion_dim, hidden) if self.use_motion else None
        self.mask_mlp = MaskMLP(hidden, mask_dim)
        # Xavier on the attention/FFN matrices as DETR's Transformer does; the rest keep defaults.
        for layer in [*self.encoder, *self.decoder]:
            for p in layer.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    def encode(self, latent: Tensor) -> AudioMemory:
        """Audio latent (B, C, h, w) → encoded tokens and their positional encoding."""
        x = self.input_proj(latent)
        _, d, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        pos = sine_position_2d(h, w, d, device=x.device).to(x.dtype)[None]
        for layer in self.encoder:
            tokens = layer(tokens, pos)
        return AudioMemory(tokens, pos)

    def decode(
        self,
        memory: AudioMemory,
        visual: Tensor,
        class_idx: Tensor,
        motion: Tensor | None = None,
        motion_padding: Tensor | None = None,
        all_queries: bool = False,
    ) -> QueryOutput:
        """Run the decoder for one source per batch row.

        visual (B, visual_dim); class_idx (B,) long; motion (B, C_motion, T_m) for the motion
        variant with motion_padding (B, T_m) bool, True where a token is padding (or None when
        nothing is padded).
        """
        b = visual.shape[0]
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)
        # Zero content everywhere but the class slot, which holds the projected visual feature.
        slot = F.one_hot(class_idx, self.num_queries).to(visual.dtype)
        tgt = slot[:, :, None] * self.visual_proj(visual)[:, None, :]

        layers = list(self.decoder)
        if self.use_motion:
            if motion is None:
                raise ValueError("this predictor was built with motion: pass motion features")
            if motion_padding is not None:
                if motion_padding.dtype != torch.bool:
                    raise TypeError("motion_padding must be a boolean mask (True = padded)")
                if bool(motion_padding.all(dim=1).any()):
                    raise ValueError("a batch row has only padded motion tokens")
            mot = self.motion_proj(motion.transpose(1, 2))
            mot_pos = sine_position_1d(mot.shape[1], self.hidden, device=mot.device).to(mot.dtype)
            tgt = layers[0](tgt, query_pos, mot, mot_pos[None], motion_padding)
            layers = layers[1:]
        for layer in layers:
            tgt = layer(tgt, query_pos, memory.tokens, memory.pos)
        out = self.decoder_norm(tgt)

        picked = out[torch.arange(b, device=out.device), class_idx]
        return QueryOutput(
            selected=self.mask_mlp(picked),
            all_queries=self.mask_mlp(out) if all_queries else None,
        )

    def forward(
        self,
        latent: Tensor,
        visual: Tensor,
        class_idx: Tensor,
        motion: Tensor | None = None,
        motion_padding: Tensor | None = None,
        all_queries: bool = False,
    ) -> QueryOutput:
        memory = self.encode(latent)
        return self.decode(memory, visual, class_idx, motion, motion_padding, all_queries)
