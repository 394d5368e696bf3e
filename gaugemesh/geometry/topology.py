"""Combinatorics of triangle meshes: edges, face adjacency, vertex fans, orientation.

Pure numpy on the face array; positions enter only to turn closed components outward.
Halfedge ``c = 3 f + k`` runs from ``faces[f, k]`` to ``faces[f, (k + 1) % 3]``; it is also
the name of the corner of face ``f`` at ``faces[f, k]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = [
    "EdgeAdjacency",
    "VertexFans",
    "boundary_vertices",
    "vertex_components",
    "undirected_edges",
    "edge_adjacency",
    "vertex_fans",
    "consistent_orientation",
    "next_in_face",
    "unique_rows_in_order",
]


def unique_rows_in_order(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``rows`` numbered in order of first appearance.

    Returns:
        ``(unique, index)`` with ``unique[index] == rows``, ``unique[0]`` the first row.

    Shapes:
        rows: ``[N, D]``; unique: ``[U, D]``; index: ``[N]``.
    """
    unique, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unique[order], rank[inverse.ravel()]


def next_in_face(c: np.ndarray) -> np.ndarray:
    """The halfedge (corner) after ``c`` in its face."""
    return 3 * (c // 3) + (c % 3 + 1) % 3


def _halfedges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return faces.ravel(), faces[:, [1, 2, 0]].ravel()


def undirected_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``[E, 2]`` (smaller index first), sorted."""
    a, b = _halfedges(faces)
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    return np.unique(pairs, axis=0)


@dataclass(frozen=True)
class EdgeAdjacency:
    """How faces meet along edges.

    Attributes:
        pairs: The two halfedges of every edge shared by exactly two faces, ``[P, 2]``.
        boundary: Halfedges of edges that belong to one face only, ``[B]``.
        nonmanifold_edges: Vertex pairs of edges shared by more than two faces, ``[K, 2]``.
    """

    pairs: np.ndarray
    boundary: np.ndarray
    nonmanifold_edges: np.ndarray


def edge_adjacency(faces: np.ndarray) -> EdgeAdjacency:
    """Group the halfedges of ``faces`` by undirected edge."""
    a, b = _halfedges(faces)
    n = np.int64(faces.max()) + 1
    key = np.minimum(a, b) * n + np.maximum(a, b)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    two = starts[counts == 2]
    pairs = np.stack([order[two], order[two + 1]], axis=1)
    boundary = order[starts[counts == 1]]
    many = order[starts[counts > 2]]
    nonmanifold = np.stack([np.minimum(a[many], b[many]), np.maximum(a[many], b[many])], axis=1)
    return EdgeAdjacency(pairs, boundary, nonmanifold)


def boundary_vertices(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Mask ``[V]`` of the vertices on an edge that belongs to one face only."""
    boundary = edge_adjacency(faces).boundary
    mask = np.zeros(num_vertices, dtype=bool)
    mask[faces.ravel()[boundary]] = True
    mask[faces.ravel()[next_in_face(boundary)]] = True
    return mask


def vertex_components(faces: np.ndarray, num_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of the vertices, joined by the edges of ``faces``.

    Pieces that touch at a single vertex are one component (they share that vertex's
    features); a vertex that no face references is a component of its own.

    Returns:
        ``(count, label)``: the number of components and the component of every vertex
        (``0 .. count - 1``).

    Shapes:
        faces: ``[F, 3]``; label: ``[V]``.
    """
    a, b = _halfedges(np.asarray(faces, dtype=np.int64))
    graph = sp.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(num_vertices, num_vertices))
    return connected_components(graph, directed=False)


@dataclass(frozen=True)
class VertexFans:
    """The fans (sheets) of faces around each vertex.

    Two corners at a vertex lie in one fan when their faces are joined through a chain of
    manifold edges at that vertex. A manifold vertex has exactly one fan.

    Attributes:
        vertex: The vertex of every fan, sorted, ``[num_fans]``.
        corner_fan: The fan of every corner ``3 f + k``, ``[3F]``.
    """

    vertex: np.ndarray
    corner_fan: np.ndarray


def vertex_fans(faces: np.ndarray, adjacency: EdgeAdjacency) -> VertexFans:
    """Find the fans around every vertex (see :class:`VertexFans`)."""
    c1, c2 = adjacency.pairs[:, 0], adjacency.pairs[:, 1]
    a = faces.ravel()
    same_direction = a[c1] == a[c2]
    # Corners at the same vertex across a shared edge: the halfedge tails match when the two
    # faces traverse the edge the same way, otherwise tail matches head.
    n1, n2 = next_in_face(c1), next_in_face(c2)
    u = np.r_[c1, n1]
    v = np.r_[np.where(same_direction, c2, n2), np.where(same_direction, n2, c2)]
    num = a.size
    graph = sp.coo_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(num, num))
    _, label = connected_components(graph, directed=False)
    fan_vertex = np.zeros(label.max() + 1, dtype=np.int64)
    fan_vertex[label] = a
    # Renumber fans by their vertex so that a manifold mesh keeps its vertex order.
    order = np.argsort(fan_vertex, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return VertexFans(fan_vertex[order], rank[label])


def _face_components(faces, pairs, same_direction):
    """Label faces by orientation class on the double cover; None if non-orientable."""
    num = len(faces)
    f1, f2 = pairs[:, 0] // 3, pairs[:, 1] // 3
    # Node f means "f kept", node f + num means "f flipped". Faces traversing a shared edge
    # the same way must differ in flip state, otherwise they must agree.
    u = np.r_[f1, f1 + num]
    v = np.r_[np.where(same_direction, f2 + num, f2), np.where(same_direction, f2, f2 + num)]
    graph = sp.coo_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(2 * num, 2 * num))
    _, label = connected_components(graph, directed=False)
    keep, flip = label[:num], label[num:]
    if np.any(keep == flip):
        return None
    return keep, flip


def consistent_orientation(faces: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
    """Which faces to flip for a consistent orientation, closed components facing outward.

    Within each component the majority of faces keeps its winding, unless the component is
    closed and the result would enclose negative volume.

    Returns:
        A boolean flip mask ``[F]``, or ``None`` if some component is non-orientable.
    """
    adjacency = edge_adjacency(faces)
    a = faces.ravel()
    pairs = adjacency.pairs
    labels = _face_components(faces, pairs, a[pairs[:, 0]] == a[pairs[:, 1]])
    if labels is None:
        return None
    keep, flip_label = labels
    component = np.minimum(keep, flip_label)
    # Choose for each component the orientation class that most faces already have.
    votes = np.bincount(component, weights=np.where(keep == component, 1.0, -1.0))
    chosen = np.where(votes[component] >= 0, component, np.maximum(keep, flip_label))
    flip = keep != chosen
    return flip ^ _inward_closed(faces, pos, flip, component, adjacency)


def _inward_closed(faces, pos, flip, component, adjacency) -> np.ndarray:
    """Faces of closed components that enclose negative volume after ``flip``."""
    oriented = np.where(flip[:, None], faces[:, [0, 2, 1]], faces)
    p0, p1, p2 = (pos[oriented[:, k]] for k in range(3))
    centre = pos.mean(axis=0)
    volume = np.einsum("ij,ij->i", p0 - centre, np.cross(p1 - centre, p2 - centre))
    num = component.max() + 1
    signed = np.bincount(component, weights=volume, minlength=num)
    open_component = np.zeros(num, dtype=bool)
    open_component[component[adjacency.boundary // 3]] = True
    return (~open_component & (signed < 0))[component]
