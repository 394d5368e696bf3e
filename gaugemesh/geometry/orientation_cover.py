"""Local orientations of a surface that may be non-orientable, and its orientation double cover.

A surface has an orientation around every vertex, even a Moebius strip: the fan of faces
around a manifold vertex is a disk (or half disk), and a disk is orientable. Which one of its
two orientations a vertex takes is a choice, like its frame.

:func:`local_orientations` makes the choice for every vertex: the orientation in which the
vertex's lowest corner keeps its face's winding. Every corner of the fan then either agrees
with that orientation or is *flipped* against it. On a consistently oriented mesh no corner
is flipped.

:func:`orientation_double_cover` builds the surface of pairs (point, orientation): vertex
``(v, 0)`` is ``v`` with its chosen orientation, ``(v, 1)`` = ``v + V`` with the other. Each face
appears twice, once with its winding and once reversed, attached to the sheets its
orientations select. The cover is consistently oriented, so the SO(2) machinery runs on it
unchanged; the star of ``(v, 0)`` is the star of ``v`` seen in ``v``'s orientation. For an
orientable mesh the cover is two copies, the first the mesh itself.

Corner ``c = 3 f + k`` is the corner of face ``f`` at ``faces[f, k]``, as in :mod:`topology`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gaugemesh.geometry.topology import edge_adjacency, next_in_face

__all__ = ["local_orientations", "orientation_double_cover"]


def local_orientations(faces: np.ndarray) -> np.ndarray:
    """Which corners are flipped against their vertex's orientation.

    Corners at one vertex across a shared edge agree when their faces traverse the edge in
    opposite directions. Each vertex takes the orientation in which its lowest-numbered
    corner is not flipped.

    Args:
        faces: Manifold triangles (each vertex a single fan), any windings.

    Returns:
        ``flip`` ``[3F]`` bool: corner ``c`` is flipped.

    Raises:
        ValueError: a vertex fan cannot be oriented (only possible for non-manifold input).
    """
    faces = np.asarray(faces, dtype=np.int64)
    num = faces.size
    pairs = edge_adjacency(faces).pairs
    c1, c2 = pairs[:, 0], pairs[:, 1]
    tail = faces.ravel()
    same_direction = tail[c1] == tail[c2]
    n1, n2 = next_in_face(c1), next_in_face(c2)
    # The corners at the same vertex across each shared edge (as in topology.vertex_fans).
    u = np.r_[c1, n1]
    v = np.r_[np.where(same_direction, c2, n2), np.where(same_direction, n2, c2)]
    agree = np.r_[~same_direction, ~same_direction]
    # Node c: "c keeps its winding"; node c + num: "c is flipped". Agreeing corners share
    # their state, disagreeing ones take opposite states.
    a = np.r_[u, u + num]
    b = np.r_[np.where(agree, v, v + num), np.where(agree, v + num, v)]
    graph = sp.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(2 * num, 2 * num))
    _, label = connected_components(graph, directed=False)
    keep, flipped = label[:num], label[num:]
    if np.any(keep == flipped):
        raise ValueError("a vertex fan cannot be oriented: the mesh is not manifold (validate it first).")
    fan = np.minimum(keep, flipped)
    first = np.full(fan.max() + 1, num, dtype=np.int64)
    np.minimum.at(first, fan, np.arange(num))
    return keep != keep[first[fan]]


def orientation_double_cover(faces: np.ndarray, num_vertices: int, flip: np.ndarray | None = None) -> np.ndarray:
    """The faces of the orientation double cover, on vertices ``0 .. 2V - 1``.

    Face ``f`` (``f < F``) is ``faces[f]`` with each corner on sheet 0 where it agrees with its
    vertex's orientation and on sheet 1 where it is flipped; face ``F + f`` is the same face
    reversed, on the other sheets. The result is consistently oriented.

    Args:
        faces: Manifold triangles.
        num_vertices: ``V``.
        flip: :func:`local_orientations` of ``faces`` (computed when omitted).

    Shapes:
        faces: ``[F, 3]``; flip: ``[3F]``; returns ``[2F, 3]``.
    """
    faces = np.asarray(faces, dtype=np.int64)
    flip = local_orientations(faces) if flip is None else np.asarray(flip, dtype=bool)
    sheet = flip.reshape(-1, 3).astype(np.int64)
    kept = faces + num_vertices * sheet
    reversed_ = (faces + num_vertices * (1 - sheet))[:, [0, 2, 1]]
    return np.concatenate([kept, reversed_])
