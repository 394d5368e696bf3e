"""Test helpers, shipped so that users can check their own layers: gauge equivariance,
random gauges, randomised parameters.

Example::

    from gaugemesh.testing import assert_gauge_equivariant, randomize_parameters
    layer = randomize_parameters(GemConv("4x0 + 4x1", "4x0 + 2x2"))
    assert_gauge_equivariant(layer, data, x, layer.in_type, layer.out_type)
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gaugemesh.graph import gauge_transform
from gaugemesh.so2 import FieldType

__all__ = [
    "DEFAULT_RTOL",
    "assert_gauge_equivariant",
    "call_layer",
    "gauge_equivariance_error",
    "random_gauge",
    "random_geometry",
    "randomize_parameters",
]

#: Relative tolerance per dtype, against the largest output magnitude. float32 keeps ~7
#: digits; a few layers of random weights and a gauge rotation of the input lose about
#: one more, so 1e-5. float64 gets 1e-11 on the same reasoning (eps 2e-16, ~1e4 growth).
DEFAULT_RTOL = {torch.float64: 1e-11, torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}


def random_gauge(num_nodes: int, generator: torch.Generator | None = None, dtype=torch.float64, device=None) -> Tensor:
    """A gauge change ``phi`` ``[V]``, uniform in ``(-pi, pi]``."""
    u = torch.rand(num_nodes, generator=generator, dtype=torch.float64)
    return ((1 - 2 * u) * math.pi).to(device=device, dtype=dtype)


def random_geometry(
    subdivisions: int = 1, dtype: torch.dtype = torch.float64, seed: int = 0, weighted: bool = True
) -> Data:
    """An icosphere graph with random connection angles, for tests that need no real geometry.

    Gauge equivariance holds for any ``theta`` and any ``transport`` with
    ``transport[reverse] = -transport``, so random angles test it as well as a real mesh.
    ``frame`` holds tangent frames of the sphere (random ``e1``); ``edge_weight`` is
    random, positive and sums to 1 over each vertex's incoming edges (``weighted=False``:
    omitted).
    """
    import trimesh  # a dependency of the package; imported here to keep import time low

    sphere = trimesh.creation.icosphere(subdivisions)
    g = torch.Generator().manual_seed(seed)
    pos = torch.as_tensor(sphere.vertices, dtype=torch.float64)
    edges = torch.tensor(sphere.edges_unique.copy(), dtype=torch.long)
    num_nodes, num_pairs = pos.size(0), edges.size(0)
    edge_index = torch.cat([edges.t(), edges.t().flip(0)], 1)
    transport = random_gauge(num_pairs, g)
    transport = torch.cat([transport, -transport])
    order = torch.argsort(edge_index[1] * num_nodes + edge_index[0])
    edge_index, transport = edge_index[:, order], transport[order]
    theta = random_gauge(edge_index.size(1), g)
    normal = pos / pos.norm(dim=1, keepdim=True)
    e1 = torch.linalg.cross(normal, torch.randn(num_nodes, 3, generator=g, dtype=torch.float64))
    e1 = e1 / e1.norm(dim=1, keepdim=True)
    frame = torch.stack([e1, torch.linalg.cross(normal, e1), normal], 1)
    data = Data(pos=pos.to(dtype), face=torch.as_tensor(sphere.faces.T.copy(), dtype=torch.long),
                edge_index=edge_index, theta=theta.to(dtype), transport=transport.to(dtype),
                frame=frame.to(dtype), num_nodes=num_nodes)
    if weighted:
        w = 0.5 + torch.rand(edge_index.size(1), generator=g, dtype=torch.float64)
        total = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, edge_index[1], w)
        data.edge_weight = (w / total[edge_index[1]]).to(dtype)
    return data


@torch.no_grad()
def randomize_parameters(module: nn.Module, scale: float = 1.0, generator: torch.Generator | None = None) -> nn.Module:
    """Overwrite every parameter (biases included) with ``N(0, scale^2)`` values, and the
    running statistics of normalisation layers with random ones (variances positive).

    Zero-initialised biases hide bias bugs; a large random bias does not. Returns ``module``.
    """
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * scale)
    for name, b in module.named_buffers():
        leaf = name.rsplit(".", 1)[-1]
        if not b.is_floating_point() or not leaf.startswith("running_"):
            continue
        r = torch.randn(b.shape, generator=generator, dtype=torch.float64)
        b.copy_(0.5 + r.abs() if "var" in leaf else r * scale)
    return module


def call_layer(layer: Callable, x: Tensor | None, data) -> Tensor:
    """Call ``layer`` the way its signature asks.

    - ``forward(x, edge_index, theta, transport, edge_weight=...)``: convolutions;
    - ``forward(data)``: models reading ``data.x`` (set to ``x`` when ``x`` is given);
    - a plain function of two arguments: ``layer(x, data)``;
    - ``forward(x, batch=...)``: per-graph layers, given ``data.batch`` when present;
    - anything else: ``layer(x)``.
    """
    params = inspect.signature(layer.forward if isinstance(layer, nn.Module) else layer).parameters
    names = list(params)
    if "edge_index" in names:
        return layer(x, data.edge_index, data.theta, data.transport, getattr(data, "edge_weight", None))
    if names and names[0] == "data":
        if x is not None:
            data = data.clone()
            data.x = x
        return layer(data)
    if not isinstance(layer, nn.Module) and len(names) >= 2:
        return layer(x, data)
    if "batch" in names and getattr(data, "batch", None) is not None:
        return layer(x, batch=data.batch)
    return layer(x)


def gauge_equivariance_error(
    layer: Callable,
    data,
    x: Tensor,
    in_type: FieldType | str,
    out_type: FieldType | str,
    phi: Tensor | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``max |layer(rho_in(-phi) x, geometry') - rho_out(-phi) layer(x, geometry)|``, relative
    to ``max |layer(x)|``.

    Both calls run under the same forked RNG state seeded with ``seed``, so stochastic
    layers (dropout) draw the same mask; ``phi`` (when not given) is drawn from
    ``generator``, by default one seeded from ``seed``. The global RNG state is left untouched.
    """
    in_type, out_type = FieldType(in_type), FieldType(out_type)
    if generator is None:  # reproducible, and the global RNG state stays untouched
        generator = torch.Generator().manual_seed(seed + 1)
    if phi is None:
        phi = random_gauge(data.num_nodes, generator, dtype=data.theta.dtype, device=data.theta.device)
    outputs = []
    for geometry, features in (
        (data, x),
        (gauge_transform(data, phi), in_type.transform(x, -phi.to(x.dtype))),
    ):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(call_layer(layer, features, geometry))
    expected = out_type.transform(outputs[0], -phi.to(outputs[0].dtype))
    scale = outputs[0].detach().abs().max().clamp(min=1e-30)
    return ((outputs[1] - expected).detach().abs().max() / scale)


