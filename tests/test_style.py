"""The project's own style gates: ruff, snakefmt and Snakemake's linter."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(*cmd):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def tool(name):
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: ./setup.sh --test installs it")
    return path


def test_ruff():
    result = run(tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-3000:]


def test_snakefmt():
    result = run(tool("snakefmt"), "--check", "Snakefile", "rules")
    assert result.returncode == 0, result.stderr[-3000:]


def test_snakemake_lint():
    result = run(sys.executable, "-m", "snakemake", "--lint", "-n")
    assert result.returncode == 0 and "good condition" in result.stdout, result.stdout[-3000:]
