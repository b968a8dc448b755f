"""Extract a downloaded video's frames as JPEGs at the dataset's frame rate.

    python -m workflow_scripts.extract_frames --upstream download.json --video v.mp4 \
        --frames frames/cls/vid.mp4 --record frames.json --fps 1 --min-frames 3

Frame k (1-based) shows the video at about (k - 0.5) / fps seconds.
"""

from __future__ import annotations

import argparse
import logging

from pipeline.media import make_frames
from pipeline.records import parse_segment, run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the download stage's record")
    parser.add_argument("--video", required=True)
    parser.add_argument("--frames", required=True, help="output folder")
    parser.add_argument("--record", required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--min-frames", type=int, required=True)
    parser.add_argument("--segment", default=None, help="START:END seconds to keep (AVE)")
    parser.add_argument("--max-side", type=int, default=None, help="shrink larger frames")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    segment = parse_segment(args.segment)
    run_stage(
        "frames",
        args.upstream,
        args.record,
        lambda _: make_frames(
            args.video,
            args.frames,
            fps=args.fps,
            min_frames=args.min_frames,
            segment=segment,
            max_side=args.max_side,
        ),
    )


if __name__ == "__main__":
    main()
