"""Train/val/test lists and fixed test pairs over the videos that made it through preprocessing.

With the paper's lists (MUSIC, MUSIC-21, AVE): train and test are those lists intersected with
the manifest, the pairs are the paper's pairs whose both videos are there, and a validation
split is carved from train per class (the paper had none and chose checkpoints on the test
pairs). Without lists (the demo, users' own videos): a seeded per-class split and fixed test
pairs of different classes: a given number in all (each test video in as many pairs as the
others, give or take one), or a given number of partners per test video. A test fraction of 1
makes a test-only set: fresh test videos on which models trained elsewhere are scored
(``bench/coverage.py`` makes such sets to check the intervals).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from iquery.pipeline.core.files import read_tsv, write_tsv

Key = tuple[str, str]
Pair = tuple[Key, Key]
SPLIT_COLUMNS = ["class", "vid"]
PAIR_COLUMNS = ["class_a", "vid_a", "class_b", "vid_b"]


def write_split(path: str | Path, keys: list[Key]) -> None:
    write_tsv(path, SPLIT_COLUMNS, [{"class": c, "vid": v} for c, v in keys])


def read_split(path: str | Path) -> list[Key]:
    """A split list written by ``write_split``: (class, vid) per video."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no split list; run the splits stage first")
    return [(r["class"], r["vid"]) for r in read_tsv(path)]


def used_videos(split_files: list[str | Path]) -> list[Key]:
    """Every video the split lists name, sorted: the ones detection, motion and shards handle."""
    return sorted({key for path in split_files for key in read_split(path)})


def write_pairs(path: str | Path, pairs: list[Pair]) -> None:
    rows = [{"class_a": a[0], "vid_a": a[1], "class_b": b[0], "vid_b": b[1]} for a, b in pairs]
    write_tsv(path, PAIR_COLUMNS, rows)


def read_pairs(path: str | Path) -> list[Pair]:
    """Fixed test pairs written by ``write_pairs``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no test pairs; run the splits stage first")
    return [((r["class_a"], r["vid_a"]), (r["class_b"], r["vid_b"])) for r in read_tsv(path)]


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


def generate_pairs(test: list[Key], per_video: int, rng: random.Random) -> list[Pair]:
    """For each test video, ``per_video`` distinct partners of other classes (fewer if there are
    not enough); a pair and its mirror count once."""
    pairs: list[Pair] = []
    seen: set[frozenset] = set()
    for first in sorted(test):
        others = sorted(k for k in test if k[0] != first[0])
        rng.shuffle(others)
        for second in others[:per_video]:
            if frozenset((first, second)) not in seen:
                seen.add(frozenset((first, second)))
                pairs.append((first, second))
    return pairs


def balanced_pairs(test: list[Key], total: int, rng: random.Random) -> list[Pair]:
    """``total`` distinct pairs of different classes, every test video in as nearly the same
    number of pairs as possible (MUSIC's protocol: 250 fixed pairs over its test videos). Pair
    by pair, a video among those in the fewest pairs so far takes as partner a video of another
    class, again among those in the fewest pairs, ties drawn from ``rng``."""
    keys = sorted(test)
    possible = sum(1 for i, a in enumerate(keys) for b in keys[i + 1 :] if a[0] != b[0])
    if total > possible:
        raise ValueError(
            f"{total} test pairs asked for, but {len(keys)} test videos make only {possible} "
            "pairs of different classes: lower splits.test_pairs or add test videos"
        )
    count = dict.fromkeys(keys, 0)
    seen: set[frozenset] = set()
    pairs: list[Pair] = []

    def partners(first: Key) -> list[Key]:
        return [k for k in keys if k[0] != first[0] and frozenset((first, k)) not in seen]

    while len(pairs) < total:
        for level in sorted(set(count.values())):
            candidates = [k for k in keys if count[k] == level and partners(k)]
            if candidates:
                break
        first = rng.choice(candidates)
        others = partners(first)
        fewest = min(count[k] for k in others)
        second = rng.choice([k for k in others if count[k] == fewest])
        seen.add(frozenset((first, second)))
        count[first] += 1
        count[second] += 1
        pairs.append((first, second))
    return pairs


def draw_pairs(split: str | Path, count: int, seed: int, out: str | Path) -> Path:
    """``count`` fixed pairs among one split's videos (the validation split, say, for choosing
    on validation), balanced as the test pairs are and drawn from ``seed``; written to ``out``."""
    write_pairs(out, balanced_pairs(read_split(split), count, random.Random(seed)))
    return Path(out)


@dataclass(frozen=True, kw_only=True)
class SplitSettings:
    """Config block splits (after the dataset's overrides), as ``make_splits`` takes it."""

    val_fraction: float
    test_fraction: float
    pairs_per_test_video: int
    test_pairs: int | None = None
    drop_test_from_train: bool = True


def make_splits(
    available: list[Key],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    pairs_per_test_video: int,
    test_pairs: int | None = None,
    paper_train: list[Key] | None = None,
    paper_test: list[Key] | None = None,
    paper_pairs: list[Pair] | None = None,
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
        # test_fraction 1: every video is a test video (a fresh test set for trained models).
        keep = 0 if test_fraction >= 1 else 1
        rest, test = carve(sorted(have), test_fraction, rng, keep=keep)
        train, val = carve(rest, val_fraction, rng)
        if test_pairs:
            pairs = balanced_pairs(test, test_pairs, rng)
        else:
            pairs = generate_pairs(test, pairs_per_test_video, rng)
    if not pairs:
        classes = sorted({cls for cls, _ in test})
        if paper_pairs is not None:
            raise ValueError(
                f"no test pairs: none of the paper's {len(paper_pairs)} pairs has both its videos "
                "available; check the manifest's failed videos, or give the pairs' videos"
            )
        raise ValueError(
            f"no test pairs: a pair mixes two classes, and the {len(test)} test videos are all "
            f"of {classes or 'no class'}; list videos of at least two classes in the index"
        )
    return {
        "train": sorted(train),
        "val": sorted(val),
        "test": sorted(test),
        "pairs": pairs,
        "notes": notes,
    }
