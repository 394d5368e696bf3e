"""The frame field of a mesh: frames, neighbour angles, transporters and weights in one call.

:func:`frame_field` is what :func:`gaugemesh.mesh_to_data` calls; it is pure float64 numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaugemesh.geometry.connection import CONNECTIONS, levi_civita_connection, projection_connection
from gaugemesh.geometry.frames import (
    FRAME_KINDS,
    check_frames,
    frames_from_directions,
    potpourri3d_frames,
    rotate_frames,
)
from gaugemesh.geometry.halfedges import DirectedEdges, directed_edges, intrinsic_angles
from gaugemesh.geometry.measures import corner_angles, face_areas, vertex_areas, vertex_normals

__all__ = ["FrameField", "frame_field", "edge_weights"]


@dataclass(frozen=True)
class FrameField:
    """A mesh's frame field and discrete connection.

    Attributes:
        frame: Rows ``e1, e2, n`` per vertex, ``[V, 3, 3]``.
        edge_index: ``[2, E]``, row 0 source ``j``, row 1 target ``i``, sorted by target.
        theta: Polar angle of ``j`` seen from ``i`` in ``i``'s frame, ``[E]``.
        transport: Transport angle from ``j``'s frame to ``i``'s, ``[E]``.
        edge_weight: Quadrature weight of each incoming edge; sums to one per vertex, ``[E]``.
        area: Barycentric vertex areas, ``[V]``.
        reverse: Index of the reverse of each edge, ``[E]``.
    """

    frame: np.ndarray
    edge_index: np.ndarray
    theta: np.ndarray
    transport: np.ndarray
    edge_weight: np.ndarray
    area: np.ndarray
    reverse: np.ndarray


def edge_weights(pos: np.ndarray, faces: np.ndarray, edges: DirectedEdges) -> np.ndarray:
    """Area weights of the incoming edges of each vertex, summing to one per vertex.

    Edge ``(j -> i)`` gets the area of the (one or two) faces beside edge ``ij`` divided by
    twice the area of all faces around ``i``: every face at ``i`` touches two of its edges,
    so the weights are a partition of unity that does not depend on the mesh resolution.

    Shapes:
        returns ``[E]``.
    """
    area = face_areas(pos, faces)
    beside = np.where(edges.halfedge >= 0, area[np.maximum(edges.halfedge, 0) // 3], 0.0)
    both = beside + beside[edges.reverse]
    around = np.bincount(faces.ravel(), weights=np.repeat(area, 3), minlength=len(pos))
    return both / (2.0 * around[edges.target])


def _frames(kind, pos, faces, normals, reference, seed) -> np.ndarray:
    if isinstance(kind, np.ndarray):
        return check_frames(kind, len(pos))
    if kind not in FRAME_KINDS:
        raise ValueError(f"unknown frames {kind!r}; use one of {FRAME_KINDS} or an array [V, 3, 3].")
    if kind == "potpourri3d":
        return potpourri3d_frames(pos, faces)
    frame = frames_from_directions(normals, pos[reference] - pos)
    if kind == "random":
        rng = np.random.default_rng(seed)
        frame = rotate_frames(frame, rng.uniform(-np.pi, np.pi, len(pos)))
    return frame


def frame_field(pos, faces, *, connection="levi-civita", frames="default", seed=None) -> FrameField:
    """Compute the frame field of a validated mesh.

    Args:
        pos: Vertex positions (a validated mesh's ``pos``).
        faces: Oriented manifold triangles (a validated mesh's ``faces``).
        connection: ``"levi-civita"`` (intrinsic, default) or ``"projection"`` (GEM-CNN).
        frames: ``"default"`` (``e1`` along the projected reference edge of each vertex),
            ``"potpourri3d"`` (geometry-central's frames), ``"random"`` (default frames
            rotated by a seeded uniform random gauge), or an explicit ``[V, 3, 3]`` array.
        seed: Seed of the random gauge.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``.
    """
    if connection not in CONNECTIONS:
        raise ValueError(f"unknown connection {connection!r}; use one of {CONNECTIONS}.")
    pos = np.asarray(pos, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    edges = directed_edges(faces, len(pos))
    angles = corner_angles(pos, faces)
    intrinsic = intrinsic_angles(pos, faces, edges, angles)
    frame = _frames(frames, pos, faces, vertex_normals(pos, faces, angles), intrinsic.reference, seed)
    if connection == "levi-civita":
        theta, transport = levi_civita_connection(pos, frame, edges, intrinsic)
    else:
        theta, transport = projection_connection(pos, frame, edges)
    return FrameField(
        frame=frame,
        edge_index=np.stack([edges.source, edges.target]),
        theta=theta,
        transport=transport,
        edge_weight=edge_weights(pos, faces, edges),
        area=vertex_areas(pos, faces),
        reverse=edges.reverse,
    )
