"""Have the videos of one chunk of a dataset: downloaded with yt-dlp, found on disk, or copied.

    python -m iquery.cli.download --data data --dataset music --chunk 3 --chunks 32 \
        --videos data/music/videos.tsv --table data/music/records/download-003.json \
        --format 'bv*[height<=480]+ba/b' --attempts 3 --backoff 5 --socket-timeout 30

A video that cannot be had is recorded as failed with the reason and the command still exits 0,
so one lost video never stops a run. A video already on disk is used as it is, ``--offline``
fetches nothing, and a video whose audio and frames are both in ``--copy`` is not needed. Videos
done by an earlier run (and failed ones: see the ``retry_downloads`` rule) are kept.
"""

from __future__ import annotations

import argparse

from iquery.pipeline.core.layout import Layout
from iquery.pipeline.datasets.copies import open_copy
from iquery.pipeline.datasets.sources import read_videos_table
from iquery.pipeline.stages.batches import add_chunk_arguments, log_to_stderr, members, run_batch
from iquery.pipeline.stages.video_stages import download_steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_chunk_arguments(parser)
    parser.add_argument("--videos", required=True, help="videos.tsv written by write_index")
    parser.add_argument("--format", required=True, help="yt-dlp format selection")
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument("--backoff", type=float, required=True, help="seconds, doubled per try")
    parser.add_argument("--socket-timeout", type=float, required=True)
    parser.add_argument("--cookies", default=None, help="Netscape cookie file (optional)")
    parser.add_argument(
        "--offline", action="store_true", help="fetch nothing: use the video only if on disk"
    )
    args = parser.parse_args(argv)
    log_to_stderr()
    steps = download_steps(
        Layout(data=args.data),
        args.dataset,
        members(read_videos_table(args.videos), args.chunk, args.chunks),
        copy=open_copy(args.copy, args.copy_key),
        offline=args.offline,
        fetch_options={
            "fmt": args.format,
            "attempts": args.attempts,
            "backoff_s": args.backoff,
            "socket_timeout": args.socket_timeout,
            "cookies": args.cookies,
        },
    )
    run_batch("download", steps, args.table)


if __name__ == "__main__":
    main()
