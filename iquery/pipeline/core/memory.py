"""Keeping a long run's resident memory flat.

glibc's allocator maps a large block on its own (and unmaps it when freed) only above a
threshold that, by default, rises to the largest block freed so far, up to 32 MiB. A long video
is separated in blocks of tens of MiB, allocated and freed block after block: once the
threshold has risen, those blocks come from the heap, whose freed space is rarely given back, so
resident memory grows with the video's length (measured: ``bench/separate_memory.py``). Fixing
the threshold keeps every large block mapped on its own and returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def return_freed_blocks() -> bool:
    """Fix glibc's mapping threshold at its starting value (see above); False where the C
    library is not glibc (nothing to do there)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
