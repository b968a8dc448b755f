"""Download one video with yt-dlp and write its stage record (ok, or failed with the reason).

    python -m workflow_scripts.download --url URL --video OUT.mp4 --record OUT.json \
        --cls accordion --vid=abc --format 'bv*[height<=480]+ba/b' --attempts 3 \
        --backoff 5 --socket-timeout 30

A video that is gone is recorded as failed and the command still exits 0, so one lost video
never stops a run; a video already at ``--video`` is used as it is, and ``--offline`` fetches
nothing (see ``pipeline/video_download.py``).
"""

from __future__ import annotations

import argparse
import logging

from pipeline.ids import parse_entry
from pipeline.records import FAILED, write_record
from pipeline.video_download import download_video


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="YouTube id or http(s)/file URL")
    parser.add_argument("--video", required=True, help="where the mp4 goes")
    parser.add_argument("--record", required=True, help="where the stage record (JSON) goes")
    parser.add_argument("--cls", required=True)
    parser.add_argument("--vid", required=True, help="give as --vid=ID: ids may start with '-'")
    parser.add_argument("--format", required=True, help="yt-dlp format selection")
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument("--backoff", type=float, required=True, help="seconds, doubled per try")
    parser.add_argument("--socket-timeout", type=float, required=True)
    parser.add_argument("--cookies", default=None, help="Netscape cookie file (optional)")
    parser.add_argument("--invalid", default="", help="record the index entry as unusable")
    parser.add_argument(
        "--offline", action="store_true", help="fetch nothing: use the video only if on disk"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.invalid:
        write_record(
            args.record,
            stage="index",
            cls=args.cls,
            vid=args.vid,
            status=FAILED,
            reason=args.invalid,
            info={"url": args.url, "source": "missing"},
        )
        return
    _, url = parse_entry(args.url, "--url")
    record = download_video(
        url,
        args.video,
        args.record,
        cls=args.cls,
        vid=args.vid,
        fmt=args.format,
        attempts=args.attempts,
        backoff_s=args.backoff,
        socket_timeout=args.socket_timeout,
        cookies=args.cookies,
        offline=args.offline,
    )
    logging.getLogger("download").info(
        "%s/%s: %s %s", args.cls, args.vid, record["status"], record["reason"]
    )


if __name__ == "__main__":
    main()
