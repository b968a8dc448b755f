"""Training the small object encoder (``iquery/model/visual.py``: ``small_encoder``) on a dataset's
own instrument crops, for where no pretrained ResNet can be had (the demo, offline).

The encoder learns to name the instrument in one crop: crops of the train split's videos, one
random frame each, cut and augmented as training cuts them (``iquery/model/shard_dataset.py``), a
linear classifier on the pooled features, cross-entropy, Adam. A fixed number of steps (not a
time budget) keeps it reproducible. Separation then uses the encoder frozen: iQuery and the
Sound-of-Pixels baseline both see features that tell the instruments apart.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from iquery.model.shard_dataset import (
    ClipSpec,
    ShardReader,
    VideoRef,
    _frames_tensor,
    normalize_frames,
)
from iquery.model.visual import BACKBONE_CHANNELS, small_encoder


def crops(
    refs: list[VideoRef],
    reader: ShardReader,
    size: int,
    rng: np.random.Generator | None,
    picks: list[tuple[int, int]],
) -> torch.Tensor:
    """(B, 3, S, S) float crops, normalised: one frame of a video per (ref index, frame)."""
    spec = ClipSpec(clip_samples=1, num_frames=1, frame_stride=1, frame_size=size)
    images = [_frames_tensor(reader.frames(refs[r], [f]), spec, rng)[:, 0] for r, f in picks]
    return normalize_frames(torch.stack(images)[:, :, None])[:, :, 0]


def accuracy(encoder, classifier, refs, reader, size: int) -> float:
    """Share of the videos whose middle frame's crop is named right."""
    encoder.eval()
    with torch.no_grad():
        picks = [(i, r.n_frames // 2) for i, r in enumerate(refs)]
        logits = classifier(encoder(crops(refs, reader, size, None, picks)).mean(dim=(2, 3)))
    truth = torch.tensor([r.class_index for r in refs])
    return float((logits.argmax(1) == truth).float().mean())


def pretrain_small_encoder(
    train_refs: list[VideoRef],
    val_refs: list[VideoRef],
    *,
    classes: int,
    frame_size: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    log=print,
) -> tuple[dict, dict]:
    """The trained encoder's state dict, and what the training did (steps, seconds, train and
    validation accuracy on one crop per video)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = small_encoder()
    classifier = nn.Linear(BACKBONE_CHANNELS["small"], classes)
    optimizer = torch.optim.Adam([*encoder.parameters(), *classifier.parameters()], lr=lr)
    reader = ShardReader()
    started = time.time()
    for step in range(steps):
        encoder.train()
        chosen = rng.integers(0, len(train_refs), batch_size)
        picks = [(int(i), int(rng.integers(0, train_refs[i].n_frames))) for i in chosen]
        images = crops(train_refs, reader, frame_size, rng, picks)
        labels = torch.tensor([train_refs[i].class_index for i in chosen])
        loss = nn.functional.cross_entropy(classifier(encoder(images).mean(dim=(2, 3))), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log and (step + 1) % 50 == 0:
            log(f"visual encoder: step {step + 1}/{steps}, loss {float(loss):.3f}")
    facts = {
        "steps": steps,
        "seconds": round(time.time() - started, 1),
        "train_accuracy": accuracy(encoder, classifier, train_refs, reader, frame_size),
        "val_accuracy": accuracy(encoder, classifier, val_refs, reader, frame_size),
    }
    return encoder.state_dict(), facts
