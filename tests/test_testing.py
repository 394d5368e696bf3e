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
    random_gauge,
    random_geometry,
    randomize_parameters,
)

TYPE = FieldType("2x0 + 2x1")


def test_random_gauge_range_and_dtype():
    phi = random_gauge(1000, torch.Generator().manual_seed(0), dtype=torch.float32)
    assert phi.dtype == torch.float32 and phi.shape == (1000,)
    assert phi.min() > -math.pi - 1e-6 and phi.max() <= math.pi + 1e-6 and phi.std() > 1.5


def test_random_geometry_is_consistent():
    data = random_geometry(1)
    j, i = data.edge_index
    assert torch.all(i[1:] >= i[:-1])  # sorted by target
    reverse = {(int(a), int(b)): e for e, (a, b) in enumerate(data.edge_index.t())}
    e = reverse[(int(i[0]), int(j[0]))]
    assert float(data.transport[e] + data.transport[0]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("layer", [nn.Linear(6, 6), nn.ReLU()])
def test_catches_non_equivariant_layers(layer):
    data = random_geometry(1)
    x = torch.randn(data.num_nodes, TYPE.dim, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not gauge equivariant"):
        assert_gauge_equivariant(layer.double(), data, x, TYPE, TYPE)


def test_catches_a_bias_on_vector_outputs():
    """GEM-CNN once shipped a bias on non-scalar outputs; zero-initialised biases hid it."""
    conv = GemConv(TYPE, TYPE).double()
    data = random_geometry(1)
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
    data = random_geometry(1, dtype=torch.float32)
    x = torch.randn(data.num_nodes, TYPE.dim)
    state = torch.get_rng_state()
    assert_gauge_equivariant(FieldDropout(TYPE, 0.5).train(), data, x, TYPE, TYPE, seed=5)
    assert torch.equal(torch.get_rng_state(), state)


def test_tolerances_documented():
    assert DEFAULT_RTOL[torch.float32] <= 1e-5 and DEFAULT_RTOL[torch.float64] <= 1e-11
