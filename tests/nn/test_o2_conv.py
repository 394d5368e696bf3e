"""O2GemConv: the O(2) kernel space (against an independent solve and escnn's dimensions),
a slow reference with full O(2) transporters, and gauge equivariance under rotations and
reflections of the frames, on orientable and non-orientable meshes."""

import math

import pytest
import torch
from torch.func import functional_call

import gaugemesh
from gaugemesh.nn import GemConv
from gaugemesh.nn.o2_conv import O2ConvOperators, O2GemConv
from gaugemesh.nn.o2_kernel import kernel_with
from gaugemesh.o2 import o2_inverse
from gaugemesh.o2_testing import assert_o2_gauge_equivariant, o2_gauge_equivariance_error, on_o2_graph
from gaugemesh.testing import assert_permutation_equivariant, randomize_parameters
from tests.conftest import icosphere
from tests.o2_meshes import moebius_strip

PAIRS = [
    ("2x0 + 1x0- + 2x1 + 1x2", "1x0 + 2x0- + 1x1 + 2x3"),
    ("1x1 + 1x0- + 2x0", "1x2 + 1x0 + 1x0- + 1x1"),  # unsorted layouts
    ("1x0-", "1x0 + 1x1"),
]

#: Kernel dimensions per pair of irreps for one radius: escnn's O(2) bases on the plane
#: (R2FlipsContinuousRotationsSolution: two frequencies m -+ n between 2-dim irreps, one
#: between a 1-dim and a 2-dim irrep, one between equal 1-dim irreps, none between 0 and 0-).
ESCNN_DIMS = {("2", "2"): 2, ("1", "2"): 1, ("2", "1"): 1, ("same", "1"): 1, ("other", "1"): 0}


def _escnn_dim(a, b) -> int:
    if a.dim == 2 or b.dim == 2:
        return ESCNN_DIMS[(str(a.dim), str(b.dim))]
    return ESCNN_DIMS[("same" if a.odd == b.odd else "other", "1")]


def _mesh_data(kind, dtype, size=(24, 5)):
    if kind == "moebius":
        mesh = gaugemesh.validate_mesh(*moebius_strip(*size)[:2], structure_group="O2")
    else:
        mesh = gaugemesh.validate_mesh(*icosphere(1), structure_group="O2")
    data = gaugemesh.mesh_to_data(mesh, dtype=dtype, structure_group="O2")
    return data


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
def test_kernel_space_is_the_reflection_symmetric_solution(in_spec, out_spec):
    """W = K(0) spans exactly {W : W rho_in(F) = rho_out(F) W}, with escnn's dimension."""
    conv = O2GemConv(in_spec, out_spec, num_radial=2).double()
    names = [n for n, _ in conv.so2.neighbour.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in conv.so2.neighbour.parameters()])
    shapes = [p.shape for p in conv.so2.neighbour.parameters()]

    def w_of(v):
        masked, start = {}, 0
        for name, shape in zip(names, shapes):
            masked[name] = v[start : start + shape.numel()].view(shape) * conv._mask("neighbour." + name)
            start += shape.numel()
        return kernel_with(conv.so2.neighbour, masked, torch.zeros((), dtype=torch.float64)).flatten()

    jac = torch.autograd.functional.jacobian(w_of, flat, vectorize=True)
    rank = int(torch.linalg.matrix_rank(jac))
    # the solution space, solved independently: the null space of W -> F_out W - W F_in, per radius
    t_in, t_out = conv.in_type, conv.out_type
    f_in, f_out = t_in.rho(0.0, True).double(), t_out.rho(0.0, True).double()
    eye_in, eye_out = torch.eye(t_in.dim, dtype=torch.float64), torch.eye(t_out.dim, dtype=torch.float64)
    constraint = torch.kron(f_out, eye_in) - torch.kron(eye_out, f_in.t().contiguous())  # on W flattened row-major
    solutions = t_in.dim * t_out.dim - int(torch.linalg.matrix_rank(constraint))
    expected = sum(_escnn_dim(a, b) for a in t_in.irreps for b in t_out.irreps)
    assert rank == 2 * solutions == 2 * expected
    # every W the layer makes satisfies the constraint
    w = jac @ torch.randn(flat.numel(), dtype=torch.float64)
    w = w.view(2, t_out.dim, t_in.dim)
    torch.testing.assert_close(f_out @ w @ f_in, w, atol=1e-12, rtol=0)


@pytest.mark.parametrize("in_spec,out_spec", PAIRS)
def test_kernel_constraint_with_reflections(in_spec, out_spec):
    """K(h . theta) = rho_out(h) K(theta) rho_in(h)^-1, (a, s) . theta = a + (-1)^s theta."""
    conv = randomize_parameters(O2GemConv(in_spec, out_spec, num_radial=2).double())
    g = torch.Generator().manual_seed(1)
    theta, a = (torch.rand(2, 16, generator=g, dtype=torch.float64) * 2 * math.pi).unbind()
    s = torch.arange(16) % 2 == 0
    moved = a + torch.where(s, -theta, theta)
    lhs = conv.kernel(moved)
    rho_in_inv = conv.in_type.rho(*o2_inverse(a, s))
    rhs = conv.out_type.rho(a, s)[:, None] @ conv.kernel(theta) @ rho_in_inv[:, None]
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=0)


