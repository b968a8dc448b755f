# What the dataset targets of the Snakefile ask for, and what a run reports at its end.
import sys
from collections import Counter
from pathlib import Path

from iquery.pipeline.core.files import read_tsv
from iquery.pipeline.core.layout import SPLITS


def preprocessed(name):
    """Everything up to the shards of dataset ``name``."""
    return [L.shard_index(name, split) for split in SPLITS] + [
        L.detection_summary(name)
    ]


def trained(name, run=None):
    """What a train_<dataset> target asks for: a run (default: the dataset's first), trained
    with each seed of config key train.seeds."""
    run = run or next(iter(train_runs(name)))
    return [L.run(name, run, seed).summary for seed in train_seeds()] + [
        L.detection_summary(name)
    ]


def evaluated(name, study="main"):
    """What an evaluate_<dataset> target asks for: every run trained with every seed of the
    study, evaluated, compared, and the report."""
    return [L.report(name, study), L.detection_summary(name)]


def report_left_out():
    """At the end of a run: each dataset's availability counts and how many videos were left
    out, with the files that list them."""
    for name in sorted({name for name, _ in _loaded}):
        available, excluded = Path(L.availability(name)), Path(L.excluded(name))
        if available.is_file():
            counts = Counter(row["status"] for row in read_tsv(available))
            listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            print(
                f"{name}: {sum(counts.values())} videos listed: {listed} ({available})"
            )
        unmatched = Path(L.copy_unmatched(name))
        if unmatched.is_file() and (rows := read_tsv(unmatched)):
            first = ", ".join(row["path"] for row in rows[:3])
            print(
                f"{name}: {len(rows)} files of the copy belong to no video of the index "
                f"(the first: {first}); all in {unmatched}",
                file=sys.stderr,
            )
        if excluded.is_file():
            count = len(read_tsv(excluded))
            if count:
                print(
                    f"{name}: {count} videos left out; reasons in {excluded}",
                    file=sys.stderr,
                )
