"""Decode a downloaded video's sound to mono 16-bit WAV at the dataset's rate.

    python -m workflow_scripts.extract_audio --upstream download.json --video v.mp4 \
        --wav out.wav --record audio.json --rate 11025 --min-seconds 5.95

The WAV is exactly round(length * rate) samples. A video without audio, too short for one
training clip, or truncated is recorded as failed with the reason.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from workflow_scripts.media import decode_audio, write_wav
from workflow_scripts.records import MediaError
from workflow_scripts.stage import parse_segment, run_stage


def extract_audio(
    video: str | Path,
    wav: str | Path,
    *,
    rate: int,
    min_seconds: float = 0.0,
    segment: tuple[float, float] | None = None,
) -> dict:
    """Write ``wav``; return facts for the stage record. MediaError for unusable content."""
    samples, meta = decode_audio(video, rate, segment=segment)
    seconds = samples.size / rate
    if seconds < min_seconds:
        raise MediaError(
            f"too short: {seconds:.2f} s of audio, one training clip needs {min_seconds:.2f} s"
        )
    if not samples.any():
        raise MediaError("silent: the audio track holds only zeros")
    write_wav(wav, samples, rate)
    return {
        "wav": str(wav),
        "rate": rate,
        "samples": int(samples.size),
        "seconds": seconds,
        "source_rate": meta.audio_rate,
        "source_channels": meta.audio_channels,
        "segment": list(segment) if segment else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the download stage's record")
    parser.add_argument("--video", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--rate", type=int, required=True, help="output sample rate in Hz")
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--segment", default=None, help="START:END seconds to keep (AVE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    segment = parse_segment(args.segment)
    run_stage(
        "audio",
        args.upstream,
        args.record,
        lambda _: extract_audio(
            args.video, args.wav, rate=args.rate, min_seconds=args.min_seconds, segment=segment
        ),
    )


if __name__ == "__main__":
    main()
