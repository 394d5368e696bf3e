"""The shipped test helpers: they must catch broken layers, not only pass good ones."""

import math

import pytest
import torch
from torch import nn

from gaugemesh.nn import BatchNorm, FieldDropout, GemConv
from gaugemesh.so2 import FieldType
from gaugemesh.testing import (
    DEFAULT_RTOL,
    assert_gauge_equivariant,
    assert_permutation_equivariant,
    on_graph,
    permute_graph,
    on_features,
    random_gauge,
    random_mesh_data,
    randomize_parameters,
)

TYPE = FieldType("2x0 + 2x1")


def test_random_gauge_range_and_dtype():
    phi = random_gauge(1000, torch.Generator().manual_seed(0), dtype=torch.float32)
    assert phi.dtype == torch.float32 and phi.shape == (1000,)
    assert phi.min() > -math.pi - 1e-6 and phi.max() <= math.pi + 1e-6 and phi.std() > 1.5


def test_random_mesh_data_is_consistent():
    data = random_mesh_data(1)
    j, i = data.edge_index
    assert torch.all(i[1:] >= i[:-1])  # sorted by target
    reverse = {(int(a), int(b)): e for e, (a, b) in enumerate(data.edge_index.t())}
    e = reverse[(int(i[0]), int(j[0]))]
    assert float(data.transport[e] + data.transport[0]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("layer", [nn.Linear(6, 6), nn.ReLU()])
def test_catches_non_equivariant_layers(layer):
    data = random_mesh_data(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_gauge_equivariant(on_features(layer.double()), data, x, TYPE, TYPE)


def test_catches_a_bias_on_vector_outputs():
    """GEM-CNN once shipped a bias on non-scalar outputs; zero-initialised biases hid it."""
    conv = GemConv(TYPE, TYPE).double()
    data = random_mesh_data(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)

    def biased(x, data):
        return conv(x, data.edge_index, data.theta, data.transport) + torch.arange(TYPE.dim, dtype=x.dtype)

    with pytest.raises(AssertionError):
        assert_gauge_equivariant(biased, data, x, TYPE, TYPE)


def test_randomize_parameters_touches_biases_and_running_stats():
    norm = BatchNorm("2x0 + 1x1")
    randomize_parameters(norm, scale=10, generator=torch.Generator().manual_seed(0))
    assert norm.bias.abs().max() > 1 and (norm.running_var > 0).all() and norm.running_mean.abs().max() > 1


def test_seeded_calls_do_not_touch_global_rng():
    data = random_mesh_data(1, dtype=torch.float32)
    x = torch.randn(data.num_nodes, TYPE.dim)
    state = torch.get_rng_state()
    assert_gauge_equivariant(on_features(FieldDropout(TYPE, 0.5).train()), data, x, TYPE, TYPE, seed=5)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_default_tolerance_passes_rounding_and_catches_a_break_ten_times_its_size(dtype):
    """DEFAULT_RTOL[dtype] is the bar the helper applies to x.dtype: three exact layers in that
    dtype stay under it (rounding only); the same stack plus a constant on its vector outputs
    of 10 x DEFAULT_RTOL relative to the output is caught. In float64 that break would pass
    under float32's tolerance: each dtype gets its own, not the loosest."""
    data = random_mesh_data(1, dtype=dtype)
    convs = [randomize_parameters(GemConv(TYPE, TYPE).to(dtype)) for _ in range(3)]
    vector_part = torch.tensor([0, 0, 1, 0, 1, 0], dtype=dtype)  # the cos component of each order-1 field
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=dtype)

    def stack(x, data, leak=0.0):
        for conv in convs:
            x = conv(x, data.edge_index, data.theta, data.transport, data.edge_weight)
        return x + leak * vector_part

    tol = DEFAULT_RTOL[dtype]
    error = assert_gauge_equivariant(stack, data, x, TYPE, TYPE)
    assert error <= tol
    scale = float(stack(x, data).abs().max())

    def broken(x, data):
        return stack(x, data, leak=10 * tol * scale)

    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_gauge_equivariant(broken, data, x, TYPE, TYPE)
    if dtype == torch.float64:
        assert_gauge_equivariant(broken, data, x, TYPE, TYPE, rtol=DEFAULT_RTOL[torch.float32])


def test_a_layer_returning_zeros_fails_instead_of_passing():
    data = random_mesh_data(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)
    with pytest.raises(AssertionError, match="vanishes"):
        assert_gauge_equivariant(lambda x, data: torch.zeros_like(x), data, x, TYPE, TYPE)
    with pytest.raises(AssertionError, match="vanishes"):
        assert_permutation_equivariant(lambda x, data: 0 * x, data, x)


def test_the_call_is_said_explicitly():
    data = random_mesh_data(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)
    with pytest.raises(TypeError, match="on_graph"):
        assert_gauge_equivariant(GemConv(TYPE, TYPE).double(), data, x, TYPE, TYPE)


def test_permutation_check_catches_a_layer_that_depends_on_vertex_numbers():
    data = random_mesh_data(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)
    conv = randomize_parameters(GemConv(TYPE, TYPE).double())
    assert_permutation_equivariant(on_graph(conv), data, x)
    numbered = on_graph(lambda x, *graph: conv(x, *graph) + torch.arange(len(x), dtype=x.dtype)[:, None])
    with pytest.raises(AssertionError, match="not permutation equivariant"):
        assert_permutation_equivariant(numbered, data, x)
    first_edge = on_graph(lambda x, ei, theta, transport, w: conv(x, ei, theta, transport, w) * theta[0])
    with pytest.raises(AssertionError, match="not permutation equivariant"):  # edge order matters to it
        assert_permutation_equivariant(first_edge, data, x)


def test_permute_graph_keeps_the_mesh():
    data = random_mesh_data(1)
    g = torch.Generator().manual_seed(0)
    vertex_order, edge_order = torch.randperm(data.num_nodes, generator=g), torch.randperm(data.edge_index.size(1), generator=g)
    moved = permute_graph(data, vertex_order, edge_order)
    torch.testing.assert_close(moved.pos, data.pos[vertex_order])
    torch.testing.assert_close(moved.theta, data.theta[edge_order])
    # the same edges between the same points
    j, i = moved.edge_index
    torch.testing.assert_close(moved.pos[j], data.pos[data.edge_index[0, edge_order]])
    torch.testing.assert_close(moved.pos[i], data.pos[data.edge_index[1, edge_order]])
    torch.testing.assert_close(moved.pos[moved.face], data.pos[data.face])
