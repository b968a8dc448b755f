"""How the processes (ranks) of a training that spans devices are started.

On one machine Lightning starts them itself. In a SLURM job, the ranks are SLURM's tasks: the
job asks for one task per device (``rules/train.smk``), and the job's command, which runs once,
starts them with ``srun``; each task then reads its rank from SLURM (Lightning's
SLURMEnvironment). The SLURM executor clears the job's ``SLURM_*`` variables, except its job id,
before running the command, so the task count is passed to ``srun`` explicitly.
"""

from __future__ import annotations

import os
import shutil
import sys

# Where the command runs, from what SLURM put in its environment.
LOCAL, SLURM_JOB, SLURM_TASK = "local", "slurm-job", "slurm-task"


def where_running(environ=os.environ) -> str:
    """LOCAL outside SLURM; SLURM_JOB in a job's own command (outside any srun step, as the
    executor runs a multi-task job's command); SLURM_TASK in a task that srun started."""
    if not environ.get("SLURM_JOB_ID"):
        return LOCAL
    if environ.get("SLURM_STEP_ID") is not None and environ.get("SLURM_PROCID") is not None:
        return SLURM_TASK
    return SLURM_JOB


def cluster_env(choice: str, ranks: int, environ=os.environ) -> str:
    """The ``--cluster-env`` a process trains with: ``auto`` is slurm in a SLURM task of a
    multi-task step (ranks from SLURM), lightning otherwise (Lightning starts the ranks)."""
    if choice != "auto":
        return choice
    in_task = where_running(environ) == SLURM_TASK
    several = ranks > 1 and int(environ.get("SLURM_NTASKS", 1)) > 1
    return "slurm" if in_task and several else "lightning"


def srun_command(ranks: int, nodes: int, threads: int | None, argv: list[str]) -> list[str]:
    """The command that starts ``ranks`` tasks of this training over ``nodes`` nodes of the
    current SLURM job, each seeing every GPU of its node (Lightning picks one by local rank)."""
    srun = shutil.which("srun")
    if srun is None:
        raise SystemExit("train: in a SLURM job but srun is not on PATH")
    return [
        srun,
        f"--ntasks={ranks}",
        f"--nodes={nodes}",
        f"--ntasks-per-node={ranks // nodes}",
        f"--cpus-per-task={threads or 1}",
        "--gpu-bind=none",
        "--kill-on-bad-exit=1",
        sys.executable,
        "-m",
        "iquery.cli.train",
        *argv,
        "--cluster-env=slurm",
    ]
