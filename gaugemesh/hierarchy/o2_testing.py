"""Equivariance checks across the levels of an O(2) mesh hierarchy: an independent random
O(2) gauge (rotations and reflections) at every level (:func:`o2_gauge_transform_levels`).
The call under test is ``fn(x, data)``, as in :mod:`gaugemesh.hierarchy.testing`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from gaugemesh.hierarchy.data import num_levels, o2_gauge_transform_levels
from gaugemesh.o2 import O2FieldType, o2_inverse
from gaugemesh.o2_gauge import random_o2_gauge
from gaugemesh.testing import DEFAULT_RTOL, LayerCall

__all__ = ["random_o2_level_gauges", "assert_o2_hierarchy_gauge_equivariant"]


def random_o2_level_gauges(data, generator: torch.Generator | None = None) -> list[tuple[Tensor, Tensor]]:
    """One random O(2) gauge ``(phi [Vk], reflection [Vk])`` per level (uniform angles, fair coins)."""
    counts = [int(data.num_nodes)] + [int(data[f"level{k}_area"].size(0)) for k in range(1, num_levels(data))]
    return [random_o2_gauge(n, generator, dtype=data.theta.dtype, device=data.theta.device) for n in counts]


def assert_o2_hierarchy_gauge_equivariant(
    fn: LayerCall, data, x: Tensor, in_type: O2FieldType | str, out_type: O2FieldType | str, *,
    in_level: int = 0, out_level: int = 0, gauges: Sequence[tuple[Tensor, Tensor]] | None = None, seed: int = 0,
    rtol: float | None = None,
) -> float:
    """Assert ``fn(rho_in(h_in^-1) x, data') == rho_out(h_out^-1) fn(x, data)`` where ``data'``
    has every level ``k`` in the O(2) gauge ``gauges[k]`` (random when omitted), ``x`` lives on
    ``in_level`` and the output on ``out_level``; returns the relative error."""
    in_type, out_type = O2FieldType(in_type), O2FieldType(out_type)
    if gauges is None:
        gauges = random_o2_level_gauges(data, torch.Generator().manual_seed(seed + 1))
    if not any(bool(s.any()) for _, s in gauges):
        raise AssertionError("assert_o2_hierarchy_gauge_equivariant: no gauge reflects; nothing O(2) was tested.")
    phi_in, s_in = gauges[in_level]
    outputs = []
    for graph, features in ((data, x), (o2_gauge_transform_levels(data, gauges),
                                        in_type.transform(x, *o2_inverse(phi_in.to(x.dtype), s_in)))):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(fn(features, graph))
    phi_out, s_out = gauges[out_level]
    expected = out_type.transform(outputs[0], *o2_inverse(phi_out.to(outputs[0].dtype), s_out))
    scale = expected.detach().abs().max()
    if not torch.isfinite(scale) or scale <= 1e-6 * x.detach().abs().max().clamp(min=1e-30):
        raise AssertionError("assert_o2_hierarchy_gauge_equivariant: the output vanishes or is not finite.")
    error = float((outputs[1] - expected).detach().abs().max() / scale)
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(f"not O(2) gauge equivariant across levels: relative error {error:.3e} > {tol:.1e} "
                             f"({x.dtype}).")
    return error
