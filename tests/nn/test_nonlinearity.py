"""Regular, norm and gated nonlinearities: equivariance (exact or bounded), DFT round trip."""

import math

import pytest
import torch

from gaugemesh.nn import GatedNonlinearity, NormNonlinearity, RegularNonlinearity
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, gauge_equivariance_error, on_features, randomize_parameters

TYPE = FieldType("6x0 + 6x1 + 4x2")


def test_regular_projects_band_limited_functions_exactly():
    """With the identity as activation the layer is sample-then-project: the identity map."""
    layer = RegularNonlinearity(TYPE, activation=lambda t: t, num_samples=5).double()
    x = torch.randn(10, TYPE.dim, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x)


def test_regular_samples_are_the_function():
    """Samples equal f(t) = a0 + sum a_n cos nt + b_n sin nt (checked via activation = x^2)."""
    t = FieldType("1x0 + 1x1")
    layer = RegularNonlinearity(t, activation=torch.square, num_samples=8).double()
    a0, a1, b1 = 0.5, 1.0, -2.0
    # f^2 = a0^2 + (a1^2 + b1^2) / 2 + 2 a0 (a1 cos + b1 sin) + (order 2 terms, projected out)
    out = layer(torch.tensor([[a0, a1, b1]], dtype=torch.float64))
    expected = [a0**2 + (a1**2 + b1**2) / 2, 2 * a0 * a1, 2 * a0 * b1]
    torch.testing.assert_close(out[0], torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("num_samples", [5, 7, 12])
def test_regular_exact_at_multiples_of_2pi_over_n(graph, dtype, num_samples):
    layer = RegularNonlinearity(TYPE, num_samples=num_samples).to(dtype)
    x = torch.randn(graph.num_nodes, TYPE.dim, dtype=dtype)
    steps = torch.randint(-num_samples, num_samples, (graph.num_nodes,), generator=torch.Generator().manual_seed(0))
    phi = (steps.double() * (2 * math.pi / num_samples)).to(graph.theta.dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, TYPE, TYPE, phi=phi)


def test_regular_error_for_random_angles_falls_with_n(graph):
    graph = graph.clone()
    x = torch.randn(graph.num_nodes, TYPE.dim, dtype=graph.theta.dtype, generator=torch.Generator().manual_seed(0))
    errors = {}
    for n in (5, 8, 16, 32, 64):
        layer = RegularNonlinearity(TYPE, num_samples=n).to(x.dtype)
        errors[n] = float(gauge_equivariance_error(on_features(layer), graph, x, TYPE, TYPE, generator=torch.Generator().manual_seed(1)))
    print("regular nonlinearity, relative equivariance error at random angles:", {n: f"{e:.1e}" for n, e in errors.items()})
    assert errors[5] < 0.6 and errors[16] < 0.05 and errors[64] < 0.005
    assert errors[64] < errors[16] < errors[5]


def test_regular_needs_enough_samples():
    with pytest.raises(ValueError, match="exceed"):
        RegularNonlinearity("1x0 + 1x2", num_samples=4)


@pytest.mark.parametrize("layer_cls", [NormNonlinearity, GatedNonlinearity])
@pytest.mark.parametrize("train", [True, False])
def test_norm_and_gated_are_exactly_equivariant(graph, dtype, layer_cls, train):
    layer = randomize_parameters(layer_cls(FieldType("3x1 + 2x0 + 2x2")).to(dtype)).train(train)
    x = torch.randn(graph.num_nodes, layer.in_type.dim, dtype=dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, layer.in_type, layer.out_type)


def test_gated_type_and_gates():
    layer = GatedNonlinearity("2x0 + 1x1 + 1x2")
    assert layer.in_type == FieldType("2x0 + 1x1 + 1x2 + 2x0")
    x = torch.zeros(1, layer.in_type.dim)
    x[0, 2:4] = torch.tensor([3.0, 4.0])
    x[0, -2] = 100.0  # gate of the order-1 field: open
    x[0, -1] = -100.0  # gate of the order-2 field: closed
    x[0, 4:6] = 1.0
    out = layer(x)
    torch.testing.assert_close(out[0, 2:4], torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(out[0, 4:6], torch.zeros(2), atol=1e-6, rtol=0)


def test_norm_nonlinearity_keeps_direction():
    layer = NormNonlinearity("1x1")
    x = torch.tensor([[3.0, 4.0]])
    out = layer(x)
    torch.testing.assert_close(out, x * (5 - 0.1) / 5, atol=1e-5, rtol=0)


def test_regular_relu_fast_path_matches_autograd_reference():
    """The fused ReLU (sign pattern kept for backward) equals the same layer with ReLU as an
    opaque function, in value and gradient; and passes gradcheck."""
    fast = RegularNonlinearity(TYPE).double()
    reference = RegularNonlinearity(TYPE, activation=lambda t: torch.relu(t)).double()
    x = torch.randn(50, TYPE.dim, dtype=torch.float64, requires_grad=True)
    y_fast, y_ref = fast(x), reference(x)
    torch.testing.assert_close(y_fast, y_ref)
    g = torch.randn_like(y_fast)
    torch.testing.assert_close(torch.autograd.grad(y_fast, x, g)[0], torch.autograd.grad(y_ref, x, g)[0])
    assert torch.autograd.gradcheck(fast, (x[:8].detach().requires_grad_(),))


@pytest.mark.parametrize("activation", [None, torch.nn.GELU()], ids=["relu-fused", "gelu"])
@pytest.mark.parametrize("type_string", ["3x0 + 3x1 + 2x2", "4x0"], ids=["orders-0-2", "scalars-only"])
def test_regular_in_a_given_gauge_is_the_layer_conjugated_by_the_rotation(activation, type_string):
    """``layer(x, gauge) = rho(gauge) layer(rho(-gauge) x)``, against FieldType.transform; in
    ``3x0 + 3x1 + 2x2`` order 2 has a missing copy (zero slots too); scalars alone (an isotropic
    network under gauge augmentation) do not turn at all."""
    ftype = FieldType(type_string)
    layer = RegularNonlinearity(ftype, activation=activation, num_samples=9).double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, ftype.dim, dtype=torch.float64, generator=g)
    gauge = torch.rand(30, dtype=torch.float64, generator=g) * 6 - 3
    expected = ftype.transform(layer(ftype.transform(x, -gauge)), gauge)
    torch.testing.assert_close(layer(x, gauge), expected, rtol=0, atol=1e-12)


def test_regular_in_a_given_gauge_has_the_gradient_of_the_slow_composition():
    ftype = FieldType("2x0 + 2x1 + 2x2")
    layer = RegularNonlinearity(ftype, num_samples=8).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, ftype.dim, dtype=torch.float64, generator=g, requires_grad=True)
    gauge = torch.rand(12, dtype=torch.float64, generator=g) * 6 - 3
    probe = torch.randn(12, ftype.dim, dtype=torch.float64, generator=g)
    (fast,) = torch.autograd.grad((layer(x, gauge) * probe).sum(), x)
    (slow,) = torch.autograd.grad((ftype.transform(layer(ftype.transform(x, -gauge)), gauge) * probe).sum(), x)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
