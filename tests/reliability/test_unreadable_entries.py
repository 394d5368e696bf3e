"""Issue 15, defect 4: one unreadable entry among a dataset's meshes no longer kills the run.

A directory named like a mesh (``bad.off/``), a symlink loop or an unreadable file made
``gaugemesh preprocess`` and ``MeshDataset`` (so ``gaugemesh train``) stop with a traceback
while hashing the files for the cache key. Each is now a skipped mesh, named with the reason
and listed in the summary; ``strict`` (``--strict``) makes it fatal, in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from gaugemesh.cli import main
from gaugemesh.datasets import MeshDataset, ProcessOptions, open_layout, preprocess
from gaugemesh.mesh import MeshError
from tests.datasets.helpers import FAST, make_generic

OPTIONS = ProcessOptions(("xyz",), FAST)

#: Ways to make ``path`` unreadable that hold even for root (who reads through chmod 000).
UNREADABLE: dict[str, Callable[[Path], None]] = {
    "directory": lambda path: path.mkdir(),
    "symlink loop": lambda path: path.symlink_to(path.name),
    "dangling symlink": lambda path: path.symlink_to("nowhere.off"),
}


def _dataset(tmp_path: Path, kind: str, target: str = "bad.off") -> Path:
    """Meshes m0, m1 and ``bad`` (listed between them) whose ``target`` file is unreadable."""
    root = make_generic(tmp_path / "data", num=2)
    (root / "bad.txt").write_text("0\n")
    UNREADABLE[kind](root / target)
    (root / "train.txt").write_text("m0\nbad\nm1\n")
    return root


def _preprocess(root: Path, cache: Path, **kw):
    layout = open_layout(root)
    return preprocess(layout, layout.items("train"), cache, OPTIONS, progress=False, **kw)


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_preprocess_skips_the_entry_by_name_with_the_reason(tmp_path, kind):
    summary = _preprocess(_dataset(tmp_path, kind), tmp_path / "c")
    assert sorted(summary.entries) == ["m0", "m1"]
    assert [name for name, _ in summary.failed] == ["bad"]
    assert "bad.off" in summary.failed[0][1]
    assert "skipped bad: " in summary.report() and "1 skipped" in summary.report()


def test_an_unreadable_label_file_skips_its_mesh(tmp_path):
    root = make_generic(tmp_path / "data", num=2)
    (root / "m1.txt").unlink()
    (root / "m1.txt").mkdir()
    summary = _preprocess(root, tmp_path / "c")
    assert sorted(summary.entries) == ["m0"] and summary.failed[0][0] == "m1"
    assert "m1.txt" in summary.failed[0][1] and "directory" in summary.failed[0][1].lower()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the other cases cover it")
def test_a_file_without_read_permission_is_skipped(tmp_path):
    root = make_generic(tmp_path / "data", num=2)
    (root / "m1.off").chmod(0)
    try:
        summary = _preprocess(root, tmp_path / "c")
    finally:
        (root / "m1.off").chmod(0o644)
    assert sorted(summary.entries) == ["m0"] and summary.failed[0][0] == "m1"


def test_strict_makes_it_fatal(tmp_path):
    root = _dataset(tmp_path, "directory")
    with pytest.raises(MeshError, match=r"^bad: .*bad\.off.*--strict"):
        _preprocess(root, tmp_path / "c", strict=True)


def test_the_dataset_used_by_train_skips_it_and_honours_strict(tmp_path):
    root = _dataset(tmp_path, "symlink loop")
    kw = dict(cache_dir=tmp_path / "c", features=("xyz",), feature_options=FAST)
    dataset = MeshDataset(root, **kw)
    assert dataset.names == ["m0", "m1"] and [name for name, _ in dataset.skipped] == ["bad"]
    with pytest.raises(MeshError, match="bad"):
        MeshDataset(root, strict=True, **kw)


def test_the_command_summarises_it_and_strict_fails_in_one_line(tmp_path, capsys):
    root = _dataset(tmp_path, "directory")
    argv = ["preprocess", str(root), "--out", str(tmp_path / "c"), "--workers", "0", "--features", "xyz",
            "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 meshes ready" in out and "1 skipped" in out and "skipped bad: " in out
    assert main([*argv, "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad" in err and "Traceback" not in err


def test_train_honours_data_strict(tmp_path, capsys):
    """``data.strict = true`` makes gaugemesh train stop, in one line, at the unreadable entry."""
    from gaugemesh.cli import main
    from tests.reliability.training_helpers import one_line_error, tiny_data, write_config

    root = tiny_data(tmp_path / "data", num=4)
    (root / "bad.txt").write_text("0\n")
    (root / "bad.off").mkdir()
    with open(root / "train.txt", "a") as split:  # listed, as a mesh of the training split
        split.write("bad\n")
    config = write_config(tmp_path, root)
    assert main(["train", "--config", str(config), "--no-progress", "data.strict=true"]) == 2
    one_line_error(capsys, "bad")
    assert not (tmp_path / "run" / "last.pt").exists()
