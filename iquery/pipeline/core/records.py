"""Per-video stage records: what a stage did to one video, from what, and why not.

Every per-video stage writes one small JSON record per video beside its media, at the paths
``iquery.pipeline.core.layout`` gives (``iquery.pipeline.stages.batches`` runs the stages). A
refused video therefore never stops a run: its record carries the reason, the manifest collects the
records, and every later stage sees only the videos every stage accepted.
"""

from __future__ import annotations

from pathlib import Path

from iquery.pipeline.core.files import read_json, write_json

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
    made_from: dict | None = None,
) -> dict:
    """Write one record; ``made_from`` holds what the result depends on (see
    ``iquery.pipeline.stages.batches``)."""
    record = dict(zip(FIELDS, (stage, cls, vid, status, reason, info or {}), strict=True))
    record["made_from"] = made_from or {}
    write_json(path, record)
    return record


def read_record(path: str | Path) -> dict:
    record = read_json(path, "delete it and rerun to redo that stage")
    missing = [key for key in FIELDS if key not in record]
    if missing:
        raise ValueError(f"{path}: stage record lacks {missing}; delete it and rerun")
    return record


def parse_segment(text: str | None) -> tuple[float, float] | None:
    """'START:END' in seconds (AVE's annotated event), or None for the whole video."""
    if not text:
        return None
    start, _, end = text.partition(":")
    segment = (float(start), float(end))
    if not 0 <= segment[0] < segment[1]:
        raise ValueError(f"segment {text!r} must be START:END with 0 <= START < END")
    return segment


def missing_file_message(path: str | Path, stage: str) -> str:
    """What to do when a file a stage's records say it made is gone."""
    return (
        f"{path} is missing: run again with --forcerun {stage}; that stage's jobs redo what "
        "is missing and keep the rest"
    )
