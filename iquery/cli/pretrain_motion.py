"""Learn the motion encoder on a dataset's own training videos
(``iquery/model/motion_pretraining.py``).

    python -m iquery.cli.pretrain_motion --data data --dataset demo \
        --settings '{"backbone": "inception", "frame_rate": 8, "window_frames": 16, ...}' \
        --train data/demo/splits/train.tsv --frames data/demo/records/frames-000.json ... \
        --steps 150 --batch-size 16 --lr 1e-3 --seed 1234 --out data/demo/motion_encoder/i3d.pt

``--settings`` is the motion stage's (as the workflow writes them): the encoder sees frames as the
stage will give them. Writes the I3D's state dict (the layout ``motion.weights`` reads) and, beside
it, ``.json`` with the steps, the time and how well a token tells its sound's loudness and onsets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from iquery.pipeline.core.encoders import add_learning_arguments, save_encoder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the data root (config key paths.data)")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--settings", required=True, help="the motion stage's settings (JSON)")
    parser.add_argument("--train", required=True, type=Path, help="the train split's list")
    parser.add_argument("--frames", required=True, nargs="+", help="the frame stage's tables")
    add_learning_arguments(parser, "motion_encoder")
    args = parser.parse_args(argv)

    import torch

    from iquery.model.motion_pretraining import pretrain_motion_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    settings, videos = training_videos(args)
    if settings.window_frames is None:
        raise SystemExit("pretrain_motion: set motion.window_frames, the window it learns on")
    state, facts = pretrain_motion_encoder(
        videos,
        backbone=settings.backbone,
        window_frames=settings.window_frames,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    facts = save_encoder(args, state, facts | {"frame_rate": settings.frame_rate}, ["frames"])
    r2 = facts["r2_on_training_windows"]
    print(
        f"pretrain_motion: {facts['steps']} steps in {facts['seconds']} s; R² of loudness and "
        f"rises from one token, on training windows: {r2['before']} before, {r2['after']} after",
        file=sys.stderr,
    )
    return facts


def training_videos(args):
    """The motion stage's settings, and every training video's frames at its rate (as its
    network will see them) with its sound."""
    from iquery.model.motion_pretraining import TrainingVideo
    from iquery.pipeline.core.layout import Layout
    from iquery.pipeline.datasets.indexes import Video
    from iquery.pipeline.datasets.splits import used_videos
    from iquery.pipeline.media.ffmpeg import read_wav
    from iquery.pipeline.motion.extractor import load_frames
    from iquery.pipeline.stages.batches import read_tables
    from iquery.pipeline.stages.framework import StageJob
    from iquery.pipeline.stages.motion import MotionSettings, frames_at_rate

    settings = MotionSettings.from_json(args.settings)
    layout = Layout(data=args.data)
    job = StageJob(layout, args.dataset, settings)
    records = read_tables(args.frames)
    videos = []
    for cls, vid in used_videos([args.train]):
        record = records.get((cls, vid))
        if record is None or record["status"] != "ok":
            raise SystemExit(f"pretrain_motion: {cls}/{vid} of {args.train} has no frames")
        with tempfile.TemporaryDirectory(prefix="motion-frames-") as scratch:
            folder = frames_at_rate(job, Video(cls, vid, ""), record["info"], Path(scratch))
            frames = load_frames(
                folder, max_frames=settings.max_frames, resize_short=settings.resize_short
            )
        samples, rate = read_wav(layout.audio(args.dataset, cls, vid))
        sound = samples.astype("float32") / 32768.0
        videos.append(TrainingVideo(frames, sound, settings.frame_rate, rate))
    if len(videos) < 2:
        raise SystemExit(f"pretrain_motion: {args.train} lists fewer than 2 videos")
    return settings, videos


if __name__ == "__main__":
    main()
