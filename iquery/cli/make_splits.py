"""Train/val/test lists and fixed test pairs over the videos every stage accepted.

    python -m iquery.cli.make_splits --manifest data/music/manifest.tsv --seed 1234 \
        --settings '{"val_fraction": 0.15, "test_fraction": 0.2, "pairs_per_test_video": 4}' \
        --train data/music/splits/train.tsv --val ... --test ... --pairs ... --summary ... \
        [--paper-train T.csv --paper-test T.csv --paper-pairs P.csv]

With the paper's lists: its train and test lists intersected with the manifest, its pairs
whose both videos are there, and a validation split carved from train. Without: a seeded
per-class split and fixed pairs of different classes (see ``iquery/pipeline/datasets/splits.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from iquery.pipeline.core.files import read_tsv, write_json
from iquery.pipeline.datasets.indexes import read_pairs_csv, read_split_csv
from iquery.pipeline.datasets.splits import SplitSettings, make_splits, write_pairs, write_split


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument(
        "--settings",
        required=True,
        help="config block splits as JSON: val_fraction, test_fraction, pairs_per_test_video, "
        "test_pairs (fixed pairs in all, or null), drop_test_from_train",
    )
    parser.add_argument("--paper-train", help="the paper's train list (CSV)")
    parser.add_argument("--paper-test", help="the paper's test list (CSV)")
    parser.add_argument("--paper-pairs", help="the paper's test pairs (CSV)")
    for name in ("train", "val", "test", "pairs", "summary"):
        parser.add_argument(f"--{name}", required=True, help=f"where the {name} list goes")
    args = parser.parse_args(argv)
    paper = [args.paper_train, args.paper_test, args.paper_pairs]
    if any(paper) and not all(paper):
        parser.error("--paper-train, --paper-test and --paper-pairs go together")
    try:
        settings = SplitSettings(**json.loads(args.settings))
    except (TypeError, ValueError) as err:
        parser.error(f"--settings: {err}")
    available = [(r["class"], r["vid"]) for r in read_tsv(args.manifest)]
    try:
        splits = make_splits(
            available,
            seed=args.seed,
            **dataclasses.asdict(settings),
            paper_train=read_split_csv(args.paper_train) if args.paper_train else None,
            paper_test=read_split_csv(args.paper_test) if args.paper_test else None,
            paper_pairs=read_pairs_csv(args.paper_pairs) if args.paper_pairs else None,
        )
    except ValueError as err:
        raise SystemExit(f"make_splits: {args.manifest}: {err}") from None
    for split in ("train", "val", "test"):
        write_split(getattr(args, split), splits[split])
    write_pairs(args.pairs, splits["pairs"])
    summary = {s: len(splits[s]) for s in ("train", "val", "test", "pairs")}
    write_json(args.summary, summary | {"notes": splits["notes"], "seed": args.seed})
    print(f"splits: {summary}", *splits["notes"], sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
