"""`gaugemesh preprocess | make-synthetic | download`, run as a user would."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaugemesh.cli import command_modules, main
from gaugemesh.datasets import load_entry
from tests.datasets.helpers import make_generic, make_meshcnn

FAST = ["--features", "hks", "hks_grad", "--hks-count", "4", "--grad-count", "2", "--eigs", "16", "--no-progress"]


def _preprocess(capsys, *args):
    code = main(["preprocess", *map(str, args), *FAST])
    return code, capsys.readouterr()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "preprocess" in capsys.readouterr().err
    assert command_modules()[0] == "data" and "__main__" not in command_modules()


def test_pool_and_in_process_runs_share_the_cache(tmp_path, capsys):
    # one pool worker: each worker process spends seconds importing torch; two are tested in
    # tests/reliability/test_orphan_workers.py
    root = make_generic(tmp_path / "d", num=3)
    code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "1")
    assert code == 0 and "3 meshes ready (3 computed, 0 cached), 0 skipped" in out.out
    code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0")
    assert code == 0 and "(0 computed, 3 cached)" in out.out
    code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0", "--connection", "projection")
    assert "(3 computed, 0 cached)" in out.out


def test_shards_add_up(tmp_path, capsys):
    root = make_generic(tmp_path / "d", num=5)
    done = 0
    for shard in ("0/2", "1/2"):
        code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0", "--shard", shard)
        done += int(out.out.split("(")[1].split()[0])
    assert done == 5
    assert "(0 computed, 5 cached)" in _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0")[1].out
    with pytest.raises(SystemExit):
        _preprocess(capsys, root, "--out", tmp_path / "c", "--shard", "2/2")
    assert "0 <= i < n" in capsys.readouterr().err


def test_bad_mesh_reported_strict_fails(tmp_path, capsys):
    root = make_meshcnn(tmp_path / "d", num=2)
    (root / "train" / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 3\n")
    code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0")
    assert code == 0 and "2 meshes ready" in out.out and "skipped broken:" in out.out
    code, out = _preprocess(capsys, root, "--out", tmp_path / "c", "--workers", "0", "--strict")
    assert code == 2 and "broken" in out.err  # a user error: exit code 2, like every other one
    code, out = _preprocess(capsys, tmp_path / "nowhere", "--out", tmp_path / "c")
    assert code == 2 and "no dataset folder" in out.err


def test_make_synthetic_is_deterministic(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["make-synthetic", str(tmp_path / name), "--num", "2", "--seed", "9"]) == 0
    assert (tmp_path / "a" / "synth_0001.off").read_bytes() == (tmp_path / "b" / "synth_0001.off").read_bytes()
    assert "wrote 2 synthetic meshes" in capsys.readouterr().out


def test_download_from_a_local_archive(tmp_path, capsys):
    import tarfile

    src = make_meshcnn(tmp_path / "src")
    archive = tmp_path / "coseg.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="coseg")
    assert main(["download", "coseg", str(tmp_path / "out"), "--url", archive.as_uri()]) == 0
    assert (tmp_path / "out" / "coseg" / "classes.txt").is_file()
    assert main(["download", "coseg", str(tmp_path / "o2"), "--url", archive.as_uri(), "--sha256", "0" * 64]) == 2
    assert "does not match" in capsys.readouterr().err


def test_a_killed_run_leaves_only_valid_entries_and_resumes(tmp_path, capsys):
    # 12 spheres of 642 vertices: about 0.1 s each, so a kill within 0.1 s of the first entry
    # leaves most of them to do.
    root = make_generic(tmp_path / "data", num=12, subdivisions=3)
    cache = tmp_path / "c"
    def arguments(workers: int) -> list[str]:
        return ["preprocess", str(root), "--out", str(cache), "--workers", str(workers), "--no-progress",
                "--features", "hks", "hks_grad", "--eigs", "16"]

    proc = subprocess.Popen([sys.executable, "-m", "gaugemesh.cli", *arguments(1)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not list(cache.rglob("m*.pt")) and time.time() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker, mid-flight
        proc.wait()
    entries = list(cache.rglob("m*.pt"))
    assert 1 <= len(entries) < 12, "the run should have been killed part way"
    for entry in entries:
        load_entry(entry)  # complete and valid, never half written
    # in this process, without a pool: what is cached is what counts, and a new process or a
    # pool would spend seconds importing torch
    code, out = main(arguments(0)), capsys.readouterr()
    assert code == 0 and "12 meshes ready" in out.out and "corrupt" not in out.out
    assert f"{len(entries)} cached" in out.out


def test_the_readme_recipe_trains_from_the_cache_preprocess_filled(tmp_path, capsys):
    """preprocess --config, then train with the same config: training computes no entry.
    Before, preprocess defaulted to eigs = 128 and the config said 64, so train computed
    everything again into the same cache."""
    root = make_generic(tmp_path / "data", num=4, subdivisions=1)
    config = Path(__file__).resolve().parents[2] / "experiments" / "synthetic" / "config.toml"
    cache = tmp_path / "cache"
    assert main(["preprocess", str(root), "--out", str(cache), "--workers", "0", "--config", str(config)]) == 0
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert len(entries) >= 4
    argv = ["train", "--config", str(config), f"data.root={root}", "data.format=generic", f"data.cache={cache}",
            f"output.dir={tmp_path / 'run'}", "train.epochs=1", "model.num_blocks=1", "model.width=2",
            "data.workers=0", "--no-progress"]
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == entries  # nothing recomputed


def test_config_and_feature_flags_do_not_mix(tmp_path, capsys):
    root = make_generic(tmp_path / "data", num=1)
    config = Path(__file__).resolve().parents[2] / "experiments" / "synthetic" / "config.toml"
    assert main(["preprocess", str(root), "--out", str(tmp_path / "c"), "--config", str(config), "--eigs", "8"]) == 2
    assert "--eigs cannot be given with --config" in capsys.readouterr().err
