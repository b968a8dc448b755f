"""Per-video work in batches: one job runs a stage over a chunk of a dataset's videos.

Each per-video stage (download, audio, frames, detect, motion) deals the dataset's videos, in a
fixed order, to a number of chunks (``deal``) and runs one job per chunk, so that a dataset of
thousands of videos is a few dozen jobs, not thousands. Each video still gets its own result:
its files in the original layout and a record (``records/{stage}/{cls}/{vid}.json``) of what was
done and what it was made from. The job's declared output is the chunk's table, its videos'
records in order, which is what the next stages read.

A job that runs again (its input changed, or ``--forcerun``) keeps every video whose record was
made from the same inputs and whose files are all there, and redoes the others: a video added,
retried or deleted is the only one redone. A job killed half-way keeps what it finished.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from iquery.pipeline.core.errors import MediaError
from iquery.pipeline.core.faults import MachineError, MachineFault, classify, is_machine_fault
from iquery.pipeline.core.files import read_json, write_json, write_text
from iquery.pipeline.core.provenance import digest
from iquery.pipeline.core.records import FAILED, OK, SKIPPED, read_record, write_record

T = TypeVar("T")


def chunk_count(videos: int, chunks: int) -> int:
    """How many chunks ``videos`` videos are dealt to: ``chunks``, or fewer so none is empty."""
    return min(chunks, videos)


def deal(items: Sequence[T], chunks: int) -> list[list[T]]:
    """``items`` in order, cut into ``chunk_count`` runs of near-equal length."""
    n, k = len(items), chunk_count(len(items), chunks)
    return [list(items[i * n // k : (i + 1) * n // k]) for i in range(k)]


def chunk_holding(position: int, videos: int, chunks: int) -> int:
    """The chunk ``deal`` puts the item at ``position`` (of ``videos``) in."""
    k = chunk_count(videos, chunks)
    return next(i for i in range(k) if position < (i + 1) * videos // k)


def file_identity(path: str | Path) -> dict | None:
    """What tells one version of a file (or a folder of files) from another, cheaply: its
    resolved path, size and modification time; None if it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        stats = [p.stat() for p in files]
        return {
            "path": str(path.resolve()),
            "files": len(files),
            "bytes": sum(s.st_size for s in stats),
            "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
        }
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def product(record: dict) -> str:
    """A digest of what a record stands for, which the next stage's records are made from:
    what it was made from, its outcome and its files (not how they were had)."""
    info = record.get("info", {})
    return digest([record.get("made_from"), record["status"], record["reason"], info.get("files")])


@dataclass
class Step:
    """One video's work in a batch.

    ``made_from``: everything the result depends on (settings, the upstream record's
    ``product``, a copied file's identity); ``outputs``: the files the result is; ``work``
    makes them and returns facts for the record, raising MediaError for a video it must refuse.
    ``upstream``: the record of the stage this one reads; a video it did not accept is skipped.
    """

    cls: str
    vid: str
    record: Path
    made_from: dict
    work: Callable[[], dict]
    outputs: tuple[Path, ...] = ()
    upstream: dict | None = None


def current_record(step: Step) -> dict | None:
    """The step's record if it was made from the same inputs and its files are all there."""
    if not step.record.is_file():
        return None
    try:
        record = read_record(step.record)
    except ValueError:
        return None
    if _normal(record.get("made_from")) != _normal(step.made_from):
        return None
    if record["status"] == OK and not all(p.exists() for p in step.outputs):
        return None
    checked = (record.get("info") or {}).get("checked", False)
    if record["status"] == FAILED and not checked and is_machine_fault(record["reason"]):
        return None  # a full disk or a dropped network, recorded by an earlier version: redo
    return record


def _normal(value: object) -> object:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


# Network faults in a row, with no video reached between them, after which a job stops trying
# the rest of its videos: the network is down, and each try would only wait out its back-off.
NETWORK_DOWN_AFTER = 3


