"""Under ``CI=true`` a test that does not run fails, naming its reason, unless the reason is one
that no CI machine can meet (a GPU): a skip, whether met while running or while collecting (a
module skipped whole), and an expected failure (``xfail``), which would otherwise pass quietly.
A clone that lacks a tool or a file must not go green quietly. ``.ci/run`` sets ``CI=true``."""

from __future__ import annotations

import os

import pytest

# Reasons a skip stays a skip in CI: what CI machines cannot have.
ALLOWED = ("no GPU",)


def strict() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and strict()):
        return
    if hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"xfail under CI=true, where a test expected to fail hides a fault: {report.wasxfail}"
        )
        del report.wasxfail
        return
    reason = skip_reason(report)
    if not reason.startswith(ALLOWED):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and strict()):
        return
    reason = skip_reason(report)
    if not reason.startswith(ALLOWED):
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.nodeid} skipped while collecting under CI=true, where every test must "
            f"run: {reason}"
        )
