"""The shared shape of a per-video stage: read the upstream record, run, record the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from workflow_scripts.records import FAILED, OK, SKIPPED, MediaError, read_record, write_record


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
