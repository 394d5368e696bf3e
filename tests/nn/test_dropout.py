"""Field dropout: drops whole fields, equivariant with a fixed seed, identity in eval."""

import pytest
import torch

from gaugemesh.nn import FieldDropout
from gaugemesh.so2 import FieldType
from gaugemesh.testing import assert_gauge_equivariant, on_features

TYPE = FieldType("4x0 + 4x1 + 2x2")


@pytest.mark.parametrize("train", [True, False])
def test_equivariant(graph, dtype, train):
    layer = FieldDropout(TYPE, p=0.5).train(train)
    x = torch.randn(graph.num_nodes, TYPE.dim, dtype=dtype)
    assert_gauge_equivariant(on_features(layer), graph, x, TYPE, TYPE, seed=7)


def test_drops_whole_fields():
    layer = FieldDropout(TYPE, p=0.5, generator=torch.Generator().manual_seed(0))
    y = layer(torch.ones(200, TYPE.dim))
    pairs = y[:, TYPE.indices(1)].view(200, -1, 2)
    assert torch.equal(pairs[..., 0], pairs[..., 1])  # both components of a pair together
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < float((y == 0).float().mean()) < 0.6
    layer.eval()
    assert torch.equal(layer(torch.ones(3, TYPE.dim)), torch.ones(3, TYPE.dim))
