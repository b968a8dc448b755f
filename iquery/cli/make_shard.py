"""Pack one shard: a share of a split's videos, with everything training reads of them.

    python -m iquery.cli.make_shard --dataset demo --split train --shard 0 \
        --classes cello flute ... --recipe '{"stages": {...}, "shards": {...}, ...}' \
        --videos cello/cello-00 ... --audio A.wav ... --frames F.mp4 ... --detections D.npy ... \
        [--motion M.npz ...] --out data/demo/shards/train-000.h5

The per-video lists are parallel, one entry per video, in the split's order. The recipe (as the
workflow writes it: ``iquery.pipeline.stages.recipe``) gives the frame rate, the crop side and the
box rule, and is recorded in the shard, from which training copies it into its checkpoints. The
shard is written to a temporary file and renamed (see ``iquery/pipeline/stages/shards.py`` for
what it holds).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iquery.pipeline.core.errors import ShardError
from iquery.pipeline.core.provenance import digest
from iquery.pipeline.stages.shards import video_payload, write_shard


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", required=True, choices=["train", "val", "test"])
    parser.add_argument("--shard", type=int, required=True, help="this shard's number")
    parser.add_argument("--classes", required=True, nargs="+", help="class order (query index)")
    parser.add_argument("--videos", required=True, nargs="+", help="CLASS/VID of each video")
    parser.add_argument("--audio", required=True, nargs="+")
    parser.add_argument("--frames", required=True, nargs="+")
    parser.add_argument("--detections", required=True, nargs="+")
    parser.add_argument("--motion", nargs="+", help="motion tokens (datasets with motion)")
    parser.add_argument(
        "--recipe",
        required=True,
        help="the dataset's preprocessing recipe (JSON, iquery.pipeline.stages.recipe): its "
        "frame rate, crop side and box rule are used, and all of it recorded with its hash",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    motion = args.motion or [None] * len(args.videos)
    lists = (args.videos, args.audio, args.frames, args.detections, motion)
    if len({len(x) for x in lists}) != 1:
        parser.error("--videos, --audio, --frames, --detections, --motion: one entry per video")
    keys = [tuple(key.split("/", 1)) for key in args.videos]
    unknown = sorted({cls for cls, _ in keys} - set(args.classes))
    if unknown:
        raise SystemExit(f"make_shard: classes {unknown} are not in --classes")
    recipe = json.loads(args.recipe)
    try:
        frame_rate = float(recipe["stages"]["frames"]["frame_rate"])
        crop_side = int(recipe["shards"]["crop_side"])
        own_class_boxes = recipe["box_rule"] == "own_class"
    except (KeyError, TypeError) as err:
        raise SystemExit(f"make_shard: --recipe lacks {err}") from None

    def payloads():
        for key, audio, frames, detections, tokens in zip(keys, *lists[1:], strict=True):
            yield (
                key,
                video_payload(
                    audio=audio,
                    frames=frames,
                    detections=detections,
                    motion=tokens,
                    class_index=args.classes.index(key[0]),
                    n_classes=len(args.classes),
                    own_class_boxes=own_class_boxes,
                    crop_side=crop_side,
                ),
            )

    attrs = {
        "dataset": args.dataset,
        "split": args.split,
        "shard": args.shard,
        "classes": json.dumps(args.classes),
        "videos": json.dumps([list(k) for k in keys]),
        "frame_rate": frame_rate,
        "crop_side": crop_side,
        "own_class_boxes": own_class_boxes,
        "has_motion": args.motion is not None,
        "recipe": json.dumps(recipe, sort_keys=True),
        "config_hash": digest(recipe),
    }
    try:
        write_shard(args.out, payloads(), attrs)
    except ShardError as err:
        raise SystemExit(f"make_shard: {err}") from err
    size = Path(args.out).stat().st_size / 2**20
    print(f"{args.out}: {len(keys)} videos, {size:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
