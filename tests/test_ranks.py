"""Who starts a multi-device training's ranks: Lightning on one machine, srun in a SLURM job."""

import pytest

from iquery.pipeline.cluster.ranks import (
    LOCAL,
    SLURM_JOB,
    SLURM_TASK,
    cluster_env,
    srun_command,
    where_running,
)

JOB = {"SLURM_JOB_ID": "7"}
TASK = JOB | {"SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}


def test_where_running():
    assert where_running({}) == LOCAL
    assert where_running(JOB) == SLURM_JOB  # the job's command: the executor cleared the rest
    assert where_running(TASK) == SLURM_TASK


@pytest.mark.parametrize(
    ("environ", "ranks", "expected"),
    [
        ({}, 2, "lightning"),  # one machine: Lightning spawns the ranks
        (TASK, 2, "slurm"),  # a task srun started: its rank comes from SLURM
        (TASK, 1, "lightning"),
        (JOB | {"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, 2, "lightning"),
    ],
)
def test_cluster_env_auto(environ, ranks, expected):
    assert cluster_env("auto", ranks, environ) == expected
    assert cluster_env("slurm", ranks, environ) == "slurm"


def test_srun_command_starts_one_task_per_rank(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    command = srun_command(8, 2, 4, ["--run-dir", "results/x", "--cluster-env=auto"])
    assert command[0] == "/usr/bin/srun"
    assert {"--ntasks=8", "--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=4"} <= set(command)
    # The tasks take their ranks from SLURM, whatever the job's command said.
    assert command[-1] == "--cluster-env=slurm"


def test_several_nodes_need_slurm(monkeypatch, capsys):
    from iquery.cli import train

    for name in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="nodes 2: a run over several nodes runs as a SLURM job"):
        train.main(
            ["--train-shards", "t.json", "--select-shards", "v.json", "--run-dir", "r",
             "--config-json", '{"variant": "iquery", "seed": 1, "nodes": 2}']
        )  # fmt: skip
