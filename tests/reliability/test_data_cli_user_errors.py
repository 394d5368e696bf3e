"""Issue 15, defect 8 (data side): every user error of ``gaugemesh preprocess``,
``make-synthetic`` and ``download`` is one line on stderr with exit code 2; ``--verbose``
keeps the traceback.

Before, some were tracebacks (``make-synthetic --num 0``, ``--seed -1``, a folder holding no
dataset) and others exit code 1 (a missing dataset folder, ``--strict``, a bad checksum).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from gaugemesh.cli import main
from tests.datasets.helpers import make_generic, make_meshcnn

FAST = ["--features", "xyz", "--workers", "0", "--no-progress"]


def _errors(err: str) -> str:
    """stderr without the download's progress bar (tqdm redraws its line with carriage returns)."""
    return "\n".join(line for line in err.split("\n") if "\r" not in line)


def _one_line_error(capsys, argv: list[str], words: str) -> None:
    assert main(argv) == 2, argv
    err = _errors(capsys.readouterr().err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"gaugemesh {argv[0]}: error: ") and words in err, err


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    src = make_meshcnn(tmp_path / "src")
    path = tmp_path / "coseg.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        tf.add(src, arcname="coseg")
    return path


def _preprocess_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    (tmp_path / "empty").mkdir()
    generic = make_generic(tmp_path / "generic", num=1)
    broken = make_generic(tmp_path / "broken", num=1)
    (broken / "m0.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n")
    out = ["--out", str(tmp_path / "c")]
    return [
        (["preprocess", str(tmp_path / "nowhere"), *out, *FAST], "no dataset folder"),
        (["preprocess", str(tmp_path / "empty"), *out, *FAST], "holds no dataset"),
        (["preprocess", str(generic), *out, "--split", "nosuch", *FAST], "no meshes found"),
        (["preprocess", str(generic), *out, "--eigs", "0", *FAST], "eigs"),
        (["preprocess", str(broken), *out, "--strict", *FAST], "m0"),
    ]


def test_preprocess_user_errors(tmp_path, capsys):
    for argv, words in _preprocess_cases(tmp_path):
        _one_line_error(capsys, argv, words)


@pytest.mark.parametrize(("args", "words"), [(["--num", "0"], "--num"), (["--seed", "-1"], "--seed")])
def test_make_synthetic_user_errors(tmp_path, capsys, args, words):
    _one_line_error(capsys, ["make-synthetic", str(tmp_path / "s"), *args], words)
    assert not (tmp_path / "s").exists()


def test_download_user_errors(tmp_path, capsys, archive):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    cases = [
        (["--url", archive.as_uri(), "--sha256", "0" * 64], "does not match"),
        (["--url", (tmp_path / "missing.tar.gz").as_uri()], "could not fetch"),
        (["--url", junk.as_uri()], "neither a zip nor a tar"),
    ]
    for i, (args, words) in enumerate(cases):
        _one_line_error(capsys, ["download", "coseg", str(tmp_path / f"out{i}"), *args], words)


def test_writing_failures_are_one_line_with_a_nonzero_exit(tmp_path, capsys, archive):
    (tmp_path / "file").write_text("in the way")
    for argv in (["make-synthetic", str(tmp_path / "file"), "--num", "1"],
                 ["download", "coseg", str(tmp_path / "file"), "--url", archive.as_uri()]):
        assert main(argv) != 0
        err = _errors(capsys.readouterr().err)
        assert err.count("\n") == 1 and "Traceback" not in err and str(tmp_path / "file") in err, err


def test_verbose_keeps_the_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no dataset"):
        main(["--verbose", "preprocess", str(tmp_path / "empty"), "--out", str(tmp_path / "c"), *FAST])
    with pytest.raises(ValueError, match="eigs"):
        main(["--verbose", "preprocess", str(tmp_path / "empty"), "--out", str(tmp_path / "c"), *FAST, "--eigs", "0"])
