"""Checks shared by the SO(2) and O(2) pooling tests."""

import torch
from torch_geometric.data import Batch


def assert_down_and_up_as_each_mesh_alone(pool_at, unpool_at, xs, meshes, levels=(1, 2)) -> torch.Tensor:
    """Pool a batch of ``meshes`` down through ``levels`` and back up, and each mesh alone:
    the batch's features equal the meshes' concatenated at every step.

    ``pool_at(k)`` / ``unpool_at(k)`` give ``fn(x, data)`` between levels ``k - 1`` and ``k``;
    ``xs`` are the meshes' level-0 features. Returns the batch's features back at level 0.
    """
    batch = Batch.from_data_list(meshes)
    h, alone = torch.cat(xs), list(xs)
    for k in levels:
        h = pool_at(k)(h, batch)
        alone = [pool_at(k)(x, d) for x, d in zip(alone, meshes)]
        torch.testing.assert_close(h, torch.cat(alone))
    for k in reversed(levels):
        h = unpool_at(k)(h, batch)
        alone = [unpool_at(k)(x, d) for x, d in zip(alone, meshes)]
        torch.testing.assert_close(h, torch.cat(alone))
    assert h.shape == (batch.num_nodes, xs[0].shape[1])
    return h
