"""Every layer under autocast (bf16 and fp16), forward and backward, on every device.

Each layer runs on float32 features inside ``torch.autocast``; its output and the gradients
of its input and parameters must be finite and close to the float32 run, and it must stay
gauge equivariant at the reduced dtype's tolerance. Tolerances are relative to the largest
magnitude of the float32 result: ``2e-2`` for bf16 and ``3e-3`` for fp16. The layers that
compute in float32 under autocast (:mod:`gaugemesh.nn.precision`) match float32 exactly;
the dense products that autocast runs in the reduced dtype (``Linear``, a regular
nonlinearity with a non-ReLU activation) were measured at 4.7e-3 and 7.7e-3 (bf16) and
5.4e-4 and 7.2e-4 (fp16), about the rounding of an 8-bit (11-bit) mantissa grown over a
sum of a few dozen products.
"""

import math

import pytest
import torch
from torch import nn

from gaugemesh.nn import (BatchNorm, FieldDropout, GatedNonlinearity, GemConv, InvariantReadout, Linear,
                          NormNonlinearity, RegularNonlinearity)
from gaugemesh.so2 import FieldType
from gaugemesh.testing import DEFAULT_RTOL, assert_gauge_equivariant, on_features, on_graph, random_mesh_data, randomize_parameters

IN = FieldType("4x0 + 3x1 + 2x2")
OUT = FieldType("3x0 + 2x1 + 2x2")
CLOSE = {torch.bfloat16: 2e-2, torch.float16: 3e-3}
REDUCED = [pytest.param(torch.bfloat16, id="bf16"), pytest.param(torch.float16, id="fp16")]

#: Each layer, and how it is called (a convolution reads the graph, the others the features).
LAYERS = {
    "GemConv": lambda: GemConv(IN, OUT, num_radial=2),
    "Linear": lambda: Linear(IN, OUT),
    "BatchNorm": lambda: BatchNorm(IN),
    "RegularNonlinearity": lambda: RegularNonlinearity(IN, num_samples=12),
    "RegularNonlinearity-GELU": lambda: RegularNonlinearity(IN, activation=nn.GELU(), num_samples=12),
    "NormNonlinearity": lambda: NormNonlinearity(IN),
    "GatedNonlinearity": lambda: GatedNonlinearity(OUT),
    "FieldDropout": lambda: FieldDropout(IN, p=0.3),
    "InvariantReadout": lambda: InvariantReadout(IN),
}


def call(layer, x, data):
    return (on_graph if isinstance(layer, GemConv) else on_features)(layer)(x, data)


def setup(name: str, device: str, train: bool):
    torch.manual_seed(0)
    data = random_mesh_data(1, dtype=torch.float32, seed=0)
    data.edge_weight = torch.stack([data.edge_weight, 1 - data.edge_weight], 1)  # two radial weights
    layer = randomize_parameters(LAYERS[name](), generator=torch.Generator().manual_seed(1)).train(train).to(device)
    x = torch.randn(data.num_nodes, layer.in_type.dim, generator=torch.Generator().manual_seed(2)).to(device)
    return layer, data.to(device), x


def run(layer, data, x, device: str, dtype: torch.dtype | None):
    """Output and gradients (input, then parameters) of ``sum(out * probe)``, under autocast
    to ``dtype`` (``None``: float32), with the same dropout mask each time."""
    x = x.detach().clone().requires_grad_()
    layer.zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[] if device == "cpu" else [device]):
        torch.manual_seed(3)
        with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = call(layer, x, data)
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(4)).to(device)
    (out.float() * probe).sum().backward()
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    return out.float(), [g.float() for g in grads if g is not None]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max().clamp(min=1e-30))


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype", REDUCED)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_close_to_float32_forward_and_backward(name, dtype, train, device):
    layer, data, x = setup(name, device, train)
    reference, reference_grads = run(layer, data, x, device, None)
    out, grads = run(layer, data, x, device, dtype)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    assert out.abs().max() > 0.1 * reference.abs().max()  # not a vanishing output
    assert relative(out, reference) < CLOSE[dtype]
    assert len(grads) == len(reference_grads)
    for g, ref in zip(grads, reference_grads):
        assert relative(g, ref) < CLOSE[dtype]


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype", REDUCED)
def test_gauge_equivariant_under_autocast(name, dtype, device):
    layer, data, x = setup(name, device, train=True)
    phi = None
    if name.startswith("RegularNonlinearity"):  # exact at multiples of 2 pi / N only
        steps = torch.randint(0, 12, (data.num_nodes,), generator=torch.Generator().manual_seed(5))
        phi = (steps.double() * 2 * math.pi / 12).float().to(device)

    def under_autocast(features, geometry):
        with torch.autocast(device, dtype=dtype):
            return call(layer, features, geometry).float()

    assert_gauge_equivariant(under_autocast, data, x, layer.in_type, layer.out_type, phi=phi, rtol=DEFAULT_RTOL[dtype])


@pytest.mark.parametrize("dtype", REDUCED)
def test_fused_layers_keep_low_precision_tensors_outside_autocast(dtype):
    """A model converted with ``.to(bfloat16)`` gets that dtype back from every fused layer,
    computed in float32 inside (CPU has no bf16 sparse kernels)."""
    for name in ("GemConv", "BatchNorm", "RegularNonlinearity"):
        layer, data, x = setup(name, "cpu", train=True)
        reference = call(layer, x, data)
        out = call(layer.to(dtype), x.to(dtype), data)
        assert out.dtype == dtype
        assert relative(out.float(), reference) < CLOSE[dtype]


def test_fused_layers_return_float32_under_autocast():
    """As autocast's own float32 operations do: the next listed operation casts down again."""
    for name in ("GemConv", "BatchNorm", "RegularNonlinearity", "InvariantReadout"):
        layer, data, x = setup(name, "cpu", train=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert call(layer, x.bfloat16(), data).dtype == torch.float32
