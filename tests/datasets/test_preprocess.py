"""The preprocessing cache: hits, misses, atomic writes, corruption, bad meshes, shards."""

import os
import time

import pytest
import torch

from gaugemesh.datasets import CacheError, ProcessOptions, load_entry, open_layout, parse_shard, preprocess
from gaugemesh.datasets import cache as cache_module
from gaugemesh.datasets.preprocess import select_shard
from gaugemesh.features import FeatureOptions
from tests.datasets.helpers import FAST, make_generic

OPTIONS = ProcessOptions(("hks", "hks_grad"), FAST)


@pytest.fixture
def dataset(tmp_path):
    return make_generic(tmp_path / "data", num=3)


def _run(root, cache, options=OPTIONS, **kw):
    layout = open_layout(root)
    return preprocess(layout, layout.items("train"), cache, options, progress=False, **kw)


def test_rerun_hits_and_entries_load(dataset, tmp_path):
    first = _run(dataset, tmp_path / "c")
    assert sorted(first.computed) == ["m0", "m1", "m2"] and not first.cached and not first.failed
    second = _run(dataset, tmp_path / "c")
    assert sorted(second.cached) == ["m0", "m1", "m2"] and not second.computed
    data = load_entry(second.entries["m1"])
    assert data.name == "m1" and data.x.dtype == torch.float32 and data.x_type == "4x0 + 2x1"


@pytest.mark.parametrize("change", [
    ProcessOptions(("hks", "hks_grad"), FeatureOptions(hks_count=5, grad_count=2, eigs=16)),
    ProcessOptions(("hks", "hks_grad"), FAST, connection="projection"),
    ProcessOptions(("hks", "hks_grad"), FAST, dtype="float64"),
    ProcessOptions(("hks", "hks_grad"), FAST, repair=True),
])
def test_any_option_change_misses(dataset, tmp_path, change):
    _run(dataset, tmp_path / "c")
    assert sorted(_run(dataset, tmp_path / "c", change).computed) == ["m0", "m1", "m2"]


def test_changed_mesh_or_labels_miss_only_that_mesh(dataset, tmp_path):
    _run(dataset, tmp_path / "c")
    mesh = dataset / "m1.off"
    mesh.write_text(mesh.read_text().replace("OFF\n", "OFF\n# edited\n", 1))
    labels = dataset / "m2.txt"
    labels.write_text("\n".join(str(1 - int(v)) for v in labels.read_text().split()) + "\n")
    again = _run(dataset, tmp_path / "c")
    assert sorted(again.computed) == ["m1", "m2"] and again.cached == ["m0"]


def test_a_write_killed_halfway_leaves_no_entry(dataset, tmp_path, monkeypatch):
    real_save = torch.save

    def dying_save(obj, f):
        f.write(b"PK\x03\x04 half an entry")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(cache_module.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        _run(dataset, tmp_path / "c")
    assert list((tmp_path / "c").rglob("*.pt")) == []  # neither an entry nor a temp file
    monkeypatch.setattr(cache_module.torch, "save", real_save)
    assert len(_run(dataset, tmp_path / "c").computed) == 3


def test_left_over_temporaries_are_ignored_and_old_ones_removed(dataset, tmp_path):
    split_dir = tmp_path / "c" / "train"
    split_dir.mkdir(parents=True)
    fresh, stale = split_dir / ".tmp-1-a.pt", split_dir / ".tmp-2-b.pt"
    for tmp in (fresh, stale):
        tmp.write_bytes(b"PK\x03\x04 truncated")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    summary = _run(dataset, tmp_path / "c")
    assert len(summary.computed) == 3 and fresh.exists() and not stale.exists()
    assert all(not p.name.startswith(".tmp") for p in summary.entries.values())


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_entry_is_detected_reported_and_recomputed(dataset, tmp_path, damage):
    path = _run(dataset, tmp_path / "c").entries["m0"]
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) - 2000] ^= 0xFF  # inside the tensor data, near the end of the zip
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError):
        load_entry(path)
    again = _run(dataset, tmp_path / "c")
    assert [name for name, _ in again.corrupt] == ["m0"] and sorted(again.cached) == ["m1", "m2"]
    assert load_entry(again.entries["m0"]).name == "m0"


def test_entry_of_another_key_is_rejected(dataset, tmp_path):
    path = _run(dataset, tmp_path / "c").entries["m0"]
    with pytest.raises(CacheError, match="key"):
        load_entry(path, key="0" * 64)


def test_bad_mesh_is_reported_and_the_rest_processed(dataset, tmp_path):
    (dataset / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n")  # a degenerate triangle
    (dataset / "bad.txt").write_text("0\n0\n0\n")
    (dataset / "train.txt").write_text("m0\nbad\nm1\nm2\n")
    summary = _run(dataset, tmp_path / "c")
    assert [name for name, _ in summary.failed] == ["bad"] and "MeshError" in summary.failed[0][1]
    assert sorted(summary.entries) == ["m0", "m1", "m2"]
    assert "skipped bad" in summary.report()
    with pytest.raises(RuntimeError, match="bad"):
        _run(dataset, tmp_path / "c", strict=True)


def test_shards_partition_the_work(dataset, tmp_path):
    layout = open_layout(dataset)
    items = layout.items("train")
    shards = [{it.name for it in select_shard(items, (i, 2))} for i in range(2)]
    assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == {"m0", "m1", "m2"}
    assert select_shard(items[::-1], (0, 2)) == select_shard(items, (0, 2))  # order of listing does not matter
    done = _run(dataset, tmp_path / "c", shard=(1, 2))
    assert set(done.computed) == shards[1]
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x/2", "1"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


class _DeadPool:
    """A process pool whose workers die before doing anything."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        future = Future()
        future.set_exception(BrokenProcessPool("no worker could start"))
        return future


def test_a_pool_that_cannot_start_falls_back_to_this_process(tmp_path, monkeypatch, caplog):
    import importlib

    module = importlib.import_module("gaugemesh.datasets.preprocess")  # the module, not the function

    monkeypatch.setattr(module, "ProcessPoolExecutor", _DeadPool)
    root = make_generic(tmp_path / "data", num=3)
    layout = open_layout(root)
    summary = module.preprocess(layout, layout.items("train"), tmp_path / "cache", ProcessOptions(("hks",), FAST),
                                workers=2, progress=False)
    assert len(summary.entries) == 3 and not summary.failed
    assert "could not start" in caplog.text
