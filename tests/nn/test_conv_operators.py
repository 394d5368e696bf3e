"""The sparse geometry operators: against a dense construction, transposes, shared indices."""

import pytest
import torch

from gaugemesh.nn import ConvOperators
from gaugemesh.testing import random_mesh_data


def dense_operator(geometry: ConvOperators, order: int, k: int, r: int) -> torch.Tensor:
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


def stacked_dense(geometry: ConvOperators, order: int, freqs) -> torch.Tensor:
    """The terms ``q = (k, r)``, frequency-major, stacked row by row under each vertex:
    rows ``(i, q)`` for order >= 1 and ``(i, q, re/im)`` for order 0."""
    v, radial = geometry.num_nodes, geometry.num_radial
    terms = [dense_operator(geometry, order, k, r) for k in freqs for r in range(radial)]
    rows_per_vertex = 2 if order == 0 else 1
    stacked = torch.stack([t.view(v, rows_per_vertex, -1) for t in terms], 1)  # [V, Q, rows, cols]
    return stacked.reshape(v * len(terms) * rows_per_vertex, -1)


def assert_matches_dense(op, geometry: ConvOperators, order: int, groups) -> None:
    """The stacked matrix, and each group's transpose, against :func:`stacked_dense`."""
    freqs = [k for group in groups for k in group]
    torch.testing.assert_close(op.matrix.to_dense(), stacked_dense(geometry, order, freqs))
    assert op.group_terms == tuple(len(group) * geometry.num_radial for group in groups)
    assert len(op.transposes) == len(groups)
    for group, transpose in zip(groups, op.transposes):
        torch.testing.assert_close(transpose.to_dense(), stacked_dense(geometry, order, group).t())


GROUPS = [(0, ((0,), (1,), (2,))), (1, ((-1,), (0, -2), (1, -3))), (2, ((-2,), (-1, -3)))]


