"""Under ``CI=true`` a skipped test fails, naming its reason, unless the reason is one that no
CI machine can meet (a GPU). A clone that lacks a tool or a file must not go green quietly."""

from __future__ import annotations

import os

import pytest

# Reasons a skip stays a skip in CI: what CI machines cannot have.
ALLOWED = ("no GPU",)


def strict() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and strict()) or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if not reason.startswith(ALLOWED):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
