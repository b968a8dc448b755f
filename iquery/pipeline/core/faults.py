"""Two kinds of failure: a fact about a video, or a fault of the machine, the network or the set-up.

A video that is gone, private, silent, too short or undecodable is recorded with its reason and the
run goes on without it (``iquery.pipeline.core.errors.MediaError``). A full disk, a permission, an
I/O error, a missing program, a killed subprocess, a DNS failure, a timeout, HTTP 429 or 5xx, or a
bot check says nothing about the video: the job fails with a clear message and records nothing, so a
rerun after the fault is fixed tries the video again. Records that an earlier run (or an earlier
version of this code) wrote for such a fault are not trusted: they are redone.

The decision is made from the error itself (its errno, or the text yt-dlp and ffmpeg give),
never from where it happened, and only here: ``FAULTS`` is the table (README, "Two kinds of
failure", shows it with a real message for each).
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass


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
        r"|unable to connect|no route to host|ssl: |eof occurred in violation of protocol",
        True,
    ),
    Fault("rate limited (HTTP 429)", r"http error 429|too many requests", True),
    Fault("server error (HTTP 5xx)", r"http error 5\d\d", True),
    Fault("bot check", r"confirm you.?re not a bot|sign in to confirm you.?re not", True),
)

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


class MachineFault(Exception):
    """A fault of the machine, the network or the set-up, met while working on one video: the
    job fails and nothing is recorded about the video."""

    def __init__(self, fault: Fault, where: str, message: str):
        self.fault = fault
        self.where = where
        super().__init__(f"{where}: {fault.kind}, not a fault of the video: {message}")


def classify(error: BaseException | str) -> Fault | None:
    """The fault an error shows, or None when it is a fact about the video (or unknown)."""
    if isinstance(error, OSError) and error.errno in MACHINE_ERRNOS:
        kind = MACHINE_ERRNOS[error.errno]
        return next(f for f in FAULTS if f.kind == kind)
    text = str(error).lower()
    for fault in FAULTS:
        if re.search(fault.pattern, text):
            return fault
    return None


def is_machine_fault(reason: str) -> bool:
    """Whether a recorded reason came from a fault of the machine or the network (records
    written so by earlier runs are redone, not trusted)."""
    return classify(reason) is not None
