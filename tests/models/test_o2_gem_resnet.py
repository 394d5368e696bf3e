"""O2GemResNet: invariant logits under random O(2) gauge changes (rotations and reflections of
the frames; train and eval, float32 and float64, parameters randomised) on a Moebius strip and
a sphere, permutation equivariance, batching, and the checks on its input."""

import pytest
import torch
from torch_geometric.data import Batch

import gaugemesh
from gaugemesh.models.o2_gem_resnet import O2GemResNet
from gaugemesh.o2_testing import assert_o2_gauge_equivariant
from gaugemesh.testing import assert_permutation_equivariant, on_data, randomize_parameters
from tests.conftest import icosphere
from tests.o2_meshes import moebius_strip

IN_TYPE = "2x0 + 1x0- + 1x0 + 1x1"  # the layout of hks, curvature, hks_grad


def _mesh(name):
    pos, faces = moebius_strip(16, 5)[:2] if name == "moebius" else icosphere(1)
    return gaugemesh.mesh_to_data(gaugemesh.validate_mesh(pos, faces, structure_group="O2"), dtype=torch.float64,
                                  structure_group="O2")


@pytest.fixture(scope="module")
def meshes():
    return {name: _mesh(name) for name in ("moebius", "sphere")}


def small_net(dropout=0.2):
    return O2GemResNet(IN_TYPE, 3, width=[3, 2, 1], max_order=2, num_blocks=2, dropout=dropout, pseudo_width=2)


def _cast(data, dtype):
    out = data.clone()
    for key in ("theta", "transport", "edge_weight", "frame", "pos", "area"):
        out[key] = out[key].to(dtype)
    return out


@pytest.mark.parametrize("name", ["moebius", "sphere"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_logits_invariant_under_o2_gauge_changes(meshes, name, dtype, train):
    data = _cast(meshes[name], dtype)
    net = randomize_parameters(small_net()).to(dtype).train(train)
    data.x_type = IN_TYPE
    x = net.in_type.randn(data.num_nodes, dtype=dtype)
    assert_o2_gauge_equivariant(on_data(net), data, x, net.in_type, net.out_type, seed=3)


def test_permutation_equivariant(meshes):
    data = meshes["moebius"]
    net = randomize_parameters(small_net()).double().eval()
    x = net.in_type.randn(data.num_nodes, dtype=torch.float64)
    assert_permutation_equivariant(on_data(net), data, x)


def test_batch_equals_one_at_a_time(meshes):
    a, b = meshes["moebius"].clone(), meshes["sphere"].clone()
    net = randomize_parameters(small_net()).double().eval()
    for d in (a, b):
        d.x, d.x_type = net.in_type.randn(d.num_nodes, dtype=torch.float64), IN_TYPE
    batched = net(Batch.from_data_list([a, b]))
    torch.testing.assert_close(batched, torch.cat([net(a), net(b)]))


def test_checks_input(meshes):
    net = small_net()
    data = meshes["sphere"].clone()
    with pytest.raises(ValueError, match="no x"):
        net(data)
    data.x = net.in_type.randn(data.num_nodes, dtype=torch.float64)
    data.x_type = "3x0 + 1x0 + 1x1"  # the SO(2) type of the same width
    with pytest.raises(ValueError, match="x_type"):
        net(data)
    del data.x_type, data.reflection
    with pytest.raises(ValueError, match="reflection"):
        net(data)
    with pytest.raises(ValueError, match="norm"):
        O2GemResNet(IN_TYPE, 3, nonlinearity="regular")


@pytest.mark.parametrize("reduced", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_autocast_close_to_float32(meshes, reduced):
    """Under CPU autocast on the Moebius strip: logits and gradients finite and within the
    tolerances of tests/models/test_precision.py."""
    from gaugemesh.nn import O2NormNonlinearity
    from tests.models.test_precision import CLOSE, GRAD_CLOSE, relative

    data = _cast(meshes["moebius"], torch.float32)
    data.x_type = IN_TYPE
    net = randomize_parameters(small_net(dropout=0.0), scale=0.3, generator=torch.Generator().manual_seed(3)).eval()
    with torch.no_grad():  # negative norm thresholds jump at f = 0 in any precision (see test_precision)
        for module in net.modules():
            if isinstance(module, O2NormNonlinearity) and module.bias is not None:
                module.bias.abs_()
    data.x = net.in_type.randn(data.num_nodes, dtype=torch.float32)

    def step(dtype):
        net.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = net(data)
        logits.float().square().mean().backward()
        return logits.detach().float(), torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])

    (reference, reference_grads), (logits, grads) = step(None), step(reduced)
    assert torch.isfinite(logits).all() and torch.isfinite(grads).all()
    assert relative(logits, reference) < CLOSE[reduced]
    assert relative(grads, reference_grads) < GRAD_CLOSE[reduced]
