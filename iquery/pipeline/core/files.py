"""Writing files so that no reader ever sees half of one, and the small tables and JSON files
the stages pass to each other."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, *, directory: bool = False):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A killed process cannot clean up after itself: the temporary files an earlier, killed
    attempt at the same path left behind are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
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


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: object) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_json(path: str | Path, fix: str) -> dict:
    """A JSON file another stage wrote; a missing or broken one raises ValueError naming the
    file and ``fix``, what to do about it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable ({err}); {fix}") from err


def write_tsv(path: str | Path, columns: list[str], rows: Iterable[dict]) -> None:
    """A tab-separated table with a header line, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def read_tsv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))
