"""Which of a machine's GPUs a job uses, when several jobs share one machine.

Snakemake bounds how many GPUs the running jobs claim (``--resources gpu=N``) but does not say
which: without more, every job would use GPU 0. A job that claims GPUs takes that many free ones
by holding an exclusive lock on a file per GPU (in ``IQUERY_GPU_LOCKS``, a folder the workflow
sets) for as long as it runs, and shows only those to CUDA (``CUDA_VISIBLE_DEVICES``). A job that
SLURM placed already has its GPUs in ``CUDA_VISIBLE_DEVICES`` and takes nothing.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

LOCKS_VARIABLE = "IQUERY_GPU_LOCKS"

_held: list = []  # open lock files, kept open (and locked) for the life of the process


def add_gpus_argument(parser) -> None:
    """The ``--gpus`` option of a job that may claim GPUs (its rule passes resource ``gpu``)."""
    parser.add_argument(
        "--gpus", type=int, default=0, help="GPUs the job claimed (resource gpu): takes that many"
    )


def visible_gpus() -> int:
    """GPUs this machine has, counted by nvidia-smi without touching CUDA (0 where none)."""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


def claim_gpus(count: int, *, total: int | None = None, folder: str | Path | None = None) -> str:
    """Take ``count`` free GPUs for this process and show only them to CUDA; returns the
    value ``CUDA_VISIBLE_DEVICES`` then has ("" where nothing was taken). Call before CUDA
    starts. Nothing is taken where ``count`` is 0, where CUDA_VISIBLE_DEVICES is already set
    (SLURM, or the user), or where no lock folder is set (one job at a time)."""
    folder = folder or os.environ.get(LOCKS_VARIABLE)
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if count <= 0 or given is not None or not folder:
        return given or ""
    total = visible_gpus() if total is None else total
    if total == 0:
        return ""
    Path(folder).mkdir(parents=True, exist_ok=True)
    taken = []
    for index in range(total):
        handle = open(Path(folder) / f"gpu-{index}.lock", "w")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        taken.append(str(index))
        if len(taken) == count:
            break
    if len(taken) < count:
        release()
        raise RuntimeError(
            f"{count} GPU(s) wanted, {len(taken)} free of {total}: run with "
            f"--resources gpu=N where N is at most the machine's GPUs ({total})"
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
    print(f"GPUs taken: {','.join(taken)} of this machine's {total}", file=sys.stderr)
    return os.environ["CUDA_VISIBLE_DEVICES"]


def release() -> None:
    """Let the GPUs this process holds go (the end of the process does it too)."""
    while _held:
        _held.pop().close()
