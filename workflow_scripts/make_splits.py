"""Train/val/test lists and fixed test pairs over the videos that made it through preprocessing.

    python -m workflow_scripts.make_splits --manifest data/music/manifest.tsv \
        --out-dir data/music/splits --seed 1234 [--train T.csv --test T.csv --pairs P.csv]

With the paper's lists (MUSIC, MUSIC-21, AVE): train and test are those lists intersected with
the manifest, the pairs are the paper's pairs whose both videos are there, and a validation
split is carved from train per class (the paper had none and chose checkpoints on the test
pairs). Without lists (the demo, users' own videos): a seeded per-class split and, per test
video, a fixed number of partners of other classes.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

from workflow_scripts.indexes import read_pairs_csv, read_split_csv
from workflow_scripts.manifest import read_tsv, write_tsv
from workflow_scripts.records import write_json

Key = tuple[str, str]
SPLIT_COLUMNS = ["class", "vid"]
PAIR_COLUMNS = ["class_a", "vid_a", "class_b", "vid_b"]


def _by_class(keys: list[Key]) -> dict[str, list[Key]]:
    groups: dict[str, list[Key]] = defaultdict(list)
    for key in keys:
        groups[key[0]].append(key)
    return dict(sorted(groups.items()))


def carve(
    keys: list[Key], fraction: float, rng: random.Random, *, keep: int = 1
) -> tuple[list[Key], list[Key]]:
    """Per class, move round(fraction * n) videos (at least one when fraction > 0) out of
    ``keys``, leaving at least ``keep`` per class. Returns (rest, carved)."""
    rest, carved = [], []
    for _, group in _by_class(keys).items():
        group = sorted(group)
        rng.shuffle(group)
        n = min(max(1, round(fraction * len(group))), len(group) - keep) if fraction > 0 else 0
        carved += group[: max(n, 0)]
        rest += group[max(n, 0) :]
    return sorted(rest), sorted(carved)


def generate_pairs(test: list[Key], per_video: int, rng: random.Random) -> list[tuple[Key, Key]]:
    """For each test video, ``per_video`` distinct partners of other classes (fewer if there are
    not enough); a pair and its mirror count once."""
    pairs: list[tuple[Key, Key]] = []
    seen: set[frozenset] = set()
    for first in sorted(test):
        others = sorted(k for k in test if k[0] != first[0])
        rng.shuffle(others)
        for second in others[:per_video]:
            if frozenset((first, second)) not in seen:
                seen.add(frozenset((first, second)))
                pairs.append((first, second))
    return pairs


def make_splits(
    available: list[Key],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    pairs_per_test_video: int,
    paper_train: list[Key] | None = None,
    paper_test: list[Key] | None = None,
    paper_pairs: list[tuple[Key, Key]] | None = None,
    drop_test_from_train: bool = True,
) -> dict:
    rng = random.Random(seed)
    have = set(available)
    notes: list[str] = []
    if paper_train is not None:
        test = [k for k in dict.fromkeys(paper_test or []) if k in have]
        train = [k for k in dict.fromkeys(paper_train) if k in have]
        leaked = sorted(set(train) & set(test))
        if leaked and drop_test_from_train:
            train = [k for k in train if k not in set(leaked)]
            notes.append(
                f"dropped {len(leaked)} test videos from train: "
                + ", ".join("/".join(k) for k in leaked)
            )
        train, val = carve(train, val_fraction, rng)
        pairs = [p for p in (paper_pairs or []) if p[0] in set(test) and p[1] in set(test)]
        notes.append(f"kept {len(pairs)} of {len(paper_pairs or [])} paper test pairs")
    else:
        rest, test = carve(sorted(have), test_fraction, rng)
        train, val = carve(rest, val_fraction, rng)
        pairs = generate_pairs(test, pairs_per_test_video, rng)
    if not pairs:
        raise ValueError("no test pairs: need test videos of at least two classes")
    return {
        "train": sorted(train),
        "val": sorted(val),
        "test": sorted(test),
        "pairs": pairs,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--pairs-per-test-video", type=int, default=4)
    parser.add_argument(
        "--keep-test-in-train",
        action="store_true",
        help="keep videos listed in both the paper's train and test lists",
    )
    parser.add_argument("--train", help="the paper's train list (CSV)")
    parser.add_argument("--test", help="the paper's test list (CSV)")
    parser.add_argument("--pairs", help="the paper's test pairs (CSV)")
    args = parser.parse_args(argv)
    paper = [args.train, args.test, args.pairs]
    if any(paper) and not all(paper):
        parser.error("--train, --test and --pairs go together")
    available = [(r["class"], r["vid"]) for r in read_tsv(args.manifest)]
    splits = make_splits(
        available,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        pairs_per_test_video=args.pairs_per_test_video,
        paper_train=read_split_csv(args.train) if args.train else None,
        paper_test=read_split_csv(args.test) if args.test else None,
        paper_pairs=read_pairs_csv(args.pairs) if args.pairs else None,
        drop_test_from_train=not args.keep_test_in_train,
    )
    out = Path(args.out_dir)
    for split in ("train", "val", "test"):
        write_tsv(
            out / f"{split}.tsv", SPLIT_COLUMNS, [{"class": c, "vid": v} for c, v in splits[split]]
        )
    write_tsv(
        out / "test_pairs.tsv",
        PAIR_COLUMNS,
        [
            {"class_a": a[0], "vid_a": a[1], "class_b": b[0], "vid_b": b[1]}
            for a, b in splits["pairs"]
        ],
    )
    summary = {s: len(splits[s]) for s in ("train", "val", "test", "pairs")}
    write_json(out / "summary.json", summary | {"notes": splits["notes"], "seed": args.seed})
    print(f"splits: {summary}", *splits["notes"], sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
