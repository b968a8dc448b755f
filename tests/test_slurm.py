"""The SLURM profile on a real (throwaway, one-node) SLURM cluster: what SLURM ran is asked of
SLURM itself, not of Snakemake."""

import re
import subprocess
import sys
import time

import pytest

from tests import slurm_cluster
from tests.conftest import REPO
from tests.tiny_demo import TINY_TRAINING, copy_tiny_demo, overlay


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    try:
        started = slurm_cluster.start(root)
    except slurm_cluster.ClusterUnavailable as err:
        pytest.skip(f"no SLURM cluster could start here: {err}")
    yield started
    slurm_cluster.stop(started.root)


def submitted(output: str) -> dict[str, str]:
    """SLURM job id -> the rule Snakemake submitted it for, from Snakemake's log."""
    found = re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", output)
    return dict(found)


def test_demo_runs_as_cluster_jobs(cluster, tmp_path, tiny_demo):
    """The preprocessed tiny demo (copied), its detection and motion run again, then shards
    and one run's training and evaluation, through --profile profiles/slurm: SLURM ran each
    non-local job, each ended COMPLETED with its rule's CPUs, and only training and evaluation
    asked for a GPU (detection is background subtraction here and motion the small I3D:
    they would not use one). The two-rank training was one job of two tasks, whose ranks came
    from srun."""
    tiny = copy_tiny_demo(tiny_demo, tmp_path)
    config = overlay(
        tmp_path,
        {
            "train": {
                "job_mem_mb": 3000,
                "job_hours": 1,
                "eval_mem_mb": 2000,
                "eval_hours": 1,
                "eval_jobs": 1,
                "report_examples": 1,
                # Two ranks (CPU processes here, a GPU each on a real cluster): SLURM starts
                # them as the job's two tasks.
                "settings": {
                    "demo": TINY_TRAINING["demo"]
                    | {"devices": 2, "accelerator": "cpu", "strategy": "ddp", "threads": 1}
                    | {"batch_size": 1}
                },
            },
        },
    )
    # The plugin first asks after 40 s, then 10 s later each time nothing ended: a real
    # cluster's pace. Here jobs take seconds.
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), "--profile", str(REPO / "profiles" / "slurm"),
        "--jobs", "4", "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "2",
        "results/demo/iquery/seed-1234/metrics.json", "--forcerun", "detect", "motion",
        "--configfile", str(REPO / "config.yaml"), str(tiny), str(config),
    ]  # fmt: skip
    start = time.monotonic()
    result = subprocess.run(cmd, env=cluster.env(), capture_output=True, text=True, timeout=1500)
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    jobs = submitted(output)
    states = {job: cluster.job(job) for job in jobs}
    print(f"{len(jobs)} SLURM jobs in {seconds:.0f} s:")
    for job, fields in states.items():
        gres = fields.get("TresPerJob") or fields.get("TresPerNode") or "-"
        print(
            f"  {job} {jobs[job]:<10} {fields['JobState']} tasks={fields['NumTasks']} "
            f"cpus={fields['NumCPUs']} {gres}"
        )
    assert sorted(jobs.values()).count("train") == 1  # one run: its evaluation's inputs
    assert {"detect", "motion", "shard", "train", "evaluate"} <= set(jobs.values()), jobs
    assert all(f["JobState"] == "COMPLETED" for f in states.values()), states
    for job, rule in jobs.items():
        fields = states[job]
        asked = "gpu" in fields.get("TresPerJob", "") + fields.get("TresPerNode", "")
        assert asked == (rule in ("train", "evaluate")), (rule, fields)
        if rule in ("detect", "motion"):
            assert fields["NumCPUs"] == "2", (rule, fields)  # the rule's threads
        assert fields["NumTasks"] == ("2" if rule == "train" else "1"), (rule, fields)
    train_log = (tmp_path / "results" / "demo" / "logs" / "train-iquery-seed-1234.log").read_text()
    print(train_log[:400])
    assert "starting 2 ranks with srun" in train_log, train_log[-3000:]
    members = set(re.findall(r"GLOBAL_RANK: (\d), MEMBER: \d/2", train_log))
    assert members == {"0", "1"}, train_log[-3000:]
    assert (tmp_path / "results" / "demo" / "iquery" / "seed-1234" / "metrics.json").is_file()


def test_cluster_start_up_is_tried_again_and_says_why(tmp_path, monkeypatch):
    """A failed start (a port taken, a daemon slow) is tried again from a fresh folder; after
    the last attempt the error names every attempt's reason."""
    tried = []

    def flaky(root, cpus, memory_mb):
        tried.append(root.name)
        if len(tried) < 3:
            raise slurm_cluster.ClusterUnavailable(f"slurmctld did not start ({root.name})")
        return root

    monkeypatch.setattr(slurm_cluster, "_start_once", flaky)
    monkeypatch.setattr(slurm_cluster, "DAEMONS", ())  # what is installed is not the question
    assert slurm_cluster.start(tmp_path) == tmp_path / "attempt-3"
    tried.clear()
    with pytest.raises(slurm_cluster.ClusterUnavailable) as failed:
        slurm_cluster.start(tmp_path, attempts=2)
    message = str(failed.value)
    assert "2 attempts failed" in message and "(attempt-1)" in message and "(attempt-2)" in message
