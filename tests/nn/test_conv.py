"""GemConv against a slow reference, the kernel constraint, gradients, equivariance, init."""

import math

import pytest
import torch

from gaugemesh.nn import ConvOperators, GemConv, RegularNonlinearity
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, assert_permutation_equivariant, on_graph, random_mesh_data, randomize_parameters

PAIRS = [
    ("2x0 + 3x1 + 2x2", "3x0 + 2x1 + 1x2"),
    ("1x1 + 2x0 + 1x3", "2x2 + 1x0 + 2x1"),  # unsorted layouts, order 3
    ("3x0", "2x0 + 2x1"),
    ("2x2", "3x0"),
]


def slow_reference(conv: GemConv, x, edge_index, theta, transport, edge_weight):
    """The formula of CONVENTIONS.md, one edge at a time, with the dense kernel
    rho_out(theta) W rho_in(g - theta). W = K(0), the kernel at theta = g = 0."""
    w_all = conv.kernel(torch.zeros((), dtype=x.dtype))  # [R, out, in]
    out = conv.self_interaction(x).clone()
    weight = edge_weight if edge_weight.dim() == 2 else edge_weight[:, None]
    for e in range(edge_index.size(1)):
        j, i = edge_index[:, e]
        for r in range(w_all.size(0)):
            k = conv.out_type.rho(theta[e]) @ w_all[r] @ conv.in_type.rho(transport[e] - theta[e])
            out[i] += weight[e, r] * (k @ x[j])
    return out


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
@pytest.mark.parametrize("num_radial", [1, 2])
def test_matches_slow_reference(in_spec, out_spec, num_radial):
    data = random_mesh_data(0, dtype=torch.float64, seed=3)
    conv = randomize_parameters(GemConv(in_spec, out_spec, num_radial=num_radial).double())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(data.num_nodes, conv.in_type.dim, generator=g, dtype=torch.float64)
    w = torch.rand(data.edge_index.size(1), num_radial, generator=g, dtype=torch.float64)
    fast = conv(x, data.edge_index, data.theta, data.transport, w)
    slow = slow_reference(conv, x, data.edge_index, data.theta, data.transport, w)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
