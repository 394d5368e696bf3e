"""A mesh hierarchy in a PyG Data: keys, batching offsets, gauge changes, cache round trip."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

import gaugemesh
from gaugemesh.graph import gauge_transform
from gaugemesh.hierarchy.data import (HierarchyData, add_hierarchy, as_hierarchy_data, gauge_transform_levels,
                                      level_data, num_levels, pool_map)
from gaugemesh.hierarchy.testing import permute_levels, random_level_gauges
from tests.conftest import grid, icosphere


def bumpy(subdivisions: int, seed: int):
    pos, faces = icosphere(subdivisions)
    radius = 1 + 0.2 * np.random.default_rng(seed).random(len(pos))
    return pos * radius[:, None], faces


def hierarchy_meshes(dtype=torch.float64, levels: int = 3):
    """Three meshes of different sizes (two closed, one with boundary), each with its levels."""
    meshes = [bumpy(2, 0), grid(9, jitter=0.2, seed=1), bumpy(3, 2)]
    return [add_hierarchy(gaugemesh.mesh_to_data(gaugemesh.validate_mesh(p, f), dtype=dtype), levels) for p, f in meshes]


@pytest.fixture(scope="module")
def meshes():
    return hierarchy_meshes()


def test_keys_and_shapes(meshes):
    data = meshes[2]
    assert isinstance(data, HierarchyData) and num_levels(data) == 3
    for k in (1, 2):
        count, fine = data.num_level_nodes(k), data.num_level_nodes(k - 1)
        assert data[f"level{k}_frame"].shape == (count, 3, 3) and data[f"level{k}_pos"].shape == (count, 3)
        edges = data[f"level{k}_edge_index"]
        assert edges.min() >= 0 and edges.max() < count
        for key in ("theta", "transport", "edge_weight"):
            assert data[f"level{k}_{key}"].shape == (edges.size(1),)
        index, angle, weight, num_coarse = pool_map(data, k)
        assert index.shape == angle.shape == weight.shape == (fine,) and num_coarse == count
        torch.testing.assert_close(torch.zeros(count, dtype=weight.dtype).index_add_(0, index, weight),
                                   torch.ones(count, dtype=weight.dtype))


def test_batching_offsets_every_level_by_its_own_counts(meshes):
    batch = Batch.from_data_list(meshes)
    for k in (1, 2):
        offsets = np.cumsum([0] + [d.num_level_nodes(k) for d in meshes])
        expected = torch.cat([d[f"pool{k}_index"] + int(o) for d, o in zip(meshes, offsets)])
        torch.testing.assert_close(batch[f"pool{k}_index"], expected)
        expected = torch.cat([d[f"level{k}_edge_index"] + int(o) for d, o in zip(meshes, offsets)], 1)
        torch.testing.assert_close(batch[f"level{k}_edge_index"], expected)
        assert batch.num_level_nodes(k) == offsets[-1]
    unbatched = batch.to_data_list()
    torch.testing.assert_close(unbatched[1]["pool2_index"], meshes[1]["pool2_index"])


def test_a_cached_plain_data_becomes_hierarchy_data_again(meshes):
    plain = Data.from_dict(meshes[0].to_dict())
    assert not isinstance(plain, HierarchyData)
    again = as_hierarchy_data(plain)
    batch = next(iter(DataLoader([again, as_hierarchy_data(meshes[1])], batch_size=2)))
    assert int(batch["pool1_index"].max()) == meshes[0].num_level_nodes(1) + meshes[1].num_level_nodes(1) - 1


def test_angles_are_computed_in_the_datas_own_gauge():
    """A hierarchy added to data in a rotated gauge phi has angles that are the original
    angles plus phi (coarse frames are the default ones either way)."""
    data = gaugemesh.mesh_to_data(gaugemesh.validate_mesh(*bumpy(2, 0)), dtype=torch.float64)
    phi = torch.rand(data.num_nodes, dtype=torch.float64) * 6 - 3
    plain, turned = add_hierarchy(data, 2), add_hierarchy(gauge_transform(data, phi), 2)
    torch.testing.assert_close(turned.pool1_index, plain.pool1_index)
    diff = turned.pool1_angle - (plain.pool1_angle + phi)
    torch.testing.assert_close(torch.remainder(diff + 1, 2 * torch.pi) - 1, torch.zeros_like(diff), atol=1e-9, rtol=0)


def test_gauge_transform_levels_matches_rotating_each_level(meshes):
    data = meshes[0]
    phis = random_level_gauges(data, torch.Generator().manual_seed(0))
    out = gauge_transform_levels(data, phis)
    for k in (1, 2):
        level, moved = level_data(data, k), level_data(out, k)
        torch.testing.assert_close(moved.theta, gauge_transform(level, phis[k]).theta)
        # e1' = cos e1 + sin e2 at every coarse vertex
        e1 = torch.cos(phis[k])[:, None] * level.frame[:, 0] + torch.sin(phis[k])[:, None] * level.frame[:, 1]
        torch.testing.assert_close(moved.frame[:, 0], e1)
        angle = data[f"pool{k}_angle"] - phis[k][data[f"pool{k}_index"]] + phis[k - 1]
        assert torch.allclose(torch.cos(out[f"pool{k}_angle"]), torch.cos(angle))
        assert torch.all((out[f"pool{k}_angle"] > -torch.pi) & (out[f"pool{k}_angle"] <= torch.pi))
    with pytest.raises(ValueError, match="one gauge per level"):
        gauge_transform_levels(data, phis[:2])


def test_permute_levels_keeps_the_maps_consistent(meshes):
    data = meshes[1]
    permuted, orders = permute_levels(data, torch.Generator().manual_seed(0))
    for k in (1, 2):
        # old fine vertex orders[k-1][i] mapped to old coarse vertex c; new index of c is argsort(orders[k])[c]
        old = data[f"pool{k}_index"][orders[k - 1]]
        torch.testing.assert_close(orders[k][permuted[f"pool{k}_index"]], old)
        torch.testing.assert_close(permuted[f"level{k}_pos"], data[f"level{k}_pos"][orders[k]])
