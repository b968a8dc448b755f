"""The SLURM profile on a real (throwaway, one-node) SLURM cluster: what SLURM ran is asked of
SLURM itself, not of Snakemake."""

import re
import subprocess
import sys
import time

import pytest

from tests import slurm_cluster
from tests.conftest import REPO
from tests.test_workflow import overlay


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    try:
        started = slurm_cluster.start(root)
    except slurm_cluster.ClusterUnavailable as err:
        pytest.skip(f"no SLURM cluster could start here: {err}")
    yield started
    slurm_cluster.stop(root)


def submitted(output: str) -> dict[str, str]:
    """SLURM job id -> the rule Snakemake submitted it for, from Snakemake's log."""
    found = re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", output)
    return dict(found)


def test_demo_preprocessing_runs_as_cluster_jobs(cluster, tmp_path):
    """A tiny demo's preprocessing through --profile profiles/slurm, unedited: SLURM ran each
    non-local job, and each ended COMPLETED."""
    config = overlay(
        tmp_path,
        {
            "paths": {"data": "data"},
            "demo": {
                "classes": ["cello", "flute"],
                "videos_per_class": 2,
                "min_seconds": 6.5,
                "max_seconds": 7,
                "width": 160,
                "height": 120,
                "fps": 8,
            },
            "download": {"chunks": 2},
            "audio": {"chunks": 2},
            "frames": {"chunks": 2},
            "detect": {"chunks": 1},
            "motion": {"chunks": 1, "resize_short": 64},
        },
    )
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), "--profile", str(REPO / "profiles" / "slurm"),
        "--jobs", "4", "--latency-wait", "5", "preprocess_demo",
        "--configfile", str(REPO / "config.yaml"), str(config),
    ]  # fmt: skip
    start = time.monotonic()
    result = subprocess.run(cmd, env=cluster.env(), capture_output=True, text=True, timeout=1200)
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    jobs = submitted(output)
    states = {job: cluster.job(job) for job in jobs}
    print(f"{len(jobs)} SLURM jobs in {seconds:.0f} s:")
    for job, fields in states.items():
        print(f"  {job} {jobs[job]:<10} {fields['JobState']} cpus={fields['NumCPUs']}")
    assert {"audio", "frames", "detect", "motion"} <= set(jobs.values())
    assert all(f["JobState"] == "COMPLETED" for f in states.values()), states
