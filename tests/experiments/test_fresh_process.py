"""The benchmarks' fresh-process runner returns the row, and fails instead of hanging when
the process dies without one."""

import os

import pytest

from experiments.bench.fresh_process import in_fresh_process


def _put_pid(scale, out):
    out.put({"pid": os.getpid(), "value": 2 * scale})


def _die(out):
    os._exit(3)  # as a process killed for memory would: no row, no exception


def test_the_row_comes_from_another_process():
    row = in_fresh_process(_put_pid, 21)
    assert row["value"] == 42 and row["pid"] != os.getpid()


def test_a_process_that_dies_without_a_row_raises_instead_of_hanging():
    with pytest.raises(RuntimeError, match="exit code 3"):
        in_fresh_process(_die)
