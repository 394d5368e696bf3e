"""The O(2) frame field: frames and transporters with reflections, on any surface.

On a non-orientable surface (a Moebius strip, a Klein bottle) no field of normals is
continuous, so no SO(2) frame field exists; an O(2) one does. Every vertex gets a frame
``(e1, e2, n)``, right-handed about its own normal ``n``, which points along the vertex's
local orientation (:mod:`~gaugemesh.geometry.orientation_cover`). The transport along edge
``j -> i`` is an element of O(2), ``(transport, reflection)``: the matrix
``R(transport) F^reflection`` with ``F = diag(1, -1)``, so a vector with coordinate ``z`` in
``j``'s frame arrives as ``exp(i transport) z`` (no reflection) or ``exp(i transport) conj(z)``
(reflection) in ``i``'s frame. The reflection is set exactly where the orientations of ``i``
and ``j`` disagree across the edge. See ``docs/conventions.md``.

The construction runs the SO(2) Levi-Civita machinery on the orientation double cover and
reads off the sheet of each vertex's own orientation. ``theta`` is the SO(2) definition. The
straight-line rule (the direction toward ``j`` arrives at ``j`` pointing away from ``i``) gives
``transport = theta_ij - theta_ji + pi`` without reflection and ``theta_ij + theta_ji + pi``
with it. On a consistently oriented mesh no edge reflects, and every array equals
:func:`~gaugemesh.geometry.frame_field`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gaugemesh.geometry.connection import levi_civita_connection
from gaugemesh.geometry.frame_field import edge_weights
from gaugemesh.geometry.frames import check_frames, frames_from_directions, rotate_frames
from gaugemesh.geometry.halfedges import directed_edges, intrinsic_angles
from gaugemesh.geometry.measures import corner_angles, vertex_areas, vertex_normals, wrap_angle
from gaugemesh.geometry.orientation_cover import local_orientations, orientation_double_cover

__all__ = ["O2FrameField", "O2_FRAME_KINDS", "o2_frame_field", "o2_gauge_transform", "o2_loop_holonomy",
           "reflect_frames"]

O2_FRAME_KINDS = ("default", "random")


@dataclass(frozen=True)
class O2FrameField:
    """A mesh's O(2) frame field.

    Attributes:
        frame: Rows ``e1, e2, n`` per vertex, ``e2 = n x e1``, ``n`` along the local orientation.
        edge_index: ``[2, E]``, row 0 source ``j``, row 1 target ``i``, sorted by target, then source.
        theta: Polar angle of ``j`` seen from ``i`` in ``i``'s frame.
        transport: Angle of the transporter from ``j``'s frame to ``i``'s.
        reflection: Whether the transporter reflects.
        edge_weight: Area weights, summing to one over each vertex's incoming edges.
        area: Barycentric vertex areas.
        reverse: Index of the reverse of each edge.

    Shapes:
        frame: ``[V, 3, 3]``; theta, transport, reflection, edge_weight, reverse: ``[E]``;
        area: ``[V]``.
    """

    frame: np.ndarray
    edge_index: np.ndarray
    theta: np.ndarray
    transport: np.ndarray
    reflection: np.ndarray
    edge_weight: np.ndarray
    area: np.ndarray
    reverse: np.ndarray


def reflect_frames(frame: np.ndarray, phi: np.ndarray, reflection: np.ndarray) -> np.ndarray:
    """The frames after the O(2) gauge change ``(phi, reflection)`` per vertex:
    ``[e1' e2'] = [e1 e2] R(phi) F^reflection`` and ``n' = e1' x e2'`` (flipped with a reflection).

    Shapes:
        frame: ``[V, 3, 3]``; phi, reflection: ``[V]``; returns ``[V, 3, 3]``.
    """
    out = rotate_frames(frame, phi)
    sign = np.where(np.asarray(reflection, dtype=bool), -1.0, 1.0)[:, None]
    return np.stack([out[:, 0], sign * out[:, 1], sign * out[:, 2]], axis=1)


def o2_gauge_transform(field: O2FrameField, phi: np.ndarray, reflection: np.ndarray) -> O2FrameField:
    """The same frame field in frames changed by ``h_v = (phi_v, reflection_v)`` at every vertex.

    With ``s = reflection``, for edge ``j -> i`` (``docs/conventions.md``):
    ``theta' = (-1)^s_i (theta - phi_i)``, the transporter ``g' = h_i^-1 g h_j``, i.e.
    ``transport' = (-1)^s_i (transport - phi_i + (-1)^r phi_j)`` and
    ``reflection' = r xor s_i xor s_j``; frames by :func:`reflect_frames`.

    Shapes:
        phi, reflection: ``[V]``.
    """
    s = np.asarray(reflection, dtype=bool)
    sign = np.where(s, -1.0, 1.0)
    j, i = field.edge_index
    r = field.reflection
    return replace(
        field,
        frame=reflect_frames(field.frame, phi, s),
        theta=wrap_angle(sign[i] * (field.theta - phi[i])),
        transport=wrap_angle(sign[i] * (field.transport - phi[i] + np.where(r, -phi[j], phi[j]))),
        reflection=r ^ s[i] ^ s[j],
    )


def o2_loop_holonomy(edge_index, transport, reflection, loops: np.ndarray, num_vertices: int):
    """The O(2) holonomy of closed loops ``v0 -> v1 -> ... -> v0``, based at ``v0``.

    The transporters of the steps composed, last step leftmost:
    ``H = g_{v0 vk} ... g_{v2 v1} g_{v1 v0}``. Its reflection is gauge invariant (the loop
    reverses orientation); its angle is, for a rotation, up to the sign a reflection of the
    frame at ``v0`` gives it.

    Shapes:
        loops: ``[L, K]`` (each row a loop, the closing step implied).

    Returns:
        ``(angle, reflection)``, ``[L]`` each, the angle wrapped to ``(-pi, pi]``.
    """
    loops = np.atleast_2d(loops)
    n = np.int64(num_vertices)
    key = edge_index[1] * n + edge_index[0]
    order = np.argsort(key)
    step_from, step_to = loops, np.roll(loops, -1, axis=1)
    wanted = step_to * n + step_from
    where = np.searchsorted(key[order], wanted)
    if np.any(key[order][np.minimum(where, key.size - 1)] != wanted):
        raise ValueError("a loop step is not an edge of the mesh.")
    edge = order[where]
    angle = np.zeros(len(loops))
    flipped = np.zeros(len(loops), dtype=bool)
    for k in range(loops.shape[1]):  # H <- g H: (a, r)(b, t) = (a + (-1)^r b, r xor t)
        a, r = transport[edge[:, k]], reflection[edge[:, k]]
        angle = a + np.where(r, -angle, angle)
        flipped = r ^ flipped
    return wrap_angle(angle), flipped


def _cover_edges(pos, faces):
    """The double cover's geometry, and its edges into sheet 0 (in cover numbering)."""
    num_vertices = len(pos)
    flip = local_orientations(faces)
    cover_faces = orientation_double_cover(faces, num_vertices, flip)
    cover_pos = np.concatenate([pos, pos])
    edges = directed_edges(cover_faces, 2 * num_vertices)
    angles = corner_angles(cover_pos, cover_faces)
    intrinsic = intrinsic_angles(cover_pos, cover_faces, edges, angles)
    normals = vertex_normals(cover_pos, cover_faces, angles)[:num_vertices]
    kept = np.arange(edges.target_start[num_vertices])  # edges sorted by target: sheet 0 first
    return cover_pos, cover_faces, edges, intrinsic, normals, kept


