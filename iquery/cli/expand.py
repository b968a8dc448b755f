"""Teach a trained iQuery model a new class by query expansion (``iquery/model/expansion.py``).

    python -m iquery.cli.expand --summary results/demo/iquery/seed-1234/train_summary.json \
        --train-shards data/demo/shards/train.json --new-class tuba --out tuba.ckpt

The new class's videos must be in the train shards (with videos of the classes the model
knows, to mix them with). The written checkpoint is read by evaluation and ``separate`` like a
trained one; ``--mode`` picks what trains (``query``, the default: the old classes do not
change at all; ``query+mask``: the shared mask head too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iquery.pipeline.core.errors import ConfigError, ShardError


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    model.add_argument("--summary", type=Path, help="a run's train_summary.json: its best")
    parser.add_argument("--train-shards", required=True, type=Path, help="the train split index")
    parser.add_argument("--new-class", required=True, help="a class of the shards")
    parser.add_argument("--mode", choices=["query", "query+mask"], default="query")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", required=True, type=Path, help="the expanded checkpoint")
    args = parser.parse_args(argv)

    import torch

    from iquery.model.evaluation import find_checkpoint
    from iquery.model.expansion import expand, save_expanded
    from iquery.model.shard_dataset import read_split_facts
    from iquery.model.system import load_system

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        path = find_checkpoint(args.summary, "best") if args.summary else args.checkpoint
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no such checkpoint")
        system = load_system(path)
        facts = read_split_facts(args.train_shards)
        if args.new_class not in facts["classes"]:
            raise ConfigError(
                f"--new-class {args.new_class!r}: not a class of {args.train_shards} "
                f"({', '.join(facts['classes'])})"
            )
        result = expand(
            system,
            args.new_class,
            facts["refs"],
            frame_rate=facts["frame_rate"],
            mode=args.mode,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            log=lambda line: print(line, file=sys.stderr),
        )
    except (ConfigError, ShardError, FileNotFoundError, ValueError) as err:
        raise SystemExit(f"expand: {err}") from err
    save_expanded(system, result, args.out)
    print(
        f"expand: {args.new_class} is query {result.query_index}; {result.trainable:,} "
        f"parameters trained ({args.mode}) in {result.steps} steps, {result.seconds} s; "
        f"written to {args.out}",
        file=sys.stderr,
    )
    return {"expansion": result, "checkpoint": str(args.out)}


if __name__ == "__main__":
    main()
