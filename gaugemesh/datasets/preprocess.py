"""Preprocess a dataset into the cache, in parallel, resumable, with a summary.

:func:`preprocess` runs :func:`~gaugemesh.datasets.sample.process_item` (one mesh, one sample) for every item
that has no valid cache entry, in a process pool, with a progress bar. Entries that exist
and verify are hits; corrupt ones are reported and recomputed; meshes that cannot be used
are reported by name and reason (fatal with ``strict=True``), and so are files that cannot
be read (a folder named like a mesh, a symlink loop). A cache that cannot be written is no
fault of a mesh: :class:`~gaugemesh.datasets.cache.CacheWriteError` stops the run. ``shard=(i,
n)`` takes every n-th item of the sorted list, starting at i, so n machines split the work
deterministically. Workers die with the process that started them, even on ``kill -9``.
"""

from __future__ import annotations

import logging
import multiprocessing
import numbers
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from gaugemesh.datasets.cache import CacheError, cache_key, entry_path, load_entry, prepare_cache, save_entry
from gaugemesh.datasets.layouts import Layout, MeshItem
from gaugemesh.datasets.sample import ProcessOptions, process_item
from gaugemesh.datasets.worker_lifetime import init_worker, single_threaded_children
from gaugemesh.mesh import MeshError

__all__ = ["Summary", "UnusableMeshError", "preprocess", "check_workers", "parse_shard", "select_shard"]

log = logging.getLogger(__name__)


class UnusableMeshError(MeshError, RuntimeError):
    """With ``strict``: a mesh that could not be used; the message names it and says why.

    A :class:`~gaugemesh.MeshError`, so the command line reports it in one line; also a
    ``RuntimeError``, which is what ``strict`` raised before.
    """


@dataclass
class Summary:
    """What a preprocessing run did.

    Attributes:
        computed: Names of meshes computed now (misses).
        cached: Names of meshes whose entry was already there and valid (hits).
        corrupt: ``(name, reason)`` of entries found corrupt (they were recomputed).
        failed: ``(name, reason)`` of meshes that could not be used.
        entries: Name -> entry path of every usable mesh, in item order.
        seconds: Wall time.
    """

    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    entries: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> str:
        lines = [f"{len(self.entries)} meshes ready ({len(self.computed)} computed, {len(self.cached)} cached), "
                 f"{len(self.failed)} skipped, {self.seconds:.1f} s"]
        lines += [f"  corrupt entry recomputed: {name}: {why}" for name, why in self.corrupt]
        lines += [f"  skipped {name}: {why}" for name, why in self.failed]
        return "\n".join(lines)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> ``(i, n)``."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like i/n with integers, e.g. 0/4; got {text!r}.") from None
    if not 0 <= i < n:
        raise ValueError(f"shard {text!r}: need 0 <= i < n (shards are numbered from 0).")
    return i, n


def check_workers(workers: int) -> int:
    """``workers`` if it is a usable number of worker processes (0: in this process).

    Raises:
        ValueError: a negative or non-integer count.
    """
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 0:
        raise ValueError(f"workers must be 0 or more (0 preprocesses in this process), got {workers!r}.")
    return workers


def select_shard(items: list[MeshItem], shard: tuple[int, int] | None) -> list[MeshItem]:
    """Items of shard ``(i, n)``: every n-th of the items sorted by (split, name), from i."""
    if shard is None:
        return list(items)
    i, n = shard
    return sorted(items, key=lambda it: (it.split, it.name))[i::n]


# What a bad or unlucky mesh can raise while it is read and processed (MeshError is a
# ValueError; eigensolvers raise RuntimeError or LinAlgError; OSError: its files cannot be
# read): reported with the mesh's name. Anything else is a bug in gaugemesh or in a
# pre_transform, and propagates instead of passing for a skipped mesh. Writing the entry is
# outside this: a full disk is no fault of the mesh (CacheWriteError stops the run).
_DATA_FAILURES = (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError, OSError, MemoryError)


def _unreadable(exc: OSError) -> str:
    """Why an input file cannot be read: ``"cannot read a/bad.off: Is a directory"``."""
    if isinstance(exc, FileNotFoundError):
        return f"missing file {exc.filename}"
    return f"cannot read {exc.filename}: {exc.strerror or exc}"


