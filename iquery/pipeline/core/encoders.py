"""What the two encoders learned on a dataset's own data (the object encoder on its crops, the
motion encoder on its training videos) share: the settings their commands take from their
config block, and how a learned encoder is written (its state dict, and beside it ``.json`` with
what the learning did and the provenance of its settings)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from iquery.pipeline.core.files import atomic_path, write_json


def add_learning_arguments(parser: argparse.ArgumentParser, block: str) -> None:
    """--steps, --batch-size, --lr, --seed (config block ``block`` and key seed are the one
    source of these values), --threads and --out."""
    given = parser.add_argument_group(f"config.yaml's {block} block and key seed")
    given.add_argument("--steps", required=True, type=int)
    given.add_argument("--batch-size", required=True, type=int)
    given.add_argument("--lr", required=True, type=float)
    given.add_argument("--seed", required=True, type=int)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", required=True, type=Path)


def save_encoder(args: argparse.Namespace, state: dict, facts: dict, unhashed=()) -> dict:
    """Write ``state`` to ``args.out`` (atomically) and ``facts`` with the provenance of the
    command's arguments (all but ``out``, ``threads`` and ``unhashed``) beside it."""
    import torch

    from iquery.pipeline.core.provenance import provenance

    # Serialised in memory first: torch.save names the archive's folder after the file, and a
    # temp file's random name would make the same weights other bytes (another sha256).
    held = io.BytesIO()
    torch.save(state, held)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(held.getvalue())
    left_out = {"out", "threads", *unhashed}
    settings = {k: str(v) for k, v in vars(args).items() if k not in left_out}
    facts = facts | {"provenance": provenance(settings)}
    write_json(args.out.with_suffix(".json"), facts)
    return facts
