"""Collect the per-video stage records of a dataset into a manifest and a list of left-outs.

    python -m workflow_scripts.manifest --videos data/demo/videos.tsv --data-dir data/demo \
        --manifest data/demo/manifest.tsv --excluded data/demo/excluded.tsv

manifest.tsv lists the videos every stage accepted; excluded.tsv lists the others with the
stage that refused each and why (unavailable, no audio track, too short, undecodable, ...).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from pathlib import Path

from workflow_scripts.records import FAILED, OK, atomic_path, read_record

STAGES = ("download", "audio", "frames")
MANIFEST_COLUMNS = ["class", "vid", "seconds", "samples", "rate", "frames", "fps"]
EXCLUDED_COLUMNS = ["class", "vid", "stage", "reason"]


def record_path(data_dir: Path, stage: str, cls: str, vid: str) -> Path:
    return data_dir / "records" / stage / cls / f"{vid}.json"


def collect(videos: list[dict], data_dir: Path) -> tuple[list[dict], list[dict]]:
    usable, excluded = [], []
    for row in videos:
        records = {
            s: read_record(record_path(data_dir, s, row["class"], row["vid"])) for s in STAGES
        }
        refused = [s for s in STAGES if records[s]["status"] != OK]
        if refused:
            # The stage that failed holds the reason; the stages after it only say "skipped".
            stage = next((s for s in refused if records[s]["status"] == FAILED), refused[0])
            excluded.append(
                {
                    "class": row["class"],
                    "vid": row["vid"],
                    "stage": stage,
                    "reason": records[stage]["reason"],
                }
            )
            continue
        audio, frames = records["audio"]["info"], records["frames"]["info"]
        usable.append(
            {
                "class": row["class"],
                "vid": row["vid"],
                "seconds": f"{audio['seconds']:.3f}",
                "samples": audio["samples"],
                "rate": audio["rate"],
                "frames": frames["count"],
                "fps": frames["fps"],
            }
        )
    return usable, excluded


def write_tsv(path: str | Path, columns: list[str], rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def read_tsv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", required=True, help="videos.tsv written by write_index")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--excluded", required=True)
    args = parser.parse_args(argv)
    usable, excluded = collect(read_tsv(args.videos), Path(args.data_dir))
    write_tsv(args.manifest, MANIFEST_COLUMNS, usable)
    write_tsv(args.excluded, EXCLUDED_COLUMNS, excluded)
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
