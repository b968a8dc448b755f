"""Find the instruments in the frames of one chunk of the videos the splits use.

    python -m iquery.cli.detect --data data --dataset demo --chunk 0 --chunks 8 \
        --splits data/demo/splits/train.tsv data/demo/splits/val.tsv data/demo/splits/test.tsv \
        --frames-tables data/demo/records/frames-000.json ... --classes cello flute ... \
        --backend background --table data/demo/records/detect-000.json

Each video's (K, 7) rows go to detection_results/{cls}/{vid}.mp4.npy. A video whose detections
are in ``--copy`` takes them from there; the detector (for ``owl``, a network) is loaded once,
and only if some video of the chunk needs it.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.splits import used_videos
from iquery.pipeline.detection.backends import BACKENDS, make_detector
from iquery.pipeline.stages.batches import (
    add_chunk_arguments,
    log_to_stderr,
    members,
    read_tables,
    run_batch,
)
from iquery.pipeline.stages.feature_stages import detect_steps, once


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_chunk_arguments(parser)
    parser.add_argument("--splits", required=True, nargs="+", help="the split lists")
    parser.add_argument("--frames-tables", required=True, nargs="+")
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--classes", required=True, nargs="+", help="class order (query index)")
    parser.add_argument("--model", help="owl: hub id or local save_pretrained folder")
    parser.add_argument("--threshold", type=float, help="owl: minimum score")
    parser.add_argument("--batch-size", type=int, help="owl: frames per forward pass")
    parser.add_argument(
        "--class-offset",
        type=int,
        default=None,
        help="copied files: file class id minus this = class index; leave out for "
        "class-agnostic files (CoSep's)",
    )
    parser.add_argument("--device", default=None)
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    claim_gpus(args.gpus)  # before CUDA starts: which of the machine's GPUs are ours
    log_to_stderr()
    settings = {"backend": args.backend}
    if args.backend == "owl":
        settings |= {"model": args.model, "threshold": args.threshold}
    steps = detect_steps(
        Layout(data=args.data),
        args.dataset,
        members(used_videos(args.splits), args.chunk, args.chunks),
        read_tables(args.frames_tables),
        detector=once(
            lambda: make_detector(
                args.backend,
                classes=args.classes,
                owl_model=args.model,
                threshold=args.threshold,
                batch_size=args.batch_size,
                device=args.device,
            )
        ),
        settings=settings,
        classes=args.classes,
        class_offset=args.class_offset,
        copy=open_copy(args.copy, args.copy_key),
    )
    run_batch("detect", steps, args.table)


if __name__ == "__main__":
    main()
