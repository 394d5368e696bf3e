"""O(2) nonlinearity, batch norm and readout: equivariant under rotations and reflections of
the frames (train and eval, float32 and float64, parameters and statistics randomised), and
a small stack of them with O2GemConv on a Moebius strip."""

import pytest
import torch
from torch import nn

import gaugemesh
from gaugemesh.nn import NormNonlinearity
from gaugemesh.nn.o2_conv import O2ConvOperators, O2GemConv
from gaugemesh.nn.o2_layers import O2BatchNorm, O2InvariantReadout, O2NormNonlinearity
from gaugemesh.o2_testing import assert_o2_gauge_equivariant, o2_gauge_equivariance_error
from gaugemesh.testing import assert_permutation_equivariant, on_features, randomize_parameters
from tests.o2_meshes import moebius_strip

TYPE = "2x0 + 2x0- + 1x1 + 1x0 + 2x2"  # unsorted, both scalars


@pytest.fixture(scope="module")
def moebius():
    mesh = gaugemesh.validate_mesh(*moebius_strip()[:2], structure_group="O2")
    return gaugemesh.mesh_to_data(mesh, dtype=torch.float64, structure_group="O2")


def _layers():
    return [O2NormNonlinearity(TYPE), O2BatchNorm(TYPE), O2InvariantReadout(TYPE)]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["norm_nonlinearity", "batch_norm", "readout"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_equivariant(moebius, index, dtype, train):
    layer = randomize_parameters(_layers()[index]).to(dtype).train(train)
    data = moebius.clone()
    data.theta, data.transport = data.theta.to(dtype), data.transport.to(dtype)
    x = 2 * layer.in_type.randn(data.num_nodes, dtype=dtype)
    assert_o2_gauge_equivariant(on_features(layer), data, x, layer.in_type, layer.out_type)
    assert_permutation_equivariant(on_features(layer.eval()), data, x)


def test_sign_irrep_needs_an_odd_nonlinearity(moebius):
    """The SO(2) norm nonlinearity applies ReLU to every order-0 component, 0- included:
    not equivariant under a reflection of the frame. The check sees it."""
    layer = NormNonlinearity("2x0 + 2x0 + 1x1")  # the SO(2) type of "2x0 + 2x0- + 1x1"
    x = torch.randn(moebius.num_nodes, 6, dtype=torch.float64)
    assert o2_gauge_equivariance_error(on_features(layer), moebius, x, "2x0 + 2x0- + 1x1", "2x0 + 2x0- + 1x1") > 1e-2
    # but the readout of a pseudo-scalar is its absolute value
    readout = O2InvariantReadout("1x0-", eps=0.0)
    torch.testing.assert_close(readout(x[:, :1]), x[:, :1].abs())


def test_batch_norm_statistics(moebius):
    layer = O2BatchNorm(TYPE).double()
    t = layer.in_type
    x = 3 + 2 * t.randn(500, dtype=torch.float64)
    out = layer(x)
    trivial = t.trivial_mask()
    torch.testing.assert_close(out[:, trivial].mean(0), torch.zeros(int(trivial.sum()), dtype=torch.float64), atol=1e-12, rtol=0)
    norms = t.squared_norms(out).mean(0) / torch.tensor([r.dim for r in t.irreps], dtype=torch.float64)
    torch.testing.assert_close(norms[~t.field_mask(lambda r: r.order == 0 and not r.odd)],
                               torch.ones(5, dtype=torch.float64), atol=1e-4, rtol=0)
    # pseudo-scalars keep their mean: removing it would depend on the gauge
    odd = torch.nonzero(t.reflection_mask() & (torch.arange(t.dim) < 5)).flatten()
    assert torch.all(out[:, odd].mean(0) > 0.5)


class _Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = O2GemConv("1x0", "4x0 + 2x0- + 2x1 + 1x2")
        self.norm = O2BatchNorm(self.conv1.out_type)
        self.act = O2NormNonlinearity(self.conv1.out_type)
        self.conv2 = O2GemConv(self.conv1.out_type, "2x0 + 2x0- + 1x1")
        self.readout = O2InvariantReadout(self.conv2.out_type)

    def forward(self, x, data):
        geometry = O2ConvOperators.from_data(data)
        h = self.act(self.norm(self.conv1(x, operators=geometry)))
        return self.readout(self.conv2(h, operators=geometry))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_stack_on_a_moebius_strip_is_invariant(moebius, train):
    model = randomize_parameters(_Stack()).double().train(train)
    x = torch.rand(moebius.num_nodes, 1, dtype=torch.float64) + 0.5
    assert_o2_gauge_equivariant(lambda x, data: model(x, data), moebius, x, "1x0", model.readout.out_type)
