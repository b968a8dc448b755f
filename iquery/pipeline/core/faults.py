"""Two kinds of failure: a fact about a video, or a fault of the machine, the network or the set-up.

A video that is gone, private, silent, too short or undecodable is recorded with its reason and the
run goes on without it (``iquery.pipeline.core.errors.MediaError``). A full disk, a permission, an
I/O error, a missing program, a killed subprocess, a DNS failure, a timeout, HTTP 429 or 5xx, or a
bot check says nothing about the video: the job fails with a clear message and records nothing, so a
rerun after the fault is fixed tries the video again. Records that an earlier run (or an earlier
version of this code) wrote for such a fault are not trusted: they are redone.

The decision is made from the error's cause, never from where it happened, and only here:
``FAULTS`` is the table (`docs/failures.md` shows it with a real message for each).
Where the cause is known when the error is met, it is said there: the operating system's errno,
a signal (``is_crash``: sent from outside, or a crash that repeats on the same file), a
program's report checked against the operating system (``report_fault``: ffmpeg says
"Input/output error" of a damaged container as of a failing disk). Only what is left, the texts
yt-dlp gives, is read for its words.
"""

from __future__ import annotations

import errno
import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fault:
    kind: str  # what the user is told it is
    pattern: str  # searched in the error's text, case-insensitive
    network: bool  # transient: retried with back-off before the job fails


FAULTS = (
    Fault("disk full", r"no space left on device|disk quota exceeded|\[errno 28\]", False),
    Fault(
        "permission denied",
        r"permission denied|read-only file system|operation not permitted|\[errno 13\]",
        False,
    ),
    Fault("I/O error", r"input/output error|\[errno 5\]", False),
    Fault("out of memory or file handles", r"cannot allocate memory|too many open files", False),
    Fault("missing program", r"no such file or directory: '(?:ffmpeg|ffprobe)'", False),
    Fault("input not mounted", r"is its disk mounted\?", False),
    Fault("killed", r"killed by signal|\bsigkill\b|exit status -9\b|returncode -9\b", False),
    Fault(
        "DNS failure",
        r"failed to resolve|name or service not known|temporary failure in name resolution"
        r"|nodename nor servname|getaddrinfo failed|no address associated with hostname",
        True,
    ),
    Fault(
        "network failure",
        r"timed out|connection (?:reset|refused|aborted)|network is unreachable"
        r"|remote end closed connection|remotedisconnected|incompleteread|connection broken"
        r"|unable to connect|no route to host|ssl: |eof occurred in violation of protocol"
        r"|resource temporarily unavailable|\[errno 11\]",
        True,
    ),
    # On YouTube mostly throttling, an expired signed link or an old yt-dlp, not a lost video.
    Fault("refused (HTTP 401/403)", r"http error 40[13]\b", True),
    Fault("rate limited (HTTP 429)", r"http error 429|too many requests", True),
    Fault("server error (HTTP 5xx)", r"http error 5\d\d", True),
    Fault("bot check", r"confirm you.?re not a bot|sign in to confirm you.?re not", True),
)

FAULT_OF_KIND = {fault.kind: fault for fault in FAULTS}

MACHINE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk full",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "permission denied",
    errno.EIO: "I/O error",
    errno.ENOMEM: "out of memory or file handles",
    errno.EMFILE: "out of memory or file handles",
    errno.ENFILE: "out of memory or file handles",
}


# A program that dies of one of these crashed on what it was reading (a damaged file can make a
# decoder do so); any other signal (SIGKILL, SIGTERM, SIGINT: the out-of-memory killer, a
# scheduler, a user) was sent from outside, and says nothing about the file.
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS, signal.SIGILL, signal.SIGSYS}
)
# Below this much free memory, a program's "Cannot allocate memory" is the machine's; above it,
# the file asked for an absurd amount (a damaged header).
MIN_FREE_MEMORY = 1 << 30


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def is_crash(number: int) -> bool:
    """Whether a program killed by signal ``number`` crashed by itself."""
    return number in CRASH_SIGNALS


class MachineError(Exception):
    """A fault of the machine found where it happened (a program killed from outside, an input
    the operating system cannot read): ``kind`` is one of ``FAULTS``."""

    def __init__(self, kind: str, message: str):
        self.fault = FAULT_OF_KIND[kind]
        super().__init__(message)


class MachineFault(Exception):
    """A fault of the machine, the network or the set-up, met while working on one video: the
    job fails and nothing is recorded about the video."""

    def __init__(self, fault: Fault, where: str, message: str):
        self.fault = fault
        self.where = where
        super().__init__(f"{where}: {fault.kind}, not a fault of the video: {message}")


def classify(error: BaseException | str) -> Fault | None:
    """The fault an error shows, or None when it is a fact about the video (or unknown)."""
    if isinstance(error, MachineError):
        return error.fault
    if getattr(error, "checked", False):
        return None  # decided where it was met: a fact about the video
    if isinstance(error, OSError) and error.errno in MACHINE_ERRNOS:
        return FAULT_OF_KIND[MACHINE_ERRNOS[error.errno]]
    text = str(error).lower()
    for fault in FAULTS:
        if re.search(fault.pattern, text):
            return fault
    return None


def is_machine_fault(reason: str) -> bool:
    """Whether a recorded reason came from a fault of the machine or the network (records
    written so by earlier runs are redone, not trusted)."""
    return classify(reason) is not None


def report_fault(report: str, inputs: Iterable[str | Path]) -> Fault | None:
    """The machine's fault a program's report on ``inputs`` shows, or None where the report is
    about the inputs themselves. Its words alone cannot tell: ffmpeg says "Input/output error"
    of a damaged container as of a failing disk, and "Cannot allocate memory" of an absurd
    header as of a full memory. So the operating system is asked: every input is read through
    (its errno decides), and the memory the machine has free is looked at."""
    fault = classify(report)
    if fault is None or fault.kind not in ("I/O error", "out of memory or file handles"):
        return fault
    if fault.kind == "I/O error":
        for path in inputs:
            try:
                with open(path, "rb") as f:
                    while f.read(1 << 22):
                        pass
            except OSError as err:
                return classify(err) or fault
        return None
    if "too many open files" in report.lower():
        return fault
    return fault if free_memory() < MIN_FREE_MEMORY else None


def free_memory() -> int:
    """Bytes of memory the machine has available (Linux's MemAvailable; unknown: plenty)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62
