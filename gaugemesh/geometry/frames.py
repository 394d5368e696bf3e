"""Tangent frames (the gauge): one right-handed orthonormal frame ``(e1, e2, n)`` per vertex.

Stored as ``[V, 3, 3]`` with rows ``e1, e2, n`` and ``e2 = n x e1``. Which ``e1`` is chosen
is arbitrary; gauge-equivariant layers give the same answer for every choice.
"""

from __future__ import annotations

import numpy as np

from gaugemesh.geometry.measures import cross

__all__ = ["frames_from_directions", "rotate_frames", "potpourri3d_frames", "check_frames", "FRAME_KINDS"]

FRAME_KINDS = ("default", "potpourri3d", "random")


def _any_perpendicular(n: np.ndarray) -> np.ndarray:
    axis = np.eye(3)[np.argmin(np.abs(n), axis=1)]
    return cross(n, axis)


def frames_from_directions(normals: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Frames whose ``e1`` is ``directions`` projected onto the tangent plane.

    Where a direction is (nearly) parallel to the normal, any perpendicular is used instead.

    Shapes:
        normals, directions: ``[V, 3]`` (normals unit length); returns ``[V, 3, 3]``.
    """
    e1 = directions - np.einsum("vd,vd->v", directions, normals)[:, None] * normals
    length = np.linalg.norm(e1, axis=1)
    weak = length <= 1e-8 * np.maximum(np.linalg.norm(directions, axis=1), np.finfo(float).tiny)
    if weak.any():
        e1[weak] = _any_perpendicular(normals[weak])
        length = np.linalg.norm(e1, axis=1)
    e1 /= length[:, None]
    return np.stack([e1, cross(normals, e1), normals], axis=1)


def rotate_frames(frame: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Rotate every frame by ``+phi`` counter-clockwise about its normal (a gauge change).

    Shapes:
        frame: ``[V, 3, 3]``; phi: ``[V]``; returns ``[V, 3, 3]``.
    """
    c, s = np.cos(phi)[:, None], np.sin(phi)[:, None]
    e1, e2, n = frame[:, 0], frame[:, 1], frame[:, 2]
    return np.stack([c * e1 + s * e2, -s * e1 + c * e2, n], axis=1)


def potpourri3d_frames(pos: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The vertex tangent frames of potpourri3d's vector heat solver (geometry-central)."""
    import potpourri3d as pp3d

    basis_x, _, normal = pp3d.MeshVectorHeatSolver(pos, faces).get_tangent_frames()
    normal = normal / np.linalg.norm(normal, axis=1, keepdims=True)
    return frames_from_directions(normal, basis_x)


def check_frames(frame: np.ndarray, num_vertices: int, atol: float = 1e-6) -> np.ndarray:
    """Validate user-supplied frames: shape, orthonormal, right-handed. Returns float64."""
    frame = np.asarray(frame, dtype=np.float64)
    if frame.shape != (num_vertices, 3, 3):
        raise ValueError(f"frames must have shape [{num_vertices}, 3, 3], got {frame.shape}.")
    gram = np.einsum("vij,vkj->vik", frame, frame)
    if not np.allclose(gram, np.eye(3), atol=atol) or np.any(np.linalg.det(frame) < 0):
        raise ValueError("frames must be orthonormal and right-handed (rows e1, e2, n with e2 = n x e1).")
    return frame
