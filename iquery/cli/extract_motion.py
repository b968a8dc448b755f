"""I3D motion tokens of one chunk of the videos the splits use.

    python -m iquery.cli.extract_motion --data data --dataset demo --chunk 0 --chunks 8 \
        --splits data/demo/splits/train.tsv ... --frames-tables data/demo/records/frames-000.json \
        --backbone inception --fps 1 --max-frames 160 --seed 1234 \
        --table data/demo/records/motion-000.json [--weights I3D_pretrained.pth.tar]

Each video's tokens go to motion_features/{cls}/{vid}.mp4.npz. The paper's setting: the first
160 frames at 1 fps, whole-video tokens (``iquery/model/motion.py``). Without ``--weights`` the
backbone keeps a random initialisation drawn from ``--seed``; every video's tokens record the
weights' sha256 or "random". Features in ``--copy`` are used instead where a video has them;
the backbone is built once per job, and only if some video of the chunk needs it.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.splits import used_videos
from iquery.pipeline.media.motion_tokens import BACKBONE_CHANNELS
from iquery.pipeline.stages.batches import (
    add_chunk_arguments,
    file_identity,
    log_to_stderr,
    members,
    read_tables,
    run_batch,
)
from iquery.pipeline.stages.feature_stages import motion_steps, once


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_chunk_arguments(parser)
    parser.add_argument("--splits", required=True, nargs="+", help="the split lists")
    parser.add_argument("--frames-tables", required=True, nargs="+")
    parser.add_argument("--backbone", required=True, choices=sorted(BACKBONE_CHANNELS))
    parser.add_argument("--weights", default=None, help="checkpoint file (FAME, Kinetics)")
    parser.add_argument("--fps", type=float, required=True, help="rate of the frame folders")
    parser.add_argument("--max-frames", type=int, required=True)
    parser.add_argument("--resize-short", type=int, default=None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1)
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    claim_gpus(args.gpus)  # before CUDA starts: which of the machine's GPUs are ours
    log_to_stderr()

    def build():
        import torch

        from iquery.model.motion import MotionExtractor

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)  # the random initialisation, when no weights are given
        return MotionExtractor(
            args.backbone,
            args.weights,
            device=args.device,
            resize_short=args.resize_short,
            dtype="float16",
        )

    extractor = once(build)
    settings = {
        "backbone": args.backbone,
        "weights": file_identity(args.weights) if args.weights else None,
        "seed": args.seed,
        "fps": args.fps,
        "max_frames": args.max_frames,
        "resize_short": args.resize_short,
    }
    steps = motion_steps(
        Layout(data=args.data),
        args.dataset,
        members(used_videos(args.splits), args.chunk, args.chunks),
        read_tables(args.frames_tables),
        extract=lambda folder: extractor().extract(folder, args.fps, args.max_frames),
        settings=settings,
        channels=BACKBONE_CHANNELS[args.backbone],
        max_frames=args.max_frames,
        copy=open_copy(args.copy, args.copy_key),
    )
    run_batch("motion", steps, args.table)


if __name__ == "__main__":
    main()
