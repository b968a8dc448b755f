"""Train the small object encoder on a dataset's own crops (``iquery/model/visual_pretraining.py``).

    python -m iquery.cli.pretrain_visual --train-shards data/demo/shards/train.json \
        --val-shards data/demo/shards/val.json --frame-size 64 --steps 200 --batch-size 32 \
        --lr 1e-3 --seed 1234 --out data/demo/visual_encoder/encoder.pt

Writes the encoder's state dict and, beside it, ``.json`` with the steps, time and accuracies.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iquery.pipeline.core.encoders import add_learning_arguments, save_encoder
from iquery.pipeline.core.errors import ShardError


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-shards", required=True, type=Path)
    parser.add_argument("--val-shards", required=True, type=Path)
    parser.add_argument("--frame-size", required=True, type=int, help="crop side training uses")
    add_learning_arguments(parser, "visual_encoder")
    args = parser.parse_args(argv)

    import torch

    from iquery.model.shard_dataset import read_split_facts
    from iquery.model.visual_pretraining import pretrain_small_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        train, val = read_split_facts(args.train_shards), read_split_facts(args.val_shards)
    except (FileNotFoundError, ValueError, ShardError) as err:
        raise SystemExit(f"pretrain_visual: {err}") from err
    if train["classes"] != val["classes"]:
        raise SystemExit("pretrain_visual: train and val list other classes")
    state, facts = pretrain_small_encoder(
        train["refs"],
        val["refs"],
        classes=len(train["classes"]),
        frame_size=args.frame_size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    facts = save_encoder(args, state, facts | {"classes": train["classes"]})
    print(
        f"pretrain_visual: {facts['steps']} steps in {facts['seconds']} s; one-crop accuracy "
        f"{facts['train_accuracy']:.2f} train, {facts['val_accuracy']:.2f} val",
        file=sys.stderr,
    )
    return facts


if __name__ == "__main__":
    main()
