"""Run one benchmark row in a fresh process, so that its peak memory (``ru_maxrss``) and its
caches are its own and do not leak into the next row."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
from typing import Any, Callable


def in_fresh_process(measure: Callable[..., None], *args: Any) -> dict[str, Any]:
    """``measure(*args, out)`` in a spawned process; returns the row it put on ``out``.

    ``measure`` must be a module-level function that puts one ``dict`` on its last argument.

    Raises:
        RuntimeError: the process ended without a row (killed for memory, or it raised: its
            traceback is on stderr), rather than waiting for the row for ever.
    """
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    process = ctx.Process(target=measure, args=(*args, out))
    process.start()
    try:
        while True:
            try:
                return out.get(timeout=1.0)
            except queue_module.Empty:
                if not process.is_alive() and out.empty():
                    raise RuntimeError(f"{measure.__name__}{args} ended (exit code {process.exitcode}) "
                                       "without a result") from None
    finally:
        process.join()