@pytest.mark.parametrize("order,groups", GROUPS)
def test_operator_matches_dense_and_transpose(order, groups):
    data = random_mesh_data(0, dtype=torch.float64, seed=5)
    # shuffle the edges: the builder must not rely on the input order
    perm = torch.randperm(data.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    w = torch.rand(perm.numel(), 2, dtype=torch.float64)
    geometry = ConvOperators(data.edge_index[:, perm], data.theta[perm], data.transport[perm], w)
    op = geometry.edge_operator(order, groups, torch.float64, "cpu")
    assert op.terms == 2 * sum(len(group) for group in groups)
    assert_matches_dense(op, geometry, order, groups)


def test_operator_applies_the_complex_sum():
    """Order 1 on [u; i u] gives sum_j s_ij u_j, in the (c, re/im) layout of the features,
    term q in columns q 2C .. (q + 1) 2C."""
    data = random_mesh_data(0, dtype=torch.float64, seed=7)
    geometry = ConvOperators(data.edge_index, data.theta, data.transport, data.edge_weight)
    freqs = (2, -1)
    op = geometry.edge_operator(1, (freqs,), torch.float64, "cpu")
    u = torch.randn(data.num_nodes, 3, dtype=torch.complex128)
    source = torch.stack([u, 1j * u], 1)  # rows (j, 0/1)
    source = torch.view_as_real(source).reshape(2 * data.num_nodes, 6)
    out = (op.matrix @ source).view(data.num_nodes, len(freqs), 3, 2)
    j, i = data.edge_index
    for q, k in enumerate(freqs):
        s = geometry.edge_weight[:, 0] * torch.polar(torch.ones_like(data.theta), k * data.theta + data.transport)
        expected = torch.zeros_like(u).index_add_(0, i, s[:, None] * u[j])
        torch.testing.assert_close(torch.view_as_complex(out[:, q].contiguous()), expected)


def test_orders_built_together_match_dense_and_make_each_pattern_once(monkeypatch):
    """A layer asks for every input order in one call. Orders 1 and 2 then stack as many terms
    and groups have equal sizes, so each many-term index pattern is made once, not per order
    and group (a third of the build time on 15k-vertex meshes), and each operator still
    matches the dense construction."""
    from gaugemesh.nn import conv_operators
    from gaugemesh.nn.conv_terms import OperatorTerms

    made = {"rows": 0, "cols": 0}
    for kind in made:
        original = getattr(conv_operators._Pattern, f"repeat_{kind}")

        def counted(self, *args, _original=original, _kind=kind):
            made[_kind] += 1
            return _original(self, *args)

        monkeypatch.setattr(conv_operators._Pattern, f"repeat_{kind}", counted)
    data = random_mesh_data(0, dtype=torch.float64, seed=6)
    geometry = ConvOperators(data.edge_index, data.theta, data.transport)
    groups = {0: ((0,), (1,), (2,)), 1: ((-1,), (0, -2), (1, -3)), 2: ((-2,), (-1, -3), (0, -4))}
    stacked = [OperatorTerms.frequency_major(n, g, geometry.num_radial) for n, g in groups.items()]
    ops = geometry.edge_operators(stacked, torch.float64, "cpu")
    for order, group in groups.items():
        assert_matches_dense(ops[order], geometry, order, group)
    # forward: 3 terms of order 0, 5 of orders 1-2; transposes: groups of 1 (order 0), 1 and 2
    assert made == {"rows": 2, "cols": 3}


def test_operators_share_their_indices():
    """Only the values are per operator: operators with as many terms reuse one index pattern."""
    data = random_mesh_data(0, dtype=torch.float32, seed=8)
    geometry = ConvOperators(data.edge_index, data.theta, data.transport)
    ops = [geometry.edge_operator(1, ((0,), (1,)), torch.float32, "cpu"), geometry.edge_operator(2, ((3,), (-4,)), torch.float32, "cpu")]
    ops.append(geometry.edge_operator(2, ((3,), (-4,)), torch.float64, "cpu"))
    matrices = [op.matrix for op in ops] + [t for op in ops for t in op.transposes]
    for group in ([op.matrix for op in ops], [t for op in ops for t in op.transposes]):
        assert len({m.col_indices().data_ptr() for m in group}) == 1
        assert len({m.crow_indices().data_ptr() for m in group}) == 1
    assert all(m.col_indices().dtype == torch.int32 for m in matrices)


def test_default_edge_weight_is_mean():
    data = random_mesh_data(0, dtype=torch.float64, weighted=False)
    geometry = ConvOperators(data.edge_index, data.theta, data.transport)
    total = torch.zeros(data.num_nodes, dtype=torch.float64).index_add_(0, data.edge_index[1], geometry.edge_weight[:, 0])
    torch.testing.assert_close(total, torch.ones_like(total))


@pytest.mark.parametrize("order", [0, 1])
def test_operator_with_isolated_and_sink_vertices(order):
    """Vertices without incoming or outgoing edges give empty rows (and columns)."""
    edge_index = torch.tensor([[0, 2, 2, 4], [2, 0, 4, 2]])  # 1 and 5 isolated, 3 missing
    theta = torch.tensor([0.3, -1.2, 2.0, 0.7], dtype=torch.float64)
    geometry = ConvOperators(edge_index, theta, -theta, num_nodes=6)
    groups = ((1,), (-2, 0))
    assert_matches_dense(geometry.edge_operator(order, groups, torch.float64, "cpu"), geometry, order, groups)


@pytest.mark.parametrize("order,groups", GROUPS)
def test_batch_operators_assembled_from_meshes_equal_built_ones(order, groups):
    """A batch's operators assembled block-diagonally from its meshes' (each built once)
    are the batch's own, entry for entry; the meshes keep theirs for the next batch."""
    from torch_geometric.data import Batch

    meshes = [random_mesh_data(s, dtype=torch.float64, seed=s) for s in (0, 1, 0)]
    meshes[2].edge_weight = meshes[2].edge_weight.flip(0)  # same graph, other values
    parts = [ConvOperators.from_data(m) for m in meshes]
    batch = Batch.from_data_list(meshes)
    assembled = ConvOperators.from_data(batch, parts=parts).edge_operator(order, groups, torch.float64, "cpu")
    built = ConvOperators.from_data(batch).edge_operator(order, groups, torch.float64, "cpu")
    assert assembled.group_terms == built.group_terms
    for a, b in zip((assembled.matrix, *assembled.transposes), (built.matrix, *built.transposes)):
        assert a.shape == b.shape
        torch.testing.assert_close(a.to_dense(), b.to_dense(), rtol=0, atol=1e-15)
    assert all(p.nbytes() > 0 for p in parts)  # built once, kept


def test_batch_parts_must_describe_the_batch():
    from torch_geometric.data import Batch

    meshes = [random_mesh_data(0, seed=0), random_mesh_data(1, seed=1)]
    batch = Batch.from_data_list(meshes)
    with pytest.raises(ValueError, match="batch order"):
        ConvOperators.from_data(batch, parts=[ConvOperators.from_data(meshes[0])])


@pytest.mark.parametrize("order,groups", GROUPS)
def test_operators_built_on_every_device_match_the_cpu(order, groups, device):
    data = random_mesh_data(1, dtype=torch.float32, seed=2)
    on_cpu = ConvOperators.from_data(data).edge_operator(order, groups, torch.float32, "cpu")
    here = ConvOperators.from_data(data.to(device)).edge_operator(order, groups, torch.float32, device)
    assert here.matrix.device.type == device
    for a, b in zip((here.matrix, *here.transposes), (on_cpu.matrix, *on_cpu.transposes)):
        torch.testing.assert_close(a.to_dense().cpu(), b.to_dense(), rtol=0, atol=1e-6)
