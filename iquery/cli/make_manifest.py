"""Collect a dataset's per-video stage records into manifest.tsv, excluded.tsv and
availability.tsv (whether each listed video was downloaded, found on disk, copied, or is missing).

    python -m iquery.cli.make_manifest --videos data/demo/videos.tsv \
        --download data/demo/records/download-000.json ... --audio ... --frames ... \
        --manifest data/demo/manifest.tsv --excluded data/demo/excluded.tsv \
        --availability data/demo/availability.tsv

Each stage's records come from its chunk tables (``iquery.pipeline.stages.batches``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from iquery.pipeline.core.files import read_tsv, write_tsv
from iquery.pipeline.core.layout import VIDEO_STAGES
from iquery.pipeline.datasets.copies import open_copy, unmatched_files
from iquery.pipeline.datasets.manifest import (
    AVAILABILITY_COLUMNS,
    EXCLUDED_COLUMNS,
    MANIFEST_COLUMNS,
    availability,
    collect,
)
from iquery.pipeline.stages.batches import read_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", required=True, help="videos.tsv written by write_index")
    for stage in VIDEO_STAGES:
        parser.add_argument(f"--{stage}", nargs="*", default=[], help=f"the {stage} chunk tables")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--excluded", required=True)
    parser.add_argument("--availability", required=True)
    parser.add_argument("--copy", default=None, help="the dataset's copy in the original layout")
    parser.add_argument("--copy-key", default="copy", help="the config key naming --copy")
    parser.add_argument(
        "--copy-unmatched", required=True, help="where to list the copy's files no video owns"
    )
    args = parser.parse_args(argv)
    records = {s: [r for p in getattr(args, s) for r in read_table(p)] for s in VIDEO_STAGES}
    videos = read_tsv(args.videos)
    usable, excluded = collect(videos, records)
    write_tsv(args.manifest, MANIFEST_COLUMNS, usable)
    write_tsv(args.excluded, EXCLUDED_COLUMNS, excluded)
    had = availability(records["download"])
    write_tsv(args.availability, AVAILABILITY_COLUMNS, had)
    counts = Counter(row["status"] for row in had)
    print(
        "availability: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        file=sys.stderr,
    )
    unmatched = []
    copy = open_copy(args.copy, args.copy_key)
    if copy is not None:
        unmatched = unmatched_files(copy, [(row["class"], row["vid"]) for row in videos])
    write_tsv(args.copy_unmatched, ["path"], [{"path": p} for p in unmatched])
    if unmatched:
        print(
            f"{len(unmatched)} files of the copy {copy.root} belong to no video of the index "
            f"(the first: {', '.join(unmatched[:3])}); listed in {args.copy_unmatched}",
            file=sys.stderr,
        )
    noted = [row for row in usable if row["note"]]
    if noted:
        first = noted[0]
        print(
            f"{len(noted)} usable videos whose picture and sound differ in length (the first: "
            f"{first['class']}/{first['vid']}, {first['note']}); noted in {args.manifest}",
            file=sys.stderr,
        )
    total = len(usable) + len(excluded)
    print(f"{len(usable)} of {total} videos usable; written to {args.manifest}", file=sys.stderr)
    if excluded:
        by_stage = Counter(row["stage"] for row in excluded)
        detail = ", ".join(f"{n} at {stage}" for stage, n in by_stage.items())
        print(
            f"{len(excluded)} left out ({detail}); the list with reasons: {args.excluded}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
