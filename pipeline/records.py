"""Per-video stage records: what a stage did to one video, from what, and why not.

Every per-video stage writes one small JSON record per video beside its media, at the paths
``pipeline.layout`` gives (``pipeline.batches`` runs the stages). A refused video therefore never
stops a run: its record carries the reason, the manifest collects the records, and every later
stage sees only the videos every stage accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    made_from: dict | None = None,
) -> dict:
    """Write one record; ``made_from`` holds what the result depends on (see pipeline.batches)."""
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


def forget_failed(
    tables: list[str | Path],
    record_path: Callable[[str, str], str],
    marker_path: Callable[[str | Path], str],
    log: str | Path,
) -> list[Path]:
    """Forget the downloads the chunk ``tables`` list as failed (gone, private, offline, a
    network error): their records (at ``record_path(cls, vid)``) are deleted, and each table
    that lists one gets a retry marker (``marker_path(table)``) beside it, an input of that
    chunk's job, so that the next run reruns those chunks and tries those videos again; the
    chunks' other videos are kept (see ``pipeline.batches``). Unusable index entries stay as
    they are. ``log`` lists what was deleted, which is also returned."""
    from pipeline.batches import read_table  # batches imports this module

    forgotten = []
    for table in map(Path, tables):
        failed = [r for r in read_table(table) if r["status"] == FAILED and r["stage"] != "index"]
        for r in failed:
            record = Path(record_path(r["class"], r["vid"]))
            record.unlink(missing_ok=True)
            forgotten.append(record)
        if failed:
            # A marker newer than the table: Snakemake reruns the chunk (a deleted table would
            # not do: Snakemake does not remake a missing file whose consumers are up to date).
            listed = "".join(f"{r['class']}/{r['vid']}\n" for r in failed)
            write_text(marker_path(table), listed)
    write_text(log, "".join(f"{path}\n" for path in forgotten))
    return forgotten
