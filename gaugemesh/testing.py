"""Test helpers, shipped so that users can check their own layers: gauge and permutation
equivariance, random gauges, randomised parameters.

The call under test is always said explicitly, as a function ``fn(x, data)``;
:func:`on_graph`, :func:`on_features` and :func:`on_data` wrap the usual ones. Example::

    from gaugemesh.testing import assert_gauge_equivariant, on_graph, randomize_parameters
    layer = randomize_parameters(GemConv("4x0 + 4x1", "4x0 + 2x2"))
    assert_gauge_equivariant(on_graph(layer), data, x, layer.in_type, layer.out_type)
    assert_permutation_equivariant(on_graph(layer), data, x)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gaugemesh.graph import gauge_transform, random_gauge
from gaugemesh.so2 import FieldType

__all__ = [
    "DEFAULT_RTOL",
    "assert_gauge_equivariant",
    "assert_permutation_equivariant",
    "gauge_equivariance_error",
    "on_data",
    "on_features",
    "on_graph",
    "permute_graph",
    "random_gauge",
    "random_mesh_data",
    "randomize_parameters",
]

#: Relative tolerance per dtype, against the largest output magnitude. float32 keeps ~7
#: digits; a few layers of random weights and a gauge rotation of the input lose about
#: one more, so 1e-5. float64 gets 1e-11 on the same reasoning (eps 2e-16, ~1e4 growth).
DEFAULT_RTOL = {torch.float64: 1e-11, torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}


def random_mesh_data(
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


LayerCall = Callable[[Tensor, Data], Tensor]


def on_graph(conv: Callable) -> LayerCall:
    """``fn(x, data)`` calling a convolution as ``conv(x, edge_index, theta, transport, edge_weight)``."""
    return lambda x, data: conv(x, data.edge_index, data.theta, data.transport, getattr(data, "edge_weight", None))


def on_features(layer: Callable) -> LayerCall:
    """``fn(x, data)`` calling a per-vertex layer as ``layer(x)`` (the geometry is not its input)."""
    return lambda x, data: layer(x)


def on_data(model: Callable) -> LayerCall:
    """``fn(x, data)`` calling a model of a whole ``Data`` as ``model(data)``, with ``data.x = x``."""

    def call(x: Tensor, data: Data) -> Tensor:
        data = data.clone()
        data.x = x
        return model(data)

    return call


def _checked_call(fn: LayerCall) -> LayerCall:
    if isinstance(fn, nn.Module):
        raise TypeError(f"pass a function fn(x, data), not the {type(fn).__name__} itself: wrap it with "
                        "on_graph (convolutions), on_features (per-vertex layers) or on_data (models).")
    return fn


def _scale(out: Tensor, x: Tensor, name: str) -> Tensor:
    """The largest output magnitude; an output that vanishes (or is not finite) is a failure,
    not a pass: a layer returning zeros is trivially equivariant."""
    scale = out.detach().abs().max() if out.numel() else out.new_zeros(())
    if not torch.isfinite(scale) or scale <= 1e-6 * x.detach().abs().max().clamp(min=1e-30):
        raise AssertionError(f"{name}: the output vanishes or is not finite (largest magnitude {float(scale):.3e} "
                             f"for inputs up to {float(x.detach().abs().max()):.3e}); nothing was tested.")
    return scale


def gauge_equivariance_error(
    fn: LayerCall,
    data,
    x: Tensor,
    in_type: FieldType | str,
    out_type: FieldType | str,
    phi: Tensor | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``max |fn(rho_in(-phi) x, geometry') - rho_out(-phi) fn(x, geometry)|``, relative
    to ``max |fn(x, geometry)|``.

    ``fn(x, data)`` is the call under test, said explicitly (:func:`on_graph`,
    :func:`on_features`, :func:`on_data` wrap the usual ones). Both calls run under the same
    forked RNG state seeded with ``seed``, so stochastic layers (dropout) draw the same mask;
    ``phi`` (when not given) is drawn from ``generator``, by default one seeded from
    ``seed``. The global RNG state is left untouched.

    Raises:
        AssertionError: the output vanishes or is not finite.
    """
    fn = _checked_call(fn)
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
            outputs.append(fn(features, geometry))
    scale = _scale(outputs[0], x, "gauge_equivariance_error")
    expected = out_type.transform(outputs[0], -phi.to(outputs[0].dtype))
    return ((outputs[1] - expected).detach().abs().max() / scale)


