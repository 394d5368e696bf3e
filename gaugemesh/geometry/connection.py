"""The discrete connection: neighbour angles ``theta`` and transporters ``transport``.

For edge ``e = (j -> i)``: ``theta[e]`` is the polar angle, in the frame at ``i``, of the
direction from ``i`` toward ``j``; ``transport[e]`` is the angle ``g_ij`` by which a tangent
vector's coordinate rotates when carried from ``j``'s frame into ``i``'s. Both are wrapped to
``(-pi, pi]``. See ``docs/conventions.md``.

Two constructions:

* ``"levi-civita"``: intrinsic. Directions come from rescaled corner angles (see
  :mod:`~gaugemesh.geometry.halfedges`); a vector pointing from ``j`` toward ``i`` arrives at
  ``i`` pointing away from ``j``, so ``g_ij = theta_ij - theta_ji + pi``. Face holonomies sum
  to exactly ``2 pi chi`` on a closed mesh.
* ``"projection"``: GEM-CNN's. ``theta`` from the edge vector projected to ``i``'s tangent
  plane; ``g_ij`` from the smallest rotation taking ``n_j`` to ``n_i`` applied to ``e1_j``.
"""

from __future__ import annotations

import numpy as np

from gaugemesh.geometry.halfedges import DirectedEdges, IntrinsicAngles
from gaugemesh.geometry.measures import cross, wrap_angle

__all__ = ["CONNECTIONS", "levi_civita_connection", "projection_connection", "rotate_normal_onto"]

CONNECTIONS = ("levi-civita", "projection")


def _polar(vectors: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return np.arctan2(np.einsum("ed,ed->e", vectors, frame[:, 1]), np.einsum("ed,ed->e", vectors, frame[:, 0]))


def levi_civita_connection(pos, frame, edges: DirectedEdges, intrinsic: IntrinsicAngles):
    """``(theta, transport)`` of the intrinsic connection, expressed in ``frame``.

    The intrinsic angle of an edge is measured from the vertex's reference edge; the frame's
    own angle is fixed by the polar angle of that reference edge in the frame.

    Shapes:
        pos: ``[V, 3]``; frame: ``[V, 3, 3]``; returns two ``[E]`` arrays.
    """
    reference_offset = _polar(pos[intrinsic.reference] - pos, frame)
    theta = wrap_angle(intrinsic.angle + reference_offset[edges.target])
    transport = wrap_angle(theta - theta[edges.reverse] + np.pi)
    return theta, transport


def rotate_normal_onto(v, n_from, n_to):
    """Apply the smallest rotation taking unit ``n_from`` to unit ``n_to`` to ``v``.

    ``R v = c v + w x v + (w . v) w / (1 + c)`` with ``w = n_from x n_to``, ``c = n_from . n_to``.
    Opposite normals have no smallest rotation; there we rotate by pi about an axis
    perpendicular to both, which keeps the result finite and orthonormal.
    """
    w = cross(n_from, n_to)
    c = np.einsum("ed,ed->e", n_from, n_to)
    opposite = c < -1 + 1e-12
    denom = np.where(opposite, 1.0, 1.0 + c)
    out = c[:, None] * v + cross(w, v) + (np.einsum("ed,ed->e", w, v) / denom)[:, None] * w
    if opposite.any():
        n = n_to[opposite]
        axis = cross(n, np.eye(3)[np.argmin(np.abs(n), axis=1)])
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        out[opposite] = 2 * np.einsum("ed,ed->e", axis, v[opposite])[:, None] * axis - v[opposite]
    return out


def projection_connection(pos, frame, edges: DirectedEdges):
    """``(theta, transport)`` of GEM-CNN's projection connection in ``frame``.

    Shapes:
        pos: ``[V, 3]``; frame: ``[V, 3, 3]``; returns two ``[E]`` arrays.
    """
    i, j = edges.target, edges.source
    theta = _polar(pos[j] - pos[i], frame[i])
    carried_e1 = rotate_normal_onto(frame[j, 0], frame[j, 2], frame[i, 2])
    transport = wrap_angle(_polar(carried_e1, frame[i]))
    return theta, transport