def test_kernel_constraint(in_spec, out_spec):
    """K(theta - a) = rho_out(-a) K(theta) rho_in(a) at random angles (transport 0)."""
    conv = randomize_parameters(GemConv(in_spec, out_spec, num_radial=2).double())
    g = torch.Generator().manual_seed(1)
    theta, a = (torch.rand(2, 16, generator=g, dtype=torch.float64) * 2 * math.pi).unbind()
    lhs = conv.kernel(theta - a)
    rhs = conv.out_type.rho(-a)[:, None] @ conv.kernel(theta) @ conv.in_type.rho(a)[:, None]
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=0)
    # and K(theta) really is rho_out(theta) K(0) rho_in(-theta)
    k0 = conv.kernel(torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(conv.kernel(theta), conv.out_type.rho(theta)[:, None] @ k0 @ conv.in_type.rho(-theta)[:, None])


@pytest.mark.parametrize("in_spec,out_spec", PAIRS[:2])
def test_every_w_is_reachable(in_spec, out_spec):
    """The parametrisation spans all matrices W = K(0): the general solution, not a subspace."""
    conv = GemConv(in_spec, out_spec).double()
    params = list(conv.neighbour.parameters())
    flat = torch.cat([p.detach().flatten() for p in params])

    jac = torch.autograd.functional.jacobian(lambda v: _w_functional(conv, params, v), flat)
    assert jac.shape == (conv.in_type.dim * conv.out_type.dim, flat.numel())
    assert torch.linalg.matrix_rank(jac) == conv.in_type.dim * conv.out_type.dim


def _w_functional(conv, params, v):
    blocks, start = {}, 0
    names = list(conv.neighbour.weights.keys())
    for name, p in zip(names, params):
        blocks[name] = v[start : start + p.numel()].view_as(p)
        start += p.numel()
    original = dict(conv.neighbour.weights.items())
    try:
        for name in names:
            conv.neighbour.weights._parameters[name] = blocks[name]
        return conv.kernel(torch.zeros((), dtype=torch.float64)).flatten()
    finally:
        for name in names:
            conv.neighbour.weights._parameters[name] = original[name]


def test_gradcheck_float64():
    data = random_mesh_data(0, dtype=torch.float64, seed=4)
    conv = GemConv("2x0 + 1x1 + 1x2", "1x0 + 2x1 + 1x2", num_radial=2).double()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(data.num_nodes, conv.in_type.dim, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(data.edge_index.size(1), 2, generator=g, dtype=torch.float64)
    params = list(conv.parameters())
    names = [n for n, _ in conv.named_parameters()]

    def f(x, *ps):
        state = {n: p for n, p in zip(names, ps)}
        return torch.func.functional_call(conv, state, (x, data.edge_index, data.theta, data.transport, w))

    # fast mode checks random projections of the Jacobian: as sharp for a linear layer, ~20x quicker
    assert torch.autograd.gradcheck(f, (x, *[p.detach().requires_grad_() for p in params]), fast_mode=True)


@pytest.mark.parametrize("train", [True, False])
def test_gauge_equivariant(graph, dtype, train):
    conv = randomize_parameters(GemConv("4x0 + 3x1 + 2x2", "2x0 + 3x1 + 1x2 + 1x3").to(dtype)).train(train)
    x = torch.randn(graph.num_nodes, conv.in_type.dim, dtype=dtype)
    err = assert_gauge_equivariant(on_graph(conv), graph, x, conv.in_type, conv.out_type)
    print(f"GemConv {dtype} relative equivariance error {err:.2e}")


def test_gauge_equivariant_on_real_mesh(spot64):
    conv = randomize_parameters(GemConv("4x0 + 3x1 + 2x2", "2x0 + 3x1 + 2x2").double())
    x = torch.randn(spot64.num_nodes, conv.in_type.dim, dtype=torch.float64)
    assert_gauge_equivariant(on_graph(conv), spot64, x, conv.in_type, conv.out_type)


def test_shared_geometry_and_cache(graph):
    conv = GemConv("2x0 + 1x1", "1x0 + 1x1").to(graph.theta.dtype)
    x = torch.randn(graph.num_nodes, 4, dtype=graph.theta.dtype)
    args = (graph.edge_index, graph.theta, graph.transport, graph.edge_weight)
    y = conv(x, *args)
    first = conv._cache._geometry
    again = conv(x, *args)
    assert conv._cache._geometry is first  # cache hit
    torch.testing.assert_close(again, y, rtol=0, atol=0)
    torch.testing.assert_close(again, conv(x, operators=ConvOperators(*args)), rtol=0, atol=0)  # as uncached
    with torch.no_grad():
        graph.theta.add_(0.5)  # in-place change: the cache must notice
    y2 = conv(x, *args)
    assert conv._cache._geometry is not first
    assert not torch.allclose(y, y2)
    torch.testing.assert_close(y2, conv(x, operators=ConvOperators(*args)), rtol=0, atol=0)  # the new angles' result


def test_checks_input():
    conv = GemConv("2x0 + 1x1", "1x0")
    data = random_mesh_data(0, dtype=torch.float32)
    with pytest.raises(ValueError, match="needs \\[..., 4\\]"):
        conv(torch.zeros(data.num_nodes, 5), data.edge_index, data.theta, data.transport)
    with pytest.raises(ValueError, match="radial"):
        conv(torch.zeros(data.num_nodes, 4), data.edge_index, data.theta, data.transport, torch.ones(data.theta.numel(), 3))


@pytest.mark.parametrize("mesh", ["random", "real"])
def test_initialisation_keeps_variance_through_a_deep_stack(mesh, spot64):
    """Twelve GemConv + ReLU regular nonlinearity layers at default init: the activations
    neither explode nor vanish (a zero or doubled gain fails this)."""
    torch.manual_seed(0)
    data = random_mesh_data(3, dtype=torch.float32) if mesh == "random" else spot64
    t = FieldType.band(8, 2)
    layers = [(GemConv(t, t), RegularNonlinearity(t)) for _ in range(12)]
    x = torch.randn(data.num_nodes, t.dim)
    stds = []
    with torch.no_grad():
        for conv, act in layers:
            x = act(conv(x, data.edge_index, data.theta.float(), data.transport.float(), data.edge_weight.float()))
            stds.append(float(x.std()))
    print(mesh, "std per layer", [round(s, 2) for s in stds])
    assert 0.1 < stds[-1] < 10, stds  # a doubled or halved gain leaves this range


def test_permutation_equivariant(dtype):
    data = random_mesh_data(1, dtype=dtype, seed=3)
    conv = randomize_parameters(GemConv("3x0 + 2x1 + 1x2", "2x0 + 2x1 + 2x2", num_radial=1).to(dtype))
    x = torch.randn(data.num_nodes, conv.in_type.dim, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert_permutation_equivariant(on_graph(conv), data, x)


def test_reset_parameters_draws_the_weights_again_at_the_same_scale():
    torch.manual_seed(0)
    conv = GemConv("8x0 + 8x1 + 8x2", "8x0 + 8x1 + 8x2")
    before = [p.detach().clone() for p in conv.parameters()]
    with torch.no_grad():
        conv.self_interaction.bias.fill_(3.0)
    conv.reset_parameters()
    for old, new in zip(before, conv.parameters()):
        assert old.shape == new.shape
        if old.abs().sum() > 0:  # weights: redrawn, same spread
            assert not torch.equal(old, new) and 0.7 < float(new.std() / old.std()) < 1.4
        else:  # the bias: back to zero
            assert torch.equal(new, torch.zeros_like(new))
