"""Separate the instruments of any video with a trained model: a WAV and an MP4 per instrument,
the residual, a picture of the masks and a page with players.

    iquery separate --checkpoint results/demo/iquery/seed-1234/checkpoints/best-*.ckpt \
        --video my_duet.mp4 --out separated/my_duet [--classes cello flute]

(or ``python -m iquery.cli.separate`` with the same options). The video (a file, or a URL
fetched with yt-dlp) goes through the per-video stages training's videos went through, with the
settings the checkpoint records (its preprocessing recipe): sound at the dataset's rate, frames
at its frame rate and size, instrument detection, motion features, crops by the shards' box
rule and side (``iquery.pipeline.stages.one_video``). Which trained instruments are present
comes from ``--classes`` or, without it, from the detections (a class seen in at least
``--presence`` of the frames). See ``iquery/model/separation.py`` for how a video of any length
is separated.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iquery.model.full_rate import HIGH_BAND_RULES
from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.errors import ConfigError, MediaError
from iquery.pipeline.core.faults import MachineError
from iquery.pipeline.core.memory import return_freed_blocks
from iquery.pipeline.separate.video import project_config, separate_video
from iquery.pipeline.stages.download import DownloadSettings
from iquery.pipeline.stages.one_video import download_settings

DETECTORS = ["background", "owl", "none"]


def main(argv: list[str] | None = None) -> dict:
    config = project_config()
    defaults = config["separate"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a checkpoint file")
    model.add_argument("--summary", type=Path, help="a run's train_summary.json: its --which")
    parser.add_argument("--which", choices=["best", "last"], default="best")
    parser.add_argument("--video", required=True, help="a video file, or its URL")
    parser.add_argument("--out", required=True, type=Path, help="folder for what is written")
    parser.add_argument("--classes", nargs="*", default=None, help="the instruments to take out")
    parser.add_argument(
        "--presence", type=float, default=defaults["presence"], help="share of frames, see above"
    )
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=None,
        help="instead of the recipe's (a recipe's 'precomputed' becomes owl: a new video has no "
        "detection file); none: whole frames",
    )
    parser.add_argument("--expect-classes", nargs="*", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--offline", action="store_true", help="fetch nothing")
    parser.add_argument(
        "--batch-size", type=int, default=defaults["batch_size"], help="windows separated at once"
    )
    parser.add_argument(
        "--model-rate",
        action="store_true",
        help="write mono tracks at the model's rate (as the model heard the sound) instead of "
        "tracks at the video's own rate and channels",
    )
    parser.add_argument(
        "--high-band",
        choices=HIGH_BAND_RULES,
        default=defaults["high_band"],
        help="what each track gets above the model's Nyquist frequency (full-rate tracks): "
        "share: its share of the top octave it heard; edge: its mask at the highest bin; none: "
        "nothing (the residual keeps it)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU threads (default 2, as the workflow's separate rule: float sums depend on the "
        "thread count, so the same threads give the same tracks to the bit)",
    )
    parser.add_argument(
        "--keep-prepared",
        action="store_true",
        help="keep the frames, detection rows, every frame's crops and the motion tokens in "
        "OUT/prepared (to compare with what training's shards hold)",
    )
    parser.add_argument(
        "--download-settings",
        default=None,
        help="how a URL is fetched: the download stage's settings as JSON (default: config.yaml's "
        "block download, at block separate's format)",
    )
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    try:
        args.download = (
            DownloadSettings.from_json(args.download_settings)
            if args.download_settings
            else download_settings(config, config["dataset"])
        )
    except (ConfigError, ValueError) as err:
        parser.error(f"--download-settings: {err}")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: at least 1")
    claim_gpus(args.gpus)
    return_freed_blocks()  # memory flat however long the video (iquery.pipeline.core.memory)
    try:
        if args.summary is not None:
            from iquery.model.evaluation import find_checkpoint

            args.checkpoint = find_checkpoint(args.summary, args.which)
        return separate_video(args)
    except (ConfigError, MediaError, MachineError, ValueError) as err:
        raise SystemExit(f"separate: {err}") from err


if __name__ == "__main__":
    main()
