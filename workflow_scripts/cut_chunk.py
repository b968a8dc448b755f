"""Cut one video's result out of a chunk file into its own file in the original layout.

    python -m workflow_scripts.cut_chunk --chunk data/demo/detection_results/chunks/003.h5 \
        --video=cello/cello-00 --array rows --out data/demo/detection_results/cello/cello-00.mp4.npy

With ``--array NAME`` that array alone is written as .npy (detections); without, all the
video's arrays as .npz (motion tokens). Deliberately light: it runs once per video.
"""

from __future__ import annotations

import argparse

from pipeline.chunks import read_chunk_item, save_item


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", required=True, help="the chunk file (HDF5)")
    parser.add_argument("--video", required=True, help="CLASS/VID; give as --video=...")
    parser.add_argument("--array", default=None, help="write this array alone, as .npy")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    item = read_chunk_item(args.chunk, args.video)
    if args.array is not None and args.array not in item:
        raise SystemExit(f"cut_chunk: {args.chunk}: {args.video} holds no array {args.array!r}")
    save_item(item, args.out, args.array)


if __name__ == "__main__":
    main()
