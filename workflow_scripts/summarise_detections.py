"""Check a dataset's detection files and, for the demo, score them against the true boxes.

    python -m workflow_scripts.summarise_detections --classes cello flute \
        --detections D1.npy D2.npy --frames F1.mp4 F2.mp4 --out summary.json \
        [--truth B1.npy B2.npy --video-fps 10 --frame-rate 1]

The lists are parallel, one entry per video. Every file is read and checked against its frames
(shape, frame numbers, classes, boxes inside the frame); with ``--truth`` the summary also holds
the IoU between the box chosen for each frame and the generator's true box.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.detection.summary import summarise
from pipeline.files import write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", required=True, nargs="+", help="class order")
    parser.add_argument("--detections", required=True, nargs="+")
    parser.add_argument("--frames", required=True, nargs="+")
    parser.add_argument("--truth", nargs="+", help="the demo's true boxes, per video frame")
    parser.add_argument("--video-fps", type=float, help="with --truth: the videos' frame rate")
    parser.add_argument("--frame-rate", type=float, help="with --truth: the extracted rate")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.truth and (args.video_fps is None or args.frame_rate is None):
        parser.error("--truth needs --video-fps and --frame-rate")
    summary = summarise(
        args.detections,
        args.frames,
        n_classes=len(args.classes),
        truth=args.truth,
        frame_rate=args.frame_rate,
        video_fps=args.video_fps,
    )
    write_json(args.out, summary)
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
