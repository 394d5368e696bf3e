"""The sparse geometry operators: against a dense construction, transposes, shared indices."""

import pytest
import torch

from gaugemesh.nn import ConvGeometry
from gaugemesh.testing import random_geometry


def dense_operator(geometry: ConvGeometry, order: int, k: int, r: int) -> torch.Tensor:
    """The obvious loop: ``s = w^r exp(i (k theta + n g))`` per edge, at (i, re/im) x j for
    order 0 and at i x (j, re/im) above."""
    v = geometry.num_nodes
    out = torch.zeros(v, 2, v, dtype=torch.float64) if order == 0 else torch.zeros(v, v, 2, dtype=torch.float64)
    for e in range(geometry.edge_index.size(1)):
        j, i = geometry.edge_index[:, e]
        phase = k * geometry.theta[e] + order * geometry.transport[e]
        s = geometry.edge_weight[e, r] * torch.stack([torch.cos(phase), torch.sin(phase)])
        if order == 0:
            out[i, :, j] += s
        else:
            out[i, j, :] += s
    return out.reshape(2 * v, v) if order == 0 else out.reshape(v, 2 * v)


@pytest.mark.parametrize("order,freqs", [(0, (0, 1, 2)), (1, (-1, 0, -2, 1, -3)), (2, (-2, -1, -3))])
def test_operators_match_dense_and_transpose(order, freqs):
    data = random_geometry(0, dtype=torch.float64, seed=5)
    # shuffle the edges: the builder must not rely on the input order
    perm = torch.randperm(data.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    w = torch.rand(perm.numel(), 2, dtype=torch.float64)
    geometry = ConvGeometry(data.edge_index[:, perm], data.theta[perm], data.transport[perm], w)
    operators = geometry.operators(order, freqs, torch.float64, "cpu")
    assert len(operators) == 2 * len(freqs)
    for q, op in enumerate(operators):
        expected = dense_operator(geometry, order, freqs[q // 2], q % 2)
        torch.testing.assert_close(op.matrix.to_dense(), expected)
        torch.testing.assert_close(op.matrix_t.to_dense(), expected.t())


def test_operator_applies_the_complex_sum():
    """Order 1 on [u; i u] gives sum_j s_ij u_j, in the (c, re/im) layout of the features."""
    data = random_geometry(0, dtype=torch.float64, seed=7)
    geometry = ConvGeometry(data.edge_index, data.theta, data.transport, data.edge_weight)
    (op,) = geometry.operators(1, (2,), torch.float64, "cpu")
    u = torch.randn(data.num_nodes, 3, dtype=torch.complex128)
    source = torch.stack([u, 1j * u], 1)  # rows (j, 0/1)
    source = torch.view_as_real(source).reshape(2 * data.num_nodes, 6)
    out = torch.view_as_complex((op.matrix @ source).view(-1, 3, 2))
    j, i = data.edge_index
    s = geometry.edge_weight[:, 0] * torch.polar(torch.ones_like(data.theta), 2 * data.theta + data.transport)
    expected = torch.zeros_like(u).index_add_(0, i, s[:, None] * u[j])
    torch.testing.assert_close(out, expected)


def test_operators_share_their_indices():
    """Only the values are per operator: every operator of a layout reuses one index pattern."""
    data = random_geometry(0, dtype=torch.float32, seed=8)
    geometry = ConvGeometry(data.edge_index, data.theta, data.transport)
    ops = geometry.operators(1, (0, 1), torch.float32, "cpu") + geometry.operators(2, (3,), torch.float32, "cpu")
    for attr in ("matrix", "matrix_t"):
        cols = {getattr(op, attr).col_indices().data_ptr() for op in ops}
        crows = {getattr(op, attr).crow_indices().data_ptr() for op in ops}
        assert len(cols) == 1 and len(crows) == 1
        assert getattr(ops[0], attr).col_indices().dtype == torch.int32


def test_default_edge_weight_is_mean():
    data = random_geometry(0, dtype=torch.float64, weighted=False)
    geometry = ConvGeometry(data.edge_index, data.theta, data.transport)
    total = torch.zeros(data.num_nodes, dtype=torch.float64).index_add_(0, data.edge_index[1], geometry.edge_weight[:, 0])
    torch.testing.assert_close(total, torch.ones_like(total))
