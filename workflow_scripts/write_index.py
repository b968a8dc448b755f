"""Write a dataset's normalised index: index.json (MUSIC style) and videos.tsv (one row a video).

    python -m workflow_scripts.write_index --name music --config-json '{...}' \
        --json data/music/index.json --tsv data/music/videos.tsv

The config JSON holds the part of the workflow's effective config that the index depends on
(the rule passes it), so a value given with ``--config`` on the command line is seen here too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json

from workflow_scripts.datasets import Dataset, load_dataset
from workflow_scripts.records import atomic_path, write_json

VIDEO_COLUMNS = ["class", "vid", "url", "label", "start", "end", "problem"]


def write_index(dataset: Dataset, json_path: str, tsv_path: str) -> None:
    videos: dict[str, list[str]] = {}
    for v in dataset.videos:
        videos.setdefault(v.cls, []).append(v.url)
    write_json(
        json_path,
        {"version": 1, "dataset": dataset.name, "classes": dataset.classes, "videos": videos},
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(VIDEO_COLUMNS)
    for v in dataset.videos:
        start, end = v.segment or ("", "")
        writer.writerow([v.cls, v.vid, v.url, v.label, start, end, v.problem])
    with atomic_path(tsv_path) as tmp:
        tmp.write_text(buffer.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="dataset name (a key of config datasets)")
    parser.add_argument("--config-json", required=True, help="the workflow's config as JSON")
    parser.add_argument("--json", required=True)
    parser.add_argument("--tsv", required=True)
    args = parser.parse_args(argv)
    dataset = load_dataset(args.name, json.loads(args.config_json))
    write_index(dataset, args.json, args.tsv)
    print(f"{args.name}: {len(dataset.videos)} videos in {len(dataset.classes)} classes")


if __name__ == "__main__":
    main()
