"""Download one video with yt-dlp.

A video that is gone (private, removed, blocked) raises MediaError with yt-dlp's reason, which the
download stage records, so one lost video never stops a run. Network faults (DNS, timeouts, 429,
5xx, a bot check) are retried with back-off; when the tries run out, the stage fails the job without
recording anything about the video (``iquery.pipeline.core.faults`` decides which is which).
"""

from __future__ import annotations

import glob
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.faults import classify
from iquery.pipeline.core.files import atomic_path
from iquery.pipeline.core.ids import parse_entry
from iquery.pipeline.media.ffmpeg import probe

log = logging.getLogger("download")

# yt-dlp messages that will not change on a retry.
PERMANENT = re.compile(
    r"unavailable|private video|has been removed|account .* terminated|not available in your"
    r"|copyright|sign in to confirm your age|members-only|HTTP Error (?:403|404|410)"
    r"|Unsupported URL|No such file|does not exist|is not a valid URL|Requested format",
    re.IGNORECASE,
)


class TransientError(Exception):
    pass


def _ydl_options(workdir: Path, format: str, socket_timeout_s: float, cookies: str | None) -> dict:
    options = {
        "format": format,
        "outtmpl": str(workdir / "video.%(ext)s"),
        "merge_output_format": "mp4",
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "retries": 3,
        "fragment_retries": 3,
        "socket_timeout": socket_timeout_s,
        "enable_file_urls": True,  # the demo and users' local files come as file:// URLs
        "overwrites": True,
        "logger": log,
    }
    if cookies:
        options["cookiefile"] = cookies
    return options


def fetch(
    url: str,
    out_video: str | Path,
    *,
    format: str,
    attempts: int,
    backoff_s: float,
    socket_timeout_s: float,
    cookies: str | None = None,
) -> dict:
    """Download ``url`` to ``out_video`` (written atomically). Raises MediaError when the
    video cannot be had; returns a few facts about what was saved."""
    import yt_dlp  # imported here: it is slow to import and only this stage needs it

    out_video = Path(out_video)
    last = ""
    for attempt in range(1, attempts + 1):
        # Named after the video, so that what a killed attempt left is found and removed.
        for stale in out_video.parent.glob(f".dl-{glob.escape(out_video.name)}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        workdir = Path(tempfile.mkdtemp(prefix=f".dl-{out_video.name}-", dir=out_video.parent))
        try:
            options = _ydl_options(workdir, format, socket_timeout_s, cookies)
            with yt_dlp.YoutubeDL(options) as ydl:
                try:
                    info = ydl.extract_info(url, download=True)
                except yt_dlp.utils.DownloadError as err:
                    last = re.sub(r"^ERROR:\s*", "", str(err)).strip()
                    fault = classify(last)
                    if fault is not None and not fault.network:
                        raise MediaError(last) from err  # the machine's: the stage fails the job
                    if fault is None and PERMANENT.search(last):
                        raise MediaError(f"unavailable: {last}") from err
                    raise TransientError(last) from err
            files = [p for p in workdir.iterdir() if p.is_file() and not p.name.endswith(".part")]
            if not files:
                raise TransientError("yt-dlp reported success but wrote no file")
            saved = max(files, key=lambda p: p.stat().st_size)
            with atomic_path(out_video) as tmp:
                shutil.move(saved, tmp)
            return {
                "title": (info or {}).get("title", ""),
                "extractor": (info or {}).get("extractor", ""),
                "attempts": attempt,
                "bytes": out_video.stat().st_size,
            }
        except TransientError as err:
            last = str(err)
            log.warning("attempt %d/%d for %s failed: %s", attempt, attempts, url, last)
            if attempt < attempts:
                time.sleep(backoff_s * 2 ** (attempt - 1))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    raise MediaError(f"download failed after {attempts} attempts: {last}")


def obtain_video(url: str, video: str | Path, *, offline: bool = False, **options) -> dict:
    """Fetch and probe one video; facts for its record, or MediaError with the reason.

    A video already at ``video`` (put there by hand, or an earlier download) is used as it is;
    ``offline``, nothing is fetched from the network and a video not on disk is missing. The
    facts' ``source`` says which: downloaded or on disk.
    """
    parse_entry(url, f"download of {video}")  # refuses anything that is not an id or URL
    video = Path(video)
    video.parent.mkdir(parents=True, exist_ok=True)
    source = "on disk" if video.is_file() else "downloaded"
    try:
        if source == "downloaded" and offline and not url.startswith("file:"):
            raise MediaError(f"missing: offline, and not on disk at {video}")
        info = fetch(url, video, **options) if source == "downloaded" else {}
        meta = probe(video)
    except MediaError:
        if source == "downloaded":  # ours to remove; a video someone put there stays
            video.unlink(missing_ok=True)
        raise
    info |= {"duration": meta.duration, "width": meta.width, "height": meta.height}
    info |= {"has_audio": meta.has_audio, "has_video": meta.has_video, "url": url}
    return info | {"source": source}
