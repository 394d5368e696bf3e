"""The sparse geometry operators: against a dense construction, and gradcheck of SparseMatmul."""

import torch

from gaugemesh.nn import ConvGeometry, SparseMatmul
from gaugemesh.testing import random_geometry


def dense_operator(geometry: ConvGeometry, order: int, freqs) -> torch.Tensor:
    """Rows (i, k, r, re/im), columns (j, p): the obvious loop."""
    v, r = geometry.num_nodes, geometry.num_radial
    width = 1 if order == 0 else 2
    out = torch.zeros(v, len(freqs), r, 2, v, width, dtype=torch.float64)
    for e in range(geometry.edge_index.size(1)):
        j, i = geometry.edge_index[:, e]
        for a, k in enumerate(freqs):
            phase = k * geometry.theta[e] + order * geometry.transport[e]
            c, s = torch.cos(phase), torch.sin(phase)
            block = torch.stack([c, s])[:, None] if order == 0 else torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
            out[i, a, :, :, j] += geometry.edge_weight[e][:, None, None] * block
    return out.reshape(v * len(freqs) * r * 2, v * width)


def test_operator_matches_dense_and_transpose():
    data = random_geometry(0, dtype=torch.float64, seed=5)
    # shuffle the edges: the builder must not rely on the input order
    perm = torch.randperm(data.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    w = torch.rand(perm.numel(), 2, dtype=torch.float64)
    geometry = ConvGeometry(data.edge_index[:, perm], data.theta[perm], data.transport[perm], w)
    for order, freqs in [(0, (0, 1, 2)), (1, (-1, 0, -2, 1, -3)), (2, (-2, -1, -3))]:
        matrix, matrix_t = geometry.operator(order, freqs, torch.float64, "cpu")
        expected = dense_operator(geometry, order, freqs)
        torch.testing.assert_close(matrix.to_dense(), expected)
        torch.testing.assert_close(matrix_t.to_dense(), expected.t())


def test_default_edge_weight_is_mean():
    data = random_geometry(0, dtype=torch.float64, weighted=False)
    geometry = ConvGeometry(data.edge_index, data.theta, data.transport)
    total = torch.zeros(data.num_nodes, dtype=torch.float64).index_add_(0, data.edge_index[1], geometry.edge_weight[:, 0])
    torch.testing.assert_close(total, torch.ones_like(total))


def test_sparse_matmul_gradcheck():
    data = random_geometry(0, dtype=torch.float64, seed=6)
    geometry = ConvGeometry(data.edge_index, data.theta, data.transport, data.edge_weight)
    for order in (0, 1):
        matrix, matrix_t = geometry.operator(order, (-1, 2), torch.float64, "cpu")
        x = torch.randn(matrix.size(1), 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: SparseMatmul.apply(x, matrix, matrix_t), (x,))
