"""Convolution graphs of geodesic discs in a sample: kernels whose support is measured on the
surface, not in rings (:mod:`gaugemesh.geometry.geodesic_discs`).

:func:`with_geodesic_discs` replaces the one-ring graph of a sample (and of each of its coarse
levels) by the discs of a radius given as a share of the surface's size, so that the same
network sees the same patch of a surface at any resolution. With ``num_radial > 1`` the
kernels also get a radial profile: ``edge_weight`` becomes ``[E, R]``, the quadrature weight
times ``R`` hat functions of the geodesic distance (:func:`~gaugemesh.geometry.geodesic_discs.radial_basis`),
for layers built with ``num_radial = R``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch_geometric.data import Data

from gaugemesh.geometry.geodesic_discs import geodesic_discs, radial_basis
from gaugemesh.hierarchy.data import level_data, num_levels

__all__ = ["with_geodesic_discs", "disc_radius"]

#: Each coarse level has about 4x fewer vertices than the one before: twice the spacing, so
#: its discs are twice as wide.
LEVEL_GROWTH = 2.0


def disc_radius(area: float, share: float, level: int = 0) -> float:
    """The geodesic radius of level ``level``'s discs on a surface of total ``area``:
    ``share * sqrt(area)`` at level 0, twice as wide per coarser level."""
    return share * math.sqrt(area) * LEVEL_GROWTH**level


def with_geodesic_discs(data: Data, share: float, num_radial: int = 1) -> Data:
    """``data`` with every level's ``edge_index``, ``theta``, ``transport`` and ``edge_weight``
    replaced by geodesic discs (:func:`disc_radius`; every mesh neighbour stays a neighbour).

    Args:
        data: A sample of :func:`~gaugemesh.mesh_to_data` (SO(2)), with or without coarse
            levels (:func:`~gaugemesh.hierarchy.data.add_hierarchy`).
        share: The level-0 radius as a share of ``sqrt(surface area)`` (e.g. ``0.05``).
        num_radial: ``R``, radial hat functions per edge; ``1`` keeps ``edge_weight`` ``[E]``.

    Shapes:
        returns, per level, ``edge_index [2, E]``, ``theta [E]``, ``transport [E]``,
        ``edge_weight [E]`` or ``[E, R]``.

    Raises:
        ValueError: a non-positive share or radial count, or an O(2) sample (``reflection``).
    """
    if not (isinstance(share, (int, float)) and math.isfinite(share) and share > 0):
        raise ValueError(f"the disc radius share must be positive and finite, got {share!r}.")
    if isinstance(num_radial, bool) or not isinstance(num_radial, int) or num_radial < 1:
        raise ValueError(f"num_radial must be a positive integer, got {num_radial!r}.")
    if "reflection" in data:
        raise ValueError("geodesic discs are for SO(2) samples; O(2) transporters with reflections are not supported.")
    out = data.clone()
    area = float(data.area.double().sum())
    for k in range(num_levels(data)):
        prefix = "" if k == 0 else f"level{k}_"
        for key, value in _disc_tensors(level_data(data, k), disc_radius(area, share, k), num_radial).items():
            out[prefix + key] = value
    return out


def _disc_tensors(level: Data, radius: float, num_radial: int) -> dict[str, torch.Tensor]:
    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().double().numpy()

    discs = geodesic_discs(numpy(level.pos), level.edge_index.cpu().numpy(), numpy(level.theta),
                           numpy(level.transport), numpy(level.area), radius)
    weight = discs.edge_weight
    if num_radial > 1:
        weight = weight[:, None] * radial_basis(discs.distance, radius, num_radial)
    dtype, device = level.theta.dtype, level.theta.device
    return {"edge_index": torch.from_numpy(discs.edge_index).to(device),
            **{key: torch.from_numpy(np.ascontiguousarray(value)).to(device, dtype)
               for key, value in (("theta", discs.theta), ("transport", discs.transport), ("edge_weight", weight))}}
