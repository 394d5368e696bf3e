"""Gauge-equivariant batch norm: equivariance in train and eval mode, statistics, batching."""

import pytest
import torch
from torch_geometric.data import Batch

from gaugemesh.nn import BatchNorm
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, random_geometry, randomize_parameters

TYPE = FieldType("3x0 + 2x1 + 2x2 + 1x0")


@pytest.mark.parametrize("train", [True, False])
def test_equivariant(graph, dtype, train):
    layer = randomize_parameters(BatchNorm(TYPE).to(dtype)).train(train)
    x = 3 + 2 * torch.randn(graph.num_nodes, TYPE.dim, dtype=dtype)
    assert_gauge_equivariant(layer, graph, x, TYPE, TYPE)


def test_normalises():
    layer = BatchNorm(TYPE).double()
    x = 3 + 2 * torch.randn(500, TYPE.dim, dtype=torch.float64)
    y = layer(x)
    scalars = y[:, TYPE.indices(0)]
    torch.testing.assert_close(scalars.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(scalars.var(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-4, rtol=0)
    norms = TYPE.squared_norms(y)[:, [k for k, n in enumerate(TYPE.irreps) if n > 0]]
    torch.testing.assert_close(norms.mean(0) / 2, torch.ones(4, dtype=torch.float64), atol=1e-4, rtol=0)
    # running statistics moved towards the batch ones; eval uses them
    assert (layer.running_mean - 0.3).abs().max() < 0.2
    layer.eval()
    assert not torch.allclose(layer(x), y)


def test_batch_statistics_over_all_vertices():
    """A PyG Batch is normalised over all its vertices (like torch_geometric.nn.BatchNorm)."""
    a, b = random_geometry(0, dtype=torch.float64), random_geometry(1, dtype=torch.float64)
    a.x, b.x = torch.randn(a.num_nodes, TYPE.dim, dtype=torch.float64), 5 + torch.randn(b.num_nodes, TYPE.dim, dtype=torch.float64)
    batch = Batch.from_data_list([a, b])
    layer = BatchNorm(TYPE).double()
    torch.testing.assert_close(layer(batch.x), layer(torch.cat([a.x, b.x])))
