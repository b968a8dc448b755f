"""Index a split's shards: which videos each holds, in order. Training opens this file.

    python -m iquery.cli.index_shards --split train \
        --shards data/demo/shards/train-000.h5 ... --out data/demo/shards/train.json
"""

from __future__ import annotations

import argparse
import sys

from iquery.pipeline.core.errors import ShardError
from iquery.pipeline.core.files import write_json
from iquery.pipeline.stages.shards import split_index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", required=True)
    parser.add_argument("--shards", nargs="*", default=[], help="the split's shard files")
    parser.add_argument("--out", required=True, help="the index, beside the shards")
    args = parser.parse_args(argv)
    try:
        index = split_index(args.shards, args.split, args.out)
    except ShardError as err:
        raise SystemExit(f"index_shards: {err}") from err
    write_json(args.out, index)
    videos = sum(len(entry["videos"]) for entry in index["shards"])
    print(f"{args.out}: {videos} videos in {len(index['shards'])} shards", file=sys.stderr)


if __name__ == "__main__":
    main()
