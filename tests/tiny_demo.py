"""The tiny demo the workflow tests share: 9 generated videos of 3 classes, preprocessed once
per test session (``tiny_demo`` in conftest.py) and copied, modification times and Snakemake's
records kept, into each test that runs the workflow on it. Also the helpers that run
Snakemake on a folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


def snakemake(workdir, *args, configs=(), check=True):
    """Run the project's workflow in ``workdir`` with config.yaml plus overlay files."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,  # before --configfile, whose file list would swallow a target
        "--configfile",
        str(REPO / "config.yaml"),
        *map(str, configs),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-5000:]}"
        )
    return result


def overlay(tmp_path, data, name="overlay.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def job_counts(output):
    table = output[output.index("Job stats:") :]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


TINY_DEMO = {
    "classes": ["cello", "flute", "xylophone"],
    "videos_per_class": 3,
    "min_seconds": 6.5,
    "max_seconds": 8,
    "width": 160,
    "height": 120,
    "fps": 8,
}
# The demo's own stage overrides, at the tiny demo's size: fewer chunk jobs, smaller inputs.
TINY_OVERRIDES = {
    "download": {"chunks": 2},
    "audio": {"chunks": 2},
    "frames": {"chunks": 2},
    "motion": {"resize_short": 64},
    # one test video a class (the 3 pairs they make), one for validation, one for training
    "splits": {"test_pairs": 3, "test_fraction": 0.28},
}
TINY_ENCODER = {"steps": 4, "batch_size": 4}
TINY_MOTION_ENCODER = {"steps": 2, "batch_size": 4, "lr": 1.0e-3}
# One step of a tiny model per run: training and evaluation, not their quality, are tested.
TINY_TRAINING = {
    "demo": {
        "epochs": 1,
        "dup": 1,
        "batch_size": 2,
        "num_sanity_val_steps": 0,
        "val_every": 1,
        "model_overrides": {"ngf": 4, "channels": 4, "visual_dim": 4},
    }
}


# Everything a test of the tiny demo runs with; a test adds its own overlay after this one.
TINY_CONFIG = {
    "paths": {"data": "data", "results": "results"},
    "demo": TINY_DEMO,
    "datasets": {"demo": {"overrides": TINY_OVERRIDES}},
    "detect": {"chunks": 2},
    "motion": {"chunks": 2},
    "visual_encoder": TINY_ENCODER,
    "motion_encoder": TINY_MOTION_ENCODER,
    "train": {
        "eval_jobs": 1,
        "report_examples": 2,
        "settings": TINY_TRAINING,
        "seed_study": [1234, 1235],
    },
}


def build_tiny_demo(root: Path) -> Path:
    """The tiny demo generated and preprocessed (shards included) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    snakemake(root, "preprocess_demo", configs=[overlay(root, TINY_CONFIG, "tiny.yaml")])
    return root


def copy_tiny_demo(source: Path, dest: Path) -> Path:
    """A copy of a built tiny demo that Snakemake sees as up to date: files keep their
    modification times, and Snakemake's own records (.snakemake) come along."""
    shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    for lock in (dest / ".snakemake" / "locks").glob("*"):
        lock.unlink()
    return dest / "tiny.yaml"
