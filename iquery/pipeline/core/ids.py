"""Validation of untrusted video ids, URLs and class labels.

Everything read from an index (JSON, CSV, annotation file) passes through here before it becomes
a file name, a Snakemake wildcard or an argument to yt-dlp or ffmpeg.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePath
from urllib.parse import unquote, urlsplit

from iquery.pipeline.core.errors import InvalidEntry

YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
# What a video id may look like on disk (YouTube ids may start with "-": paths always carry a
# folder before them, so no tool reads one as an option). Also the wildcard constraint.
SAFE_VID = r"[A-Za-z0-9_-]{1,80}"
# A class folder: labels with spaces (the MUSIC duet list) become underscores.
SAFE_CLASS_DIR = r"[A-Za-z0-9][A-Za-z0-9_+-]{0,79}"
_SAFE_VID_RE = re.compile(f"^{SAFE_VID}$")
_SAFE_CLASS_DIR_RE = re.compile(f"^{SAFE_CLASS_DIR}$")
_URL_SCHEMES = ("http", "https", "file")


def youtube_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def class_dir(label: str, where: str = "index") -> str:
    """Folder name of a class label; rejects anything that could escape a folder or a shell."""
    if not isinstance(label, str) or not label.strip():
        raise InvalidEntry(f"{where}: empty class label {label!r}")
    folder = re.sub(r"\s+", "_", label.strip())
    if not _SAFE_CLASS_DIR_RE.match(folder):
        raise InvalidEntry(
            f"{where}: class label {label!r} is not usable as a folder name; use letters, digits, "
            "spaces, '_', '+' or '-' (at most 80 characters)"
        )
    return folder


def _vid_from_url(url: str) -> str:
    """A file-name-safe id for a URL: the last path component's stem when it is already safe,
    else a readable prefix plus a short hash (so two URLs never collide silently)."""
    parts = urlsplit(url)
    stem = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    query_v = re.search(r"(?:^|&)v=([A-Za-z0-9_-]{11})(?:&|$)", parts.query)
    if query_v and parts.hostname and "youtube" in parts.hostname:
        return query_v.group(1)
    if _SAFE_VID_RE.match(stem):
        return stem
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:40] or "video"
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{cleaned}_{digest}"


def parse_entry(entry: object, where: str = "index") -> tuple[str, str]:
    """Turn an index entry (a YouTube id or an http(s)/file URL) into (vid, url).

    Raises InvalidEntry naming ``where`` for anything else: paths, shell metacharacters, '../'.
    """
    if not isinstance(entry, str):
        raise InvalidEntry(f"{where}: entry {entry!r} is not a string")
    text = entry.strip()
    if YOUTUBE_ID.match(text):
        return text, youtube_url(text)
    parts = urlsplit(text)
    if parts.scheme in _URL_SCHEMES and (parts.netloc or parts.scheme == "file"):
        if any(c in text for c in "\n\r\t\0 ") or ".." in unquote(parts.path).split("/"):
            raise InvalidEntry(f"{where}: URL {entry!r} holds whitespace or '..'")
        return _vid_from_url(text), text
    raise InvalidEntry(
        f"{where}: entry {entry!r} is neither a YouTube id (11 characters of A-Z a-z 0-9 _ -) "
        "nor an http(s):// or file:// URL"
    )


def check_vid(vid: str, where: str = "index") -> str:
    if not isinstance(vid, str) or not _SAFE_VID_RE.match(vid):
        raise InvalidEntry(f"{where}: video id {vid!r} is not a safe file name ([A-Za-z0-9_-])")
    return vid


def unusable_vid(entry: object) -> str:
    """A safe, stable id for an index entry that cannot be used, so that it can be recorded as
    left out (with its reason) like any other video."""
    digest = hashlib.sha1(repr(entry).encode(), usedforsecurity=False).hexdigest()[:12]
    return f"invalid-{digest}"


def file_url_path(url: str) -> Path:
    """The local path a ``file://`` URL names."""
    return Path(unquote(urlsplit(url).path))


def video_name(source: str) -> str:
    """A safe folder name for a video given as a file path or a URL (``separate``)."""
    if "://" in source:
        return parse_entry(source, "video")[0]
    stem = PurePath(source).stem
    if _SAFE_VID_RE.match(stem):
        return stem
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:60] or "video"