def run_batch(stage: str, steps: list[Step], table: str | Path) -> list[dict]:
    """Run (or keep) every step; write each record as it is done, then the chunk's table.

    A fault of the machine (a full disk, a permission) stops the job at once; one of the
    network (DNS, a timeout, 429, 5xx, a bot check, each already retried) leaves that video
    unrecorded and the job goes on with the others, then fails naming every video it could not
    reach, so that the next run tries exactly those again. Nothing is recorded for either.
    """
    log = logging.getLogger(stage)
    records, kept, unreached, in_a_row = [], 0, [], 0
    for step in tqdm(steps, desc=stage, unit="video", file=sys.stderr, disable=None):
        record = current_record(step)
        if record is not None:
            kept += 1
        else:
            try:
                record = _run_step(stage, step, log)
            except MachineFault as fault:
                if not fault.fault.network:
                    raise SystemExit(f"{stage}: {fault}; fix it and rerun") from fault
                log.warning("%s", fault)
                unreached.append(str(fault))
                in_a_row += 1
                if in_a_row >= NETWORK_DOWN_AFTER:
                    break
                continue
            in_a_row = 0  # the video was reached (or it failed on its own account)
        records.append(record)
    if unreached:
        left = len(steps) - len(records) - len(unreached)
        raise SystemExit(
            f"{stage}: {len(unreached)} videos could not be reached (nothing is recorded about "
            "them; rerun when the network is back):\n  "
            + "\n  ".join(unreached)
            + (f"\n  ... and {left} videos not tried: the network looks down" if left else "")
        )
    write_json(table, {"stage": stage, "records": records})
    counts = {s: sum(r["status"] == s for r in records) for s in (OK, FAILED, SKIPPED)}
    log.info(
        "%d videos: %d kept from an earlier run, %d done now; %d ok, %d failed, %d skipped",
        len(records),
        kept,
        len(records) - kept,
        counts[OK],
        counts[FAILED],
        counts[SKIPPED],
    )
    return records


def _run_step(stage: str, step: Step, log: logging.Logger) -> dict:
    common = {"stage": stage, "cls": step.cls, "vid": step.vid, "made_from": step.made_from}
    upstream = step.upstream
    if upstream is not None and upstream["status"] != OK:
        reason = f"{upstream['stage']} {upstream['status']}"
        return write_record(step.record, status=SKIPPED, reason=reason, **common)
    try:
        info = step.work()
    except (MediaError, MachineError, OSError) as err:
        fault = classify(err)
        if fault is not None:  # the machine's or the network's, not the video's
            raise MachineFault(fault, f"{step.cls}/{step.vid}", str(err)) from err
        if not isinstance(err, MediaError):
            raise
        log.warning("%s/%s: %s", step.cls, step.vid, err)
        # checked: the cause was decided where it was met; its words are not read again
        facts = {"checked": True} if err.checked else None
        return write_record(step.record, status=FAILED, reason=str(err), info=facts, **common)
    log.info("%s/%s: ok", step.cls, step.vid)
    return write_record(step.record, status=OK, info=info, **common)


def read_table(path: str | Path) -> list[dict]:
    """The records a chunk's table lists; a broken table names itself and the fix."""
    table = read_json(path, "delete it and rerun: its job remakes it")
    if "records" not in table:
        raise ValueError(f"{path}: not a chunk table; delete it and rerun")
    return table["records"]


def read_tables(paths: Sequence[str | Path]) -> dict[tuple[str, str], dict]:
    """Every record of the given tables, by (class, vid)."""
    return {(r["class"], r["vid"]): r for path in paths for r in read_table(path)}


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
    chunks' other videos are kept. Unusable index entries stay as they are. ``log`` lists
    what was deleted, which is also returned."""
    forgotten = []
    for table in map(Path, tables):
        records = read_table(table)
        failed = [r for r in records if r["status"] == FAILED and not r["made_from"].get("problem")]
        for r in failed:
            record = Path(record_path(r["class"], r["vid"]))
            record.unlink(missing_ok=True)
            forgotten.append(record)
        if failed:
            # A marker newer than the table: Snakemake reruns the chunk (a deleted table would
            # not do: Snakemake does not remake a missing file whose consumers are up to date).
            # Its text says when: Snakemake reruns for a newer input only if its content
            # changed, so a second retry of the same videos must not write the same bytes.
            when = datetime.datetime.now(datetime.timezone.utc).isoformat()
            listed = "".join(f"{r['class']}/{r['vid']}\n" for r in failed)
            write_text(marker_path(table), f"# forgotten at {when}\n{listed}")
    write_text(log, "".join(f"{path}\n" for path in forgotten))
    return forgotten


def members(items: Sequence[T], chunk: int, chunks: int) -> list[T]:
    """The items of chunk ``chunk`` (``deal``); a chunk that does not exist is an error."""
    dealt = deal(items, chunks)
    if not 0 <= chunk < len(dealt):
        raise SystemExit(f"chunk {chunk} does not exist: {len(items)} videos make {len(dealt)}")
    return dealt[chunk]


def log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
