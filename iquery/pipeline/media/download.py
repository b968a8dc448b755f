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
from iquery.pipeline.core.faults import MachineError, classify
from iquery.pipeline.core.files import atomic_path
from iquery.pipeline.core.ids import file_url_path, parse_entry
from iquery.pipeline.media.ffmpeg import missing_input, probe

log = logging.getLogger("download")

# yt-dlp's words for a video that is gone, which will not change on a retry. Never a bare
# "unavailable" ("Resource temporarily unavailable" is the network's) nor an HTTP status: those
# are decided from the status yt-dlp's error carries (``_status``).
GONE = re.compile(
    r"video unavailable|this video is unavailable|video is not available|private video"
    r"|has been removed|account .* terminated|not available in your|copyright"
    r"|sign in to confirm your age|members-only|unsupported url|no such file|does not exist"
    r"|is not a valid url|requested format",
    re.IGNORECASE,
)
# HTTP statuses that say the video is gone. 401 and 403 do not: on YouTube they are mostly
# throttling, an expired signed link or an old yt-dlp, so they are retried as the network's.
GONE_STATUSES = {404, 410}
EMPTY = re.compile(r"did not get any data blocks", re.IGNORECASE)


class TransientError(Exception):
    pass


class _Log:
    """yt-dlp's messages into the download log, without its blank lines and "ERROR:" prefix."""

    def _say(self, level: int, message: str) -> None:
        message = re.sub(r"^(?:ERROR|WARNING):\s*", "", str(message).strip())
        if message:
            log.log(level, "%s", message)

    def debug(self, message: str) -> None:
        self._say(logging.DEBUG, message)

    def info(self, message: str) -> None:
        self._say(logging.INFO, message)

    def warning(self, message: str) -> None:
        self._say(logging.WARNING, message)

    def error(self, message: str) -> None:
        self._say(logging.ERROR, message)


def _status(err: BaseException) -> int | None:
    """The HTTP status an error of yt-dlp's carries, through its causes; None without one."""
    seen, todo = set(), [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        status = getattr(e, "status", None)
        if isinstance(status, int) and 100 <= status < 600:
            return status
        exc_info = getattr(e, "exc_info", None)
        todo += [exc_info[1] if exc_info else None, getattr(e, "cause", None), e.__cause__]
    return None


def _decide(err: BaseException) -> Exception:
    """What one failed try of yt-dlp means: the machine's fault (MediaError whose words
    ``classify`` reads as such: the job fails), a video that is gone or empty (a checked
    MediaError: recorded), or a TransientError (tried again; the network's when tries run
    out)."""
    text = re.sub(r"^ERROR:\s*", "", str(err)).strip()
    status = _status(err)
    if status in GONE_STATUSES:
        return MediaError(f"unavailable: {text}", checked=True)
    fault = classify(text)
    if fault is not None and not fault.network:
        return MediaError(text)  # the machine's: the stage fails the job
    if fault is None and status is None and GONE.search(text):
        return MediaError(f"unavailable: {text}", checked=True)
    if fault is None and EMPTY.search(text):
        return MediaError(f"empty: the server sent no data ({text})", checked=True)
    if status in (401, 403):
        return TransientError(f"refused (HTTP {status}): {text}")
    return TransientError(text)


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
        "logger": _Log(),
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
                    raise _decide(err) from err
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
    fault = classify(last)
    if fault is not None:
        # the network's (or refused: retried as the network's): the job fails, nothing recorded
        raise MachineError(fault.kind, f"download failed after {attempts} attempts: {last}")
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
    if source == "downloaded" and url.startswith("file:"):
        local = file_url_path(url)
        if not local.is_file():
            missing_input(local)  # a fact, unless its folder is missing: an absent mount
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
