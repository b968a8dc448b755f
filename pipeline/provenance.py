"""What made a result: a hash of its settings, the code version and the package versions."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "lightning", "mir_eval", "numpy")


def settings_hash(settings: dict) -> str:
    """A short hash of a settings dict; key order does not matter."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version() -> str:
    """``git describe --always --dirty`` of this checkout, or 'unknown' outside git."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parents[1],
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


def provenance(settings: dict) -> dict:
    return {
        "config_hash": settings_hash(settings),
        "code_version": code_version(),
        "packages": package_versions(),
    }
