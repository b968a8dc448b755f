"""Detect the instruments in the frames of one chunk of videos; one chunk file out.

    python -m workflow_scripts.detect --backend background --classes cello flute \
        --videos cello/cello-00 flute/flute-03 --frames F1.mp4 F2.mp4 \
        --out data/demo/detection_results/chunks/000.h5

``--videos`` and ``--frames`` (and, for ``precomputed``, ``--precomputed``) are parallel lists:
one entry per video. The network of the ``owl`` backend is loaded once for the whole chunk.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from pipeline.chunks import write_chunk
from pipeline.detection.backends import BACKENDS, load_frame_folder, make_detector


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--classes", required=True, nargs="+", help="class order (query index)")
    parser.add_argument("--videos", required=True, nargs="+", help="CLASS/VID of each video")
    parser.add_argument("--frames", required=True, nargs="+", help="each video's frame folder")
    parser.add_argument("--precomputed", nargs="+", help="precomputed: each video's .npy file")
    parser.add_argument("--out", required=True, help="the chunk file (HDF5)")
    parser.add_argument("--model", help="owl: hub id or local save_pretrained folder")
    parser.add_argument("--threshold", type=float, help="owl: minimum score")
    parser.add_argument("--batch-size", type=int, help="owl: frames per forward pass")
    parser.add_argument(
        "--class-offset",
        type=int,
        default=None,
        help="precomputed: file class id minus this = class index; leave out for "
        "class-agnostic files (CoSep's)",
    )
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    sources = args.precomputed or [None] * len(args.videos)
    if not len(args.videos) == len(args.frames) == len(sources):
        parser.error("--videos, --frames and --precomputed need one entry per video")
    detect = make_detector(
        args.backend,
        classes=args.classes,
        owl_model=args.model,
        threshold=args.threshold,
        batch_size=args.batch_size,
        class_offset=args.class_offset,
        device=args.device,
    )
    rows = {}
    videos = zip(args.videos, args.frames, sources, strict=True)
    for key, folder, source in tqdm(
        list(videos), desc=f"detect ({args.backend})", file=sys.stderr, disable=None
    ):
        found = detect(load_frame_folder(folder), Path(source) if source else None)
        rows[key] = {"rows": found}
    write_chunk(args.out, rows)
    with_boxes = sum(1 for r in rows.values() if len(r["rows"]))
    print(f"{args.out}: {len(rows)} videos, {with_boxes} with boxes", file=sys.stderr)


if __name__ == "__main__":
    main()
