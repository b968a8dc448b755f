"""I3D motion tokens of every usable video: motion_features/{cls}/{vid}.mp4.npz.

    python -m workflow_scripts.extract_motion --data-dir data/music --backbone inception \
        --weights I3D_pretrained.pth.tar --summary data/music/motion_features/summary.json

Paper default: the first 160 frames at 1 fps, whole-video tokens (see model/motion.py). Without
``--weights`` the backbone keeps a random initialisation drawn from ``--seed`` (the demo: no
weights can be downloaded here); every token file records the weights' sha256 or "random".
A rerun with the same settings skips videos already done.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from model.motion import MotionExtractor, save_tokens
from workflow_scripts.manifest import read_tsv
from workflow_scripts.records import mark_made, settings_hash, up_to_date, write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--backbone", default="inception", choices=["inception", "r50"])
    parser.add_argument("--weights", default=None, help="checkpoint file (FAME, Kinetics)")
    parser.add_argument("--fps", type=float, default=1.0, help="rate of the frame folders")
    parser.add_argument("--max-frames", type=int, default=160)
    parser.add_argument("--resize-short", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the random initialisation, when no weights are given

    settings = {k: str(v) for k, v in vars(args).items() if k not in ("summary", "threads")}
    stamp = settings_hash(settings)
    extractor = MotionExtractor(
        args.backbone,
        args.weights,
        device=args.device,
        resize_short=args.resize_short,
        dtype="float16",
    )
    videos = read_tsv(args.data_dir / "manifest.tsv")
    done = reused = 0
    for row in tqdm(videos, desc=f"motion ({args.backbone})", file=sys.stderr, disable=None):
        cls, vid = row["class"], row["vid"]
        out = args.data_dir / "motion_features" / cls / f"{vid}.mp4.npz"
        if up_to_date(out, stamp):
            reused += 1
            continue
        tokens = extractor.extract(
            args.data_dir / "frames" / cls / f"{vid}.mp4", args.fps, args.max_frames
        )
        save_tokens(out, tokens)
        mark_made(out, stamp)
        done += 1
    summary = {
        "settings": settings,
        "extractor": extractor.extractor,
        "videos": len(videos),
        "extracted": done,
        "reused": reused,
        "weights_sha256": extractor.model.weights_sha256,
    }
    write_json(args.summary, summary)
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
