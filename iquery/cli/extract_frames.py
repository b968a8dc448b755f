"""Give the videos of one chunk their frames: JPEGs at the dataset's frame rate.

    python -m iquery.cli.extract_frames --data data --dataset music --chunk 3 \
        --chunks 32 --videos data/music/videos.tsv --classes accordion cello ... \
        --download-tables data/music/records/download-003.json \
        --table data/music/records/frames-003.json --fps 1 --min-frames 3 --detector owl

Frame k (1-based) shows the video at about (k - 0.5) / fps seconds. Frames are extracted from
the video or taken from ``--copy`` after their numbering and count are checked; the copy's
detections and motion features of a video are checked against its frames here too.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.sources import read_videos_table
from iquery.pipeline.detection.backends import BACKENDS
from iquery.pipeline.media.motion_tokens import BACKBONE_CHANNELS
from iquery.pipeline.stages.batches import (
    add_chunk_arguments,
    log_to_stderr,
    members,
    read_tables,
    run_batch,
)
from iquery.pipeline.stages.video_stages import frames_steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_chunk_arguments(parser)
    parser.add_argument("--videos", required=True, help="videos.tsv written by write_index")
    parser.add_argument("--download-tables", required=True, nargs="+")
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--min-frames", type=int, required=True)
    parser.add_argument("--max-side", type=int, default=None, help="shrink larger frames")
    parser.add_argument(
        "--trim-to-segment", action="store_true", help="keep each video's annotated event (AVE)"
    )
    parser.add_argument("--classes", required=True, nargs="+", help="class order")
    parser.add_argument("--detector", required=True, choices=BACKENDS)
    parser.add_argument(
        "--class-offset", type=int, default=None, help="copied detections: see detect"
    )
    parser.add_argument(
        "--motion-backbone",
        choices=sorted(BACKBONE_CHANNELS),
        default=None,
        help="datasets with motion: the backbone copied features must match",
    )
    parser.add_argument("--max-frames", type=int, default=160, help="motion: frames used")
    args = parser.parse_args(argv)
    log_to_stderr()
    features = {
        "classes": args.classes,
        "class_offset": args.class_offset,
        "detector": args.detector,
    }
    if args.motion_backbone:
        features |= {
            "motion_channels": BACKBONE_CHANNELS[args.motion_backbone],
            "max_frames": args.max_frames,
        }
    steps = frames_steps(
        Layout(data=args.data),
        args.dataset,
        members(read_videos_table(args.videos), args.chunk, args.chunks),
        read_tables(args.download_tables),
        fps=args.fps,
        min_frames=args.min_frames,
        max_side=args.max_side,
        trim_to_segment=args.trim_to_segment,
        copy=open_copy(args.copy, args.copy_key),
        copied_features=features,
    )
    run_batch("frames", steps, args.table)


if __name__ == "__main__":
    main()
