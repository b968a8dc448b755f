"""profiles/gpu on one machine with two (stand-in) GPUs: the GPU jobs running at once each get
a GPU of their own, never more jobs than GPUs run at once, and with ``gpus: false`` no job
takes one. ``nvidia-smi`` is a script that lists two GPUs; training then runs on the CPU, as
it does where CUDA is missing, but takes its GPU as it would on the real machine."""

import os
import re
import subprocess
import sys

from tests.conftest import REPO
from tests.tiny_demo import copy_tiny_demo, overlay

RUNS = ("iquery", "sop", "nomotion")
TARGETS = [f"results/demo/{run}/seed-1234/train_summary.json" for run in RUNS]


def fake_nvidia_smi(folder, count=2):
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    lines = "\n".join(f"GPU {i}: Stand-in GPU (UUID: GPU-0000000{i})" for i in range(count))
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{lines}\nEOF\n")
    script.chmod(0o755)
    return folder


def run_profile(workdir, configs, bin_folder, targets=TARGETS):
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--profile", str(REPO / "profiles" / "gpu"),
        "--cores", "4", *targets, "--configfile", str(REPO / "config.yaml"), *map(str, configs),
    ]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result


def claims(result) -> list[int]:
    """Resource ``gpu`` of each training job, as Snakemake printed its jobs."""
    jobs = re.split(r"\n(?=\[.*\]\n(?:local)?rule )", result.stderr)
    found = [re.search(r"resources: .*\bgpu=(\d+)", job) for job in jobs if "rule train:" in job]
    return [int(m[1]) if m else -1 for m in found]


def gpus_taken(workdir):
    """Per training run, the GPUs its job took, from its log."""
    taken = {}
    for run in RUNS:
        log = (workdir / "results/demo/logs" / f"train-{run}-seed-1234.log").read_text()
        found = re.findall(r"^GPUs taken: (\S+) of this machine's (\d+)$", log, re.M)
        taken[run] = found
    return taken


def test_jobs_at_once_take_their_own_gpus(tmp_path, tiny_demo):
    """Three training jobs, four cores (sop's takes two), two GPUs: two train at once on GPUs 0
    and 1, the third waits for one (were the bound from nvidia-smi missing, the three would
    start together and the third find no GPU free)."""
    tiny = copy_tiny_demo(tiny_demo, tmp_path)
    bin_folder = fake_nvidia_smi(tmp_path / "bin")
    # Neither cores nor memory may keep the third job waiting: only the GPUs.
    small = overlay(tmp_path, {"train": {"job_mem_mb": 500}}, "small.yaml")
    result = run_profile(tmp_path, [tiny, small], bin_folder)
    assert claims(result) == [1, 1, 1]
    taken = gpus_taken(tmp_path)
    assert all(len(found) == 1 and found[0][1] == "2" for found in taken.values()), taken
    devices = [found[0][0] for found in taken.values()]
    assert set(devices) == {"0", "1"}, taken  # both GPUs used: the jobs overlapped


def test_gpus_false_takes_none(tmp_path, tiny_demo):
    tiny = copy_tiny_demo(tiny_demo, tmp_path)
    bin_folder = fake_nvidia_smi(tmp_path / "bin")
    no_gpus = overlay(tmp_path, {"gpus": False}, "no-gpus.yaml")
    result = run_profile(tmp_path, [tiny, no_gpus], bin_folder, targets=TARGETS[:1])
    assert claims(result) == [0]
    log = (tmp_path / "results/demo/logs/train-iquery-seed-1234.log").read_text()
    assert "GPUs taken" not in log
