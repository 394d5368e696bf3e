"""Ask the C allocator to keep freed memory, so that every training step does not pay
page faults for the same activations again.

PyTorch's CPU tensors come straight from ``malloc``. With glibc's defaults, the buffers of
one forward/backward pass (a few MB each) are returned to the operating system when the
step frees them, and the next step faults every page in again: about 20,000 page faults,
roughly 20 ms, of a 180 ms ``GemResNet`` step at 10k vertices on this project's 2-core
machines. Raising glibc's mmap and trim thresholds keeps that memory in the process for
reuse (the same reason PyTorch's CPU tuning guide recommends jemalloc or tcmalloc).

This is a setting of the whole process, so the library never makes it: the training and
evaluation commands and the benchmarks do, once, at start-up. Set
``GAUGEMESH_MALLOC=default`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Largest mmap threshold glibc accepts on 64-bit systems; bigger blocks are still mapped
#: and unmapped one by one.
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap is returned to the system only beyond this.
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process.

    Returns:
        Whether the allocator was changed: ``False`` off Linux/glibc, when ``mallopt``
        refuses, or when ``GAUGEMESH_MALLOC=default``. The process then keeps up to
        ``TRIM_THRESHOLD`` of freed memory for reuse, so its resident size stays near
        its peak.
    """
    if os.environ.get("GAUGEMESH_MALLOC", "").lower() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    changed = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.info("malloc: keeping freed memory for reuse" if changed else "malloc: mallopt refused, defaults kept")
    return changed
