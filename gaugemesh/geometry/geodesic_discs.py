"""Geodesic discs: convolution neighbourhoods of a radius measured on the surface.

A one-ring kernel's support is as wide as the mesh's edges: on a 4x finer mesh it covers a
quarter of the surface. A disc of geodesic radius ``r`` covers the same patch at every
resolution, with more (and closer) neighbours on a finer mesh; with quadrature weights
proportional to the neighbours' areas, the convolution approximates the same integral over
the disc whatever the mesh.

The neighbours of ``i`` and their coordinates come from a discrete exponential map
(Schmidt, Grimm, Wyvill 2006), unfolded along shortest edge paths with the mesh's own
connection: walking ``i = v0 -> v1 -> ... -> vm = j``, each step's edge vector, known exactly
in the frame of the vertex it leaves (its length and ``theta``), is carried into ``i``'s frame
by the transports of the steps before it and added up. So, for each pair,

- ``u_ij`` (the complex tangent coordinate of ``j`` in ``i``'s frame) approximates
  ``log_i(x_j)``: exactly the one-ring's vector for a mesh neighbour, and exactly
  ``x_j - x_i`` in ``i``'s frame on a flat mesh, whatever the path;
- ``transport`` is the sum of the steps' transports, the angle that carries a vector from
  ``j``'s frame to ``i``'s along the path (``docs/conventions.md``);
- both transform exactly under a gauge change (``theta' = theta - phi_i``,
  ``transport' = transport - phi_i + phi_j``): paths are chosen by length alone.

Pure float64 numpy, like the rest of :mod:`gaugemesh.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaugemesh.geometry.measures import wrap_angle

__all__ = ["GeodesicDiscs", "geodesic_discs", "radial_basis"]

#: Edge paths are searched up to this multiple of the radius: a path along edges is longer
#: than the geodesic it follows (up to 2/sqrt(3) on a regular triangulation), so a neighbour
#: inside the disc can be reached only by a path longer than the radius.
PATH_SLACK = 1.5


@dataclass(frozen=True)
class GeodesicDiscs:
    """The neighbours of every vertex within a geodesic radius, in the layout of a frame field.

    Attributes:
        edge_index: ``[2, E]``, row 0 source ``j``, row 1 target ``i``, sorted by target then
            source; every mesh neighbour is included, whatever its distance.
        theta: Polar angle of ``u_ij`` in ``i``'s frame, ``[E]``.
        transport: Transport angle from ``j``'s frame to ``i``'s along the path, ``[E]``.
        distance: ``|u_ij|``, the unfolded geodesic distance, ``[E]``.
        edge_weight: ``area_j`` over the summed areas of ``i``'s neighbours: a quadrature of
            the disc that sums to one per vertex, ``[E]``.
    """

    edge_index: np.ndarray
    theta: np.ndarray
    transport: np.ndarray
    distance: np.ndarray
    edge_weight: np.ndarray


def geodesic_discs(pos: np.ndarray, edge_index: np.ndarray, theta: np.ndarray, transport: np.ndarray,
                   area: np.ndarray, radius: float) -> GeodesicDiscs:
    """Every vertex's neighbours within ``radius`` of it on the surface, with the angles of
    the conventions (module docstring).

    Args:
        pos: Vertex positions (only the edges' lengths are read from them).
        edge_index, theta, transport: A frame field's one-ring graph and connection
            (:class:`~gaugemesh.geometry.FrameField`).
        area: Vertex areas, the quadrature weights.
        radius: The disc's geodesic radius, in the units of ``pos``; positive.

    Shapes:
        pos: ``[V, 3]``; edge_index: ``[2, E1]``; theta, transport: ``[E1]``; area: ``[V]``.
    """
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be positive and finite, got {radius!r}.")
    pos = np.asarray(pos, dtype=np.float64)
    source, target = np.asarray(edge_index, dtype=np.int64)
    length = np.linalg.norm(pos[source] - pos[target], axis=1)
    steps = _Steps.of(source, target, length, np.asarray(theta, np.float64), np.asarray(transport, np.float64),
                      len(pos))
    centre, other, u, angle = _shortest_unfoldings(steps, len(pos), PATH_SLACK * radius)
    distance = np.abs(u)
    one_ring = np.zeros(len(centre), dtype=bool)
    one_ring[_pair_rows(centre, other, len(pos), target, source)] = True
    keep = (other != centre) & ((distance <= radius) | one_ring)
    centre, other, u, angle, distance = centre[keep], other[keep], u[keep], angle[keep], distance[keep]
    area = np.asarray(area, dtype=np.float64)
    total = np.bincount(centre, weights=area[other], minlength=len(pos))
    return GeodesicDiscs(
        edge_index=np.stack([other, centre]),
        theta=wrap_angle(np.angle(u)),
        transport=wrap_angle(angle),
        distance=distance,
        edge_weight=area[other] / total[centre],
    )


def radial_basis(distance: np.ndarray, radius: float, count: int) -> np.ndarray:
    """``count`` hat functions of ``distance / radius`` centred at ``0, 1/(count-1), ..., 1``
    (a partition of unity on ``[0, 1]``; beyond the radius, the last one); ``count = 1``:
    ones.

    Shapes:
        distance: ``[E]``; returns ``[E, count]``.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}.")
    if count == 1:
        return np.ones((len(distance), 1))
    t = np.minimum(np.asarray(distance, np.float64) / radius, 1.0) * (count - 1)
    return np.maximum(0.0, 1.0 - np.abs(t[:, None] - np.arange(count)[None, :]))


