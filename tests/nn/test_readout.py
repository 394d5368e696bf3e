"""Invariant readout: invariant under any gauge change."""

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
