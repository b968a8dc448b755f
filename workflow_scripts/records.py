"""Per-video stage records and atomic file writing.

Every per-video stage writes a small JSON record (the rule's declared output) saying whether the
video passed that stage, and why not. The media (mp4, wav, jpg folder) sit beside it in the
original dataset layout. A failed video therefore never stops a run: its record carries the
reason, and the manifest collects them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"  # an earlier stage failed


class MediaError(Exception):
    """A problem with one video's content (unavailable, no audio, too short, undecodable).

    Such a problem is recorded and the run goes on; any other exception is a bug and fails the job.
    """


@contextmanager
def atomic_path(path: str | Path, *, directory: bool = False):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp make owner-only files; give the result the usual permissions instead.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod((0o777 if directory else 0o666) & ~umask)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def write_json(path: str | Path, data: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


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
    record = {
        "stage": stage,
        "class": cls,
        "vid": vid,
        "status": status,
        "reason": reason,
        "info": info or {},
    }
    write_json(path, record)
    return record


def read_record(path: str | Path) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RuntimeError(
            f"{path}: unreadable stage record ({err}); delete it and rerun to redo that stage"
        ) from err
    for key in ("stage", "class", "vid", "status", "reason", "info"):
        if key not in record:
            raise RuntimeError(f"{path}: stage record lacks {key!r}; delete it and rerun")
    return record


def settings_hash(settings: dict) -> str:
    """A short, order-independent hash of a stage's settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stamp_path(output: Path) -> Path:
    return output.with_suffix(".stamp")


def up_to_date(output: str | Path, stamp: str) -> bool:
    """Whether ``output`` exists and was made with the settings whose hash is ``stamp``."""
    output = Path(output)
    stamp_file = _stamp_path(output)
    return output.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp


def mark_made(output: str | Path, stamp: str) -> None:
    """Record which settings made ``output`` (read back by ``up_to_date``)."""
    with atomic_path(_stamp_path(Path(output))) as tmp:
        tmp.write_text(stamp)
