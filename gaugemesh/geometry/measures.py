"""Elementary measures of a triangle mesh: areas, normals, corner angles.

Pure float64 numpy functions of ``(pos, faces)``; corner ``c = 3 f + k`` is the corner of
face ``f`` at vertex ``faces[f, k]``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wrap_angle",
    "cross",
    "face_normals",
    "face_areas",
    "corner_angles",
    "vertex_areas",
    "vertex_normals",
]


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles to ``(-pi, pi]``."""
    wrapped = np.pi - np.mod(np.pi - angle, 2 * np.pi)
    # Rounding can land an angle just above pi on exactly -pi; that end is open.
    return np.where(wrapped <= -np.pi, wrapped + 2 * np.pi, wrapped)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of ``[N, 3]`` arrays (several times faster than ``np.cross``)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _cross(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    p0 = pos[faces[:, 0]]
    return cross(pos[faces[:, 1]] - p0, pos[faces[:, 2]] - p0)


def face_areas(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangle areas ``[F]``."""
    return 0.5 * np.linalg.norm(_cross(pos, faces), axis=1)


def face_normals(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit face normals ``[F, 3]``, ``(p1 - p0) x (p2 - p0)`` normalised."""
    n = _cross(pos, faces)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), np.finfo(float).tiny)


def corner_angles(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Interior angle at every corner, ``[F, 3]``, in ``[0, pi]``.

    Uses ``atan2(|a x b|, a . b)``, accurate for very small and very obtuse angles alike;
    ``|a x b|`` is twice the face area at all three corners.
    """
    p0, p1, p2 = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    e0, e1, e2 = p1 - p0, p2 - p1, p0 - p2
    twice_area = np.linalg.norm(cross(e0, -e2), axis=1)
    dots = -np.stack([np.einsum("fd,fd->f", e0, e2), np.einsum("fd,fd->f", e1, e0), np.einsum("fd,fd->f", e2, e1)], axis=1)
    return np.arctan2(twice_area[:, None], dots)


def vertex_areas(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Barycentric vertex areas ``[V]``: a third of the area of every incident face.

    They sum to the total surface area.
    """
    share = np.repeat(face_areas(pos, faces) / 3.0, 3)
    return np.bincount(faces.ravel(), weights=share, minlength=len(pos))


def vertex_normals(pos: np.ndarray, faces: np.ndarray, angles: np.ndarray | None = None) -> np.ndarray:
    """Unit vertex normals ``[V, 3]``: face normals weighted by the corner angle.

    Angle weights make the normal independent of how the fan around a vertex is
    triangulated. A vertex whose weighted sum cancels (a needle-like configuration) falls
    back to area weights, then to ``+z``, so the result is always finite and unit.
    ``angles`` (from :func:`corner_angles`) may be passed to avoid recomputing them.
    """
    fn = face_normals(pos, faces)
    weights = (corner_angles(pos, faces) if angles is None else angles).ravel()
    normals = np.zeros((len(pos), 3))
    flat_faces = faces.ravel()
    corner_normals = np.repeat(fn, 3, axis=0)
    for d in range(3):
        normals[:, d] = np.bincount(flat_faces, weights=weights * corner_normals[:, d], minlength=len(pos))
    length = np.linalg.norm(normals, axis=1)
    weak = length < 1e-12
    if weak.any():
        area_weighted = np.zeros((len(pos), 3))
        cross = np.repeat(_cross(pos, faces), 3, axis=0)
        for d in range(3):
            area_weighted[:, d] = np.bincount(flat_faces, weights=cross[:, d], minlength=len(pos))
        normals[weak] = area_weighted[weak]
        length = np.linalg.norm(normals, axis=1)
        normals[length < 1e-300] = (0.0, 0.0, 1.0)
        length = np.linalg.norm(normals, axis=1)
    return normals / length[:, None]
