"""Issue 15, defect 5: ``kill -9`` of ``gaugemesh preprocess --workers 2`` leaves no workers.

The pool's workers outlived their parent (about 400 MB each, still writing cache entries
minutes later): nothing told them the parent was gone. Each worker now asks the kernel for
SIGKILL when its parent dies, and exits at once if the parent died before it could ask.

The parents here are forks of the test process rather than fresh ``gaugemesh`` processes:
the test process has imported gaugemesh already, and an import takes seconds. Forked
children only ever leave through ``os._exit``, so none returns into pytest.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from gaugemesh.datasets import ProcessOptions, open_layout, preprocess
from gaugemesh.datasets.worker_lifetime import die_with_parent
from tests.datasets.helpers import FAST, make_generic

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")

#: Meshes of the dataset: about a second of work for two workers once they have started,
#: far more than the test takes to notice the first entry and kill their parent.
NUM = 60


def _gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for whoever adopted it to reap it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _kill(pids: list[int]) -> None:
    """SIGKILL the processes this test started that are still there."""
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _fork(child) -> int:
    """Fork; the child runs ``child()`` and exits with its return value (3 if it raised)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(child())
        except BaseException:
            os._exit(3)
    return pid


def test_a_worker_dies_when_its_parent_is_killed():
    read, write = os.pipe()

    def worker() -> int:
        die_with_parent(os.getppid())
        os.write(write, f"{os.getpid()}\n".encode())
        time.sleep(60)
        return 0

    def parent() -> int:
        _fork(worker)
        time.sleep(60)
        return 0

    parent_pid = _fork(parent)
    os.close(write)
    worker_pid = int(os.read(read, 64))
    os.close(read)
    try:
        os.kill(parent_pid, signal.SIGKILL)
        os.waitpid(parent_pid, 0)
        assert _wait_for(lambda: _gone(worker_pid), timeout=2), "the worker outlived its killed parent"
    finally:
        _kill([worker_pid])


def test_a_worker_whose_parent_is_already_gone_exits():
    # The parent can die between spawning a worker and the worker arming the signal; the worker
    # checks right after arming it. This child is told its parent is another process.
    def worker() -> int:
        die_with_parent(os.getppid() + 1_000_000)
        return 0  # still running: the check missed the dead parent

    _, status = os.waitpid(_fork(worker), 0)
    assert os.waitstatus_to_exitcode(status) == 1


def _pool_workers(parent: psutil.Process) -> list[psutil.Process]:
    """The pool's worker processes (spawned with ``--multiprocessing-fork``)."""
    found = []
    for child in parent.children():
        try:
            if "--multiprocessing-fork" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.slow
def test_kill_9_of_preprocess_with_two_workers_takes_them_along(tmp_path: Path):
    root, cache = make_generic(tmp_path / "data", num=NUM, subdivisions=2), tmp_path / "cache"

    def run() -> int:
        layout = open_layout(root)
        preprocess(layout, layout.items("train"), cache, ProcessOptions(("hks",), FAST), workers=2, progress=False)
        return 0

    parent_pid = _fork(run)
    parent, workers = psutil.Process(parent_pid), []
    try:
        # Kill once both workers run tasks (an entry is written), as a user would mid-run.
        assert _wait_for(lambda: len(_pool_workers(parent)) == 2 and any(cache.rglob("m*.pt")), timeout=60)
        workers = [p.pid for p in _pool_workers(parent)]
        os.kill(parent_pid, signal.SIGKILL)
        os.waitpid(parent_pid, 0)
        assert len(list(cache.rglob("m*.pt"))) < NUM, "the run finished before it was killed; give it more work"
        assert _wait_for(lambda: all(_gone(pid) for pid in workers), timeout=3), "workers outlived their parent"
    finally:
        _kill([parent_pid, *workers])
        if not workers:  # failed before the workers were seen: reap the parent
            os.waitpid(parent_pid, 0)
