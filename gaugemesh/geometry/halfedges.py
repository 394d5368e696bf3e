"""Directed edges and the intrinsic angular coordinate of every edge around its vertex.

The graph gaugemesh convolves over has both directions of every mesh edge. Edge
``e = (j -> i)`` (source ``j``, target ``i``) is stored at the target: its geometry is that of
the direction from ``i`` toward ``j``. Edges are sorted by target, then source, so the
incoming edges of a vertex are contiguous (CSR order, good for scatter).

Around an oriented manifold vertex the outgoing edges form a fan. Walking it
counter-clockwise and adding up corner angles, rescaled so that they total ``2 pi`` at an
interior vertex and ``pi`` at a boundary vertex (geometry-central's intrinsic tangent
space), gives every edge a polar angle relative to a reference edge of its vertex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaugemesh.geometry.measures import corner_angles
from gaugemesh.geometry.topology import next_in_face

__all__ = ["DirectedEdges", "directed_edges", "IntrinsicAngles", "intrinsic_angles"]


@dataclass(frozen=True)
class DirectedEdges:
    """Both directions of every mesh edge, sorted by (target, source).

    Attributes:
        source: ``j`` of every edge ``j -> i``.
        target: ``i`` of every edge.
        reverse: Index of the edge ``i -> j``.
        halfedge: The face halfedge ``i -> j`` (= corner of ``i`` whose first side points at
            ``j``), or -1 where ``i -> j`` is a boundary edge seen from outside the surface.
        twin: For every halfedge ``c`` of the faces, the opposite halfedge, or -1 on the
            boundary, ``[3F]``.
        target_start: Offset of each vertex's first incoming edge, ``[V + 1]``.

    Shapes:
        source, target, reverse, halfedge: ``[E]``.
    """

    source: np.ndarray
    target: np.ndarray
    reverse: np.ndarray
    halfedge: np.ndarray
    twin: np.ndarray
    target_start: np.ndarray


def _twins(tail: np.ndarray, head: np.ndarray, n: int):
    key = tail * n + head
    order = np.argsort(key)
    sorted_key = key[order]
    where = np.searchsorted(sorted_key, head * n + tail)
    where_c = np.minimum(where, key.size - 1)
    found = sorted_key[where_c] == head * n + tail
    twin = np.where(found, order[where_c], -1)
    return order, sorted_key, twin


def directed_edges(faces: np.ndarray, num_vertices: int) -> DirectedEdges:
    """Build :class:`DirectedEdges` for an oriented manifold mesh (see :func:`validate_mesh`)."""
    n = np.int64(num_vertices)
    tail = faces.ravel()
    head = faces[:, [1, 2, 0]].ravel()
    num_he = tail.size
    order, sorted_key, twin = _twins(tail, head, n)

    # A boundary halfedge v -> a has no twin; the graph still needs a -> v, which we add as an
    # extra edge id num_he + x, merged into the sorted order.
    boundary = np.flatnonzero(twin < 0)
    extra_key = head[boundary] * n + tail[boundary]
    extra_sort = np.argsort(extra_key)
    boundary, extra_key = boundary[extra_sort], extra_key[extra_sort]
    insert_at = np.searchsorted(sorted_key, extra_key)
    ids = np.insert(order, insert_at, num_he + np.arange(boundary.size))
    keys = np.insert(sorted_key, insert_at, extra_key)

    # Reverse in id space: a halfedge's reverse is its twin or the extra edge made from it.
    reverse_id = np.empty(num_he + boundary.size, dtype=np.int64)
    reverse_id[:num_he] = twin
    reverse_id[boundary] = num_he + np.arange(boundary.size)
    reverse_id[num_he:] = boundary
    position = np.empty_like(ids)
    position[ids] = np.arange(ids.size)

    target = keys // n
    return DirectedEdges(
        source=keys % n,
        target=target,
        reverse=position[reverse_id[ids]],
        halfedge=np.where(ids < num_he, ids, -1),
        twin=twin,
        target_start=np.searchsorted(target, np.arange(n + 1)),
    )


@dataclass(frozen=True)
class IntrinsicAngles:
    """Polar angle of every directed edge in its target's intrinsic tangent space.

    Attributes:
        angle: Angle of the direction ``i -> j`` at ``i`` for every edge ``j -> i``,
            measured counter-clockwise from the vertex's reference edge, ``[E]``.
        reference: For each vertex, the neighbour its reference edge points to, ``[V]``.
        boundary: Whether each vertex lies on the boundary, ``[V]``.
    """

    angle: np.ndarray
    reference: np.ndarray
    boundary: np.ndarray


def _start_corners(edges: DirectedEdges, num_he: int) -> np.ndarray:
    """Reference corner per vertex: the fan's first corner on the boundary, else the lowest."""
    he = edges.halfedge
    is_corner = he >= 0
    opens_fan = is_corner & (edges.twin[np.maximum(he, 0)] < 0)
    priority = np.where(opens_fan, he, np.where(is_corner, he + num_he, 2 * num_he))
    first = np.minimum.reduceat(priority, edges.target_start[:-1])
    return np.where(first >= num_he, first - num_he, first)


def _walk_fans(start, next_corner, scaled) -> np.ndarray:
    """Accumulate scaled corner angles counter-clockwise around every vertex at once."""
    angle = np.zeros(scaled.size)
    cur = start.copy()
    acc = np.zeros(start.size)
    active = np.arange(start.size)
    for _ in range(scaled.size):
        c = cur[active]
        angle[c] = acc[active]
        acc[active] += scaled[c]
        nxt = next_corner[c]
        cur[active] = nxt
        active = active[(nxt >= 0) & (nxt != start[active])]
        if active.size == 0:
            return angle
    raise RuntimeError("vertex fans do not close; was the mesh validated?")


def intrinsic_angles(
    pos: np.ndarray, faces: np.ndarray, edges: DirectedEdges, angles: np.ndarray | None = None
) -> IntrinsicAngles:
    """Rescaled-corner-angle polar coordinates of all edges (see module docstring).

    ``angles`` (from :func:`~gaugemesh.geometry.corner_angles`) may be passed to avoid
    recomputing them.
    """
    num_vertices, num_he = len(pos), faces.size
    tail = faces.ravel()
    alpha = (corner_angles(pos, faces) if angles is None else angles).ravel()
    boundary = np.zeros(num_vertices, dtype=bool)
    boundary[tail[edges.twin < 0]] = True
    total = np.where(boundary, np.pi, 2 * np.pi)
    scaled = alpha * (total / np.bincount(tail, weights=alpha, minlength=num_vertices))[tail]

    # Corner c at v spans v -> a to v -> b; the next corner starts on v -> b, the twin of the
    # face's halfedge b -> v, which is the halfedge before c.
    prev = next_in_face(next_in_face(np.arange(num_he)))
    start = _start_corners(edges, num_he)
    corner_angle = _walk_fans(start, edges.twin[prev], scaled)

    he = edges.halfedge
    angle = corner_angle[np.maximum(he, 0)]
    # Edges without a halfedge close a boundary fan: the last side of the corner at i in the
    # face of the opposite halfedge j -> i.
    outside = np.flatnonzero(he < 0)
    last = next_in_face(edges.halfedge[edges.reverse[outside]])
    angle[outside] = corner_angle[last] + scaled[last]
    return IntrinsicAngles(angle=angle, reference=faces[:, [1, 2, 0]].ravel()[start], boundary=boundary)
