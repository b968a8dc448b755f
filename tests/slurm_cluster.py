"""A throwaway one-node SLURM cluster in a folder, for tests that must run real cluster jobs.

Its own munge key and socket, free ports, its own slurm.conf (no accounting daemon, as small
clusters often run), two stand-in GPUs through gres (``File=/dev/null`` and ``/dev/zero``) so
that a job asking for GPUs is scheduled; the daemons are stopped by their PIDs. Nothing outside
the folder is touched.

The Snakemake SLURM job step strips every ``SLURM_*`` variable (``SLURM_CONF`` too) before the
``srun`` it runs inside each job, so that ``srun`` would look for /etc/slurm/slurm.conf: the
cluster's ``bin/`` holds an ``srun`` that names this cluster's config and runs the real one,
and goes first on PATH (which sbatch hands to the job).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")


class ClusterUnavailable(RuntimeError):
    """SLURM cannot start here; the message says why."""


@dataclass
class Cluster:
    root: Path
    conf: Path
    partition: str
    node: str

    def env(self) -> dict[str, str]:
        """The environment a client of this cluster runs in."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def run(self, *args: str) -> str:
        out = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (known until MinJobAge after the job ends)."""
        fields = {}
        for word in self.run("scontrol", "-o", "show", "job", job_id).split():
            key, _, value = word.partition("=")
            fields[key] = value
        return fields


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _config(root: Path, node: str, cpus: int, memory_mb: int) -> str:
    ctld_port, slurmd_port = free_ports(2)
    user = (
        os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    return f"""ClusterName=throwaway
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={root}/run/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
# The node may declare more CPUs than the machine has: jobs that each ask for two then run
# side by side on a 2-core machine, as on a real node.
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:2 State=UNKNOWN
PartitionName=throwaway Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def start(root: Path, cpus: int = 4, memory_mb: int = 12000, attempts: int = 3) -> Cluster:
    """Start munged, slurmctld and slurmd under ``root``, trying again from scratch (fresh
    ports, a fresh folder) when a start fails: a port taken between picking and binding, a
    daemon slow to come up. Raise ClusterUnavailable naming every attempt's reason."""
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        raise ClusterUnavailable(f"not installed: {', '.join(missing)} (./setup.sh --test)")
    reasons = []
    for attempt in range(1, attempts + 1):
        try:
            return _start_once(root / f"attempt-{attempt}", cpus, memory_mb)
        except ClusterUnavailable as err:
            reasons.append(f"attempt {attempt}: {err}")
    raise ClusterUnavailable(f"{attempts} attempts failed:\n" + "\n".join(reasons))


def _start_once(root: Path, cpus: int, memory_mb: int) -> Cluster:
    node = socket.gethostname().split(".")[0]
    for folder in ("state", "spool", "log", "run", "bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for folder in (root.parent, root):  # munged refuses a socket in a folder others cannot enter
        folder.chmod(0o755)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = root / "slurm.conf"
    conf.write_text(_config(root, node, cpus, memory_mb))
    # Two stand-in GPUs (device files that exist everywhere), so a two-rank training can run.
    (root / "gres.conf").write_text(
        f"NodeName={node} Name=gpu File=/dev/null\nNodeName={node} Name=gpu File=/dev/zero\n"
    )
    srun = root / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)
    cluster = Cluster(root, conf, "throwaway", node)
    commands = [
        [
            "munged",
            "--force",
            f"--key-file={key}",
            f"--socket={root}/run/munge.socket",
            f"--pid-file={root}/run/munged.pid",
            f"--seed-file={root}/run/munged.seed",
            f"--log-file={root}/log/munged.log",
        ],
        ["slurmctld", "-f", str(conf)],
        ["slurmd", "-f", str(conf)],
    ]
    for command in commands:
        done = subprocess.run(command, env=cluster.env(), capture_output=True, text=True)
        if done.returncode != 0:
            stop(root)
            raise ClusterUnavailable(f"{command[0]} did not start: {done.stderr.strip()}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = cluster.run("sinfo", "-h", "-N", "-o", "%T").strip()
        except RuntimeError:
            state = ""
        if state in ("idle", "mixed", "allocated"):
            return cluster
        time.sleep(0.5)
    logs = "".join(p.read_text()[-1500:] for p in sorted((root / "log").glob("*.log")))
    stop(root)
    raise ClusterUnavailable(f"the node did not come up in 30 s; logs:\n{logs}")


def stop(root: Path) -> None:
    """Stop the daemons started under ``root``, by their PID files."""
    for name in ("slurmd", "slurmctld", "munged"):
        pid = _pid(root / "run" / f"{name}.pid")
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
