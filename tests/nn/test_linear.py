"""Equivariant Linear: commutes with rho, bias only on scalars, equivariance."""

import pytest
import torch

from gaugemesh.nn import Linear
from gaugemesh.testing import assert_gauge_equivariant, on_features, randomize_parameters


@pytest.mark.parametrize("spec", [("2x0 + 3x1 + 1x2", "1x0 + 2x1 + 2x2"), ("1x1 + 2x0", "2x2 + 1x0 + 1x1"), ("2x1", "3x0")])
def test_commutes_with_rho(spec):
    layer = randomize_parameters(Linear(*spec).double())
    k = layer.matrix().double()  # float default when no order is shared (no parameters)
    a = torch.rand(5, dtype=torch.float64) * 6
    # f @ K: rho_in(a) then K equals K then rho_out(a)
    lhs = layer.in_type.rho(a).transpose(-1, -2) @ k
    rhs = k @ layer.out_type.rho(a).transpose(-1, -2)
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("train", [True, False])
def test_equivariant_with_large_bias(graph, dtype, train):
    layer = randomize_parameters(Linear("2x0 + 3x1 + 1x2", "3x0 + 2x1 + 2x2"), scale=10).to(dtype).train(train)
    x = torch.randn(graph.num_nodes, layer.in_type.dim, dtype=dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, layer.in_type, layer.out_type)
    assert layer.bias is not None and layer.bias.abs().max() > 1


def test_matrix_matches_forward():
    layer = randomize_parameters(Linear("1x1 + 2x0 + 1x2", "2x0 + 1x2 + 1x1").double())
    x = torch.randn(4, layer.in_type.dim, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.matrix() + layer.bias_vector())
