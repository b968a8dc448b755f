"""Write a dataset's normalised index: index.json (MUSIC style) and videos.tsv (one row a video).

    python -m iquery.cli.write_index --name music --config-json '{...}' \
        --json data/music/index.json --tsv data/music/videos.tsv

The config JSON holds the part of the workflow's effective config that the index depends on
(the rule passes it), so a value given with ``--config`` on the command line is seen here too.
"""

from __future__ import annotations

import argparse
import json

from iquery.pipeline.datasets.sources import load_dataset, write_normalised_index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="dataset name (a key of config datasets)")
    parser.add_argument("--config-json", required=True, help="the workflow's config as JSON")
    parser.add_argument("--json", required=True)
    parser.add_argument("--tsv", required=True)
    args = parser.parse_args(argv)
    dataset = load_dataset(args.name, json.loads(args.config_json))
    write_normalised_index(dataset, args.json, args.tsv)
    print(f"{args.name}: {len(dataset.videos)} videos in {len(dataset.classes)} classes")


if __name__ == "__main__":
    main()
