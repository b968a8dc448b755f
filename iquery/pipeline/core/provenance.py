"""What made a result: a hash of its settings, the code version and the package versions."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "lightning", "mir_eval", "numpy")


def digest(value: object) -> str:
    """A short hash of a JSON-able value (settings, a record); dict key order does not
    matter, and the same value always gives the same digest."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version() -> str:
    """``git describe --always --dirty`` of this checkout, or 'unknown' outside git."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parents[3],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where a result was computed. Training on the CPU gives the same numbers for the same
    config and seed only where torch picks the same kernels: its CPU capability (the vector
    instructions its kernels use) is recorded when torch is loaded."""
    facts = {"cpu": cpu_model(), "arch": platform.machine()}
    torch = sys.modules.get("torch")  # only where the caller already uses torch
    if torch is not None:
        facts["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        facts["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            facts["device"] = torch.cuda.get_device_name(0)
    return facts


def provenance(settings: dict) -> dict:
    return {
        "config_hash": digest(settings),
        "code_version": code_version(),
        "packages": package_versions(),
        "machine": machine(),
    }