def o2_frame_field(pos, faces, *, frames="default", seed=None) -> O2FrameField:
    """Compute the O(2) frame field (Levi-Civita connection) of a mesh, orientable or not.

    Args:
        pos: Vertex positions (a validated mesh's ``pos``).
        faces: Manifold triangles with any windings (a validated mesh's ``faces``).
        frames: ``"default"`` (``e1`` along each vertex's reference edge, ``n`` along its local
            orientation), ``"random"`` (the default rotated by a seeded uniform angle), or an
            array ``[V, 3, 3]`` of right-handed frames whose normals are (up to sign) the
            vertex normals: a normal against the local orientation is a reflected frame.
        seed: Seed of ``"random"``.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``.
    """
    pos = np.asarray(pos, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    num_vertices = len(pos)
    explicit = isinstance(frames, np.ndarray)
    if not explicit and frames not in O2_FRAME_KINDS:
        raise ValueError(f"unknown frames {frames!r} for an O(2) frame field; use one of {O2_FRAME_KINDS} "
                         "or an array [V, 3, 3].")
    cover_pos, cover_faces, edges, intrinsic, normals, kept = _cover_edges(pos, faces)
    reference = intrinsic.reference[:num_vertices] % num_vertices
    frame = frames_from_directions(normals, pos[reference] - pos)
    if not explicit and frames == "random":
        frame = rotate_frames(frame, np.random.default_rng(seed).uniform(-np.pi, np.pi, num_vertices))
    cover_frame = np.concatenate([frame, frame])  # sheet 1's thetas are never read
    theta = levi_civita_connection(cover_pos, cover_frame, edges, intrinsic)[0][kept]
    weight = edge_weights(cover_pos, cover_faces, edges)[kept]
    source, target = edges.source[kept], edges.target[kept]
    reflection = source >= num_vertices
    source = source % num_vertices
    order = np.argsort(target * np.int64(num_vertices) + source, kind="stable")
    source, target, theta, weight, reflection = (a[order] for a in (source, target, theta, weight, reflection))
    key = target * np.int64(num_vertices) + source
    reverse = np.searchsorted(key, source * np.int64(num_vertices) + target)
    transport = wrap_angle(theta + np.where(reflection, theta[reverse], -theta[reverse]) + np.pi)
    field = O2FrameField(frame, np.stack([source, target]), theta, transport, reflection, weight,
                         vertex_areas(pos, faces), reverse)
    return _to_frames(field, frames) if explicit else field


def _to_frames(field: O2FrameField, frames: np.ndarray) -> O2FrameField:
    """``field`` expressed in the given frames: the gauge change that takes the default frames
    to them (a reflection where a normal opposes the local orientation)."""
    frames = check_frames(frames, len(field.frame))
    default = field.frame
    reflection = np.einsum("vd,vd->v", frames[:, 2], default[:, 2]) < 0
    phi = np.arctan2(np.einsum("vd,vd->v", frames[:, 0], default[:, 1]), np.einsum("vd,vd->v", frames[:, 0], default[:, 0]))
    return replace(o2_gauge_transform(field, phi, reflection), frame=frames)
