"""Residual block: equivariant, and the shortcut between different types must be too."""

import pytest
import torch
from torch import nn

from gaugemesh.models import GemResBlock
from gaugemesh.nn import ConvOperators
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, gauge_equivariance_error, random_mesh_data, randomize_parameters

IN, OUT = FieldType("3x0 + 2x1 + 1x2"), FieldType("2x0 + 2x1 + 2x2")


def block_fn(block):
    return lambda x, data: block(x, ConvOperators.from_data(data))


@pytest.mark.parametrize("nonlinearity", ["norm", "gated"])
@pytest.mark.parametrize("train", [True, False])
def test_block_equivariant(dtype, nonlinearity, train):
    data = random_mesh_data(1, dtype=dtype)
    block = randomize_parameters(GemResBlock(IN, OUT, nonlinearity, dropout=0.3).to(dtype)).train(train)
    x = torch.randn(data.num_nodes, IN.dim, dtype=dtype)
    assert_gauge_equivariant(block_fn(block), data, x, IN, OUT)


def test_naive_biased_projection_breaks_equivariance_ours_does_not():
    data = random_mesh_data(1, dtype=torch.float64)
    x = torch.randn(data.num_nodes, IN.dim, dtype=torch.float64)
    block = randomize_parameters(GemResBlock(IN, OUT, "norm").double()).eval()
    ours = float(gauge_equivariance_error(block_fn(block), data, x, IN, OUT))
    # The naive projection made as equivariant as it can be: its matrix IS our equivariant
    # matrix; only the bias on the higher-order components is added.
    naive = nn.Linear(IN.dim, OUT.dim).double()
    with torch.no_grad():
        naive.weight.copy_(block.shortcut.matrix().t())
        naive.bias.copy_(torch.randn(OUT.dim, dtype=torch.float64))
    block.shortcut = naive
    broken = float(gauge_equivariance_error(block_fn(block), data, x, IN, OUT))
    print(f"residual block equivariance error: ours {ours:.1e}, naive biased projection {broken:.1e}")
    assert ours < 1e-11 and broken > 1e-2
