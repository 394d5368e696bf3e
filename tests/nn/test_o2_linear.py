"""O2Linear: equivariant under rotations and reflections of the frames (float32 and float64,
parameters randomised), permutation equivariant, and exactly the O(2) subspace of the SO(2)
linear maps (nothing between 0 and 0-, a real multiple between vectors)."""

import pytest
import torch

import gaugemesh
from gaugemesh.nn import Linear
from gaugemesh.nn.o2_linear import O2Linear
from gaugemesh.o2_testing import assert_o2_gauge_equivariant, o2_gauge_equivariance_error
from gaugemesh.testing import assert_permutation_equivariant, on_features, randomize_parameters
from tests.o2_meshes import moebius_strip

PAIRS = [("2x0 + 1x0- + 2x1 + 1x2", "1x0 + 2x0- + 1x1 + 2x2"), ("1x1 + 1x0- + 2x0", "1x2 + 1x0 + 1x0- + 1x1")]


@pytest.fixture(scope="module")
def moebius():
    mesh = gaugemesh.validate_mesh(*moebius_strip()[:2], structure_group="O2")
    return gaugemesh.mesh_to_data(mesh, dtype=torch.float64, structure_group="O2")


@pytest.mark.parametrize("types", PAIRS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_equivariant(moebius, types, dtype):
    layer = randomize_parameters(O2Linear(*types)).to(dtype)
    x = layer.in_type.randn(moebius.num_nodes, dtype=dtype)
    assert_o2_gauge_equivariant(on_features(layer), moebius, x, layer.in_type, layer.out_type)
    assert_permutation_equivariant(on_features(layer), moebius, x)


def test_the_unmasked_so2_map_is_not_o2_equivariant(moebius):
    """The check can fail: the SO(2) linear map of the same layout mixes 0 and 0- and turns vectors."""
    a, b = PAIRS[0]
    layer = randomize_parameters(Linear(gaugemesh.o2.O2FieldType(a).so2, gaugemesh.o2.O2FieldType(b).so2)).double()
    x = layer.in_type.randn(moebius.num_nodes, dtype=torch.float64)
    assert o2_gauge_equivariance_error(on_features(layer), moebius, x, a, b) > 1e-2


def test_kept_maps():
    layer = randomize_parameters(O2Linear("1x0 + 1x0- + 1x1", "1x0 + 1x0- + 1x1", bias=False)).double()
    eye = torch.eye(4, dtype=torch.float64)
    k = layer(eye)  # row i: the image of basis vector i
    assert k[0, 1] == 0 and k[1, 0] == 0  # 0 <-> 0-: nothing
    assert k[0, 0] != 0 and k[1, 1] != 0
    block = k[2:, 2:]  # order 1: a real multiple of the identity
    torch.testing.assert_close(block, block[0, 0] * torch.eye(2, dtype=torch.float64))
    assert block[0, 0] != 0
