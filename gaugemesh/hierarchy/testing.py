"""Equivariance checks across the levels of a mesh hierarchy (:mod:`gaugemesh.hierarchy.data`).

The single-level helpers of :mod:`gaugemesh.testing` change the gauge of level 0 only; a
layer or model that reads coarse levels must be checked with an independent random gauge
at every level, and with every level renumbered. The call under test is ``fn(x, data)``
(:func:`gaugemesh.testing.on_data` wraps a model).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from gaugemesh.hierarchy.data import HierarchyData, gauge_transform_levels, num_levels
from gaugemesh.so2 import FieldType
from gaugemesh.testing import DEFAULT_RTOL, LayerCall, permute_graph, random_gauge

__all__ = ["random_level_gauges", "assert_hierarchy_gauge_equivariant", "permute_levels",
           "assert_hierarchy_permutation_equivariant"]


def _count(data, k: int) -> int:
    return int(data.num_nodes) if k == 0 else int(data[f"level{k}_area"].size(0))


def random_level_gauges(data, generator: torch.Generator | None = None) -> list[Tensor]:
    """One uniform random gauge ``[Vk]`` per level, in ``theta``'s dtype and device."""
    return [random_gauge(_count(data, k), generator, dtype=data.theta.dtype, device=data.theta.device)
            for k in range(num_levels(data))]


def _relative(out: Tensor, expected: Tensor, x: Tensor, name: str) -> float:
    scale = expected.detach().abs().max() if expected.numel() else expected.new_zeros(())
    if not torch.isfinite(scale) or scale <= 1e-6 * x.detach().abs().max().clamp(min=1e-30):
        raise AssertionError(f"{name}: the output vanishes or is not finite; nothing was tested.")
    return float((out - expected).detach().abs().max() / scale)


def assert_hierarchy_gauge_equivariant(
    fn: LayerCall, data, x: Tensor, in_type: FieldType | str, out_type: FieldType | str, *,
    in_level: int = 0, out_level: int = 0, phis: Sequence[Tensor] | None = None, seed: int = 0,
    rtol: float | None = None,
) -> float:
    """Assert ``fn(rho_in(-phi_in) x, data') == rho_out(-phi_out) fn(x, data)`` where ``data'``
    has every level ``k`` in the gauge ``phis[k]`` (random when omitted), ``x`` lives on
    ``in_level`` and the output on ``out_level``. Both calls run under one forked RNG state."""
    in_type, out_type = FieldType(in_type), FieldType(out_type)
    if phis is None:
        phis = random_level_gauges(data, torch.Generator().manual_seed(seed + 1))
    outputs = []
    for graph, features in ((data, x), (gauge_transform_levels(data, phis), in_type.transform(x, -phis[in_level].to(x.dtype)))):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(fn(features, graph))
    expected = out_type.transform(outputs[0], -phis[out_level].to(outputs[0].dtype))
    error = _relative(outputs[1], expected, x, "assert_hierarchy_gauge_equivariant")
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(f"not gauge equivariant across levels: relative error {error:.3e} > {tol:.1e} ({x.dtype}).")
    return error


def permute_levels(data, generator: torch.Generator) -> tuple[HierarchyData, list[Tensor]]:
    """Renumber the vertices and reorder the edges of every level at random.

    Returns the permuted data and each level's vertex order (new vertex ``i`` of level ``k``
    is old vertex ``orders[k][i]``).
    """
    levels = num_levels(data)
    orders = [torch.randperm(_count(data, k), generator=generator) for k in range(levels)]
    new_index = [torch.argsort(order) for order in orders]
    out = permute_graph(data, orders[0], torch.randperm(data.edge_index.size(1), generator=generator))
    for k in range(1, levels):
        edges = data[f"level{k}_edge_index"]
        edge_order = torch.randperm(edges.size(1), generator=generator)
        out[f"level{k}_edge_index"] = new_index[k][edges[:, edge_order]]
        for key in ("theta", "transport", "edge_weight", "reflection"):  # reflection: O(2) only
            if f"level{k}_{key}" in data:
                out[f"level{k}_{key}"] = data[f"level{k}_{key}"][edge_order]
        for key in ("pos", "frame", "area"):
            out[f"level{k}_{key}"] = data[f"level{k}_{key}"][orders[k]]
        out[f"pool{k}_index"] = new_index[k][data[f"pool{k}_index"][orders[k - 1]]]
        for key in ("angle", "weight", "reflection"):
            if f"pool{k}_{key}" in data:
                out[f"pool{k}_{key}"] = data[f"pool{k}_{key}"][orders[k - 1]]
    return out, orders


def assert_hierarchy_permutation_equivariant(
    fn: LayerCall, data, x: Tensor, *, in_level: int = 0, out_level: int = 0, seed: int = 0, rtol: float | None = None
) -> float:
    """Assert that renumbering every level changes nothing but the order of the output rows."""
    permuted, orders = permute_levels(data, torch.Generator().manual_seed(seed))
    outputs = []
    for graph, features in ((data, x), (permuted, x[orders[in_level]])):
        with torch.random.fork_rng(devices=[] if x.device.type == "cpu" else [x.device]):
            torch.manual_seed(seed)
            outputs.append(fn(features, graph))
    error = _relative(outputs[1], outputs[0][orders[out_level]], x, "assert_hierarchy_permutation_equivariant")
    tol = DEFAULT_RTOL.get(x.dtype, 1e-5) if rtol is None else rtol
    if not error <= tol:
        raise AssertionError(f"not permutation equivariant across levels: relative error {error:.3e} > {tol:.1e}.")
    return error
