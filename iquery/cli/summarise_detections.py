"""Check a dataset's detection files and, for the demo, score them against the true boxes.

    python -m iquery.cli.summarise_detections --classes cello flute \
        --tables data/demo/records/detect-000.json ... --out summary.json \
        [--truth-folder data/demo/source/boxes --video-fps 10 --frame-rate 1]

The detection stage's chunk tables name each video's file and frames. Every file is read and
checked against its frames (shape, frame numbers, classes, boxes inside the frame); with
``--truth-folder`` (the demo's ``{cls}/{vid}.npy`` true boxes) the summary also holds the IoU
between the box chosen for each frame and the generator's true box.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iquery.pipeline.core.files import write_json
from iquery.pipeline.core.records import OK
from iquery.pipeline.detection.summary import summarise
from iquery.pipeline.stages.batches import read_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", required=True, nargs="+", help="class order")
    parser.add_argument("--tables", required=True, nargs="+", help="the detect chunk tables")
    parser.add_argument("--truth-folder", help="the demo's true boxes, per video frame")
    parser.add_argument("--video-fps", type=float, help="with --truth: the videos' frame rate")
    parser.add_argument("--frame-rate", type=float, help="with --truth: the extracted rate")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.truth_folder and (args.video_fps is None or args.frame_rate is None):
        parser.error("--truth-folder needs --video-fps and --frame-rate")
    records = [r for table in args.tables for r in read_table(table) if r["status"] == OK]
    truth = None
    if args.truth_folder:
        truth = [str(Path(args.truth_folder, r["class"], f"{r['vid']}.npy")) for r in records]
    summary = summarise(
        [r["info"]["detections"] for r in records],
        [r["info"]["frames"] for r in records],
        n_classes=len(args.classes),
        truth=truth,
        frame_rate=args.frame_rate,
        video_fps=args.video_fps,
    )
    summary["copied"] = sum(r["info"]["source"] == "copied" for r in records)
    write_json(args.out, summary)
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
