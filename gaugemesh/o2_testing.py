"""Test helpers for O(2) layers: equivariance under random O(2) gauge changes (rotations and
reflections of the frames), shipped beside :mod:`gaugemesh.testing`. Example::

    from gaugemesh.nn.o2_conv import O2GemConv
    from gaugemesh.o2_testing import assert_o2_gauge_equivariant, on_o2_graph
    from gaugemesh.testing import randomize_parameters
    conv = randomize_parameters(O2GemConv("2x0 + 1x0- + 1x1", "1x0 + 1x0- + 2x2"))
    assert_o2_gauge_equivariant(on_o2_graph(conv), data, x, conv.in_type, conv.out_type)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch_geometric.data import Data

from gaugemesh.o2 import O2FieldType, o2_inverse
from gaugemesh.o2_gauge import o2_gauge_transform, random_o2_gauge
from gaugemesh.testing import DEFAULT_RTOL, _checked_call, _scale

__all__ = ["assert_o2_gauge_equivariant", "o2_gauge_equivariance_error", "on_o2_graph"]


def on_o2_graph(conv: Callable) -> Callable[[Tensor, Data], Tensor]:
    """``fn(x, data)`` calling ``conv(x, edge_index, theta, transport, reflection, edge_weight)``."""
    return lambda x, data: conv(x, data.edge_index, data.theta, data.transport, data.reflection,
                                getattr(data, "edge_weight", None))


def o2_gauge_equivariance_error(fn, data, x: Tensor, in_type, out_type, gauge: tuple[Tensor, Tensor] | None = None,
                                seed: int = 0, generator: torch.Generator | None = None) -> Tensor:
    """``max |fn(rho_in(h^-1) x, geometry') - rho_out(h^-1) fn(x, geometry)|`` relative to
    ``max |fn(x, geometry)|``, for the gauge change ``h = (phi, reflection)`` (random when
    ``gauge`` is omitted: uniform angles, a reflection at about half the vertices).

    ``data`` without ``reflection`` is taken as an O(2) field without reflections. Both calls
    run under the same forked RNG state seeded with ``seed``.
    """
    fn = _checked_call(fn)
    in_type, out_type = O2FieldType(in_type), O2FieldType(out_type)
    if gauge is None:
        generator = torch.Generator().manual_seed(seed + 1) if generator is None else generator
        gauge = random_o2_gauge(data.num_nodes, generator, dtype=data.theta.dtype, device=data.theta.device)
    phi, flip = gauge
    if getattr(data, "reflection", None) is None:
        data = data.clone()
        data.reflection = torch.zeros_like(data.theta, dtype=torch.bool)
    back = o2_inverse(phi.to(x.dtype), flip)
    outputs = []
    for geometry, features in ((data, x), (o2_gauge_transform(data, phi, flip), in_type.transform(x, *back))):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(fn(features, geometry))
    scale = _scale(outputs[0], x, "o2_gauge_equivariance_error")
    expected = out_type.transform(outputs[0], *o2_inverse(phi.to(outputs[0].dtype), flip))
    return (outputs[1] - expected).detach().abs().max() / scale


def assert_o2_gauge_equivariant(fn, data, x: Tensor, in_type, out_type, gauge=None, rtol: float | None = None,
                                seed: int = 0, generator: torch.Generator | None = None) -> float:
    """Assert O(2) gauge equivariance (see :func:`o2_gauge_equivariance_error`); returns the error.

    Raises:
        AssertionError: the error exceeds ``rtol`` (:data:`~gaugemesh.testing.DEFAULT_RTOL` for
            ``x.dtype`` by default), or the output vanishes.
    """
    error = float(o2_gauge_equivariance_error(fn, data, x, in_type, out_type, gauge, seed, generator))
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(f"{getattr(fn, '__qualname__', type(fn).__name__)} is not O(2) gauge equivariant: "
                             f"relative error {error:.3e} > {tol:.1e} ({x.dtype}).")
    return error
