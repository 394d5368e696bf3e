"""Gauge-equivariant batch norm: equivariance in train and eval mode, statistics, batching."""

import pytest
import torch
from torch_geometric.data import Batch

from gaugemesh.nn import BatchNorm
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, on_features, random_mesh_data, randomize_parameters

TYPE = FieldType("3x0 + 2x1 + 2x2 + 1x0")


@pytest.mark.parametrize("train", [True, False])
def test_equivariant(graph, dtype, train):
    layer = randomize_parameters(BatchNorm(TYPE).to(dtype)).train(train)
    x = 3 + 2 * torch.randn(graph.num_nodes, TYPE.dim, dtype=dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, TYPE, TYPE)


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
    a, b = random_mesh_data(0, dtype=torch.float64), random_mesh_data(1, dtype=torch.float64)
    a.x, b.x = torch.randn(a.num_nodes, TYPE.dim, dtype=torch.float64), 5 + torch.randn(b.num_nodes, TYPE.dim, dtype=torch.float64)
    batch = Batch.from_data_list([a, b])
    layer = BatchNorm(TYPE).double()
    torch.testing.assert_close(layer(batch.x), layer(torch.cat([a.x, b.x])))


def reference_train_batch_norm(layer: BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """The obvious autograd version: scalars by mean and variance, higher orders by E|f|^2 / 2."""
    out = torch.empty_like(x)
    field = layer.in_type.field_index()
    for f, n in enumerate(layer.in_type.irreps):
        comps = torch.nonzero(field == f).flatten()
        v = x[:, comps]
        if n == 0:
            v = v - v.mean(0)
            var = (v * v).mean()
        else:
            var = (v * v).sum(1).mean() / 2
        out[:, comps] = v / torch.sqrt(var + layer.eps) * layer.weight[f]
    scalars = layer.in_type.indices(0)
    out[:, scalars] = out[:, scalars] + layer.bias
    return out


def test_train_gradient_matches_autograd_reference():
    layer = randomize_parameters(BatchNorm(TYPE).double()).train()
    x = (3 + 2 * torch.randn(40, TYPE.dim, dtype=torch.float64)).requires_grad_()
    y = layer(x)
    torch.testing.assert_close(y, reference_train_batch_norm(layer, x))
    g = torch.randn_like(y)
    fast = torch.autograd.grad(y, [x, layer.weight, layer.bias], g)
    slow = torch.autograd.grad(reference_train_batch_norm(layer, x), [x, layer.weight, layer.bias], g)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda x: layer(x), (x[:6].detach().requires_grad_(),))
