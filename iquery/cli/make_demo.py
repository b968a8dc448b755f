"""Make the demo dataset: rendered instruments with drawn, note-driven pictures.

    python -m iquery.cli.make_demo --classes cello flute --videos-per-class 8 \
        --min-seconds 10 --max-seconds 20 --width 320 --height 240 --fps 10 \
        --sample-rate 44100 --soundfont /usr/share/sounds/sf2/TimGM6mb.sf2 --seed 1234 \
        --videos V1.mp4 ... --boxes B1.npy ... --index index.json --meta meta.json

``--videos`` and ``--boxes`` name each video's files, in class order then number (as
``iquery.pipeline.datasets.demo.naming.demo_video_ids`` lists them). The index lists the videos as file://
URLs, MUSIC style; the boxes hold the true instrument box of every video frame.
"""

from __future__ import annotations

import argparse
import sys

from iquery.pipeline.datasets.demo.dataset import DemoSettings, make_demo_dataset
from iquery.pipeline.datasets.demo.naming import INSTRUMENT_PROGRAMS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", nargs="+", required=True, choices=list(INSTRUMENT_PROGRAMS))
    parser.add_argument("--videos-per-class", type=int, required=True)
    parser.add_argument("--min-seconds", type=float, required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--sample-rate", type=int, required=True)
    parser.add_argument("--soundfont", required=True, help="a General MIDI .sf2 file")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--videos", nargs="+", required=True, help="each video's .mp4")
    parser.add_argument("--boxes", nargs="+", required=True, help="each video's true boxes")
    parser.add_argument("--index", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    fields = DemoSettings.__dataclass_fields__
    settings = DemoSettings(**{k: getattr(args, k) for k in fields})
    index = make_demo_dataset(
        settings,
        videos=args.videos,
        boxes=args.boxes,
        index=args.index,
        meta=args.meta,
        seed=args.seed,
        jobs=args.jobs,
    )
    total = sum(len(v) for v in index["videos"].values())
    print(f"{total} demo videos; index {args.index}", file=sys.stderr)


if __name__ == "__main__":
    main()