def assert_gauge_equivariant(
    fn: LayerCall,
    data,
    x: Tensor,
    in_type: FieldType | str,
    out_type: FieldType | str,
    phi: Tensor | None = None,
    rtol: float | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> float:
    """Assert ``fn(rho_in(-phi) x, gauge_transform(data, phi)) == rho_out(-phi) fn(x, data)``.

    Args:
        fn: The call under test, ``fn(x, data)``: wrap a layer with :func:`on_graph`,
            :func:`on_features` or :func:`on_data`, or write the call out.
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
    error = float(gauge_equivariance_error(fn, data, x, in_type, out_type, phi, seed, generator))
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(
            f"{getattr(fn, '__qualname__', type(fn).__name__)} is not gauge equivariant: "
            f"relative error {error:.3e} > {tol:.1e} ({x.dtype})."
        )
    return error


def permute_graph(data: Data, vertex_order: Tensor, edge_order: Tensor) -> Data:
    """``data`` with its vertices renumbered and its edges reordered: new vertex ``k`` is old
    vertex ``vertex_order[k]``, new edge ``e`` is old edge ``edge_order[e]``.

    Per-vertex and per-edge tensors (as PyG tells them: first dimension ``V`` or, for
    edge attributes, ``E``) move with them; ``edge_index`` and ``face`` are renumbered.

    Shapes:
        vertex_order: ``[V]``; edge_order: ``[E]`` (permutations).
    """
    new_index = torch.empty_like(vertex_order)
    new_index[vertex_order] = torch.arange(vertex_order.numel(), device=vertex_order.device)
    out = data.clone()
    for key, value in data.items():
        if not torch.is_tensor(value) or key in ("edge_index", "face"):
            continue
        if data.is_edge_attr(key):
            out[key] = value[edge_order.to(value.device)]
        elif data.is_node_attr(key):
            out[key] = value[vertex_order.to(value.device)]
    out.edge_index = new_index[data.edge_index[:, edge_order]]
    if getattr(data, "face", None) is not None:
        out.face = new_index[data.face]
    return out


def assert_permutation_equivariant(
    fn: LayerCall, data, x: Tensor, seed: int = 0, rtol: float | None = None
) -> float:
    """Assert that renumbering the vertices and reordering the edges changes nothing but the
    order of the output rows: ``fn(P x, P data) == P fn(x, data)``.

    Args:
        fn: The call under test, ``fn(x, data)`` (see :func:`on_graph`).
        data: A ``Data`` with ``edge_index`` (and whatever ``fn`` reads).
        x: Input features ``[V, ...]``.
        seed: Seeds the permutations and both calls (same dropout masks in the same vertex order
            would differ, so use eval mode for stochastic layers).
        rtol: Tolerance relative to the largest output; :data:`DEFAULT_RTOL` for ``x.dtype``
            (sums over neighbours run in another order).

    Returns:
        The relative error.
    """
    fn = _checked_call(fn)
    g = torch.Generator().manual_seed(seed)
    vertex_order = torch.randperm(data.num_nodes, generator=g).to(x.device)
    edge_order = torch.randperm(data.edge_index.size(1), generator=g).to(x.device)
    outputs = []
    for graph, features in ((data, x), (permute_graph(data, vertex_order, edge_order), x[vertex_order])):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(fn(features, graph))
    scale = _scale(outputs[0], x, "assert_permutation_equivariant")
    error = float((outputs[1] - outputs[0][vertex_order]).detach().abs().max() / scale)
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(f"{getattr(fn, '__qualname__', type(fn).__name__)} is not permutation equivariant: "
                             f"relative error {error:.3e} > {tol:.1e} ({x.dtype}).")
    return error