@dataclass(frozen=True)
class _Steps:
    """The one-ring edges grouped by the vertex ``k`` a step leaves from (CSR: the steps out of
    ``k`` are ``offsets[k]:offsets[k + 1]``); a step ``k -> j`` is the edge ``(j -> k)`` of the
    frame field, read in ``k``'s frame."""

    offsets: np.ndarray  # [V + 1]
    end: np.ndarray  # j
    length: np.ndarray
    theta: np.ndarray  # the direction of j in k's frame
    transport: np.ndarray  # g_kj: carries j's frame into k's

    @classmethod
    def of(cls, source, target, length, theta, transport, num_nodes) -> "_Steps":
        order = np.argsort(target, kind="stable")
        offsets = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(target, minlength=num_nodes), out=offsets[1:])
        return cls(offsets, source[order], length[order], theta[order], transport[order])


def _shortest_unfoldings(steps: _Steps, num_nodes: int, bound: float):
    """For every pair ``(i, j)`` joined by an edge path no longer than ``bound``: the shortest
    such path's ``u_ij`` and transport, by rounds of relaxation (Bellman-Ford over all centres
    at once; a round extends the pairs whose path improved in the last one).

    The transport of a path ``i <- k <- j`` is ``g_ik + g_kj``; a step out of ``k`` reads the
    frame field's edge ``(j -> k)``, whose transport ``g_kj`` carries ``j``'s frame into
    ``k``'s, and whose ``theta`` is the direction of ``j`` in ``k``'s frame."""
    centre = np.arange(num_nodes, dtype=np.int64)
    best = _Pairs(centre, centre.copy(), np.zeros(num_nodes), np.zeros(num_nodes, complex), np.zeros(num_nodes))
    frontier = best
    while len(frontier.centre):
        grown = _extend(frontier, steps, bound)
        frontier = best.improved_by(grown, num_nodes)
        best = best.merged(frontier, num_nodes)
    return best.centre, best.other, best.u, best.angle


