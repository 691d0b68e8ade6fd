"""Keep freed tensor memory in the process: each training step allocates the same large tensors again.

glibc hands allocations above its mmap threshold (128 KiB at first) back to the system when they
are freed, so every step's ``[T, B, G*H]`` tensors (about 16 MB each at the chapter's sizes) touch
fresh pages again: thousands of page faults per ``lstm-dropout`` step on the CPU. Raising the thresholds
keeps those blocks in the heap for reuse, which cuts the faults by an order of magnitude and makes CPU
steps faster and steadier (see benchmarks/RESULTS.md).

Only on Linux with glibc. A process-wide setting, so the library never makes it: the command line does
(``jenacast train``, ``chapter`` and ``bench``), and a program that trains in a loop can call
:func:`keep_freed_memory` itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 1 << 30
_applied = False


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process; returns whether they are in effect."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _applied
