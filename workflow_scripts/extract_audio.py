"""Decode a downloaded video's sound to mono 16-bit WAV at the dataset's rate.

    python -m workflow_scripts.extract_audio --upstream download.json --video v.mp4 \
        --wav out.wav --record audio.json --rate 11025 --min-seconds 5.95

The WAV is exactly round(length * rate) samples. A video without audio, too short for one
training clip, silent or truncated is recorded as failed with the reason.
"""

from __future__ import annotations

import argparse
import logging

from pipeline.media import make_wav
from pipeline.records import parse_segment, run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the download stage's record")
    parser.add_argument("--video", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--rate", type=int, required=True, help="output sample rate in Hz")
    parser.add_argument("--min-seconds", type=float, required=True)
    parser.add_argument("--segment", default=None, help="START:END seconds to keep (AVE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    segment = parse_segment(args.segment)
    run_stage(
        "audio",
        args.upstream,
        args.record,
        lambda _: make_wav(
            args.video, args.wav, rate=args.rate, min_seconds=args.min_seconds, segment=segment
        ),
    )


if __name__ == "__main__":
    main()
