"""The GCN baseline reads only invariant inputs, so its logits are gauge invariant."""

import pytest
import torch

from gaugemesh.models import GCNBaseline
from gaugemesh.testing import assert_gauge_equivariant, on_data, random_mesh_data, randomize_parameters


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("train", [True, False])
def test_gcn_baseline_is_gauge_invariant(dtype, train):
    data = random_mesh_data(1, dtype=dtype)
    model = randomize_parameters(GCNBaseline("3x0 + 2x1", 4, hidden=8, num_layers=2)).to(dtype).train(train)
    x = torch.randn(data.num_nodes, 7, dtype=dtype)
    assert_gauge_equivariant(on_data(model), data, x, "3x0 + 2x1", "4x0")


def test_gcn_baseline_rejects_the_wrong_input_type():
    data = random_mesh_data(1)
    data.x = torch.randn(data.num_nodes, 5)
    with pytest.raises(ValueError, match="3x0 \\+ 2x1"):
        GCNBaseline("3x0 + 2x1", 4)(data)
