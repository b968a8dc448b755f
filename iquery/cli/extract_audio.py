"""Give the videos of one chunk their sound: mono 16-bit WAV at the dataset's rate.

    python -m iquery.cli.extract_audio --data data --dataset music --chunk 3 --chunks 32 \
        --videos data/music/videos.tsv --download-tables data/music/records/download-003.json \
        --table data/music/records/audio-003.json --rate 11025 --min-seconds 5.95

Decoded from the video (exactly round(length * rate) samples), or taken from ``--copy`` after
its rate and length are checked. A video without audio, too short for one training clip, silent
or truncated is recorded as failed with the reason.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.sources import read_videos_table
from iquery.pipeline.stages.batches import (
    add_chunk_arguments,
    log_to_stderr,
    members,
    read_tables,
    run_batch,
)
from iquery.pipeline.stages.video_stages import audio_steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_chunk_arguments(parser)
    parser.add_argument("--videos", required=True, help="videos.tsv written by write_index")
    parser.add_argument("--download-tables", required=True, nargs="+")
    parser.add_argument("--rate", type=int, required=True, help="output sample rate in Hz")
    parser.add_argument("--min-seconds", type=float, required=True)
    parser.add_argument(
        "--trim-to-segment", action="store_true", help="keep each video's annotated event (AVE)"
    )
    args = parser.parse_args(argv)
    log_to_stderr()
    steps = audio_steps(
        Layout(data=args.data),
        args.dataset,
        members(read_videos_table(args.videos), args.chunk, args.chunks),
        read_tables(args.download_tables),
        rate=args.rate,
        min_seconds=args.min_seconds,
        trim_to_segment=args.trim_to_segment,
        copy=open_copy(args.copy, args.copy_key),
    )
    run_batch("audio", steps, args.table)


if __name__ == "__main__":
    main()
