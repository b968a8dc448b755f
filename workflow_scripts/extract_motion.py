"""I3D motion tokens of one chunk of videos; one chunk file out.

    python -m workflow_scripts.extract_motion --backbone inception --fps 1 --max-frames 160 \
        --seed 1234 --videos cello/cello-00 ... --frames F1.mp4 ... \
        --out data/demo/motion_features/chunks/000.h5 [--weights I3D_pretrained.pth.tar]

The paper's setting: the first 160 frames at 1 fps, whole-video tokens (``model/motion.py``).
Without ``--weights`` the backbone keeps a random initialisation drawn from ``--seed``; every
video's tokens record the weights' sha256 or "random". The backbone is built once per chunk.
"""

from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from model.motion import MotionExtractor
from pipeline.chunks import write_chunk
from pipeline.motion_tokens import tokens_to_arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", required=True, nargs="+", help="CLASS/VID of each video")
    parser.add_argument("--frames", required=True, nargs="+", help="each video's frame folder")
    parser.add_argument("--out", required=True, help="the chunk file (HDF5)")
    parser.add_argument("--backbone", required=True, choices=["inception", "r50"])
    parser.add_argument("--weights", default=None, help="checkpoint file (FAME, Kinetics)")
    parser.add_argument("--fps", type=float, required=True, help="rate of the frame folders")
    parser.add_argument("--max-frames", type=int, required=True)
    parser.add_argument("--resize-short", type=int, default=None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if len(args.videos) != len(args.frames):
        parser.error("--videos and --frames need one entry per video")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the random initialisation, when no weights are given
    extractor = MotionExtractor(
        args.backbone,
        args.weights,
        device=args.device,
        resize_short=args.resize_short,
        dtype="float16",
    )
    tokens = {}
    videos = list(zip(args.videos, args.frames, strict=True))
    for key, folder in tqdm(
        videos, desc=f"motion ({args.backbone})", file=sys.stderr, disable=None
    ):
        tokens[key] = tokens_to_arrays(extractor.extract(folder, args.fps, args.max_frames))
    write_chunk(args.out, tokens)
    print(
        f"{args.out}: {len(tokens)} videos, {extractor.extractor}, "
        f"weights {extractor.model.weights_sha256}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
