"""Per-vertex values of a sphere mesh read off at arbitrary points of the sphere.

A sphere mesh is a polyhedron whose vertices lie on the unit sphere. Seen from the centre,
its triangles tile the sphere: every direction ``p`` pierces exactly one triangle, when
each triangle faces outward (``det[a, b, c] > 0``). The value at ``p`` is the linear
(barycentric) interpolation of the triangle's vertex values at the piercing point: exact at
vertices, continuous, and accurate to ``O(h^2)`` for smooth values on a mesh of edge
length ``h``. Pure float64 numpy.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["interpolate_on_sphere", "locate_on_sphere"]

_INSIDE_TOL = 1e-10


def locate_on_sphere(pos: np.ndarray, faces: np.ndarray, points: np.ndarray,
                     candidates: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The triangle that each point's direction pierces, and the barycentric coordinates
    of the piercing point.

    Candidate triangles are those with the nearest centroid directions (``candidates`` of
    them, doubled for the points none of them holds, up to every triangle).

    Args:
        pos: Vertices on (or near) the unit sphere, centred at the origin.
        faces: Triangles, counter-clockwise seen from outside.
        points: Query points (any non-zero length: only the direction counts).
        candidates: Triangles tried first per point.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; points: ``[N, 3]``; returns face ``[N]`` int64
        and weights ``[N, 3]`` (non-negative, summing to one).

    Raises:
        ValueError: a triangle does not face outward (its cone from the centre is inverted),
            so the triangles do not tile the sphere, or a point is the origin.
    """
    pos, faces = np.asarray(pos, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or (np.linalg.norm(points, axis=1) == 0).any():
        raise ValueError(f"points must be [N, 3] and not the origin, got shape {list(points.shape)}.")
    corners = pos[faces].transpose(0, 2, 1)  # [F, 3 (xyz), 3 (corner)]: columns a, b, c
    det = np.linalg.det(corners)
    if (det <= 0).any():
        raise ValueError(f"{int((det <= 0).sum())} triangles do not face outward from the centre (first: "
                         f"{int(np.argmax(det <= 0))}); the mesh must be a sphere mesh around the origin, "
                         "wound counter-clockwise seen from outside.")
    inverse = np.linalg.inv(corners)
    centroid = corners.mean(-1)
    tree = cKDTree(centroid / np.linalg.norm(centroid, axis=1, keepdims=True))
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    face = np.full(len(unit), -1, dtype=np.int64)
    weights = np.zeros((len(unit), 3))
    todo, k = np.arange(len(unit)), min(candidates, len(faces))
    while todo.size:
        _, near = tree.query(unit[todo], k=k)
        near = near.reshape(len(todo), k)
        cone = np.einsum("nkij,nj->nki", inverse[near], unit[todo])  # p = cone @ (a, b, c)
        bary = cone / cone.sum(-1, keepdims=True)
        worst = bary.min(-1)
        best = np.argmax(worst, axis=1)
        found = worst[np.arange(len(todo)), best] >= -_INSIDE_TOL
        rows = todo[found]
        face[rows] = near[found, best[found]]
        weights[rows] = np.clip(bary[found, best[found]], 0.0, None)
        weights[rows] /= weights[rows].sum(-1, keepdims=True)
        todo = todo[~found]
        if todo.size and k == len(faces):
            raise ValueError(f"{todo.size} points lie in no triangle's cone; the triangles do not tile the sphere.")
        k = min(2 * k, len(faces))
    return face, weights


def interpolate_on_sphere(pos: np.ndarray, faces: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` interpolated linearly at ``points`` (see :func:`locate_on_sphere`).

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; values: ``[V]`` or ``[V, C]``; points: ``[N, 3]``;
        returns ``[N]`` or ``[N, C]``.

    Raises:
        ValueError: ``values`` does not have one row per vertex, or see :func:`locate_on_sphere`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != len(pos):
        raise ValueError(f"values must have one row per vertex ({len(pos)}), got shape {list(values.shape)}.")
    face, weights = locate_on_sphere(pos, faces, points)
    corner_values = values[np.asarray(faces)[face]]  # [N, 3] or [N, 3, C]
    if values.ndim == 1:
        return (corner_values * weights).sum(1)
    return np.einsum("nk,nkc->nc", weights, corner_values)