def _task(layout: Layout, item: MeshItem, options: ProcessOptions, pre_transform, cache_dir: str):
    """Run in a worker: ``(status, name, path, reason)``; status cached|computed|corrupt|failed.

    Raises:
        CacheWriteError: the entry could not be written.
    """
    try:  # hashing reads every input file: the first place an unreadable one shows
        key = cache_key(item.files, options.key(layout, pre_transform))
    except OSError as exc:
        return "failed", item.name, None, _unreadable(exc)
    path = entry_path(cache_dir, item.split, item.name, key)
    reason = None
    if path.exists():
        try:
            load_entry(path, key)
            return "cached", item.name, path, None
        except CacheError as exc:
            reason = str(exc)
    try:
        data = process_item(layout, item, options, pre_transform)
    except _DATA_FAILURES as exc:
        return "failed", item.name, None, f"{type(exc).__name__}: {exc}"
    save_entry(path, data, key)
    return ("corrupt" if reason else "computed"), item.name, path, reason


def _results(tasks: list[tuple], workers: int) -> Iterator[tuple]:
    if workers <= 0:
        for args in tasks:
            yield _task(*args)
        return
    broken, finished = [], False
    context = multiprocessing.get_context("spawn")
    with single_threaded_children(), ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                                                          initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_task, *args): args for args in tasks}
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken.append(futures[future])
                    continue
                finished = True
                yield result
        finally:
            for future in futures:
                future.cancel()
    if broken and not finished:
        # The pool died before finishing anything: it could not start (e.g. a __main__ that
        # spawned workers cannot import, such as a script read from stdin). Do the work here.
        log.warning("the worker pool could not start; preprocessing in this process instead")
        for args in broken:
            yield _task(*args)
        return
    for args in broken:  # a worker died mid-run: most likely memory; do not retry here
        yield "failed", args[1].name, None, "worker process died (killed, or out of memory)"


def preprocess(layout: Layout, items: list[MeshItem], cache_dir: os.PathLike,
               options: ProcessOptions = ProcessOptions(), *, workers: int = 0,
               shard: tuple[int, int] | None = None, strict: bool = False,
               pre_transform: Callable | None = None, progress: bool = True) -> Summary:
    """Make sure every item (of the shard) has a valid cache entry.

    Args:
        layout: The dataset layout (:func:`~gaugemesh.datasets.open_layout`).
        items: Its items, e.g. ``layout.items("train")``.
        cache_dir: Cache folder (created).
        options: Processing options (part of the key).
        workers: Worker processes; 0 runs in this process. They end with this process.
        shard: ``(i, n)`` to do one n-th of the work.
        strict: Raise on the first unusable mesh instead of skipping it.
        pre_transform: Applied to each sample before it is cached (its repr is in the key).
        progress: Show a tqdm progress bar.

    Raises:
        ValueError: a negative ``workers``; raised before anything is read or written.
        UnusableMeshError: with ``strict``, naming the first mesh that failed and why.
        CacheWriteError: the cache folder cannot be created or an entry cannot be written.
    """
    start = time.perf_counter()
    check_workers(workers)
    prepare_cache(cache_dir)
    items = select_shard(items, shard)
    tasks = [(layout, item, options, pre_transform, str(cache_dir)) for item in items]
    summary, paths = Summary(), {}
    for status, name, path, reason in tqdm(_results(tasks, workers), total=len(tasks), desc="preprocess",
                                           unit="mesh", disable=not progress):
        if status == "failed":
            if strict:
                raise UnusableMeshError(f"{name}: {reason} (run without --strict to skip such meshes)")
            summary.failed.append((name, reason))
            continue
        paths[name] = path
        if status == "cached":
            summary.cached.append(name)
        else:  # computed now: a miss, or a corrupt entry replaced
            summary.computed.append(name)
            if status == "corrupt":
                summary.corrupt.append((name, reason))
    summary.entries = {item.name: paths[item.name] for item in items if item.name in paths}
    summary.seconds = time.perf_counter() - start
    return summary
