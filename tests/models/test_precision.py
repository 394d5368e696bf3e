"""Every model under autocast (bf16 and fp16), forward and backward, on every device.

A GemResNet with each nonlinearity and the GCN baseline: logits and every parameter's
gradient finite and close to float32, relative to the largest float32 magnitude. Logits:
``3e-2`` for bf16, ``5e-3`` for fp16 (measured at most 8e-3 and 9e-4 over six random graphs).
Gradients: ``8e-2`` and ``1.5e-2`` (measured at most 5.4e-2 and 7.1e-3, both in the
regular-nonlinearity GemResNet: a gradient is a sum of long products, and one graph's draw
decides how much of it cancels). Logits gauge invariant at the reduced dtype's tolerance,
and on CUDA the same numbers as on the CPU.
"""

import math

import pytest
import torch

from gaugemesh.models import GCNBaseline, GemResNet
from gaugemesh.nn import NormNonlinearity
from gaugemesh.testing import DEFAULT_RTOL, assert_gauge_equivariant, random_mesh_data, randomize_parameters

CLOSE = {torch.bfloat16: 3e-2, torch.float16: 5e-3}
GRAD_CLOSE = {torch.bfloat16: 8e-2, torch.float16: 1.5e-2}
REDUCED = [pytest.param(torch.bfloat16, id="bf16"), pytest.param(torch.float16, id="fp16")]
MODELS = {
    "gem-regular": lambda: GemResNet("2x0 + 1x1", 5, width=4, num_blocks=2, nonlinearity="regular", dropout=0.1),
    "gem-norm": lambda: GemResNet("2x0 + 1x1", 5, width=4, num_blocks=2, nonlinearity="norm"),
    "gem-gated": lambda: GemResNet("2x0 + 1x1", 5, width=4, num_blocks=2, nonlinearity="gated"),
    "gcn": lambda: GCNBaseline("2x0 + 1x1", 5, hidden=16, num_layers=2),
}


def setup(name: str, device: str):
    torch.manual_seed(0)
    data = random_mesh_data(2, dtype=torch.float32, seed=0)
    data.x = torch.randn(data.num_nodes, 4, generator=torch.Generator().manual_seed(1))
    data.y = torch.randint(0, 5, (data.num_nodes,), generator=torch.Generator().manual_seed(2))
    # scale 0.3: unit-variance random weights (and batch-norm statistics) would blow the logits up
    model = randomize_parameters(MODELS[name](), scale=0.3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NormNonlinearity) and module.bias is not None:
                # A negative threshold makes the layer jump at f = 0 (see its docstring): the
                # direction of a near-zero field is then rounding noise, 7% of the output for a
                # 2e-3 perturbation, in any precision. Training starts from positive ones.
                module.bias.abs_()
    return model.to(device), data.to(device)


def step(model, data, device: str, dtype: torch.dtype | None):
    """Logits and parameter gradients of one training-mode forward and backward."""
    model.train().zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[] if device == "cpu" else [device]):
        torch.manual_seed(4)
        with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = model(data)
    torch.nn.functional.cross_entropy(logits.float(), data.y).backward()
    return logits.detach().float().cpu(), [p.grad.float().cpu() for p in model.parameters()]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", REDUCED)
def test_autocast_close_to_float32(name, dtype, device):
    model, data = setup(name, device)
    reference, reference_grads = step(model, data, device, None)
    logits, grads = step(model, data, device, dtype)
    assert torch.isfinite(logits).all() and all(torch.isfinite(g).all() for g in grads)
    assert relative(logits, reference) < CLOSE[dtype]
    # all gradients as one vector: a bias followed by batch norm has a gradient that is zero
    # but for rounding, which no relative bound of its own can hold
    assert relative(torch.cat([g.flatten() for g in grads]), torch.cat([g.flatten() for g in reference_grads])) < GRAD_CLOSE[dtype]


@pytest.mark.parametrize("nonlinearity", ["regular", "norm", "gated"])
@pytest.mark.parametrize("dtype", REDUCED)
def test_gauge_invariant_under_autocast(nonlinearity, dtype, device):
    model, data = setup(f"gem-{nonlinearity}", device)
    model.eval()
    phi = None
    if nonlinearity == "regular":  # exact at multiples of 2 pi / N only
        n = model.blocks[0].act1.num_samples
        steps = torch.randint(0, n, (data.num_nodes,), generator=torch.Generator().manual_seed(5))
        phi = (steps.double() * 2 * math.pi / n).float().to(device)

    def under_autocast(features, geometry):
        geometry = geometry.clone()
        geometry.x = features
        with torch.autocast(device, dtype=dtype):
            return model(geometry).float()

    assert_gauge_equivariant(under_autocast, data, data.x, model.in_type, model.out_type, phi=phi,
                             rtol=DEFAULT_RTOL[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("name", list(MODELS))
def test_cuda_matches_cpu(name):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; torch.cuda.is_available() is False")
    model, data = setup(name, "cpu")
    reference, reference_grads = step(model, data, "cpu", None)
    logits, grads = step(model.to("cuda"), data.to("cuda"), "cuda", None)
    assert relative(logits, reference) < 1e-4  # float32; summation order differs
    assert relative(torch.cat([g.flatten() for g in grads]), torch.cat([g.flatten() for g in reference_grads])) < 1e-3
