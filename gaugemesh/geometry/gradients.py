"""Gradients of per-vertex scalar fields as tangent vectors: per face, per vertex frame.

The HKS gradient is the one orientation-carrying input feature: order-1 vectors in the vertex
frames, per connected component, in units of ``sqrt(component area)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gaugemesh.geometry.components import MeshComponent, Spectrum, per_component, spectrum_of
from gaugemesh.geometry.descriptors import FEATURELESS, HKS_TIMES, component_hks, hks_times
from gaugemesh.geometry.laplacian import lumped_mass
from gaugemesh.geometry.measures import face_areas, face_normals

__all__ = ["face_gradients", "vertex_gradients", "hks_gradient"]


def face_gradients(pos: np.ndarray, faces: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Gradient of the piecewise-linear interpolant of vertex values, per face.

    ``grad f = sum_k f_k (n x e_k) / (2 area)`` with ``e_k`` the edge opposite corner ``k``,
    traversed counter-clockwise.

    Shapes:
        values: ``[V, C]``; returns ``[F, C, 3]`` (vectors in the face plane).
    """
    p = pos[faces]
    opposite = np.roll(p, -2, axis=1) - np.roll(p, -1, axis=1)  # e_k = p_{k+2} - p_{k+1}
    n = face_normals(pos, faces)
    rotated = np.cross(n[:, None, :], opposite)  # [F, 3, 3]
    twice_area = np.maximum(2.0 * face_areas(pos, faces), np.finfo(float).tiny)
    return np.einsum("fkc,fkd->fcd", values[faces], rotated) / twice_area[:, None, None]


def vertex_gradients(pos: np.ndarray, faces: np.ndarray, values: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Per-vertex gradients as order-1 tangent vectors in the vertex frames.

    Area-weighted average of the incident face gradients, projected to the tangent plane
    and written as ``(g . e1_i, g . e2_i)``. Rotating the frame at ``i`` by ``+phi`` turns
    the pair into ``rho(-phi)`` times itself.

    Shapes:
        values: ``[V, C]``; frame: ``[V, 3, 3]`` (rows ``e1, e2, n``); returns ``[V, C, 2]``.
    """
    grad = face_gradients(pos, faces, values) * face_areas(pos, faces)[:, None, None]
    total = np.zeros((len(pos),) + grad.shape[1:])
    for k in range(3):
        np.add.at(total, faces[:, k], grad)
    total /= 3.0 * lumped_mass(pos, faces)[:, None, None]
    # Dotting with e1 and e2 drops the normal component: the projection to the tangent plane.
    return np.einsum("vcd,vkd->vck", total, frame[:, :2, :])


def hks_gradient(
    pos: np.ndarray,
    faces: np.ndarray,
    frame: np.ndarray,
    count: int = 4,
    k: int = 128,
    t_range: tuple[float, float] = HKS_TIMES,
    spectra: Sequence[Spectrum | None] | None = None,
) -> np.ndarray:
    """Gradient of the HKS at ``count`` times, in the vertex frames, per component.

    Lengths in units of ``sqrt(A)`` with ``A`` the area of the vertex's component (see
    :func:`hks`). Components below :data:`MIN_COMPONENT_VERTICES` or without area get 0.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; frame: ``[V, 3, 3]``; returns ``[V, count, 2]``.
    """
    times = hks_times(count, t_range)

    def one(c: MeshComponent) -> np.ndarray:
        signature = component_hks(c.pos, c.faces, times, spectrum_of(c, k, spectra))
        area = float(face_areas(c.pos, c.faces).sum())
        return vertex_gradients(c.pos, c.faces, signature, frame[c.vertices]) * np.sqrt(area)

    return per_component(one, pos, faces, (count, 2), fill=FEATURELESS)
