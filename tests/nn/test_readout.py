"""Invariant readout: invariant under any gauge change, and its values against a slow reference."""

import pytest
import torch

from gaugemesh.nn import InvariantReadout
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, on_features


@pytest.mark.parametrize("mode,dim", [("scalars", 3), ("norms", 6)])
def test_invariant(graph, dtype, mode, dim):
    layer = InvariantReadout(FieldType("2x0 + 2x1 + 1x0 + 1x2"), mode=mode)
    assert layer.out_type == FieldType.scalars(dim)
    x = torch.randn(graph.num_nodes, layer.in_type.dim, dtype=dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, layer.in_type, layer.out_type)


def slow_readout(in_type: FieldType, x: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """Walk the layout field by field: keep every scalar, then (norms) the smoothed length of
    every field of order >= 1, each in layout order."""
    scalars, norms, column = [], [], 0
    for mult, order in in_type.blocks:
        for _ in range(mult):
            if order == 0:
                scalars.append(x[..., column])
                column += 1
            else:
                a, b = x[..., column], x[..., column + 1]
                norms.append(torch.sqrt(a * a + b * b + eps * eps))
                column += 2
    return torch.stack(scalars + (norms if mode == "norms" else []), -1)


@pytest.mark.parametrize("spec", ["2x0 + 2x1 + 1x0 + 1x2", "3x0 + 2x1 + 1x3", "1x1 + 2x0"])
@pytest.mark.parametrize("mode", ["scalars", "norms"])
def test_matches_the_slow_readout(spec, mode, dtype):
    """Values against the field-by-field reference; interleaved and contiguous layouts (gather
    and view paths), leading batch dimensions, and a zero field, whose norm is eps."""
    layer = InvariantReadout(FieldType(spec), mode=mode, eps=1e-3)
    x = torch.randn(2, 5, layer.in_type.dim, dtype=dtype)
    first_vector = int(torch.nonzero(layer.in_type.component_orders() > 0)[0])
    x[0, 0, first_vector : first_vector + 2] = 0
    out = layer(x)
    assert out.dtype == dtype and out.shape == (2, 5, layer.out_type.dim)
    torch.testing.assert_close(out, slow_readout(layer.in_type, x, mode, 1e-3), rtol=0, atol=0 if dtype == torch.float64 else 1e-6)
    if mode == "norms":
        norm_column = layer.in_type.multiplicity(0)
        torch.testing.assert_close(out[0, 0, norm_column], torch.tensor(1e-3, dtype=dtype))