def assert_gauge_equivariant(
    layer: Callable,
    data,
    x: Tensor,
    in_type: FieldType | str,
    out_type: FieldType | str,
    phi: Tensor | None = None,
    rtol: float | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> float:
    """Assert ``layer(rho_in(-phi) x, gauge_transform(data, phi)) == rho_out(-phi) layer(x, data)``.

    Args:
        layer: A module or function; see :func:`call_layer` for how it is called.
        data: PyG ``Data``/``Batch`` with ``edge_index``, ``theta``, ``transport`` (``frame``
            and ``edge_weight`` optional).
        x: Input features ``[V, in_type.dim]``.
        in_type, out_type: Feature types of input and output.
        phi: Gauge change ``[V]``; random (:func:`random_gauge`) when omitted.
        rtol: Tolerance relative to the largest output; :data:`DEFAULT_RTOL` for ``x.dtype``.
        seed: Seed both calls run under (same dropout masks).
        generator: Generator for the random ``phi``.

    Returns:
        The relative error, for printing.
    """
    error = float(gauge_equivariance_error(layer, data, x, in_type, out_type, phi, seed, generator))
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(
            f"{getattr(layer, '__class__', type(layer)).__name__} is not gauge equivariant: "
            f"relative error {error:.3e} > {tol:.1e} ({x.dtype})."
        )
    return error