@dataclass(frozen=True)
class _Pairs:
    """Pairs ``(centre i, other k)`` with their path length, ``u_ik`` and transport ``k -> i``."""

    centre: np.ndarray
    other: np.ndarray
    path: np.ndarray
    u: np.ndarray
    angle: np.ndarray

    def key(self, num_nodes: int) -> np.ndarray:
        return self.centre * num_nodes + self.other

    def take(self, rows: np.ndarray) -> "_Pairs":
        return _Pairs(self.centre[rows], self.other[rows], self.path[rows], self.u[rows], self.angle[rows])

    def shortest_per_pair(self, num_nodes: int) -> "_Pairs":
        """One row per pair, the shortest (ties: the first in a fixed order), sorted by key.
        One integer sort and a per-group minimum: sorting by (key, path) together was 80% of
        the time on a 12k-vertex body."""
        key = self.key(num_nodes)
        if len(key) == 0:
            return self
        order = np.argsort(key, kind="stable")
        key, path = key[order], self.path[order]
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        shortest = np.minimum.reduceat(path, start)
        group = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(key)]))
        candidates = np.flatnonzero(path == shortest[group])  # rows at their group's minimum
        first = candidates[np.r_[True, group[candidates[1:]] != group[candidates[:-1]]]]
        return self.take(order[first])

    def improved_by(self, candidates: "_Pairs", num_nodes: int) -> "_Pairs":
        """The candidates (shortest per pair) that are new pairs or shorter than the known path.
        Rows of ``self`` are sorted by key."""
        candidates = candidates.shortest_per_pair(num_nodes)
        mine, theirs = self.key(num_nodes), candidates.key(num_nodes)
        at = np.minimum(np.searchsorted(mine, theirs), max(len(mine) - 1, 0))
        known = mine[at] == theirs
        # An improvement must beat rounding: the same path found twice is not one.
        better = ~known | (candidates.path < self.path[at] - 1e-12 * np.maximum(self.path[at], 1.0))
        return candidates.take(np.flatnonzero(better))

    def merged(self, improved: "_Pairs", num_nodes: int) -> "_Pairs":
        """``self`` with ``improved`` (unique pairs, sorted by key) replacing or adding its
        pairs; stays sorted by key. Known pairs are overwritten in place, new ones inserted."""
        mine, theirs = self.key(num_nodes), improved.key(num_nodes)
        at = np.searchsorted(mine, theirs)
        known = at < len(mine)
        known[known] = mine[at[known]] == theirs[known]
        fields = ("centre", "other", "path", "u", "angle")
        out = {}
        for name in fields:
            values = getattr(self, name).copy()
            values[at[known]] = getattr(improved, name)[known]
            out[name] = np.insert(values, at[~known], getattr(improved, name)[~known])
        return _Pairs(**out)


def _extend(pairs: _Pairs, steps: _Steps, bound: float) -> _Pairs:
    """Every pair extended by one step out of its ``other`` end, within ``bound``."""
    counts = steps.offsets[pairs.other + 1] - steps.offsets[pairs.other]
    rows = np.repeat(np.arange(len(pairs.centre)), counts)
    starts = np.repeat(steps.offsets[pairs.other], counts)
    step = starts + (np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts))
    path = pairs.path[rows] + steps.length[step]
    direction = pairs.angle[rows] + steps.theta[step]  # the step's direction, in i's frame
    u = pairs.u[rows] + steps.length[step] * np.exp(1j * direction)
    # A mesh neighbour is kept however far: every vertex keeps its one-ring.
    first = pairs.other[rows] == pairs.centre[rows]
    keep = ((path <= bound) | first) & (steps.end[step] != pairs.centre[rows])
    return _Pairs(pairs.centre[rows][keep], steps.end[step][keep], path[keep], u[keep],
                  (pairs.angle[rows] + steps.transport[step])[keep])


def _pair_rows(centre: np.ndarray, other: np.ndarray, num_nodes: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Rows of the (key-sorted) pairs ``(centre, other)`` that are the pairs ``(i, j)``; every
    ``(i, j)`` must be present."""
    return np.searchsorted(centre * num_nodes + other, i * num_nodes + j)
