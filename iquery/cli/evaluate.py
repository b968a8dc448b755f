"""Evaluate a trained run on the fixed test pairs: the model, the unprocessed mixture and the
ideal ratio mask, by the paper's protocol.

    python -m iquery.cli.evaluate --summary results/demo/iquery/seed-1234/train_summary.json \
        --shards data/demo/shards/test.json --pairs data/demo/splits/test_pairs.tsv \
        --metrics M.json --per-pair P.tsv [--examples E.npz --examples-count 4] [--jobs 2]

Writes the per-pair table and the metrics, with provenance; with ``--examples`` also the masks,
spectrograms and waveforms of a few test pairs spread over the list, which the report shows
(see ``iquery/model/evaluation.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.errors import ConfigError


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--summary", type=Path, help="the run's train_summary.json (not needed with a .ckpt path)"
    )
    parser.add_argument("--shards", required=True, type=Path, help="the test split's index")
    parser.add_argument("--pairs", required=True, type=Path, help="the fixed test pairs")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--per-pair", required=True, type=Path)
    parser.add_argument("--examples", type=Path, help="where the report's examples go")
    parser.add_argument("--examples-count", type=int, default=0, help="pairs kept as examples")
    parser.add_argument("--checkpoint", default="best", help="best, last or a .ckpt path")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes scoring with mir_eval")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    if args.summary is None and args.checkpoint in ("best", "last"):
        parser.error(f"--checkpoint {args.checkpoint} is a run's: give the run's --summary")
    claim_gpus(args.gpus)  # before CUDA starts: which of the machine's GPUs are ours
    import torch

    from iquery.model.evaluation import evaluate_run  # imported here: --help stays fast

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return evaluate_run(
            args.summary or args.checkpoint,
            args.shards,
            args.pairs,
            metrics=args.metrics,
            per_pair=args.per_pair,
            examples=args.examples,
            wanted_examples=args.examples_count,
            checkpoint=args.checkpoint,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            jobs=args.jobs,
            device=args.device,
        )
    except (ConfigError, ValueError) as err:
        raise SystemExit(f"evaluate: {err}") from err


if __name__ == "__main__":
    main()
