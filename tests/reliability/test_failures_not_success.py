"""Issue 15, defect 9: failures are no longer reported as success.

``--eigs 0`` and a cache that cannot be written (full disk, read-only folder, a file where a
folder should be) each came out as one "skipped" line per mesh and exit code 0. Options are
now checked once, before any work (one line, exit 2), and an I/O failure of the cache stops
the run with a clear message and a non-zero exit. Bad meshes stay per-mesh skips.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from gaugemesh.cli import main
from gaugemesh.datasets import ProcessOptions, open_layout, preprocess
from gaugemesh.datasets import cache as cache_module
from gaugemesh.datasets.cache import CacheWriteError
from gaugemesh.features import FeatureOptions
from tests.datasets.helpers import FAST, make_generic

OPTIONS = ProcessOptions(("hks", "hks_grad"), FAST)
CLI_FAST = ["--features", "hks", "hks_grad", "--hks-count", "4", "--grad-count", "2", "--eigs", "16", "--no-progress"]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_generic(tmp_path / "data", num=2)


def _preprocess(root: Path, cache: Path, **kw):
    layout = open_layout(root)
    return preprocess(layout, layout.items("train"), cache, kw.pop("options", OPTIONS), progress=False, **kw)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["preprocess", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- options: refused once, before any work ------------------------------------------------------


@pytest.mark.parametrize(("options", "words"), [
    (FeatureOptions(eigs=0), "eigs must be a positive integer, got 0"),
    (FeatureOptions(hks_count=-3), "hks_count must be a positive integer, got -3"),
    (FeatureOptions(grad_count=0), "grad_count must be a positive integer, got 0"),
    (FeatureOptions(eigs=16.5), "eigs must be a positive integer, got 16.5"),
    (FeatureOptions(t_range=(0.0, 1.0)), "t_range"),
])
def test_bad_feature_options_are_refused_when_the_options_are_made(options, words):
    with pytest.raises(ValueError, match=words):
        ProcessOptions(("hks",), options)


def test_a_negative_worker_count_is_refused_before_the_cache_is_touched(dataset, tmp_path):
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        _preprocess(dataset, tmp_path / "c", workers=-1)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(("flag", "value"), [("--eigs", "0"), ("--hks-count", "-4"), ("--workers", "-1")])
def test_the_command_refuses_bad_counts_in_one_line_before_any_work(dataset, tmp_path, capsys, flag, value):
    code, out, err = _cli(capsys, str(dataset), "--out", str(tmp_path / "c"), *CLI_FAST, flag, value)
    assert code == 2 and err.count("\n") == 1 and flag.lstrip("-").replace("-", "_") in err, err
    assert "skipped" not in out and not (tmp_path / "c").exists()


# -- cache I/O failures: stop the run -------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failing_cache_write_stops_the_run(dataset, tmp_path, monkeypatch, code):
    def failing_write(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(cache_module, "atomic_torch_save", failing_write)
    with pytest.raises(CacheWriteError, match=os.strerror(code)):
        _preprocess(dataset, tmp_path / "c")


def test_a_full_disk_is_reported_in_one_line_with_a_nonzero_exit(dataset, tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module, "atomic_torch_save", full_disk)
    code, out, err = _cli(capsys, str(dataset), "--out", str(tmp_path / "c"), "--workers", "0", *CLI_FAST)
    assert code != 0 and "skipped" not in out and "meshes ready" not in out
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err


def test_a_cache_folder_under_a_regular_file_stops_the_run(dataset, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CacheWriteError, match="file"):
        _preprocess(dataset, tmp_path / "file" / "c")
    code, out, err = _cli(capsys, str(dataset), "--out", str(tmp_path / "file" / "c"), "--workers", "0", *CLI_FAST)
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err and "skipped" not in out


def test_an_entry_folder_that_is_a_file_stops_the_run(dataset, tmp_path):
    # A real write failure in the middle of a run: the split's folder of the cache is a file.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train").write_text("in the way")
    with pytest.raises(CacheWriteError, match="train"):
        _preprocess(dataset, tmp_path / "c")


def test_a_complete_read_only_cache_is_still_read(dataset, tmp_path, monkeypatch):
    # Hits write nothing: a cache shared read-only must keep working, stale temporaries and all.
    _preprocess(dataset, tmp_path / "c")
    stale = tmp_path / "c" / "train" / ".tmp-1-old.pt"
    stale.write_bytes(b"old")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    monkeypatch.setattr(cache_module, "atomic_torch_save", _refuse)
    monkeypatch.setattr(Path, "unlink", _refuse)
    summary = _preprocess(dataset, tmp_path / "c")
    assert sorted(summary.cached) == ["m0", "m1"] and not summary.failed


def _refuse(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


def test_bad_meshes_stay_per_mesh_skips(dataset, tmp_path):
    (dataset / "m1.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n")  # a degenerate triangle
    summary = _preprocess(dataset, tmp_path / "c")
    assert sorted(summary.entries) == ["m0"] and summary.failed[0][0] == "m1"
    assert "MeshError" in summary.failed[0][1]


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_the_old_one_stays(tmp_path, monkeypatch, capsys):
    """torch.save reports a full disk as a RuntimeError from its zip writer; train showed it
    as a traceback (found by make soak)."""
    import torch

    from gaugemesh.atomic import AtomicWriteError, atomic_torch_save
    from gaugemesh.cli import main
    from tests.reliability.training_helpers import tiny_data, write_config

    target = tmp_path / "old.pt"
    atomic_torch_save({"a": torch.zeros(2)}, target)

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1664 vs 1558")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(AtomicWriteError, match="cannot write .*old.pt: RuntimeError"):
        atomic_torch_save({"a": torch.ones(2)}, target)
    assert torch.equal(torch.load(target)["a"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["old.pt"]  # no temporary left
    config = write_config(tmp_path, tiny_data(tmp_path / "data"))
    assert main(["train", "--config", str(config), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err and err.count("\n") == 1
