"""Run one chunk job of a per-video stage: its share of a dataset's videos, one step each.

    python -m iquery.cli.stage audio --data data --dataset music --chunk 3 \
        --settings '{"chunks": 32, "audio_rate": 11025, ...}' --videos data/music/videos.tsv \
        --upstream data/music/records/download-003.json --table data/music/records/audio-003.json

STAGE is one of the registry's (``iquery.pipeline.stages.registry``): download, audio, frames,
detect, motion. ``--settings`` is the stage's settings as JSON, as the workflow's template rule
writes them from config.yaml (``rules/per_video.smk``); ``--videos`` the dataset's videos.tsv
(stages before the splits) or its split lists (after); ``--upstream`` the chunk tables of the
stage it reads. A video that cannot be used is recorded with the reason and the command exits 0;
a fault of the machine or the network fails it. Videos done by an earlier run are kept.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.cluster.gpu_slots import add_gpus_argument, claim_gpus
from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.indexes import Video
from iquery.pipeline.datasets.sources import read_videos_table
from iquery.pipeline.datasets.splits import used_videos
from iquery.pipeline.stages.batches import log_to_stderr, members, read_tables, run_batch
from iquery.pipeline.stages.framework import LISTED, StageJob
from iquery.pipeline.stages.registry import STAGES


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--data", required=True, help="the data root (config key paths.data)")
    parser.add_argument("--dataset", required=True, help="the dataset's name")
    parser.add_argument("--chunk", type=int, required=True, help="this job's chunk, from 0")
    parser.add_argument("--settings", required=True, help="the stage's settings (JSON)")
    parser.add_argument("--videos", required=True, nargs="+", help="videos.tsv, or the split lists")
    parser.add_argument("--upstream", nargs="*", default=[], help="the read stage's tables")
    parser.add_argument("--table", required=True, help="the chunk's table (JSON) to write")
    parser.add_argument("--copy", default=None, help="the dataset's copy in the original layout")
    parser.add_argument("--copy-key", default="copy", help="the config key naming --copy")
    parser.add_argument(
        "--offline", action="store_true", help="fetch nothing: use a video only if on disk"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    add_gpus_argument(parser)
    args = parser.parse_args(argv)
    claim_gpus(args.gpus)  # before CUDA starts: which of the machine's GPUs are ours
    log_to_stderr()
    stage = STAGES[args.stage]
    try:
        settings = stage.settings.from_json(args.settings)
    except (ConfigError, ValueError) as err:
        raise SystemExit(f"--settings: {err}") from None
    if stage.videos == LISTED:
        videos = read_videos_table(args.videos[0])
    else:
        videos = [Video(cls, vid, "") for cls, vid in used_videos(args.videos)]
    job = StageJob(
        Layout(data=args.data),
        args.dataset,
        settings,
        copy=open_copy(args.copy, args.copy_key),
        offline=args.offline,
        device=args.device,
        threads=args.threads,
    )
    upstream = read_tables(args.upstream) if stage.reads else None
    steps = stage.steps(job, members(videos, args.chunk, settings.chunks), upstream)
    return run_batch(stage.name, steps, args.table)


if __name__ == "__main__":
    main()
