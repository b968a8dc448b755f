"""Extract a downloaded video's frames as JPEGs at the dataset's frame rate.

    python -m workflow_scripts.extract_frames --upstream download.json --video v.mp4 \
        --frames frames/cls/vid.mp4 --record frames.json --fps 1

Layout as in the original code: frames/{cls}/{vid}.mp4/000001.jpg, ... Frame k (1-based) shows
the video at about (k - 0.5) / fps seconds.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from workflow_scripts.media import extract_frames
from workflow_scripts.stage import parse_segment, run_stage


def extract_video_frames(
    video: str | Path,
    frames: str | Path,
    *,
    fps: float,
    min_frames: int = 1,
    segment: tuple[float, float] | None = None,
    max_side: int | None = None,
) -> dict:
    count, meta = extract_frames(
        video, frames, fps, segment=segment, max_side=max_side, min_frames=min_frames
    )
    return {
        "frames": str(frames),
        "count": count,
        "fps": fps,
        "source_fps": meta.fps,
        "source_size": [meta.width, meta.height],
        "segment": list(segment) if segment else None,
        "time_of_frame": "(k - 0.5) / fps seconds, k = 1, 2, ...",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the download stage's record")
    parser.add_argument("--video", required=True)
    parser.add_argument("--frames", required=True, help="output folder")
    parser.add_argument("--record", required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--min-frames", type=int, default=1)
    parser.add_argument("--segment", default=None, help="START:END seconds to keep (AVE)")
    parser.add_argument("--max-side", type=int, default=None, help="shrink larger frames")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    segment = parse_segment(args.segment)
    run_stage(
        "frames",
        args.upstream,
        args.record,
        lambda _: extract_video_frames(
            args.video,
            args.frames,
            fps=args.fps,
            min_frames=args.min_frames,
            segment=segment,
            max_side=args.max_side,
        ),
    )


if __name__ == "__main__":
    main()
