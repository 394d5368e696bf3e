"""The lifetime of preprocessing worker processes: single-threaded, and never outliving the
process that started them.

An orphaned worker (its parent killed with ``kill -9``) would hold its memory and keep
writing cache entries; a worker with its own BLAS thread pool would fight the other workers
for the cores. :func:`init_worker` and :func:`single_threaded_children` are what
:mod:`gaugemesh.datasets.preprocess` starts its pool with.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from typing import Iterator

__all__ = ["init_worker", "die_with_parent", "single_threaded_children"]

#: Read by spawned workers at start: one BLAS thread each, the pool is the parallelism.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _arm_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit this process once its parent is gone (then it is re-parented: ppid changes)."""
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this worker end when ``parent_pid``, the process that started it, ends, even by
    ``kill -9``: an orphaned worker would hold its memory and keep writing entries.

    The kernel sends the signal when the *thread* that spawned the worker ends; the pool
    spawns its workers from the thread that calls :func:`preprocess`, which outlives the pool.
    """
    if not _arm_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()
    # The parent may have died before the signal was armed; then nothing will ever send it.
    if os.getppid() != parent_pid:
        os._exit(1)


def init_worker(parent_pid: int) -> None:
    """A pool worker's start: end with ``parent_pid``, and compute with one torch thread."""
    die_with_parent(parent_pid)
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    """Spawned workers read these at start: one BLAS thread each, the pool is the parallelism."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
