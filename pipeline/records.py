"""Per-video stage records: what a stage did to one video, and why not.

The stages that may refuse a video (download, audio, frames) declare a small JSON record as their
output and write their media beside it, at the paths ``pipeline.layout`` gives. A refused video
therefore never stops a run: its record carries the reason, the manifest collects the records,
and every later stage sees only the videos every stage accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.files import read_json, write_json, write_text

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"  # an earlier stage failed
FIELDS = ("stage", "class", "vid", "status", "reason", "info")


def write_record(
    path: str | Path,
    *,
    stage: str,
    cls: str,
    vid: str,
    status: str,
    reason: str = "",
    info: dict | None = None,
) -> dict:
    record = dict(zip(FIELDS, (stage, cls, vid, status, reason, info or {}), strict=True))
    write_json(path, record)
    return record


def read_record(path: str | Path) -> dict:
    record = read_json(path, "delete it and rerun to redo that stage")
    missing = [key for key in FIELDS if key not in record]
    if missing:
        raise ValueError(f"{path}: stage record lacks {missing}; delete it and rerun")
    return record


def run_stage(
    stage: str,
    upstream: str | Path,
    record: str | Path,
    work: Callable[[dict], dict],
) -> dict:
    """Call ``work(upstream_record)`` unless the video already failed upstream.

    ``work`` returns facts for the record; a MediaError from it is recorded as a failure with
    its reason (the run goes on), anything else propagates and fails the job.
    """
    log = logging.getLogger(stage)
    previous = read_record(upstream)
    cls, vid = previous["class"], previous["vid"]
    if previous["status"] != OK:
        reason = f"{previous['stage']} {previous['status']}"
        return write_record(record, stage=stage, cls=cls, vid=vid, status=SKIPPED, reason=reason)
    try:
        info = work(previous)
    except MediaError as err:
        log.warning("%s/%s: %s", cls, vid, err)
        return write_record(record, stage=stage, cls=cls, vid=vid, status=FAILED, reason=str(err))
    log.info("%s/%s: ok", cls, vid)
    return write_record(record, stage=stage, cls=cls, vid=vid, status=OK, info=info)


def parse_segment(text: str | None) -> tuple[float, float] | None:
    """'START:END' in seconds (AVE's annotated event), or None for the whole video."""
    if not text:
        return None
    start, _, end = text.partition(":")
    segment = (float(start), float(end))
    if not 0 <= segment[0] < segment[1]:
        raise ValueError(f"segment {text!r} must be START:END with 0 <= START < END")
    return segment


def forget_failed(records: list[str | Path], log: str | Path) -> list[Path]:
    """Delete the download records that say a video could not be had (gone, private, offline,
    a network error), so that the next run tries those videos again; the records of unusable
    index entries stay. ``log`` lists the records deleted, which are also returned."""
    forgotten = []
    for path in map(Path, records):
        if not path.is_file():
            continue
        record = read_record(path)
        if record["status"] == FAILED and record["stage"] != "index":
            path.unlink()
            forgotten.append(path)
    write_text(log, "".join(f"{path}\n" for path in forgotten))
    print(f"{len(forgotten)} failed downloads forgotten: the next run tries them again")
    return forgotten
