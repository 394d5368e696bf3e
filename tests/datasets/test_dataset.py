"""MeshDataset: PyG conventions (cached pre_transform, per-access transform), splits."""

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from gaugemesh import RandomGauge
from gaugemesh.datasets import MeshDataset, train_val_split
from gaugemesh.so2 import FieldType
from tests.datasets.helpers import FAST, make_generic, make_meshcnn


class CountingTransform:
    """Adds a counter attribute; its calls tell cached from per-access work."""

    calls = 0

    def __call__(self, data):
        CountingTransform.calls += 1
        data.touched = torch.tensor([CountingTransform.calls])
        return data

    def __repr__(self):
        return "CountingTransform()"


def test_pre_transform_is_cached_and_transform_runs_per_access(tmp_path):
    root = make_generic(tmp_path / "d", num=3)
    CountingTransform.calls = 0
    kwargs = dict(cache_dir=tmp_path / "c", features=("hks", "hks_grad"), feature_options=FAST)
    MeshDataset(root, pre_transform=CountingTransform(), **kwargs)
    assert CountingTransform.calls == 3
    again = MeshDataset(root, pre_transform=CountingTransform(), **kwargs)
    assert CountingTransform.calls == 3 and again.summary.cached and len(again) == 3  # cache hit
    sample = again[0]
    assert sample.touched.item() in (1, 2, 3) and sample.x.shape[1] == FieldType(sample.x_type).dim

    gauged = MeshDataset(root, transform=RandomGauge(x_type=sample.x_type), **kwargs)
    plain = MeshDataset(root, **kwargs)[0]
    a, b = gauged[0], gauged[0]
    assert not torch.equal(a.theta, b.theta)  # a new random gauge per access
    assert FieldType(sample.x_type) == FieldType("4x0 + 2x1")
    for moved in (a, b):
        _assert_features_rotate_with_the_frames(plain, moved)
    assert (a.x[:, 4:] - b.x[:, 4:]).abs().max() > 1e-3  # two gauges, two sets of vector columns


def _assert_features_rotate_with_the_frames(plain, moved):
    """``x`` of type "4x0 + 2x1" in a new gauge: the angle phi each frame turned by (read from
    the frames), the scalars unchanged, each (cos, sin) pair multiplied by exp(-i phi), and so
    the same tangent vectors in space."""
    e1, e2, _ = plain.frame.unbind(1)
    e1_new, e2_new, _ = moved.frame.unbind(1)
    phi = torch.atan2((e1_new * e2).sum(1), (e1_new * e1).sum(1))
    assert phi.abs().max() > 1.0
    torch.testing.assert_close(moved.x[:, :4], plain.x[:, :4], rtol=0, atol=0)
    pairs, moved_pairs = plain.x[:, 4:].reshape(-1, 2, 2), moved.x[:, 4:].reshape(-1, 2, 2)
    z, z_new = torch.complex(pairs[..., 0], pairs[..., 1]), torch.complex(moved_pairs[..., 0], moved_pairs[..., 1])
    torch.testing.assert_close(z_new, torch.exp(-1j * phi.to(z.real.dtype))[:, None] * z, rtol=0, atol=1e-5)
    in_space = pairs[..., :1] * e1[:, None] + pairs[..., 1:] * e2[:, None]  # [V, fields, 3]
    torch.testing.assert_close(moved_pairs[..., :1] * e1_new[:, None] + moved_pairs[..., 1:] * e2_new[:, None], in_space,
                               rtol=0, atol=1e-5)


def test_batches_of_meshcnn_samples(tmp_path):
    ds = MeshDataset(make_meshcnn(tmp_path / "d"), cache_dir=tmp_path / "c", features=("xyz",), feature_options=FAST)
    assert ds.num_classes == 2 and len(ds) == 2
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.seg_edge_index.max() < batch.num_nodes and batch.seg_edge_index[:, -1].min() >= ds[0].num_nodes


def test_skipped_meshes_are_listed_and_strict_raises(tmp_path):
    root = make_generic(tmp_path / "d", num=2)
    (root / "m1.txt").write_text("0\n")
    ds = MeshDataset(root, cache_dir=tmp_path / "c", features=("xyz",), feature_options=FAST)
    assert len(ds) == 1 and ds.skipped[0][0] == "m1" and "labels" in ds.skipped[0][1]
    with pytest.raises(RuntimeError, match="m1"):
        MeshDataset(root, cache_dir=tmp_path / "c", features=("xyz",), feature_options=FAST, strict=True)


def test_train_val_split_is_seeded_and_order_free():
    names = [f"mesh{i:03d}" for i in range(50)]
    train, val = train_val_split(names, 0.1, seed=3)
    assert len(val) == 5 and len(train) == 45 and set(train).isdisjoint(val)
    np.testing.assert_array_equal(train_val_split(names, 0.1, seed=3)[1], val)
    assert not np.array_equal(train_val_split(names, 0.1, seed=4)[1], val)
    shuffled = names[::-1]
    val_names = sorted(names[i] for i in val)
    assert sorted(shuffled[i] for i in train_val_split(shuffled, 0.1, seed=3)[1]) == val_names
    with pytest.raises(ValueError, match="fraction"):
        train_val_split(names, 1.0)


def test_grouped_validation_split_keeps_groups_together():
    from gaugemesh.datasets import train_val_split

    names = [f"faust__tr_reg_{i:03d}" for i in range(100)] + [f"adobe__Char{i}_tri" for i in range(20)]
    pattern = r"^(faust__tr_reg_\d\d|adobe__[^_]+)"
    train, val = train_val_split(names, 0.1, seed=3, group_pattern=pattern)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(names)
    assert 8 <= len(val) <= 18
    subjects = {names[i][:16] for i in val if names[i].startswith("faust")}
    for i in train:  # no FAUST subject is on both sides
        assert names[i][:16] not in subjects
    assert train_val_split(names, 0.1, seed=3, group_pattern=pattern)[1].tolist() == val.tolist()