def slow_reference(conv: O2GemConv, x, data):
    """One edge at a time: K_self f_i + b + sum_j w_ij rho_out(theta) W rho_in(-theta) rho_in(g_ij) f_j,
    with the full O(2) transporter rho_in(g_ij) = rho_in(transport, reflection)."""
    w = conv.kernel(torch.zeros((), dtype=x.dtype))[0]
    params = {k.split(".", 1)[1]: v for k, v in conv.parameters_o2().items() if k.startswith("self_interaction.")}
    assert params  # the masked self-interaction, not the raw one
    out = functional_call(conv.so2.self_interaction, params, (x,)).clone()
    for e in range(data.edge_index.size(1)):
        j, i = data.edge_index[:, e]
        theta = data.theta[e]
        k = conv.out_type.rho(theta) @ w @ conv.in_type.rho(-theta)
        out[i] += data.edge_weight[e] * (k @ conv.in_type.rho(data.transport[e], data.reflection[e]) @ x[j])
    return out


def test_matches_slow_reference_on_the_moebius_strip():
    data = _mesh_data("moebius", torch.float64, size=(9, 3))
    assert data.reflection.any() and not data.reflection.all()
    conv = randomize_parameters(O2GemConv(*PAIRS[1]).double())
    x = conv.in_type.randn(data.num_nodes, dtype=torch.float64)
    fast = conv(x, operators=O2ConvOperators.from_data(data))
    torch.testing.assert_close(fast, slow_reference(conv, x, data), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mesh", ["moebius", "sphere"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_gauge_equivariant_under_rotations_and_reflections(mesh, dtype, train):
    data = _mesh_data(mesh, dtype)
    g = torch.Generator().manual_seed(2)
    for in_spec, out_spec in PAIRS:
        conv = randomize_parameters(O2GemConv(in_spec, out_spec), generator=g).to(dtype).train(train)
        x = conv.in_type.randn(data.num_nodes, generator=g).to(dtype)
        assert_o2_gauge_equivariant(on_o2_graph(conv), data, x, conv.in_type, conv.out_type, generator=g)


def test_the_check_can_fail():
    """The SO(2) layer on the forgotten types is not O(2) equivariant, and neither is the O(2)
    layer if reflecting edges are read as rotations."""
    data = _mesh_data("moebius", torch.float64)
    so2 = randomize_parameters(GemConv("2x0 + 1x1", "2x0 + 1x1").double())
    x = torch.randn(data.num_nodes, 4, dtype=torch.float64)
    call = lambda x, d: so2(x, d.edge_index, d.theta, d.transport, d.edge_weight)  # noqa: E731
    assert o2_gauge_equivariance_error(call, data, x, "2x0 + 1x1", "2x0 + 1x1") > 1e-2
    conv = randomize_parameters(O2GemConv(*PAIRS[0]).double())
    x = conv.in_type.randn(data.num_nodes, dtype=torch.float64)
    blind = lambda x, d: conv(x, d.edge_index, d.theta, d.transport, torch.zeros_like(d.reflection))  # noqa: E731
    assert o2_gauge_equivariance_error(blind, data, x, conv.in_type, conv.out_type) > 1e-2


def test_permutation_equivariant():
    data = _mesh_data("moebius", torch.float64)
    conv = randomize_parameters(O2GemConv(*PAIRS[0]).double())
    x = conv.in_type.randn(data.num_nodes, dtype=torch.float64)
    assert_permutation_equivariant(on_o2_graph(conv), data, x)


def test_removed_coordinates_get_no_gradient_and_the_default_weights_are_the_mean():
    data = _mesh_data("moebius", torch.float64)
    conv = randomize_parameters(O2GemConv(*PAIRS[0]).double())
    x = conv.in_type.randn(data.num_nodes, dtype=torch.float64)
    conv(x, data.edge_index, data.theta, data.transport, data.reflection).square().sum().backward()
    for name, p in conv.so2.named_parameters():
        dead = conv._mask(name) == 0
        assert p.grad[dead].abs().max().item() == 0 if dead.any() else True
        assert p.grad[~dead].abs().max() > 0
    # no edge_weight: the mean over all neighbours, reflecting or not
    unweighted = conv(x, data.edge_index, data.theta, data.transport, data.reflection)
    degree = torch.bincount(data.edge_index[1], minlength=data.num_nodes).double()
    mean = conv(x, data.edge_index, data.theta, data.transport, data.reflection, 1.0 / degree[data.edge_index[1]])
    torch.testing.assert_close(unweighted, mean)


def test_without_reflections_it_is_the_masked_so2_layer():
    data = _mesh_data("sphere", torch.float64)
    assert not data.reflection.any()
    conv = randomize_parameters(O2GemConv(*PAIRS[0]).double())
    x = conv.in_type.randn(data.num_nodes, dtype=torch.float64)
    expected = functional_call(conv.so2, conv.parameters_o2(), (x, data.edge_index, data.theta, data.transport, data.edge_weight))
    torch.testing.assert_close(conv(x, operators=O2ConvOperators.from_data(data)), expected)
